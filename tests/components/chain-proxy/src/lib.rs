//! e2e-chain-proxy: a test-only component, never in the app's `spin.toml`. The end-to-end
//! harness adds it under `/_e2e/chain/...` to the manifest it serves, so tests can call a
//! private component the way other components do: `/_e2e/chain/<component>/<path>` is sent
//! to `http://<component>.spin.internal/<path>` (real service chaining in the host) and the
//! answer comes back unchanged.

use galley_common::edge::client::relay;
use galley_common::edge::http::RequestInfo;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let info = RequestInfo::of(&req);
    // The route is `/_e2e/chain/...`, so the path info is `/<component>/<path>`.
    let rest = info.header("spin-path-info").unwrap_or_default().trim_start_matches('/').to_owned();
    let (component, path) = rest.split_once('/').unwrap_or((rest.as_str(), ""));
    let query = if info.query().is_empty() { String::new() } else { format!("?{}", info.query()) };
    let result = relay(req, &info, component, &format!("/{path}{query}")).await;
    info.respond(result)
}
