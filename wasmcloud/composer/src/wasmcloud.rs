//! What a wasmCloud host provides to a component, and the check that a composed component
//! asks for nothing else.
//!
//! The table is wasmCloud 2.x's (`wash-runtime`, wasmCloud/wasmCloud at 7cd553c): WASI 0.2
//! through wasmtime-wasi and wasmtime-wasi-http, and its built-in plugins' interfaces at the
//! versions in `crates/wash-runtime/wit/deps`. A WASI 0.2 import of any patch version links,
//! as wasmtime resolves `0.2.x` imports semver-compatibly.

/// The versions an entry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Versions {
    /// Any WASI 0.2 patch release (`0.2.0`, `0.2.6`, ...).
    Wasi02,
    Exactly(&'static str),
}

/// A package, the interfaces of it the host provides, and at which versions.
type Entry = (&'static str, &'static [&'static str], Versions);

const IMPORTS: &[Entry] = &[
    (
        "wasi:cli",
        &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
        Versions::Wasi02,
    ),
    ("wasi:io", &["error", "poll", "streams"], Versions::Wasi02),
    (
        "wasi:clocks",
        &["monotonic-clock", "wall-clock"],
        Versions::Wasi02,
    ),
    (
        "wasi:random",
        &["random", "insecure", "insecure-seed"],
        Versions::Wasi02,
    ),
    ("wasi:filesystem", &["types", "preopens"], Versions::Wasi02),
    (
        "wasi:sockets",
        &[
            "network",
            "instance-network",
            "ip-name-lookup",
            "tcp",
            "tcp-create-socket",
            "udp",
            "udp-create-socket",
        ],
        Versions::Wasi02,
    ),
    (
        "wasi:http",
        &["types", "outgoing-handler"],
        Versions::Wasi02,
    ),
    ("wasi:config", &["store"], Versions::Exactly("0.2.0-rc.1")),
    (
        "wasi:keyvalue",
        &["store", "atomics", "batch"],
        Versions::Exactly("0.2.0-draft"),
    ),
    (
        "wasi:logging",
        &["logging"],
        Versions::Exactly("0.1.0-draft"),
    ),
    (
        "wasmcloud:messaging",
        &["types", "consumer"],
        Versions::Exactly("0.2.0"),
    ),
    (
        "wasmcloud:postgres",
        &["types", "query", "prepared"],
        Versions::Exactly("0.1.1-draft"),
    ),
];

/// The exports a wasmCloud host calls: HTTP requests, and messages on a subscribed subject.
const ENTRY_POINTS: &[Entry] = &[
    ("wasi:http", &["incoming-handler"], Versions::Wasi02),
    (
        "wasmcloud:messaging",
        &["handler"],
        Versions::Exactly("0.2.0"),
    ),
];

fn listed(table: &[Entry], name: &str) -> bool {
    let Some((path, version)) = name.split_once('@') else {
        return false;
    };
    let Some((package, interface)) = path.split_once('/') else {
        return false;
    };
    table.iter().any(|(p, interfaces, versions)| {
        *p == package
            && interfaces.contains(&interface)
            && match versions {
                Versions::Wasi02 => version
                    .strip_prefix("0.2.")
                    .is_some_and(|patch| patch.parse::<u32>().is_ok()),
                Versions::Exactly(v) => version == *v,
            }
    })
}

/// Whether a wasmCloud host links an import of this name.
pub fn provides(import: &str) -> bool {
    listed(IMPORTS, import)
}

/// Whether a wasmCloud host calls an export of this name.
pub fn calls(export: &str) -> bool {
    listed(ENTRY_POINTS, export)
}

/// What keeps a component off a wasmCloud host; empty when it would run there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Imports no wasmCloud host provides.
    pub unprovided: Vec<String>,
    /// True when the component exports nothing a wasmCloud host calls.
    pub no_entry_point: bool,
}

impl Findings {
    pub fn of(interfaces: &crate::component::Interfaces) -> Self {
        Findings {
            unprovided: interfaces
                .imports
                .iter()
                .filter(|i| !provides(i))
                .cloned()
                .collect(),
            no_entry_point: !interfaces.exports.iter().any(|e| calls(e)),
        }
    }

    pub fn portable(&self) -> bool {
        self.unprovided.is_empty() && !self.no_entry_point
    }
}

impl std::fmt::Display for Findings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.portable() {
            return write!(f, "runs on wasmCloud");
        }
        let mut parts = Vec::new();
        if !self.unprovided.is_empty() {
            parts.push(format!(
                "imports what wasmCloud does not provide: {}",
                self.unprovided.join(", ")
            ));
        }
        if self.no_entry_point {
            parts.push("exports nothing a wasmCloud host calls".to_owned());
        }
        write!(f, "{}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::Interfaces;

    #[test]
    fn wasi_0_2_imports_of_any_patch_release_are_provided() {
        assert!(provides("wasi:io/streams@0.2.0"));
        assert!(provides("wasi:http/outgoing-handler@0.2.6"));
        assert!(!provides("wasi:io/streams@0.3.0-rc-2026-01-06"));
        assert!(!provides("wasi:io/streams@0.2.x"));
    }

    #[test]
    fn plugin_interfaces_must_match_the_version_the_host_has() {
        assert!(provides("wasi:keyvalue/store@0.2.0-draft"));
        assert!(
            !provides("wasi:keyvalue/store@0.2.0-draft2"),
            "Spin's draft2 is a different interface"
        );
        assert!(provides("wasi:config/store@0.2.0-rc.1"));
        assert!(!provides("wasi:config/store@0.2.0-draft-2024-09-27"));
    }

    #[test]
    fn spin_interfaces_are_not_provided() {
        for spin in [
            "fermyon:spin/variables@2.0.0",
            "spin:postgres/postgres@4.0.0",
            "fermyon:spin/key-value@2.0.0",
        ] {
            assert!(!provides(spin), "{spin}");
        }
    }

    #[test]
    fn a_component_needs_an_entry_point_the_host_calls() {
        let redis_triggered = Interfaces {
            imports: vec!["wasi:io/streams@0.2.0".into()],
            exports: vec!["fermyon:spin/inbound-redis".into()],
        };
        let findings = Findings::of(&redis_triggered);
        assert!(findings.no_entry_point);
        assert!(!findings.portable());
        assert_eq!(
            findings.to_string(),
            "exports nothing a wasmCloud host calls"
        );

        let http = Interfaces {
            imports: vec![
                "wasi:io/streams@0.2.0".into(),
                "fermyon:spin/variables@2.0.0".into(),
            ],
            exports: vec!["wasi:http/incoming-handler@0.2.0".into()],
        };
        assert_eq!(
            Findings::of(&http).unprovided,
            vec!["fermyon:spin/variables@2.0.0".to_owned()]
        );
    }
}
