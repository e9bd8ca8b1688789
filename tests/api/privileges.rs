//! Least privilege in Postgres: every service's role reaches its own database only, cannot
//! change its schema, and the superuser cannot be used without its password over TCP, the only
//! way a component reaches Postgres. Checked twice: with direct connections as the roles, and
//! from inside a running component (tests/components/intruder) that holds the users service's
//! credentials and tries the other databases, so the refusal is what a compromised function
//! would meet.

use tokio_postgres::error::SqlState;

use crate::support::{connect_as, db_secret, spawn_app, SERVICES};

fn role(service: &str) -> String {
    format!("galley_{service}")
}

fn password(service: &str) -> String {
    db_secret(&format!("SPIN_VARIABLE_{}_DB_PASSWORD", service.to_uppercase()))
}

fn refusal_code(error: &tokio_postgres::Error) -> Option<SqlState> {
    error.as_db_error().map(|e| e.code().clone())
}

#[tokio::test]
async fn each_service_role_reads_its_own_tables_and_cannot_connect_to_any_other_database() {
    for service in SERVICES {
        let own = connect_as(&role(service), &password(service), service)
            .await
            .unwrap_or_else(|e| panic!("{} cannot reach its own database: {e}", role(service)));
        let tables = own
            .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'refinery_schema_history'", &[])
            .await
            .expect("listing its tables");
        assert!(!tables.is_empty(), "{service} has tables");
        for table in tables {
            let table: String = table.get(0);
            own.query(&format!("SELECT * FROM \"{table}\" LIMIT 1"), &[])
                .await
                .unwrap_or_else(|e| panic!("{} cannot read its table {table}: {e}", role(service)));
        }
        for other in SERVICES.iter().filter(|o| **o != service) {
            let error = connect_as(&role(service), &password(service), other)
                .await
                .err()
                .unwrap_or_else(|| panic!("{} connected to {other}", role(service)));
            assert_eq!(refusal_code(&error), Some(SqlState::INSUFFICIENT_PRIVILEGE), "{} → {other}: {error}", role(service));
        }
    }
}

#[tokio::test]
async fn a_service_role_cannot_change_its_schema_grant_itself_more_or_read_the_migration_history() {
    let db = connect_as("galley_orders", &password("orders"), "orders").await.expect("orders role connects");
    for statement in [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE orders",
        "ALTER TABLE orders ADD COLUMN note text",
        "SELECT * FROM refinery_schema_history",
        "CREATE ROLE intruder LOGIN",
        "CREATE DATABASE intruder",
        "ALTER ROLE galley_orders SUPERUSER",
        "GRANT CONNECT ON DATABASE payments TO galley_orders",
    ] {
        let error = db.batch_execute(statement).await.err().unwrap_or_else(|| panic!("`{statement}` succeeded"));
        assert_eq!(refusal_code(&error), Some(SqlState::INSUFFICIENT_PRIVILEGE), "`{statement}`: {error}");
    }
}

#[tokio::test]
async fn over_tcp_every_role_needs_its_password() {
    for (user, database) in [("galley", "postgres"), ("galley_users", "users")] {
        let error = connect_as(user, "not-the-password", database).await.err().unwrap_or_else(|| panic!("{user} got in"));
        assert_eq!(refusal_code(&error), Some(SqlState::INVALID_PASSWORD), "{user}: {error}");
    }
}

#[tokio::test]
async fn a_component_holding_one_services_credentials_cannot_read_another_services_data() {
    let app = spawn_app();
    let attempt = |database: &str, who: &str| {
        let url = app.url(&format!("/_e2e/intruder/{database}?as={who}"));
        let http = app.http.clone();
        async move {
            let response = http.get(url).send().await.expect("intruder answers");
            (response.status().as_u16(), response.text().await.expect("body"))
        }
    };
    // The component does reach Postgres: its own service's database answers.
    let (status, tables) = attempt("users", "users").await;
    assert_eq!(status, 200, "the users database, as the users role: {tables}");
    assert!(tables.parse::<u32>().expect("a table count") > 0);
    for other in SERVICES.iter().filter(|s| **s != "users") {
        let (status, refusal) = attempt(other, "users").await;
        assert_eq!(status, 403, "{other} as the users role: {refusal}");
        assert!(refusal.contains("permission denied for database"), "{other}: {refusal}");
    }
    // Nor as the superuser, whose password no component has.
    for database in SERVICES {
        let (status, refusal) = attempt(database, "superuser").await;
        assert_eq!(status, 403, "{database} as the superuser: {refusal}");
        assert!(refusal.contains("password"), "{database}: refused for want of the password: {refusal}");
    }
}

#[test]
fn every_database_url_in_the_manifest_logs_in_as_its_own_services_role() {
    let text = std::fs::read_to_string(crate::support::repo_root().join("spin.toml")).expect("spin.toml");
    let manifest: toml::Value = toml::from_str(&text).expect("spin.toml parses");
    let mut seen = 0;
    for (id, component) in manifest["component"].as_table().expect("[component]") {
        let Some(url) = component.get("variables").and_then(|v| v.get("db_url")).and_then(|u| u.as_str()) else { continue };
        let database = url.rsplit('/').next().expect("a database name");
        assert!(SERVICES.contains(&database), "{id}: {database} is a service database");
        let expected = format!("postgres://galley_{database}:{{{{ {database}_db_password }}}}@{{{{ db_host }}}}:{{{{ db_port }}}}/{database}");
        assert_eq!(url, expected, "{id}");
        seen += 1;
    }
    assert!(seen >= SERVICES.len(), "every service database has a component using it ({seen} urls)");
}
