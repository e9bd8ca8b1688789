//! The failures every endpoint can meet outside its own rules (a bad body, a wrong method, a
//! token, the database, the configuration), gathered in [`CommonError`] so each endpoint's
//! own error enum needs one `#[from] CommonError` variant instead of repeating them all.

use crate::auth::AuthError;
use crate::body::BodyError;
use crate::client::ClientError;
use crate::db::DbError;
use crate::ids::BadId;
use crate::password::HashError;
use crate::problem::{ApiError, ProblemRow, INTERNAL, INTERNAL_DETAIL};

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

/// Every rule a request broke, so the client can fix them all at once; shown as `a; b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failures<E>(pub Vec<E>);

impl<E: std::fmt::Display> std::fmt::Display for Failures<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

impl<E> FromIterator<E> for Failures<E> {
    fn from_iter<I: IntoIterator<Item = E>>(failures: I) -> Self {
        Failures(failures.into_iter().collect())
    }
}

/// Its text names the variable, which is nobody's business but the operator's.
impl ApiError for ConfigError {
    fn problem_row(&self) -> ProblemRow {
        INTERNAL
    }
    fn detail(&self) -> String {
        INTERNAL_DETAIL.into()
    }
}

impl ApiError for MethodNotAllowed {
    fn problem_row(&self) -> ProblemRow {
        (405, "method-not-allowed", "Method not allowed")
    }
    fn allow(&self) -> Option<String> {
        Some(self.allowed.clone())
    }
}

impl ApiError for TooManyAttempts {
    fn problem_row(&self) -> ProblemRow {
        (429, "too-many-attempts", "Too many attempts")
    }
    fn retry_after(&self) -> Option<u64> {
        Some(self.retry_after_secs)
    }
}

/// Declares [`CommonError`]: one transparent variant per source, each a `?` away, and
/// `source_error`, the source that answers for it.
macro_rules! common_error {
    ($($(#[$doc:meta])* $variant:ident($source:ty),)+) => {
        #[derive(Debug, thiserror::Error)]
        pub enum CommonError {
            $($(#[$doc])* #[error(transparent)] $variant(#[from] $source),)+
        }

        impl CommonError {
            fn source_error(&self) -> &dyn ApiError {
                match self {
                    $(Self::$variant(e) => e,)+
                }
            }
        }
    };
}

common_error! {
    Body(BodyError),
    Method(MethodNotAllowed),
    /// An id in the path, query or body that is not one (the same 400 everywhere).
    Id(BadId),
    Auth(AuthError),
    Db(DbError),
    Hash(HashError),
    Config(ConfigError),
    /// Another function this request needed failed or timed out.
    Upstream(ClientError),
    TooManyAttempts(TooManyAttempts),
}

impl ApiError for CommonError {
    fn problem_row(&self) -> ProblemRow {
        self.source_error().problem_row()
    }
    fn detail(&self) -> String {
        self.source_error().detail()
    }
    fn allow(&self) -> Option<String> {
        self.source_error().allow()
    }
    fn retry_after(&self) -> Option<u64> {
        self.source_error().retry_after()
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

/// Declares an endpoint's error enum and the problem each variant answers, side by side:
///
/// ```ignore
/// galley_common::api_errors! {
///     pub enum QueryError {
///         /// Absent, or another user's: one answer for both.
///         #[error("no such order")]
///         NotFound => galley_common::problem::NOT_FOUND,
///         #[error("{0}")]
///         BadQuery(String) => (400, "invalid-query", "Invalid query"),
///     }
/// }
/// ```
///
/// Each variant takes its attributes (`#[error]` text, doc comments), its fields and a
/// [`ProblemRow`](crate::problem::ProblemRow); the problem's detail is the variant's `Display`.
/// The enum derives `Debug` and `thiserror::Error` (so the caller depends on `thiserror`) and
/// gets a `Common(CommonError)` variant for the failures every endpoint shares, which answers
/// with [`CommonError`]'s problem, and a `From` for [`CommonError`] and each of its sources, so
/// `?` works on them all.
#[macro_export]
macro_rules! api_errors {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident
                $(( $($tuple:ty),* $(,)? ))?
                $({ $($field:ident : $field_ty:ty),* $(,)? })?
                => $row:expr
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, thiserror::Error)]
        $vis enum $name {
            $(
                $(#[$variant_meta])*
                $variant $(( $($tuple),* ))? $({ $($field: $field_ty),* })?,
            )+
            #[error(transparent)]
            Common(#[from] $crate::error::CommonError),
        }

        impl $crate::problem::ApiError for $name {
            fn problem_row(&self) -> $crate::problem::ProblemRow {
                match self {
                    $(Self::$variant { .. } => $row,)+
                    Self::Common(e) => $crate::problem::ApiError::problem_row(e),
                }
            }
            fn detail(&self) -> String {
                match self {
                    Self::Common(e) => $crate::problem::ApiError::detail(e),
                    own => own.to_string(),
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

        $crate::from_common_errors!($name);
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

    crate::api_errors! {
        /// One variant of each shape, a shared row and rows with their own text.
        enum DemoError {
            /// A doc comment passes through with the rest of the variant's attributes.
            #[error("no such demo")]
            NotFound => crate::problem::NOT_FOUND,
            #[error("bad query: {0}")]
            BadQuery(String) => (400, "invalid-query", "Invalid query"),
            #[error("{which} is closed since {since}")]
            Closed { which: &'static str, since: u64 } => (409, "closed", "Closed"),
        }
    }

    #[test]
    fn api_errors_answers_each_variant_with_its_row_and_its_text() {
        let answers = [
            DemoError::NotFound,
            DemoError::BadQuery("limit".into()),
            DemoError::Closed { which: "stall", since: 3 },
        ]
        .map(|e| (e.status(), e.kind(), e.title(), e.detail(), e.allow(), e.retry_after()));
        assert_eq!(answers, [
            (404, "not-found", "Not found", "no such demo".to_owned(), None, None),
            (400, "invalid-query", "Invalid query", "bad query: limit".to_owned(), None, None),
            (409, "closed", "Closed", "stall is closed since 3".to_owned(), None, None),
        ]);
    }

    #[test]
    fn api_errors_passes_the_shared_failures_through_whole() {
        let method = DemoError::from(MethodNotAllowed { method: "PUT".into(), allowed: "GET, POST".into() });
        assert!(matches!(method, DemoError::Common(CommonError::Method(_))), "{method:?}");
        assert_eq!((method.status(), method.kind(), method.allow().as_deref()), (405, "method-not-allowed", Some("GET, POST")));
        assert_eq!(method.detail(), "method PUT is not allowed here; use GET, POST");
        let slow = DemoError::from(CommonError::from(TooManyAttempts { retry_after_secs: 30 }));
        assert_eq!((slow.status(), slow.title(), slow.retry_after()), (429, "Too many attempts", Some(30)));
        let config = DemoError::from(ConfigError("variable `auth_secret`: undefined".into()));
        assert_eq!((config.status(), config.kind()), (500, "internal"));
        assert!(!config.detail().contains("auth_secret"), "internal text stays in the logs");
    }
}
