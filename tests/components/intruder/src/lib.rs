//! e2e-intruder: a test-only component, never in the app's `spin.toml`. It is what a
//! compromised users-service function could do: it holds that service's database password (as
//! user-lookup does) and may reach the Postgres server (as every service may), and it tries to
//! read other databases with it, or as the superuser with no password. The end-to-end harness
//! serves it under `/_e2e/intruder/<database>?as=users|superuser`.
//!
//! It answers 200 with the number of tables it could list, or 403 with Postgres's refusal, so
//! the test sees exactly what Postgres said to the component.

use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use spin_sdk::pg4::Connection;
use spin_sdk::variables;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    let path = req.path_with_query().unwrap_or_default();
    let (path, query) = path.split_once('?').unwrap_or((&path, ""));
    let database = path.rsplit('/').next().unwrap_or_default();
    let base = match query {
        "as=users" => "users_role_url",
        "as=superuser" => "superuser_url",
        _ => return Response::new(400, "say ?as=users or ?as=superuser"),
    };
    let url = match variables::get(base) {
        Ok(base) => format!("{base}{database}"),
        Err(e) => return Response::new(500, format!("variable {base}: {e}")),
    };
    let listed = Connection::open(&url).and_then(|db| {
        db.query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'", &[])
    });
    match listed {
        Ok(rows) => Response::new(200, rows.rows.len().to_string()),
        Err(e) => Response::new(403, e.to_string()),
    }
}
