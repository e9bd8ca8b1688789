//! SQLite (`fermyon:spin/sqlite@2.0.0`, `spin:sqlite/sqlite@3.0.0`): Spin's `default` database
//! file, labels from the runtime config, access control, values and per-connection counters,
//! all against real database files.

use serde_json::{json, Value};

use crate::support::{Host, HostBuilder, ManifestVariant};

/// Runs `statements` on one connection through the probe; returns the status and the JSON.
async fn sqlite(host: &Host, prefix: &str, version: u8, label: &str, statements: Value) -> (u16, Value) {
    let response = host
        .client
        .post(host.url(&format!("{prefix}/sqlite/{version}/{label}")))
        .json(&json!({ "statements": statements }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn table(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn the_default_database_is_spins_file_in_the_state_dir() {
    let state = tempfile::tempdir().unwrap();
    let host = HostBuilder::new().state_dir(state.path()).start().await;
    let t = table("kv");
    let (status, body) = sqlite(
        &host,
        "/probe",
        2,
        "default",
        json!([
            { "sql": format!("CREATE TABLE {t} (key TEXT NOT NULL, value TEXT NOT NULL)") },
            { "sql": format!("INSERT INTO {t} (key, value) VALUES ('my_key', 'my_value')") },
            { "sql": format!("SELECT * FROM {t} WHERE key = ?"), "params": ["my_key"] },
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][2]["columns"], json!(["key", "value"]));
    assert_eq!(body["results"][2]["rows"], json!([[{ "text": "my_key" }, { "text": "my_value" }]]));

    // The rows are in `<state dir>/sqlite_db.db`, a plain SQLite file (Spin's `.spin/sqlite_db.db`).
    let file = state.path().join("sqlite_db.db");
    let db = rusqlite::Connection::open(&file).unwrap();
    let value: String = db.query_row(&format!("SELECT value FROM {t}"), [], |row| row.get(0)).unwrap();
    assert_eq!(value, "my_value");
}

#[tokio::test]
async fn undeclared_labels_are_access_denied() {
    let host = HostBuilder::new().start().await;
    let select = json!([{ "sql": "SELECT 1" }]);
    let (status, body) = sqlite(&host, "/probe", 2, "forbidden", select.clone()).await;
    assert_eq!((status, body["error"].as_str()), (500, Some("Error::AccessDenied")), "{body}");
    // `probe-denied` declares no databases, not even `default`; in either WIT version.
    for version in [2, 3] {
        let (status, body) = sqlite(&host, "/denied", version, "default", select.clone()).await;
        assert_eq!((status, body["error"].as_str()), (500, Some("Error::AccessDenied")), "{body}");
    }
}

#[tokio::test]
async fn runtime_config_databases_values_and_counters() {
    // A database file some other host (Spin, say) wrote.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inventory.db");
    {
        let db = rusqlite::Connection::open(&file).unwrap();
        db.execute_batch(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, photo BLOB, note);
             INSERT INTO items (name, price, photo, note) VALUES ('anchor', 12.5, x'6869', NULL);",
        )
        .unwrap();
    }
    let manifest = ManifestVariant::new("sqlite-label", |m| {
        m.replace("sqlite_databases = [\"default\"]", "sqlite_databases = [\"default\", \"inventory\"]")
    });
    let config = format!(
        "[key_value_store.mem]\ntype = \"spin\"\n[sqlite_database.inventory]\ntype = \"spin\"\npath = \"{}\"\n",
        file.display()
    );
    let host = HostBuilder::new().manifest(manifest.path()).runtime_config(Some(&config)).start().await;

    let (status, body) = sqlite(
        &host,
        "/probe",
        3,
        "inventory",
        json!([
            { "sql": "SELECT name, price, photo, note FROM items" },
            { "sql": "INSERT INTO items (name, price, photo, note) VALUES (?, ?, ?, ?)",
              "params": ["rope", 3, { "blob": "raw" }, null] },
            { "sql": "UPDATE items SET price = price * 2" },
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][0]["rows"],
        json!([[{ "text": "anchor" }, { "real": 12.5 }, { "blob": "hi" }, { "null": null }]])
    );
    assert_eq!(body["last_insert_rowid"], 2, "the connection's own insert: {body}");
    assert_eq!(body["changes"], 2, "the UPDATE's rows: {body}");

    // A new connection has its own counters, and sees what the last one wrote.
    let (status, body) = sqlite(&host, "/probe", 3, "inventory", json!([{ "sql": "SELECT id, name, price FROM items ORDER BY id" }])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["last_insert_rowid"].as_i64(), body["changes"].as_i64()), (Some(0), Some(0)), "{body}");
    assert_eq!(
        body["results"][0]["rows"],
        json!([
            [{ "integer": 1 }, { "text": "anchor" }, { "real": 25.0 }],
            // REAL affinity stores the integer 3 as 3.0.
            [{ "integer": 2 }, { "text": "rope" }, { "real": 6.0 }],
        ])
    );

    // SQLite's own errors reach the guest as `io`.
    let (status, body) = sqlite(&host, "/probe", 2, "inventory", json!([{ "sql": "SELECT * FROM nowhere" }])).await;
    assert_eq!(status, 500);
    assert!(body["error"].as_str().unwrap().starts_with("Error::Io(\"no such table: nowhere"), "{body}");
}

#[test]
fn a_declared_label_without_a_database_stops_the_app() {
    let manifest = ManifestVariant::new("sqlite-missing", |m| {
        m.replace("sqlite_databases = [\"default\"]", "sqlite_databases = [\"default\", \"orders\"]")
    });
    let stderr = HostBuilder::new().manifest(manifest.path()).start_expecting_failure();
    assert!(stderr.contains("component.probe.sqlite_databases") && stderr.contains("[sqlite_database.orders]"), "{stderr}");
}
