//! e2e-misbehave: a test-only component, never in the app's `spin.toml`. The end-to-end
//! harness serves it under `/_e2e/misbehave/...`; the last path segment says how it fails on
//! every request: `trap` (a panic), `loop` (never returns: the host's request deadline ends
//! it) or `oom` (grows memory until the host's per-instance limit stops it). Anything else is
//! a 404, so a typo in a test is not mistaken for a failure.

use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    let path = req.path_with_query().unwrap_or_default();
    match path.rsplit('/').next().unwrap_or_default() {
        "trap" => panic!("deliberate trap"),
        "loop" => spin_forever(),
        "oom" => exhaust_memory(),
        _ => Response::new(404, "unknown failure"),
    }
}

fn spin_forever() -> ! {
    let mut counter = 0u64;
    loop {
        // black_box keeps the optimiser from proving the loop has no effect.
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn exhaust_memory() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        // Touch every page so the memory is really grown, not just reserved.
        blocks.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&blocks);
    }
}
