//! What one instance (one request, one Redis message) carries in its wasmtime `Store`.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::app::{App, AppComponent};
use crate::bindings;
use crate::component_log::ComponentLog;
use crate::engine::arm_deadline;
use crate::outbound_http::OutboundHttp;
use crate::trace::TraceContext;

pub struct InstanceState {
    pub app: Arc<App>,
    pub component: Arc<AppComponent>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub table: ResourceTable,
    limits: StoreLimits,
    outbound: OutboundHttp,
}

impl InstanceState {
    /// A fresh store for one run of `component`, with its limits and deadline armed.
    pub fn new_store(app: &Arc<App>, component: &Arc<AppComponent>, trace: TraceContext) -> Store<InstanceState> {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(ComponentLog::stdout(&component.id))
            .stderr(ComponentLog::stderr(&component.id))
            .envs(&component.environment)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let state = InstanceState {
            app: app.clone(),
            component: component.clone(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(app.limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            outbound: OutboundHttp::new(app.clone(), component.clone(), trace),
        };
        let mut store = Store::new(&app.engine, state);
        store.limiter(|state| &mut state.limits);
        arm_deadline(&mut store, app.limits.request_timeout);
        store
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// Everything a component may import: WASI, wasi:http and Spin's capabilities.
pub fn new_linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    bindings::SpinCapabilities::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |state| state)?;
    Ok(linker)
}
