//! The documentation's relative links: every `[text](path)` in a Markdown file of the project
//! names a file or folder that exists, so a reader following the docs never lands nowhere.
//! Web addresses and in-page anchors are not checked here.

use std::path::{Path, PathBuf};

/// Every Markdown file of the project, outside build output, data and vendored trees.
fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) {
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

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(files.iter().any(|f| f.ends_with("README.md")), "the docs were found");
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a Markdown file is text");
        let in_code = text.split("```").enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, prose)| prose).collect::<String>();
        for target in link_targets(&in_code).into_iter().filter(|t| is_relative_path(t)) {
            let path = target.split('#').next().unwrap_or("");
            let resolved = file.parent().expect("a file has a folder").join(path);
            if !resolved.exists() {
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
