//! Postgres: every WIT value type both ways, errors, the allow-list, and transactions that
//! never leak through the pool.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{connect, ensure_database, eventually, Host, HostBuilder, TEST_DATABASE};

fn table(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

async fn pg(host: &Host, prefix: &str, mode: &str, sql: &str, params: Value) -> (u16, Value) {
    let response = host
        .client
        .post(host.url(&format!("{prefix}/pg")))
        .json(&json!({ "mode": mode, "sql": sql, "params": params }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A statement the probe reports failing with `status` (422 for the statement, 502 for the
/// connection): the error it names.
async fn pg_error(host: &Host, prefix: &str, mode: &str, sql: &str, params: Value, status: u16) -> String {
    let (answered, body) = pg(host, prefix, mode, sql, params).await;
    assert_eq!(answered, status, "{sql}: {body}");
    body["error"].as_str().unwrap_or_else(|| panic!("{sql}: no error in {body}")).to_owned()
}

async fn started() -> Host {
    ensure_database().await;
    HostBuilder::new().start().await
}

#[tokio::test]
async fn every_value_type_round_trips() {
    let host = started().await;
    let t = table("types");
    let columns = [
        ("b", "boolean", json!({"boolean": true})),
        ("c", "\"char\"", json!({"int8": 65})),
        ("i2", "int2", json!({"int16": -3})),
        ("i4", "int4", json!({"int32": 2147483647})),
        ("i8", "int8", json!({"int64": -9007199254740993i64})),
        ("f4", "float4", json!({"float32": 1.5})),
        ("f8", "float8", json!({"float64": 2.25})),
        ("t", "text", json!({"str": "héllo, wörld"})),
        ("v", "varchar(20)", json!({"str": "short"})),
        ("by", "bytea", json!({"binary": "raw bytes"})),
        ("d", "date", json!({"date": [2024, 2, 29]})),
        ("tm", "time", json!({"time": [13, 14, 15, 123456000]})),
        ("ts", "timestamp", json!({"datetime": [2024, 2, 29, 13, 14, 15, 500000000]})),
        ("u", "uuid", json!({"uuid": "67e55044-10b1-426f-9247-bb680e5fe0c8"})),
        ("j", "jsonb", json!({"jsonb": {"a": [1, 2, {"b": null}]}})),
        ("n2", "numeric(10,2)", json!({"decimal": "12345678.90"})),
        ("n28", "numeric", json!({"decimal": "1234567890123456789.012345678"})),
        ("r4", "int4range", json!({"range_int32": [[1, "inclusive"], [5, "exclusive"]]})),
        ("r8", "int8range", json!({"range_int64": [null, [10, "exclusive"]]})),
        ("rn", "numrange", json!({"range_decimal": [["1.5", "inclusive"], ["2.5", "inclusive"]]})),
        ("a4", "int4[]", json!({"array_int32": [1, null, 3]})),
        ("a8", "int8[]", json!({"array_int64": [9007199254740993i64, null]})),
        ("an", "numeric[]", json!({"array_decimal": ["1.10", null, "-0.05"]})),
        ("ast", "text[]", json!({"array_str": ["a", null, "c"]})),
        ("iv", "interval", json!({"interval": {"micros": 1500000, "days": 2, "months": 3}})),
        ("nul", "int4", json!({"null": null})),
    ];
    let definition: Vec<String> = columns.iter().map(|(name, ty, _)| format!("{name} {ty}")).collect();
    let (status, body) = pg(&host, "/probe", "execute", &format!("CREATE TABLE {t} ({})", definition.join(", ")), json!([])).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = columns.iter().map(|(name, _, _)| *name).collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let params: Vec<Value> = columns.iter().map(|(_, _, value)| value.clone()).collect();
    let insert = format!("INSERT INTO {t} ({}) VALUES ({})", names.join(", "), placeholders.join(", "));
    let (status, body) = pg(&host, "/probe", "execute", &insert, json!(params)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["affected"], 1);

    let (status, body) = pg(&host, "/probe", "query", &format!("SELECT {} FROM {t}", names.join(", ")), json!([])).await;
    assert_eq!(status, 200, "{body}");
    let row = body["rows"][0].as_array().unwrap();
    for (index, (name, _, sent)) in columns.iter().enumerate() {
        let expected = match *name {
            "nul" => json!({"null": null}),
            // Re-serialised compactly, as Spin returns it.
            "j" => json!({"jsonb": sent["jsonb"], "text": r#"{"a":[1,2,{"b":null}]}"#}),
            _ => sent.clone(),
        };
        assert_eq!(row[index], expected, "column {name}");
    }
    let types: Vec<String> = body["columns"].as_array().unwrap().iter().map(|c| c[1].as_str().unwrap().to_string()).collect();
    for (index, expected) in [(0, "Boolean"), (15, "Decimal"), (17, "RangeInt32"), (24, "Interval"), (13, "Uuid")] {
        assert!(types[index].contains(expected), "column {index}: {}", types[index]);
    }
}

#[tokio::test]
async fn timestamps_nulls_and_unmapped_types() {
    let host = started().await;
    let t = table("misc");
    pg(&host, "/probe", "execute", &format!("CREATE TABLE {t} (ts timestamp, js json, tz timestamptz)"), json!([])).await;
    let (status, body) = pg(
        &host,
        "/probe",
        "execute",
        &format!("INSERT INTO {t} VALUES ($1, $2, now())"),
        json!([{"timestamp": 1700000000}, {"jsonb": {"k": "v"}}]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = pg(&host, "/probe", "query", &format!("SELECT ts, js FROM {t}"), json!([])).await;
    assert_eq!(body["rows"][0][0], json!({"datetime": [2023, 11, 14, 22, 13, 20, 0]}));
    // `json` is not in the WIT's mapping: `other(name)` and the raw bytes.
    assert!(body["columns"][1][1].as_str().unwrap().contains("json"), "{body}");
    assert!(body["rows"][0][1]["unsupported"].as_u64().unwrap() > 0, "{body}");
    // A NULL of any type is db-null.
    let (_, body) = pg(&host, "/probe", "query", "SELECT NULL::numeric, NULL::text[], NULL::uuid", json!([])).await;
    assert_eq!(body["rows"][0], json!([{"null": null}, {"null": null}, {"null": null}]));
}

#[tokio::test]
async fn jsonb_comes_back_compact() {
    let host = started().await;
    let (status, body) = pg(&host, "/probe", "query", r#"SELECT '{"b": [1, 2], "a": {"c": null}, "aa": "x y"}'::jsonb"#, json!([])).await;
    assert_eq!(status, 200, "{body}");
    // Postgres's own text would be `{"b": [1, 2], "a": {"c": null}, "aa": "x y"}`.
    assert_eq!(body["rows"][0][0]["text"], r#"{"a":{"c":null},"aa":"x y","b":[1,2]}"#, "{body}");
}

#[tokio::test]
async fn a_timestamptz_column_fails_the_query_as_in_spin() {
    let host = started().await;
    // Spin 4.0.2 cannot read timestamptz and fails the query, NULLs included: so does galley,
    // so that an app that works here works on Spin. The text says what to select instead.
    for sql in ["SELECT 1 AS n, now() AS at", "SELECT NULL::timestamptz AS at"] {
        let error = pg_error(&host, "/probe", "query", sql, json!([]), 422).await;
        assert!(error.contains("QueryFailed(QueryError::Text("), "{sql}: {error}");
        assert!(error.contains("timestamptz") && error.contains("AT TIME ZONE"), "{error}");
    }
    // Converted as the text suggests, it reads.
    let (status, body) = pg(&host, "/probe", "query", "SELECT '2024-02-29 12:00:00+00'::timestamptz AT TIME ZONE 'UTC'", json!([])).await;
    assert_eq!((status, &body["rows"][0][0]), (200, &json!({"datetime": [2024, 2, 29, 12, 0, 0, 0]})), "{body}");
}

#[tokio::test]
async fn unbounded_ranges_read_as_none_bounds() {
    let host = started().await;
    let (status, body) = pg(
        &host,
        "/probe",
        "query",
        "SELECT '(,)'::int4range, '[3,)'::int4range, '(,5]'::int8range, '(,)'::numrange, '[1.5,)'::numrange, numrange(NULL, 100)",
        json!([]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rows"][0],
        json!([
            {"range_int32": [null, null]},
            {"range_int32": [[3, "inclusive"], null]},
            {"range_int64": [null, [6, "exclusive"]]},
            {"range_decimal": [null, null]},
            {"range_decimal": [["1.5", "inclusive"], null]},
            {"range_decimal": [null, ["100", "exclusive"]]},
        ])
    );
    // An empty range is not unbounded, and the WIT cannot say "empty": galley refuses it
    // (Spin answers (none, none), the unbounded range; see host/README.md).
    let error = pg_error(&host, "/probe", "query", "SELECT 'empty'::int4range", json!([]), 422).await;
    assert!(error.contains("ValueConversionFailed"), "{error}");
}

#[tokio::test]
async fn a_query_with_no_rows_still_has_its_columns() {
    let host = started().await;
    let (status, body) = pg(&host, "/probe", "query", "SELECT 1 AS one, 'x'::text AS two WHERE false", json!([])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], json!([]));
    assert_eq!(body["columns"][0][0], "one");
    assert_eq!(body["columns"][1][0], "two");
}

#[tokio::test]
async fn errors_are_mapped() {
    let host = started().await;
    let error = pg_error(&host, "/probe", "query", "SELECT * FROM no_such_table", json!([]), 422).await;
    assert!(error.contains("QueryFailed") && error.contains("DbError") && error.contains("42P01"), "{error}");
    assert!(error.contains("no_such_table"), "the server's message reaches the guest: {error}");

    // A value that is not valid at all is a bad parameter...
    let error = pg_error(&host, "/probe", "query", "SELECT $1::uuid", json!([{"uuid": "not-a-uuid"}]), 422).await;
    assert!(error.contains("BadParameter"), "{error}");
    // ...but one the placeholder's type refuses is a failed query, as in Spin.
    let error = pg_error(&host, "/probe", "query", "SELECT $1::int4", json!([{"str": "seven"}]), 422).await;
    assert!(error.contains("QueryFailed(QueryError::Text(") && error.contains("int4"), "{error}");
    let error = pg_error(&host, "/probe", "execute", "SELECT $1::int4", json!([{"str": "seven"}]), 422).await;
    assert!(error.contains("QueryFailed(QueryError::Text("), "{error}");
    let error = pg_error(&host, "/probe", "query", "SELECT 1/$1::int4", json!([{"int32": 0}]), 422).await;
    assert!(error.contains("22012"), "division by zero is a server error: {error}");
}

#[tokio::test]
async fn address_must_be_allowed() {
    let host = started().await;
    // `probe-denied` names the same database but has no allowed_outbound_hosts entry for it.
    let error = pg_error(&host, "/denied", "query", "SELECT 1", json!([]), 502).await;
    assert!(error.contains("ConnectionFailed") && error.contains("not permitted"), "{error}");
}

async fn open_transactions(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'",
            &[&TEST_DATABASE],
        )
        .await
        .unwrap()
        .get(0)
}

async fn abandoned_transaction_is_rolled_back(kind: &str) {
    let host = started().await;
    let t = table(kind);
    let check = connect(TEST_DATABASE).await;
    check.batch_execute(&format!("CREATE TABLE {t} (id int)")).await.unwrap();
    let response = host.client.post(host.url(&format!("/probe/pg/{kind}"))).body(format!("INSERT INTO {t} VALUES (1)")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    eventually(Duration::from_secs(5), "the abandoned transaction to be rolled back", || async {
        open_transactions(&check).await == 0
    })
    .await;
    let rows: i64 = check.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap().get(0);
    assert_eq!(rows, 0, "the uncommitted insert must not survive");
    // Every pooled connection is clean: autocommitted inserts through the pool are visible.
    for id in 0..10 {
        let (status, body) = pg(&host, "/probe", "execute", &format!("INSERT INTO {t} VALUES ($1)"), json!([{"int32": id}])).await;
        assert_eq!(status, 200, "{body}");
    }
    let rows: i64 = check.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap().get(0);
    assert_eq!(rows, 10);
}

#[tokio::test]
async fn transaction_left_open_by_a_dropped_connection_is_rolled_back() {
    abandoned_transaction_is_rolled_back("abandon").await;
}

#[tokio::test]
async fn transaction_left_open_by_a_leaked_connection_is_rolled_back() {
    abandoned_transaction_is_rolled_back("leak").await;
}

/// The backend serving the probe's next statement (and, for a large message, the message's size).
async fn backend_pid(host: &Host, params: Value) -> i64 {
    let sql = match params.as_array().map_or(0, Vec::len) {
        0 => "SELECT pg_backend_pid()::int8",
        _ => "SELECT pg_backend_pid()::int8 WHERE length($1) > 0",
    };
    let (status, body) = pg(host, "/probe", "query", sql, params).await;
    assert_eq!(status, 200, "{body}");
    body["rows"][0][0]["int64"].as_i64().unwrap_or_else(|| panic!("a pid in {body}"))
}

#[tokio::test]
async fn a_connection_that_carried_a_large_message_is_closed_not_pooled() {
    let host = started().await;
    let first = backend_pid(&host, json!([])).await;
    assert_eq!(backend_pid(&host, json!([])).await, first, "a small statement's connection goes back to the pool");
    let large = "x".repeat(5 << 20);
    assert_eq!(backend_pid(&host, json!([{ "str": large }])).await, first, "the pooled connection carries it");
    let after = backend_pid(&host, json!([])).await;
    assert_ne!(after, first, "the connection that carried 5 MiB was closed, its buffers with it");
    let check = connect(TEST_DATABASE).await;
    eventually(Duration::from_secs(5), "the closed backend to be gone", || async {
        check.query_opt("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&(first as i32)]).await.unwrap().is_none()
    })
    .await;
}
