//! The GraphiQL IDE page (`GET /graphql` with `Accept: text/html`) and the
//! Content-Security-Policy it is served with.
//!
//! The page loads GraphiQL 4.1.2 and React 18.3.1 from jsDelivr (which serves npm package
//! files byte for byte) at exact versions, each with a Subresource Integrity hash of the npm
//! package's file (`npm pack`, then `openssl dgst -sha384 -binary | base64`): a CDN that
//! changed a byte would have the browser refuse the file rather than run it. The policy lets
//! the page run those three scripts and its own inline boot script (by its hash) and nothing
//! else, and talk only to this origin.

use base64::Engine;
use sha2::{Digest, Sha256};

/// The page. Its assets' URLs and hashes are in it; upgrading GraphiQL means new ones.
pub const PAGE: &str = include_str!("../assets/graphiql.html");

/// Where the page's stylesheet and scripts come from (the exact files, not the host).
const ASSETS: [&str; 4] = [
    "https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.css",
    "https://cdn.jsdelivr.net/npm/react@18.3.1/umd/react.production.min.js",
    "https://cdn.jsdelivr.net/npm/react-dom@18.3.1/umd/react-dom.production.min.js",
    "https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.js",
];

/// The `Content-Security-Policy` of [`PAGE`]. Styles allow `'unsafe-inline'` because GraphiQL
/// and its editor set style attributes at run time; fonts and icons are `data:` URLs inside
/// its stylesheet.
pub fn content_security_policy() -> String {
    let [css, scripts @ ..] = ASSETS;
    format!(
        "default-src 'none'; script-src 'sha256-{boot}' {scripts}; style-src {css} 'unsafe-inline'; \
         img-src data:; font-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        boot = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(boot_script())),
        scripts = scripts.join(" "),
    )
}

/// The text of the page's one inline script, as the browser hashes it: everything between
/// its `<script>` and `</script>`.
fn boot_script() -> &'static str {
    let start = PAGE.rfind("<script>").map(|i| i + "<script>".len()).unwrap_or(0);
    let end = PAGE[start..].find("</script>").map_or(PAGE.len(), |i| start + i);
    &PAGE[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_pinned_with_integrity_and_allowed_by_exactly_its_url() {
        let policy = content_security_policy();
        for url in ASSETS {
            let tag = PAGE.lines().find(|line| line.contains(&format!("\"{url}\""))).unwrap_or_else(|| panic!("{url} not in the page"));
            assert!(tag.contains("integrity=\"sha384-") && tag.contains("crossorigin=\"anonymous\""), "{tag}");
            assert!(policy.contains(url), "{policy}");
        }
        // No other external URL, and one inline script (the boot script the policy hashes).
        assert_eq!(PAGE.matches("https://").count(), ASSETS.len());
        assert_eq!(PAGE.matches("<script>").count(), 1);
        assert!(boot_script().contains("GraphiQL.createFetcher"));
    }

    #[test]
    fn the_policy_hashes_the_boot_script() {
        // Computed apart from this code (Python's hashlib over the text between the tags); a
        // change to the boot script changes it, and the policy must follow.
        let policy = content_security_policy();
        assert!(policy.contains("script-src 'sha256-lzWwuQbCbsN3zsos9GoDCiixEXOwVZt+yD+69i+A9C0=' https://"), "{policy}");
        assert!(policy.starts_with("default-src 'none';"));
    }
}
