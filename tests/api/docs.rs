//! The documentation's relative links: every `[text](path)` in a Markdown file of the project
//! names a file or folder that exists, and every `#anchor` into a Markdown file names one of
//! its headings, so a reader following the docs never lands nowhere (a section moved to
//! another file breaks its old links here). Web addresses are not checked.

use std::path::{Path, PathBuf};

/// Every Markdown file of the project, outside build output, data and vendored trees (a
/// folder with a `VENDORED.md` is someone else's).
fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) {
    if dir.join("VENDORED.md").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && !matches!(name.as_str(), "target" | "vendor" | "node_modules") {
                markdown_files(&path, found);
            }
        } else if name.ends_with(".md") {
            found.push(path);
        }
    }
}

/// The targets of inline links and images in `text`: what is between `](` and `)`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(')') else { break };
        let inside = &rest[..end];
        // `<a path with spaces>`, else the path up to an optional title.
        let target = match inside.strip_prefix('<') {
            Some(bracketed) => bracketed.split('>').next().unwrap_or(""),
            None => inside.split_whitespace().next().unwrap_or(""),
        };
        targets.push(target.to_owned());
        rest = &rest[end..];
    }
    targets
}

fn is_relative_path(target: &str) -> bool {
    !(target.is_empty() || target.starts_with('#') || target.contains("://") || target.starts_with("mailto:"))
}

/// The text outside fenced code blocks (a `# comment` in a shell example is no heading).
fn prose(text: &str) -> String {
    text.split("```").enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, prose)| prose).collect()
}

/// The anchor a heading gets, as GitHub makes it: lower case, spaces to `-`, and every
/// character but letters, digits, `-` and `_` left out.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings.
fn anchors(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    prose(&text).lines().filter_map(|line| line.strip_prefix('#')).map(|rest| slug(rest.trim_start_matches('#'))).collect()
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(files.iter().any(|f| f.ends_with("README.md")), "the docs were found");
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a Markdown file is text");
        for target in link_targets(&prose(&text)) {
            if !(is_relative_path(&target) || target.starts_with('#')) {
                continue;
            }
            let (path, anchor) = target.split_once('#').map_or((target.as_str(), None), |(p, a)| (p, Some(a)));
            let resolved = if path.is_empty() { file.clone() } else { file.parent().expect("a file has a folder").join(path) };
            let found = resolved.exists()
                && anchor.is_none_or(|anchor| !resolved.extension().is_some_and(|e| e == "md") || anchors(&resolved).iter().any(|a| a == anchor));
            if !found {
                broken.push(format!("{}: {target}", file.strip_prefix(&root).unwrap_or(file).display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing:\n{}", broken.join("\n"));
}

#[test]
fn link_targets_are_read_as_markdown_writes_them() {
    let text = "See [the API](docs/api.md#orders), ![a chart](<img/a b.png>) and [Spin](https://spinframework.dev \"t\").";
    assert_eq!(link_targets(text), ["docs/api.md#orders", "img/a b.png", "https://spinframework.dev"]);
    assert!(!is_relative_path("https://spinframework.dev") && !is_relative_path("#top") && is_relative_path("../bench/README.md"));
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(slug(" gRPC: `galley.user.v1.UserService`"), "grpc-galleyuserv1userservice");
    assert_eq!(slug("Least privilege: one database role per service"), "least-privilege-one-database-role-per-service");
    assert_eq!(slug("Gateway (GraphQL)"), "gateway-graphql");
}
