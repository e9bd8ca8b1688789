//! The trivial component of `bench/host.sh`: no host calls, a fixed 13-byte body, so the
//! benchmark measures the host (accept, route, instantiate, respond) and nothing else.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn hello(_request: Request) -> anyhow::Result<Response> {
    Ok(Response::builder().status(200).header("content-type", "text/plain").body("Hello, world!").build())
}
