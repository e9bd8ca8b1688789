//! HTTP methods as handlers match on them: a closed set, so a typo is a compile error.

/// The methods Galley's endpoints serve. `HEAD` arrives as [`Method::Get`] (the request
/// knows it was a `HEAD` and leaves the body out of the answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    /// Anything else, by name; never served, only refused with 405.
    Other(String),
}

impl Method {
    pub fn parse(name: &str) -> Method {
        match name {
            "GET" | "HEAD" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Other(name) => name,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `Allow` list for a 405: the allowed methods, and `HEAD` wherever `GET` is.
pub fn allow_list(allowed: &[Method]) -> String {
    let mut names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    if allowed.contains(&Method::Get) {
        names.push("HEAD");
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_served_as_get_and_listed_with_it() {
        assert_eq!(Method::parse("HEAD"), Method::Get);
        assert_eq!(Method::parse("TRACE"), Method::Other("TRACE".into()));
        assert_eq!(allow_list(&[Method::Get, Method::Post]), "GET, POST, HEAD");
        assert_eq!(allow_list(&[Method::Put]), "PUT");
    }
}
