//! Database errors as the functions see them, independent of the driver.
//!
//! The Spin edge ([`crate::edge::pg`]) maps `spin:postgres` errors into [`DbError`]; callers
//! decide on the SQLSTATE (a unique violation is a 409, not a 500) and everything else is
//! an outage whose internals stay in the log, never in the response.

/// The current time as the app stores it: a `timestamp` in UTC (Spin cannot read `timestamptz`).
pub const NOW_UTC: &str = "(now() AT TIME ZONE 'utc')";

/// SQLSTATE of a unique-constraint violation.
pub const UNIQUE_VIOLATION: &str = "23505";

/// Whether a statement failed because the server went away rather than because of the
/// statement: a connection exception (class 08) or the server shutting down, crashing or
/// still starting (57P01–57P03, e.g. `terminating connection due to administrator command`
/// sent to every session by a fast shutdown). Such a failure is an outage (503), not a bug.
pub fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("query failed ({}): {message}", code.as_deref().unwrap_or("no sqlstate"))]
    Query { code: Option<String>, message: String },
    #[error("unexpected value in column `{column}`: {reason}")]
    Decode { column: String, reason: String },
    /// A statement that always yields a row (`INSERT … RETURNING`, `nextval`) yielded none:
    /// a bug or a broken database, never the caller's doing.
    #[error("the statement on `{0}` returned no row")]
    NoRow(&'static str),
}

impl DbError {
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Query { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        self.sqlstate() == Some(UNIQUE_VIOLATION)
    }
}

impl crate::problem::ApiError for DbError {
    fn problem_row(&self) -> crate::problem::ProblemRow {
        match self {
            Self::Connect(_) => crate::problem::UNAVAILABLE,
            _ => crate::problem::INTERNAL,
        }
    }
    fn detail(&self) -> String {
        match self {
            Self::Connect(_) => "the database is unavailable; try again later".into(),
            _ => crate::problem::INTERNAL_DETAIL.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Problem;

    #[test]
    fn unique_violation_is_recognised_by_sqlstate() {
        let e = DbError::Query { code: Some("23505".into()), message: "dup".into() };
        assert!(e.is_unique_violation());
        assert!(!DbError::Connect("x".into()).is_unique_violation());
    }

    #[test]
    fn a_missing_row_is_an_internal_error_that_names_the_statement() {
        use crate::problem::ApiError;
        let missing = DbError::NoRow("orders");
        assert_eq!((missing.status(), missing.kind()), (500, "internal"));
        assert!(missing.to_string().contains("`orders`"), "{missing}");
        // The log names the table; the client is told only that something broke.
        let answer = String::from_utf8(Problem::from_error(&missing).to_json()).expect("JSON is UTF-8");
        assert!(!answer.contains("orders"), "{answer}");
    }

    #[test]
    fn a_server_going_away_is_unavailable_and_a_bad_statement_is_not() {
        for code in ["57P01", "57P02", "57P03", "08006", "08001"] {
            assert!(is_unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "57014", "40001"] {
            assert!(!is_unavailable_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn problem_never_carries_database_internals() {
        let e = DbError::Query { code: Some("42P01".into()), message: "relation \"users\" does not exist".into() };
        let p = Problem::from_error(&e);
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("users"));
    }
}
