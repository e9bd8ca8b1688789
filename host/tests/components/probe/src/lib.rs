//! Test component for galley's own end-to-end tests. Each path exercises one host capability
//! and reports what happened as JSON, so the native tests can assert on it:
//!
//! | path | what it does |
//! |---|---|
//! | anything else | an echo: the method, path, query, every request header, `PROBE_ENV` |
//! | `/kv/<label>/<key>` | GET/PUT/DELETE on a key-value store; `/kv/<label>` lists keys |
//! | `/pg` | POST `{mode, sql, params}`: a Postgres query or execute, rows as typed JSON |
//! | `/pg/abandon` | POST `{sql}`: BEGIN, run it, return without COMMIT (resource dropped) |
//! | `/pg/leak` | the same, but the connection resource is never dropped by the guest |
//! | `/outbound?url=U` | a GET to U through wasi:http; reports status and body, or the error |
//! | `/var/<name>` | a component variable |
//! | `/redis/<op>/...` | outbound Redis: publish, set, get, incr, del, sadd, smembers, srem, execute |
//! | `/sqlite/<2\|3>/<label>` | POST `{statements: [{sql, params}]}` on one connection of `fermyon:spin/sqlite@2.0.0` or `spin:sqlite/sqlite@3.0.0` |
//! | `/mqtt` | POST `{address, username, password, topic, payload, qos}`: open and publish |
//! | `/tcp?addr=IP:PORT` | a TCP connection through wasi:sockets: writes a line, reads its echo |
//! | `/sleep/<ms>` | answers after a delay (for draining on shutdown) |
//! | `/counter` | calls counted in a global: always 1 with a fresh instance per request |
//! | `/trap`, `/loop`, `/oom`, `/log` | misbehaviour and stdout/stderr capture |

use serde_json::{json, Map, Value};
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_sdk::pg4::{self, DbValue, ParameterValue, RangeBoundKind};

/// Takes wasi:http's own request and outparam, because trailers exist only there: the SDK's
/// buffered `Request`/`Response` have none.
#[http_component]
async fn entry(request: IncomingRequest, response_out: ResponseOutparam) {
    let path_info = request.headers().get(&"spin-path-info".to_string()).concat();
    if path_info == b"/stream-echo" {
        return stream_echo(request, response_out);
    }
    let response = match Request::try_from_incoming_request(request).await {
        Ok(request) => handle(request).await.unwrap_or_else(|error| text(500, format!("{error:#}"))),
        Err(error) => text(400, format!("{error:?}")),
    };
    let mut response = response;
    let body = std::mem::take(response.body_mut());
    match OutgoingResponse::try_from(response) {
        Ok(outgoing) => {
            if let Err(error) = response_out.set_with_body(outgoing, body).await {
                eprintln!("could not send the response: {error}");
            }
        }
        Err(error) => eprintln!("could not convert the response: {error}"),
    }
}

async fn handle(request: Request) -> anyhow::Result<Response> {
    // Dispatch on what the route's wildcard matched, so the same probe works under any
    // prefix and through service chaining (where the whole path is the path info).
    let path_info = request.header("spin-path-info").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let segments: Vec<&str> = path_info.trim_start_matches('/').split('/').collect();
    let response = match segments.as_slice() {
        ["kv", label] => kv_keys(label),
        ["kv", label, key] => kv(&request, label, key),
        ["pg"] => pg(request.body()),
        ["pg", "abandon"] => pg_abandon(request.body(), false),
        ["pg", "leak"] => pg_abandon(request.body(), true),
        ["outbound"] => outbound(&request).await,
        ["var", name] => variable(name),
        ["redis", rest @ ..] => redis(rest, request.body()),
        ["sqlite", version, label] => sqlite(version, label, request.body()),
        ["mqtt"] => mqtt(request.body()),
        ["tcp"] => tcp(request.query()),
        ["counter"] => {
            static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            text(200, (CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1).to_string())
        }
        ["sleep", millis] => {
            std::thread::sleep(std::time::Duration::from_millis(millis.parse().unwrap_or(0)));
            text(200, "slept")
        }
        ["trap"] => panic!("deliberate trap"),
        ["loop"] => spin_forever(),
        ["oom"] => exhaust_memory(),
        ["log"] => {
            println!("line to stdout");
            eprintln!("line to stderr");
            text(200, "logged")
        }
        // Anything else, exact routes included, echoes the request.
        _ => echo(&request),
    };
    Ok(response)
}

fn text(status: u16, body: impl Into<String>) -> Response {
    Response::builder().status(status).header("content-type", "text/plain").body(body.into()).build()
}

fn json_response(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

fn echo(request: &Request) -> Response {
    let headers: Map<String, Value> = request
        .headers()
        .map(|(name, value)| (name.to_string(), json!(value.as_str().unwrap_or(""))))
        .collect();
    json_response(
        200,
        json!({
            "method": format!("{:?}", request.method()),
            "path": request.path(),
            "query": request.query(),
            "headers": headers,
            "body_len": request.body().len(),
            "env": std::env::var("PROBE_ENV").ok(),
        }),
    )
}

fn kv_keys(label: &str) -> Response {
    match spin_sdk::key_value::Store::open(label).and_then(|s| s.get_keys()) {
        Ok(mut keys) => {
            keys.sort();
            json_response(200, json!(keys))
        }
        Err(error) => text(403, format!("{error:?}")),
    }
}

fn kv(request: &Request, label: &str, key: &str) -> Response {
    let store = match spin_sdk::key_value::Store::open(label) {
        Ok(store) => store,
        Err(error) => return text(403, format!("{error:?}")),
    };
    let result = match request.method() {
        Method::Get => store.get(key).map(|value| match value {
            Some(value) => text(200, String::from_utf8_lossy(&value)),
            None => text(404, "missing"),
        }),
        Method::Put => store.set(key, request.body()).map(|()| text(200, "stored")),
        Method::Delete => store.delete(key).map(|()| text(200, "deleted")),
        Method::Head => store.exists(key).map(|exists| text(if exists { 200 } else { 404 }, "")),
        _ => return text(405, "method"),
    };
    result.unwrap_or_else(|error| text(500, format!("{error:?}")))
}

fn variable(name: &str) -> Response {
    match spin_sdk::variables::get(name) {
        Ok(value) => text(200, value),
        Err(error) => text(404, format!("{error:?}")),
    }
}

async fn outbound(request: &Request) -> Response {
    let url = request
        .query()
        .split('&')
        .find_map(|pair| pair.strip_prefix("url="))
        .unwrap_or("")
        .replace("%2F", "/")
        .replace("%3A", ":");
    let outgoing = Request::get(url.as_str());
    match spin_sdk::http::send::<_, Response>(outgoing).await {
        Ok(response) => json_response(
            200,
            json!({
                "status": response.status(),
                "body": String::from_utf8_lossy(response.body()),
            }),
        ),
        Err(error) => json_response(502, json!({ "error": format!("{error:?}") })),
    }
}

fn redis(rest: &[&str], body: &[u8]) -> Response {
    let address = match spin_sdk::variables::get("redis_address") {
        Ok(address) => address,
        Err(error) => return text(500, format!("{error:?}")),
    };
    let connection = match spin_sdk::redis::Connection::open(&address) {
        Ok(connection) => connection,
        Err(error) => return text(403, format!("{error:?}")),
    };
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let result: Result<Value, spin_sdk::redis::Error> = match rest {
        ["publish", channel] => connection.publish(channel, &body.to_vec()).map(|()| json!("published")),
        ["set", key] => connection.set(key, &body.to_vec()).map(|()| json!("set")),
        ["get", key] => connection.get(key).map(|v| json!(v.map(|v| String::from_utf8_lossy(&v).to_string()))),
        ["incr", key] => connection.incr(key).map(|n| json!(n)),
        ["del", keys @ ..] => connection.del(&strings(keys)).map(|n| json!(n)),
        ["sadd", key, values @ ..] => connection.sadd(key, &strings(values)).map(|n| json!(n)),
        ["smembers", key] => connection.smembers(key).map(|mut m| {
            m.sort();
            json!(m)
        }),
        ["srem", key, values @ ..] => connection.srem(key, &strings(values)).map(|n| json!(n)),
        ["execute", command, args @ ..] => {
            let args: Vec<spin_sdk::redis::RedisParameter> = args
                .iter()
                .map(|a| spin_sdk::redis::RedisParameter::Binary(a.as_bytes().to_vec()))
                .collect();
            connection.execute(command, &args).map(|results| json!(format!("{results:?}")))
        }
        _ => return text(404, "no such redis probe"),
    };
    match result {
        Ok(value) => json_response(200, value),
        Err(error) => text(500, format!("{error:?}")),
    }
}

fn spin_forever() -> Response {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn exhaust_memory() -> Response {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

// ---------------------------------------------------------------- Postgres

fn pg_address() -> Result<String, Response> {
    spin_sdk::variables::get("pg_address").map_err(|e| text(500, format!("{e:?}")))
}

fn pg(body: &[u8]) -> Response {
    let request: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => return text(400, error.to_string()),
    };
    let address = match pg_address() {
        Ok(address) => address,
        Err(response) => return response,
    };
    let sql = request["sql"].as_str().unwrap_or_default();
    let params = match request["params"].as_array().map(|p| p.iter().map(param).collect::<Result<Vec<_>, _>>()) {
        Some(Ok(params)) => params,
        Some(Err(error)) => return text(400, error),
        None => Vec::new(),
    };
    let connection = match pg4::Connection::open(&address) {
        Ok(connection) => connection,
        Err(error) => return json_response(502, json!({ "error": format!("{error:?}") })),
    };
    let outcome = if request["mode"] == "execute" {
        connection.execute(sql, &params).map(|n| json!({ "affected": n }))
    } else {
        connection.query(sql, &params).map(|set| {
            json!({
                "columns": set.columns.iter().map(|c| json!([c.name, format!("{:?}", c.data_type)])).collect::<Vec<_>>(),
                "rows": set.rows.iter().map(|row| row.iter().map(value).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
        })
    };
    match outcome {
        Ok(value) => json_response(200, value),
        Err(error) => json_response(422, json!({ "error": format!("{error:?}") })),
    }
}

fn pg_abandon(body: &[u8], leak: bool) -> Response {
    let sql = String::from_utf8_lossy(body).to_string();
    let address = match pg_address() {
        Ok(address) => address,
        Err(response) => return response,
    };
    let connection = match pg4::Connection::open(&address) {
        Ok(connection) => connection,
        Err(error) => return text(502, format!("{error:?}")),
    };
    if let Err(error) = connection.execute("BEGIN", &[]).and_then(|_| connection.execute(&sql, &[])) {
        return text(422, format!("{error:?}"));
    }
    if leak {
        // The resource stays in the host's table until the instance is torn down.
        std::mem::forget(connection);
    }
    text(200, "left a transaction open")
}

fn bound<T>(value: &Value, parse: impl Fn(&Value) -> Option<T>) -> Result<Option<(T, RangeBoundKind)>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let kind = match value[1].as_str() {
        Some("inclusive") => RangeBoundKind::Inclusive,
        Some("exclusive") => RangeBoundKind::Exclusive,
        _ => return Err(format!("bad range bound {value}")),
    };
    Ok(Some((parse(&value[0]).ok_or(format!("bad bound value {value}"))?, kind)))
}

fn list<T>(value: &Value, parse: impl Fn(&Value) -> Option<T>) -> Result<Vec<Option<T>>, String> {
    value
        .as_array()
        .ok_or("expected an array")?
        .iter()
        .map(|item| if item.is_null() { Ok(None) } else { parse(item).map(Some).ok_or(format!("bad item {item}")) })
        .collect()
}

fn nums<const N: usize>(value: &Value) -> Result<[i64; N], String> {
    let items = value.as_array().ok_or("expected an array")?;
    let numbers: Vec<i64> = items.iter().filter_map(Value::as_i64).collect();
    numbers.try_into().map_err(|_| format!("expected {N} integers in {value}"))
}

/// A parameter written as `{"<type>": value}`.
fn param(spec: &Value) -> Result<ParameterValue, String> {
    let (kind, v) = spec.as_object().and_then(|o| o.iter().next()).ok_or(format!("bad param {spec}"))?;
    let int = || v.as_i64().ok_or(format!("bad integer {v}"));
    let string = || v.as_str().map(str::to_string).ok_or(format!("bad string {v}"));
    let i32_of = |v: &Value| v.as_i64().map(|n| n as i32);
    let string_of = |v: &Value| v.as_str().map(str::to_string);
    Ok(match kind.as_str() {
        "null" => ParameterValue::DbNull,
        "boolean" => ParameterValue::Boolean(v.as_bool().ok_or("bad bool")?),
        "int8" => ParameterValue::Int8(int()? as i8),
        "int16" => ParameterValue::Int16(int()? as i16),
        "int32" => ParameterValue::Int32(int()? as i32),
        "int64" => ParameterValue::Int64(int()?),
        "float32" => ParameterValue::Floating32(v.as_f64().ok_or("bad float")? as f32),
        "float64" => ParameterValue::Floating64(v.as_f64().ok_or("bad float")?),
        "str" => ParameterValue::Str(string()?),
        "binary" => ParameterValue::Binary(string()?.into_bytes()),
        "date" => {
            let [y, m, d] = nums(v)?;
            ParameterValue::Date((y as i32, m as u8, d as u8))
        }
        "time" => {
            let [h, m, s, ns] = nums(v)?;
            ParameterValue::Time((h as u8, m as u8, s as u8, ns as u32))
        }
        "datetime" => {
            let [y, mo, d, h, mi, s, ns] = nums(v)?;
            ParameterValue::Datetime((y as i32, mo as u8, d as u8, h as u8, mi as u8, s as u8, ns as u32))
        }
        "timestamp" => ParameterValue::Timestamp(int()?),
        "uuid" => ParameterValue::Uuid(string()?),
        "jsonb" => ParameterValue::Jsonb(v.to_string().into_bytes()),
        "decimal" => ParameterValue::Decimal(string()?),
        "range_int32" => ParameterValue::RangeInt32((bound(&v[0], i32_of)?, bound(&v[1], i32_of)?)),
        "range_int64" => ParameterValue::RangeInt64((bound(&v[0], Value::as_i64)?, bound(&v[1], Value::as_i64)?)),
        "range_decimal" => ParameterValue::RangeDecimal((bound(&v[0], string_of)?, bound(&v[1], string_of)?)),
        "array_int32" => ParameterValue::ArrayInt32(list(v, i32_of)?),
        "array_int64" => ParameterValue::ArrayInt64(list(v, Value::as_i64)?),
        "array_decimal" => ParameterValue::ArrayDecimal(list(v, string_of)?),
        "array_str" => ParameterValue::ArrayStr(list(v, string_of)?),
        "interval" => ParameterValue::Interval(pg4::Interval {
            micros: v["micros"].as_i64().unwrap_or(0),
            days: v["days"].as_i64().unwrap_or(0) as i32,
            months: v["months"].as_i64().unwrap_or(0) as i32,
        }),
        other => return Err(format!("unknown param type {other}")),
    })
}

fn range_json<T: Into<Value> + Clone>(lower: &Option<(T, RangeBoundKind)>, upper: &Option<(T, RangeBoundKind)>) -> Value {
    let side = |b: &Option<(T, RangeBoundKind)>| match b {
        None => Value::Null,
        Some((v, RangeBoundKind::Inclusive)) => json!([v.clone().into(), "inclusive"]),
        Some((v, RangeBoundKind::Exclusive)) => json!([v.clone().into(), "exclusive"]),
    };
    json!([side(lower), side(upper)])
}

/// A result value as `{"<type>": value}`, the mirror of `param`.
fn value(v: &DbValue) -> Value {
    match v {
        DbValue::DbNull => json!({ "null": null }),
        DbValue::Boolean(b) => json!({ "boolean": b }),
        DbValue::Int8(n) => json!({ "int8": n }),
        DbValue::Int16(n) => json!({ "int16": n }),
        DbValue::Int32(n) => json!({ "int32": n }),
        DbValue::Int64(n) => json!({ "int64": n }),
        DbValue::Floating32(f) => json!({ "float32": f }),
        DbValue::Floating64(f) => json!({ "float64": f }),
        DbValue::Str(s) => json!({ "str": s }),
        DbValue::Binary(b) => json!({ "binary": String::from_utf8_lossy(b) }),
        DbValue::Date((y, m, d)) => json!({ "date": [y, m, d] }),
        DbValue::Time((h, m, s, ns)) => json!({ "time": [h, m, s, ns] }),
        DbValue::Datetime((y, mo, d, h, mi, s, ns)) => json!({ "datetime": [y, mo, d, h, mi, s, ns] }),
        DbValue::Timestamp(t) => json!({ "timestamp": t }),
        DbValue::Uuid(u) => json!({ "uuid": u }),
        // The value, and the exact text the host returned (its spacing, key order).
        DbValue::Jsonb(bytes) => json!({
            "jsonb": serde_json::from_slice::<Value>(bytes).unwrap_or(Value::Null),
            "text": String::from_utf8_lossy(bytes),
        }),
        DbValue::Decimal(d) => json!({ "decimal": d }),
        DbValue::RangeInt32((l, u)) => json!({ "range_int32": range_json(l, u) }),
        DbValue::RangeInt64((l, u)) => json!({ "range_int64": range_json(l, u) }),
        DbValue::RangeDecimal((l, u)) => json!({ "range_decimal": range_json(l, u) }),
        DbValue::ArrayInt32(a) => json!({ "array_int32": a }),
        DbValue::ArrayInt64(a) => json!({ "array_int64": a }),
        DbValue::ArrayDecimal(a) => json!({ "array_decimal": a }),
        DbValue::ArrayStr(a) => json!({ "array_str": a }),
        DbValue::Interval(i) => json!({ "interval": { "micros": i.micros, "days": i.days, "months": i.months } }),
        DbValue::Unsupported(bytes) => json!({ "unsupported": bytes.len() }),
    }
}

// ---------------------------------------------------------------- SQLite

/// A SQLite parameter written as JSON: null, an integer, a float, a string, or `{"blob": "text"}`.
fn sqlite_param(value: &Value) -> Result<spin_sdk::sqlite3::Value, String> {
    use spin_sdk::sqlite3::Value as V;
    Ok(match value {
        Value::Null => V::Null,
        Value::Number(n) if n.is_i64() => V::Integer(n.as_i64().unwrap_or_default()),
        Value::Number(n) => V::Real(n.as_f64().ok_or(format!("bad number {n}"))?),
        Value::String(text) => V::Text(text.clone()),
        Value::Object(o) if o.contains_key("blob") => V::Blob(o["blob"].as_str().unwrap_or_default().as_bytes().to_vec()),
        other => return Err(format!("bad sqlite param {other}")),
    })
}

fn sqlite_value(value: &spin_sdk::sqlite3::Value) -> Value {
    use spin_sdk::sqlite3::Value as V;
    match value {
        V::Null => json!({ "null": null }),
        V::Integer(i) => json!({ "integer": i }),
        V::Real(r) => json!({ "real": r }),
        V::Text(t) => json!({ "text": t }),
        V::Blob(b) => json!({ "blob": String::from_utf8_lossy(b) }),
    }
}

/// Both WIT versions have the same shapes; the 2.0.0 values are converted to 3.0.0's and back.
macro_rules! same_sqlite_value {
    ($value:expr, $from:ident => $to:ident) => {
        match $value {
            spin_sdk::$from::Value::Null => spin_sdk::$to::Value::Null,
            spin_sdk::$from::Value::Integer(i) => spin_sdk::$to::Value::Integer(i),
            spin_sdk::$from::Value::Real(r) => spin_sdk::$to::Value::Real(r),
            spin_sdk::$from::Value::Text(t) => spin_sdk::$to::Value::Text(t),
            spin_sdk::$from::Value::Blob(b) => spin_sdk::$to::Value::Blob(b),
        }
    };
}

fn from_v2(value: spin_sdk::sqlite::Value) -> spin_sdk::sqlite3::Value {
    same_sqlite_value!(value, sqlite => sqlite3)
}

fn to_v2(value: spin_sdk::sqlite3::Value) -> spin_sdk::sqlite::Value {
    same_sqlite_value!(value, sqlite3 => sqlite)
}

/// Runs each statement in turn on one connection; stops at the first error.
fn sqlite(version: &str, label: &str, body: &[u8]) -> Response {
    let request: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => return text(400, error.to_string()),
    };
    let mut statements = Vec::new();
    for statement in request["statements"].as_array().cloned().unwrap_or_default() {
        let params = statement["params"].as_array().cloned().unwrap_or_default();
        match params.iter().map(sqlite_param).collect::<Result<Vec<_>, _>>() {
            Ok(params) => statements.push((statement["sql"].as_str().unwrap_or_default().to_string(), params)),
            Err(error) => return text(400, error),
        }
    }
    let table = |columns: Vec<String>, rows: Vec<Vec<spin_sdk::sqlite3::Value>>| {
        json!({
            "columns": columns,
            "rows": rows.iter().map(|row| row.iter().map(sqlite_value).collect::<Vec<_>>()).collect::<Vec<_>>(),
        })
    };
    let mut results = Vec::new();
    let outcome: Result<Value, String> = match version {
        "2" => (|| {
            let connection = spin_sdk::sqlite::Connection::open(label).map_err(|e| format!("{e:?}"))?;
            for (sql, params) in statements {
                let params: Vec<_> = params.into_iter().map(to_v2).collect();
                let result = connection.execute(&sql, &params).map_err(|e| format!("{e:?}"))?;
                let rows = result.rows.into_iter().map(|r| r.values.into_iter().map(from_v2).collect()).collect();
                results.push(table(result.columns, rows));
            }
            Ok(json!({ "results": results }))
        })(),
        "3" => (|| {
            let connection = spin_sdk::sqlite3::Connection::open(label).map_err(|e| format!("{e:?}"))?;
            for (sql, params) in statements {
                let result = connection.execute(&sql, &params).map_err(|e| format!("{e:?}"))?;
                let rows = result.rows.into_iter().map(|r| r.values).collect();
                results.push(table(result.columns, rows));
            }
            Ok(json!({
                "results": results,
                "last_insert_rowid": connection.last_insert_rowid(),
                "changes": connection.changes(),
            }))
        })(),
        _ => return text(404, "sqlite version is 2 or 3"),
    };
    match outcome {
        Ok(value) => json_response(200, value),
        Err(error) => json_response(500, json!({ "error": error })),
    }
}

// ---------------------------------------------------------------- MQTT

fn mqtt(body: &[u8]) -> Response {
    use spin_sdk::mqtt::{Connection, Qos};
    let request: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => return text(400, error.to_string()),
    };
    let field = |name: &str| request[name].as_str().unwrap_or_default().to_string();
    let qos = match request["qos"].as_u64() {
        Some(0) => Qos::AtMostOnce,
        Some(2) => Qos::ExactlyOnce,
        _ => Qos::AtLeastOnce,
    };
    let outcome = Connection::open(&field("address"), &field("username"), &field("password"), 30)
        .and_then(|connection| connection.publish(&field("topic"), &field("payload").into_bytes(), qos));
    match outcome {
        Ok(()) => text(200, "published"),
        Err(error) => json_response(502, json!({ "error": format!("{error:?}") })),
    }
}

// ---------------------------------------------------------------- TCP sockets

/// Connects with wasi:sockets directly (as Spin's conformance suite does), sends a line and
/// reads back as many bytes: the test's listener echoes them.
fn tcp(query: &str) -> Response {
    use wasi::io::poll;
    use wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    use wasi::sockets::{instance_network, tcp_create_socket};

    let Some(address) = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("addr="))
        .and_then(|text| text.replace("%3A", ":").parse::<std::net::SocketAddrV4>().ok())
    else {
        return text(400, "addr=IPv4:PORT");
    };
    let failed = |stage: &str, error: String| json_response(502, json!({ "stage": stage, "error": error }));
    let socket = match tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
        Ok(socket) => socket,
        Err(error) => return failed("create", format!("{error:?}")),
    };
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress { address: address.ip().octets().into(), port: address.port() });
    // `ErrorCode`'s Display is the WIT name and code: `access-denied (error 1)`.
    if let Err(error) = socket.start_connect(&instance_network::instance_network(), remote) {
        return failed("connect", error.to_string());
    }
    let (input, output) = loop {
        match socket.finish_connect() {
            Err(ErrorCode::WouldBlock) => {
                poll::poll(&[&socket.subscribe()]);
            }
            Err(error) => return failed("connect", error.to_string()),
            Ok(streams) => break streams,
        }
    };
    let message = b"So rested he by the Tumtum tree";
    if let Err(error) = output.blocking_write_and_flush(message) {
        return failed("write", format!("{error:?}"));
    }
    let mut echoed = Vec::new();
    while echoed.len() < message.len() {
        match input.blocking_read((message.len() - echoed.len()) as u64) {
            Ok(chunk) => echoed.extend(chunk),
            Err(error) => return failed("read", format!("{error:?}")),
        }
    }
    json_response(200, json!({ "echo": String::from_utf8_lossy(&echoed) }))
}

// ---------------------------------------------------------------- streaming and trailers

/// Echoes the body chunk by chunk (never holding it whole, so any size passes), then the
/// request's trailers as response trailers with `x-echo-bytes` added. A failed read drops the
/// response body unfinished, which the host reports to the client as a broken body.
fn stream_echo(request: IncomingRequest, response_out: ResponseOutparam) {
    // spin-sdk 5.2 re-exports no `IncomingBody`; `finish` (which yields the trailers) lives on
    // the WIT binding its `IncomingRequest::consume` returns.
    use spin_sdk::wit::wasi::http0_2_0::types::IncomingBody;
    use wasi::io::streams::StreamError;

    let Ok(body) = request.consume() else {
        return eprintln!("stream-echo: the request body was already consumed");
    };
    let Ok(input) = body.stream() else {
        return eprintln!("stream-echo: no request body stream");
    };
    // HTTP/1.1 sends only the trailers the response's `trailer` header names: those the request
    // declared it would send, and the probe's own.
    let mut declared = request.headers().get(&"trailer".to_string()).concat();
    declared.extend_from_slice(if declared.is_empty() { b"x-echo-bytes" } else { b", x-echo-bytes" });
    let headers = Fields::from_list(&[
        ("content-type".to_string(), b"application/octet-stream".to_vec()),
        ("trailer".to_string(), declared),
    ]);
    let response = OutgoingResponse::new(headers.expect("a valid header"));
    let (Ok(outgoing), Ok(())) = (response.body(), response.set_status_code(200)) else {
        return eprintln!("stream-echo: no response body");
    };
    response_out.set(response);
    let Ok(output) = outgoing.write() else {
        return eprintln!("stream-echo: the response body is not writable");
    };
    let mut total: u64 = 0;
    loop {
        match input.blocking_read(64 * 1024) {
            Ok(chunk) => {
                total += chunk.len() as u64;
                // blocking-write-and-flush takes at most 4096 bytes a call.
                for piece in chunk.chunks(4096) {
                    if let Err(error) = output.blocking_write_and_flush(piece) {
                        return eprintln!("stream-echo: write failed: {error:?}");
                    }
                }
            }
            Err(StreamError::Closed) => break,
            Err(error) => return eprintln!("stream-echo: read failed: {error:?}"),
        }
    }
    drop(input);
    let future = IncomingBody::finish(body);
    future.subscribe().block();
    let trailers = match future.get() {
        Some(Ok(Ok(Some(trailers)))) => trailers.entries(),
        Some(Ok(Ok(None))) => Vec::new(),
        other => return eprintln!("stream-echo: reading the trailers failed: {other:?}"),
    };
    drop(output);
    let mut echoed = trailers;
    echoed.push(("x-echo-bytes".to_string(), total.to_string().into_bytes()));
    match Fields::from_list(&echoed) {
        Ok(response_trailers) => {
            if let Err(error) = OutgoingBody::finish(outgoing, Some(response_trailers)) {
                eprintln!("stream-echo: finishing the body failed: {error:?}");
            }
        }
        Err(error) => eprintln!("stream-echo: trailers refused: {error:?}"),
    }
}
