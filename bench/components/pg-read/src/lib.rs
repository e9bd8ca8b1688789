//! The component of `bench/postgres.sh`: one indexed single-row SELECT per request, the same
//! statement pgbench runs as the peer, so the difference is the host's Postgres path.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use spin_sdk::pg4::{Connection, DbValue, ParameterValue};

#[http_component]
fn read_one(request: Request) -> anyhow::Result<Response> {
    let id: i32 = request.query().strip_prefix("id=").and_then(|v| v.parse().ok()).unwrap_or(1);
    let connection = Connection::open(&spin_sdk::variables::get("db_url")?)?;
    let rows = connection.query("SELECT name FROM bench_items WHERE id = $1", &[ParameterValue::Int32(id)])?;
    let body = match rows.rows.first().and_then(|row| row.first()) {
        Some(DbValue::Str(name)) => name.clone(),
        _ => return Ok(Response::new(404, "no such item")),
    };
    Ok(Response::builder().status(200).header("content-type", "text/plain").body(body).build())
}
