//! HTTP routing exactly as Spin does it (see "Routing" in `host/README.md`).
//!
//! A route is a list of segments — literal, `:param` — optionally ending in a trailing
//! wildcard `/...`. Only the raw path is matched (no query, no percent-decoding); one
//! trailing `/` is ignored on both sides. When several routes match, they are compared segment
//! by segment from the left and the first difference decides: a literal (or the end of an
//! exact route) beats `:param`, which beats the wildcard. Among identical routes the later
//! one in the manifest wins; the earlier one is dropped with a logged error.

use std::fmt;
use std::sync::Arc;

/// A parsed route, as written and in normal form.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route as written in the manifest (`spin-raw-component-route`).
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
    /// The normalised pattern (`/api/v1/orders/:id`), built once: the metrics label a route's
    /// requests with it.
    name: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl Route {
    pub fn parse(raw: &str) -> Route {
        let mut path = raw.to_string();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let wildcard = path == "/..." || path.ends_with("/...");
        let base = if wildcard { &path[..path.len() - 4] } else { path.as_str() };
        let base = base.strip_suffix('/').unwrap_or(base);
        let segments = split_segments(base)
            .map(|segment| match segment.strip_prefix(':') {
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal(segment.to_string()),
            })
            .collect();
        let mut route = Route { raw: raw.to_string(), segments, wildcard, name: Arc::from("") };
        route.name = Arc::from(route.to_string());
        route
    }

    /// The normalised pattern, as `Display` writes it.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The route every service-chained request is treated as matching.
    pub fn catch_all() -> Route {
        Route::parse("/...")
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// `spin-component-route`: the raw route without a trailing `/...`.
    pub fn component_route(&self) -> &str {
        self.raw.strip_suffix("/...").unwrap_or(if self.raw == "..." { "" } else { &self.raw })
    }

    /// Matches a raw request path (no query string).
    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = if path.len() > 1 { path.strip_suffix('/').unwrap_or(path) } else { path };
        let request: Vec<&str> = split_segments(trimmed).collect();
        if request.len() < self.segments.len() || (!self.wildcard && request.len() != self.segments.len()) {
            return None;
        }
        let mut params = Vec::new();
        for (want, got) in self.segments.iter().zip(&request) {
            match want {
                Segment::Literal(text) if text != got => return None,
                Segment::Literal(_) => {}
                Segment::Param(name) => params.push((name.clone(), got.to_string())),
            }
        }
        let path_info = if self.wildcard { path_info(path, self.segments.len()) } else { String::new() };
        Some(RouteMatch { params, path_info })
    }

    /// The kind of the route at position `index`, for precedence.
    fn rank_at(&self, index: usize) -> u8 {
        match self.segments.get(index) {
            Some(Segment::Literal(_)) => 0,
            Some(Segment::Param(_)) => 1,
            None if self.wildcard => 2,
            None => 0,
        }
    }

    /// Two routes that match exactly the same paths in the same way.
    fn same_shape(&self, other: &Route) -> bool {
        self.wildcard == other.wildcard
            && self.segments.len() == other.segments.len()
            && self.segments.iter().zip(&other.segments).all(|(a, b)| match (a, b) {
                (Segment::Literal(x), Segment::Literal(y)) => x == y,
                (Segment::Param(_), Segment::Param(_)) => true,
                _ => false,
            })
    }

    /// True when `self` should win over `other` for a path both match.
    fn beats(&self, other: &Route) -> bool {
        let longest = self.segments.len().max(other.segments.len()) + 1;
        for index in 0..longest {
            let (mine, theirs) = (self.rank_at(index), other.rank_at(index));
            if mine != theirs {
                return mine < theirs;
            }
        }
        false
    }
}

/// `spin-matched-route`: the normalised route, with `/...` kept. Spin normalises by dropping
/// one trailing `/`, so the exact root route `/` is the empty string.
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => write!(f, "/{text}")?,
                Segment::Param(name) => write!(f, "/:{name}")?,
            }
        }
        if self.wildcard {
            write!(f, "/...")?;
        }
        Ok(())
    }
}

fn split_segments(path: &str) -> impl Iterator<Item = &str> {
    let inner = path.strip_prefix('/').unwrap_or(path);
    // "/" has no segments; "//" has one empty segment (Spin lets `:param` match it).
    let empty = inner.is_empty();
    inner.split('/').filter(move |_| !empty)
}

/// The part of the raw path after the first `prefix_len` segments, trailing `/` kept.
fn path_info(path: &str, prefix_len: usize) -> String {
    let mut rest = path;
    for _ in 0..prefix_len {
        let after_slash = rest.strip_prefix('/').unwrap_or(rest);
        rest = match after_slash.find('/') {
            Some(next) => &after_slash[next..],
            None => "",
        };
    }
    rest.to_string()
}

/// What a match captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// `:name` values in route order (the name as written).
    pub params: Vec<(String, String)>,
    /// `spin-path-info`: what the trailing wildcard matched; empty for exact routes.
    pub path_info: String,
}

/// A routing table mapping paths to targets of type `T` (component ids, static responses...).
#[derive(Debug)]
pub struct Router<T> {
    entries: Vec<(Route, T)>,
}

/// A route dropped because a later identical one replaced it.
#[derive(Debug, PartialEq, Eq)]
pub struct DuplicateRoute {
    pub route: String,
}

impl<T> Router<T> {
    /// Builds the table in manifest order; returns the routes that later ones replaced.
    pub fn build(routes: impl IntoIterator<Item = (Route, T)>) -> (Router<T>, Vec<DuplicateRoute>) {
        let mut entries: Vec<(Route, T)> = Vec::new();
        let mut duplicates = Vec::new();
        for (route, target) in routes {
            if let Some(index) = entries.iter().position(|(existing, _)| existing.same_shape(&route)) {
                let (replaced, _) = entries.remove(index);
                duplicates.push(DuplicateRoute { route: replaced.raw });
            }
            entries.push((route, target));
        }
        (Router { entries }, duplicates)
    }

    pub fn entries(&self) -> impl Iterator<Item = &(Route, T)> {
        self.entries.iter()
    }

    /// The best route for a raw request path.
    pub fn route(&self, path: &str) -> Option<(&Route, &T, RouteMatch)> {
        let mut best: Option<(&Route, &T, RouteMatch)> = None;
        for (route, target) in &self.entries {
            if let Some(found) = route.matches(path) {
                let better = match &best {
                    None => true,
                    // Later entries win ties: they replaced identical shapes at build time,
                    // and `beats` is strict, so only a more specific route displaces `best`.
                    Some((current, _, _)) => route.beats(current),
                };
                if better {
                    best = Some((route, target, found));
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router<String> {
        Router::build(routes.iter().map(|r| (Route::parse(r), r.to_string()))).0
    }

    fn winner(routes: &[&str], path: &str) -> Option<String> {
        router(routes).route(path).map(|(_, target, _)| target.clone())
    }

    #[test]
    fn exact_routes_and_trailing_slash() {
        assert_eq!(winner(&["/foo"], "/foo").as_deref(), Some("/foo"));
        assert_eq!(winner(&["/foo"], "/foo/").as_deref(), Some("/foo"));
        assert_eq!(winner(&["/foo/"], "/foo").as_deref(), Some("/foo/"));
        assert_eq!(winner(&["foo"], "/foo").as_deref(), Some("foo"));
        assert_eq!(winner(&["/foo"], "/foo/bar"), None);
        assert_eq!(winner(&["/foo"], "/fo"), None);
        assert_eq!(winner(&["/"], "/").as_deref(), Some("/"));
        assert_eq!(winner(&["/"], "/x"), None);
    }

    #[test]
    fn wildcard_matches_prefix_and_itself() {
        assert_eq!(winner(&["/t/..."], "/t").as_deref(), Some("/t/..."));
        assert_eq!(winner(&["/t/..."], "/t/a/b").as_deref(), Some("/t/..."));
        assert_eq!(winner(&["/t/..."], "/tx"), None);
        assert_eq!(winner(&["/..."], "/anything/at/all").as_deref(), Some("/..."));
    }

    #[test]
    fn path_info_keeps_trailing_slash() {
        let r = Route::parse("/t/...");
        assert_eq!(r.matches("/t").unwrap().path_info, "");
        assert_eq!(r.matches("/t/a/").unwrap().path_info, "/a/");
        assert_eq!(r.matches("/t/a/b").unwrap().path_info, "/a/b");
        assert_eq!(Route::parse("/...").matches("/x/y").unwrap().path_info, "/x/y");
        assert_eq!(Route::parse("/foo").matches("/foo").unwrap().path_info, "");
    }

    #[test]
    fn params_match_one_segment_even_empty() {
        let r = Route::parse("/users/:id/orders/...");
        let m = r.matches("/users//orders").unwrap();
        assert_eq!(m.params, vec![("id".to_string(), String::new())]);
        let m = r.matches("/users/42/orders/7").unwrap();
        assert_eq!(m.params, vec![("id".to_string(), "42".to_string())]);
        assert_eq!(m.path_info, "/7");
        assert!(Route::parse("/users/:id").matches("/users/1/2").is_none());
    }

    #[test]
    fn query_and_percent_encoding_are_not_interpreted() {
        // The caller strips the query; percent escapes are compared as written.
        assert_eq!(winner(&["/a%20b"], "/a%20b").as_deref(), Some("/a%20b"));
        assert_eq!(winner(&["/a b"], "/a%20b"), None);
    }

    #[test]
    fn precedence_literal_then_param_then_wildcard() {
        assert_eq!(winner(&["/a/:x/c", "/a/b/..."], "/a/b/c").as_deref(), Some("/a/b/..."));
        assert_eq!(winner(&["/a/b/...", "/a/:x/c"], "/a/b/c").as_deref(), Some("/a/b/..."));
        assert_eq!(winner(&["/foo/...", "/foo"], "/foo").as_deref(), Some("/foo"));
        assert_eq!(winner(&["/foo", "/foo/..."], "/foo").as_deref(), Some("/foo"));
        assert_eq!(winner(&["/foo", "/foo/..."], "/foo/x").as_deref(), Some("/foo/..."));
        assert_eq!(winner(&["/:x", "/lit"], "/lit").as_deref(), Some("/lit"));
        assert_eq!(winner(&["/...", "/:x"], "/y").as_deref(), Some("/:x"));
        assert_eq!(winner(&["/...", "/api/..."], "/api/v1").as_deref(), Some("/api/..."));
        assert_eq!(winner(&["/api/...", "/..."], "/other").as_deref(), Some("/..."));
    }

    #[test]
    fn identical_routes_later_wins_and_is_reported() {
        let (router, duplicates) = Router::build(vec![
            (Route::parse("/x"), "first"),
            (Route::parse("/x/"), "second"),
        ]);
        assert_eq!(router.route("/x").map(|(_, t, _)| *t), Some("second"));
        assert_eq!(duplicates, vec![DuplicateRoute { route: "/x".to_string() }]);
        let (router, duplicates) = Router::build(vec![
            (Route::parse("/u/:a"), "first"),
            (Route::parse("/u/:b"), "second"),
        ]);
        assert_eq!(router.route("/u/1").map(|(_, t, _)| *t), Some("second"));
        assert_eq!(duplicates.len(), 1);
    }

    #[test]
    fn header_forms_of_a_route() {
        let r = Route::parse("foo/:id/...");
        assert_eq!(r.to_string(), "/foo/:id/...");
        assert_eq!(r.raw(), "foo/:id/...");
        assert_eq!(r.component_route(), "foo/:id");
        let r = Route::parse("/bar/");
        assert_eq!(r.to_string(), "/bar");
        assert_eq!(r.component_route(), "/bar/");
        assert_eq!(Route::parse("/...").component_route(), "");
        assert_eq!(Route::parse("/").to_string(), "", "Spin's matched route for the root");
        assert_eq!(Route::parse("/").raw(), "/");
        assert_eq!(Route::parse("/").component_route(), "/");
        assert_eq!(Route::parse("").to_string(), "");
    }
}
