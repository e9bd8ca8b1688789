//! The migrator records what ran: once `make test` has migrated the test databases, another
//! run finds every service database present and up to date, and applies nothing.

use std::process::Command;

use crate::support::SERVICES;

#[test]
fn rerunning_migrations_is_a_no_op() {
    let binary = std::env::var("GALLEY_MIGRATE_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| crate::support::repo_root().join("target/release/galley-migrate"));
    for _ in 0..2 {
        let output = Command::new(&binary)
            .args(["--port", &crate::support::pg_port()])
            .arg("--secrets-file")
            .arg(crate::support::repo_root().join(".data/test/db-secrets.env"))
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e} (make build builds it)", binary.display()));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "galley-migrate failed: {text}{}", String::from_utf8_lossy(&output.stderr));
        for service in SERVICES {
            let line = text.lines().find(|l| l.starts_with(service)).unwrap_or_else(|| panic!("no line for {service} in:\n{text}"));
            assert!(line.contains("exists") && line.contains("up to date"), "{service}: {line}");
        }
        assert!(!text.contains("applied"), "nothing may be applied twice:\n{text}");
    }
}
