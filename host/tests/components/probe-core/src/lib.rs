//! Test component for galley's core-module support: built for `wasm32-wasip1`, so the `.wasm`
//! is a core module that imports WASI preview 1 (through std: stdout, the environment) and
//! carries the `wasi:http/proxy` component type wit-bindgen embedded. galley must turn it into
//! a component, with the preview-1 adapter, at load.
//!
//! Every request is answered with plain text: `core-module`, the path, the `spin-matched-route`
//! header and `PROBE_ENV`, one per line; the path is also printed to stdout.

use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Probe;

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let route = request
            .headers()
            .get(&"spin-matched-route".to_string())
            .first()
            .map(|value| String::from_utf8_lossy(value).into_owned())
            .unwrap_or_default();
        // Both go through WASI preview 1, that is through the adapter.
        println!("core module handled {path}");
        let env = std::env::var("PROBE_ENV").unwrap_or_default();
        let text = format!("core-module\n{path}\n{route}\n{env}\n");

        let headers = Fields::new();
        let _ = headers.set(&"content-type".to_string(), &[b"text/plain".to_vec()]);
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = body.write() {
            let _ = stream.blocking_write_and_flush(text.as_bytes());
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

wasi::http::proxy::export!(Probe);
