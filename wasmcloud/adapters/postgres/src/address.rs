//! The connection address a component opens, in the form Spin takes:
//! `postgres://user:password@host:port/database` (user and password percent-encoded).

/// Where to connect and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
}

const DEFAULT_PORT: u16 = 5432;

impl Address {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("invalid Postgres address: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!("a Postgres address starts with postgres://, not {}://", url.scheme()));
        }
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or("the Postgres address names no host")?;
        let user = decode(url.username());
        if user.is_empty() {
            return Err("the Postgres address names no user".into());
        }
        let database = url.path().trim_start_matches('/');
        Ok(Address {
            // An IPv6 literal comes back bracketed; the socket wants it bare.
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port: url.port().unwrap_or(DEFAULT_PORT),
            password: url.password().map(decode),
            database: if database.is_empty() { user.clone() } else { decode(database) },
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_part() {
        let a = Address::parse("postgres://galley_users:s3cr%40t@127.0.0.1:54331/users").unwrap();
        assert_eq!(
            a,
            Address {
                host: "127.0.0.1".into(),
                port: 54331,
                user: "galley_users".into(),
                password: Some("s3cr@t".into()),
                database: "users".into(),
            }
        );
    }

    #[test]
    fn defaults_the_port_and_the_database() {
        let a = Address::parse("postgres://alice@db.internal").unwrap();
        assert_eq!((a.port, a.database.as_str(), a.password), (5432, "alice", None));
    }

    #[test]
    fn refuses_what_is_not_a_postgres_address() {
        assert!(Address::parse("redis://127.0.0.1:6379").unwrap_err().contains("postgres://"));
        assert!(Address::parse("postgres://127.0.0.1/db").unwrap_err().contains("no user"));
        assert!(Address::parse("not an address").is_err());
    }

    #[test]
    fn a_plus_in_a_password_stays_a_plus() {
        assert_eq!(Address::parse("postgres://u:a+b@h/d").unwrap().password.as_deref(), Some("a+b"));
    }
}
