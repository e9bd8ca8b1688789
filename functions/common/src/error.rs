//! The failures every endpoint can meet outside its own rules (a bad body, a wrong method, a
//! token, the database, the configuration), gathered in [`CommonError`] so each endpoint's
//! own error enum needs one `#[from] CommonError` variant instead of repeating them all.

use crate::auth::AuthError;
use crate::body::BodyError;
use crate::client::ClientError;
use crate::db::DbError;
use crate::ids::BadId;
use crate::password::HashError;
use crate::problem::ApiError;

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

#[derive(Debug, thiserror::Error)]
#[error("method {method} is not allowed here; use {allowed}")]
pub struct MethodNotAllowed {
    pub method: String,
    pub allowed: String,
}

/// Too many attempts of something rate-limited (logins): try again after the given seconds.
#[derive(Debug, thiserror::Error)]
#[error("too many attempts; try again in {retry_after_secs} s")]
pub struct TooManyAttempts {
    pub retry_after_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CommonError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Method(#[from] MethodNotAllowed),
    /// An id in the path, query or body that is not one (the same 400 everywhere).
    #[error(transparent)]
    Id(#[from] BadId),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Another function this request needed failed or timed out.
    #[error(transparent)]
    Upstream(#[from] ClientError),
    #[error(transparent)]
    TooManyAttempts(#[from] TooManyAttempts),
}

impl CommonError {
    fn inner(&self) -> Option<&dyn ApiError> {
        match self {
            Self::Body(e) => Some(e),
            Self::Auth(e) => Some(e),
            Self::Db(e) => Some(e),
            Self::Upstream(e) => Some(e),
            Self::Id(e) => Some(e),
            Self::Method(_) | Self::Hash(_) | Self::Config(_) | Self::TooManyAttempts(_) => None,
        }
    }
}

impl ApiError for CommonError {
    fn status(&self) -> u16 {
        match self {
            Self::Method(_) => 405,
            Self::TooManyAttempts(_) => 429,
            _ => self.inner().map_or(500, |e| e.status()),
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Self::Method(_) => "method-not-allowed",
            Self::TooManyAttempts(_) => "too-many-attempts",
            _ => self.inner().map_or("internal", |e| e.kind()),
        }
    }
    fn title(&self) -> &'static str {
        match self {
            Self::Method(_) => "Method not allowed",
            Self::TooManyAttempts(_) => "Too many attempts",
            _ => self.inner().map_or("Internal error", |e| e.title()),
        }
    }
    fn detail(&self) -> String {
        match self {
            Self::Method(e) => e.to_string(),
            Self::TooManyAttempts(e) => e.to_string(),
            _ => self.inner().map_or_else(|| "an internal error occurred; it has been logged".into(), |e| e.detail()),
        }
    }
    fn allow(&self) -> Option<String> {
        match self {
            Self::Method(e) => Some(e.allowed.clone()),
            _ => None,
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyAttempts(e) => Some(e.retry_after_secs),
            _ => None,
        }
    }
}

/// Lets `?` turn any of [`CommonError`]'s sources straight into an endpoint's error enum,
/// given that enum has a `Common(#[from] CommonError)` variant.
#[macro_export]
macro_rules! from_common_errors {
    ($target:ty) => {
        $crate::from_common_errors!(@each $target:
            $crate::body::BodyError, $crate::error::MethodNotAllowed, $crate::auth::AuthError,
            $crate::db::DbError, $crate::password::HashError, $crate::error::ConfigError,
            $crate::error::TooManyAttempts,
            $crate::client::ClientError, $crate::ids::BadId);
    };
    (@each $target:ty: $($source:ty),*) => {
        $(impl From<$source> for $target {
            fn from(e: $source) -> Self {
                <$target>::from($crate::error::CommonError::from(e))
            }
        })*
    };
}

/// Implements [`ApiError`] for an endpoint's error enum from a table of its own variants
/// (`pattern => (status, kind, title)`, or a shared row such as [`crate::problem::NOT_FOUND`];
/// detail = the variant's `Display`), delegating the `Common(CommonError)` variant, and adds the
/// `From` conversions of [`from_common_errors!`].
#[macro_export]
macro_rules! api_error {
    ($target:ty { $($variant:pat => $row:expr),+ $(,)? }) => {
        impl $crate::problem::ApiError for $target {
            fn status(&self) -> u16 {
                match self {
                    $($variant => $row.0,)+
                    Self::Common(e) => $crate::problem::ApiError::status(e),
                }
            }
            fn kind(&self) -> &'static str {
                match self {
                    $($variant => $row.1,)+
                    Self::Common(e) => $crate::problem::ApiError::kind(e),
                }
            }
            fn title(&self) -> &'static str {
                match self {
                    $($variant => $row.2,)+
                    Self::Common(e) => $crate::problem::ApiError::title(e),
                }
            }
            fn detail(&self) -> String {
                match self {
                    Self::Common(e) => $crate::problem::ApiError::detail(e),
                    other => other.to_string(),
                }
            }
            fn allow(&self) -> Option<String> {
                match self {
                    Self::Common(e) => $crate::problem::ApiError::allow(e),
                    _ => None,
                }
            }
            fn retry_after(&self) -> Option<u64> {
                match self {
                    Self::Common(e) => $crate::problem::ApiError::retry_after(e),
                    _ => None,
                }
            }
        }
        $crate::from_common_errors!($target);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_wrapped_error() {
        assert_eq!(CommonError::from(BodyError::TooLarge { limit: 1 }).status(), 413);
        assert_eq!(CommonError::from(AuthError::InvalidToken).status(), 401);
        assert_eq!(CommonError::from(DbError::Connect("x".into())).status(), 503);
        let m = MethodNotAllowed { method: "GET".into(), allowed: "POST".into() };
        let e = CommonError::from(m);
        assert_eq!((e.status(), e.allow().as_deref()), (405, Some("POST")), "a 405 says what is allowed");
    }

    #[test]
    fn internal_failures_hide_their_text() {
        let e = CommonError::from(ConfigError("variable `auth_secret`: undefined".into()));
        assert_eq!(e.status(), 500);
        assert!(!e.detail().contains("auth_secret"));
    }
}
