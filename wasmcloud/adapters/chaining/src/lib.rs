//! Spin's service chaining on a host that has none. A component calls another one at
//! `http://<component>.spin.internal/<path>`; Spin hands such a request straight to that
//! component. This adapter stands between the component and the host's outgoing HTTP: it
//! rewrites the authority of a `*.spin.internal` request to where that component is served on
//! the wasmCloud deployment, read from the configuration key [`AUTHORITY_KEY`] (a template in
//! which `{component}` is replaced, e.g. `{component}.galley.svc.cluster.local:8000`), and
//! sends every request on unchanged otherwise. The path, method, headers and body are the
//! component's own.
//!
//! It is `no_std` on wasm: Rust's standard library would import `wasi:cli` 0.2.6 (stdio, exit)
//! bound to this adapter's WASI 0.2.12 streams, while the other adapters import the same
//! `wasi:cli` 0.2.6 names bound to 0.2.6 streams, and one composition cannot import one name
//! with two types. Without std it imports only what its world names.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The canonical ABI's allocation entry point. On wasm32-wasip2 Rust's std exports it (and
/// wit-bindgen leaves it to std there); without std, this adapter must.
///
/// # Safety
///
/// Called by the host only, as the canonical ABI specifies: `align` a power of two, and `old`
/// with `old_len` an allocation this function returned (or null and 0 for a new one).
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    use alloc::alloc::{alloc, handle_alloc_error, realloc, Layout};
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a power-of-two alignment, and `old` with `old_len` is an
    // allocation this function returned before (or null with 0 for a new one).
    unsafe {
        let layout = Layout::from_size_align_unchecked(new_len, align);
        let ptr = if old_len == 0 {
            alloc(layout)
        } else {
            realloc(old, Layout::from_size_align_unchecked(old_len, align), new_len)
        };
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        ptr
    }
}

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

wit_bindgen::generate!({
    path: "../../wit",
    world: "galley:wasmcloud/chaining-adapter",
    generate_all,
});

use exports::wasi::http::outgoing_handler::Guest;
use wasi::config::store;
use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, FutureIncomingResponse, OutgoingRequest, RequestOptions};

/// The configuration key naming where chained components are served.
pub const AUTHORITY_KEY: &str = "spin_internal_authority";
const SPIN_INTERNAL: &str = ".spin.internal";

/// Where a chained call to `component` goes, given the configured template.
pub fn authority_for(template: &str, component: &str) -> String {
    template.replace("{component}", component)
}

/// The component a `<component>.spin.internal` authority names (a port, if any, is dropped:
/// Spin ignores it too).
pub fn chained_component(authority: &str) -> Option<&str> {
    let host = authority.rsplit_once(':').map_or(authority, |(host, _port)| host);
    host.strip_suffix(SPIN_INTERNAL).filter(|c| !c.is_empty() && !c.contains('.'))
}

fn configuration_error(reason: String) -> ErrorCode {
    ErrorCode::InternalError(Some(format!("service chaining: {reason}")))
}

struct Chaining;

impl Guest for Chaining {
    fn handle(request: OutgoingRequest, options: Option<RequestOptions>) -> Result<FutureIncomingResponse, ErrorCode> {
        let chained = request.authority().as_deref().and_then(chained_component).map(str::to_owned);
        if let Some(component) = chained {
            let template = match store::get(AUTHORITY_KEY) {
                Ok(Some(template)) => template,
                Ok(None) => return Err(configuration_error(format!("no `{AUTHORITY_KEY}` configured for `{component}`"))),
                Err(store::Error::Upstream(e) | store::Error::Io(e)) => return Err(configuration_error(e)),
            };
            let authority = authority_for(&template, &component);
            request
                .set_authority(Some(&authority))
                .map_err(|()| configuration_error(format!("`{authority}` is not a valid authority")))?;
        }
        outgoing_handler::handle(request, options)
    }
}

export!(Chaining);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_spin_internal_authorities_are_chained_calls() {
        assert_eq!(chained_component("payment.spin.internal"), Some("payment"));
        assert_eq!(chained_component("inventory-adjust.spin.internal:80"), Some("inventory-adjust"));
        assert_eq!(chained_component("api.example.com"), None);
        assert_eq!(chained_component("a.b.spin.internal"), None);
        assert_eq!(chained_component(".spin.internal"), None);
    }

    #[test]
    fn the_template_names_the_component() {
        assert_eq!(authority_for("{component}.galley.svc:8000", "payment"), "payment.galley.svc:8000");
        assert_eq!(authority_for("127.0.0.1:8000", "payment"), "127.0.0.1:8000");
    }
}
