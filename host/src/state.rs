//! What one instance (one request, one Redis message) carries in its wasmtime `Store`, and the
//! linker that hands each capability its own part of it.
//!
//! Each capability keeps its per-instance state in its own module and sees only that state
//! and the resource table, through a [`View`] given to its `add_to_linker` (the way the WASI
//! crates see only `WasiCtxView`). Capabilities know nothing of the app: the app builds each
//! one's state from the parts it uses (`App::new_store` in `app/mod.rs`).
//!
//! Adding a capability: its state as a field of [`Capabilities`], its constructor call in
//! `App::new_store`, and its `add_to_linker` line (with a projection) in [`new_linker`].


use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings;
use crate::app::engine::{arm_deadline, InstanceLimits};
use crate::capabilities::key_value::KeyValueState;
use crate::metrics::LiveInstance;
use crate::capabilities::mqtt::MqttState;
use crate::capabilities::outbound_http::OutboundHttp;
use crate::capabilities::postgres::PgState;
use crate::capabilities::redis_outbound::RedisState;
use crate::capabilities::sqlite::SqliteState;
use crate::capabilities::variables::VariablesState;
use crate::capabilities::view::{HasView, View};

/// Each of Spin's capabilities' state for one instance.
pub struct Capabilities {
    pub outbound_http: OutboundHttp,
    pub key_value: KeyValueState,
    pub sqlite: SqliteState,
    pub postgres: PgState,
    pub redis: RedisState,
    pub mqtt: MqttState,
    pub variables: VariablesState,
}

pub struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
    capabilities: Capabilities,
    /// Counts the instance in `galley_instances_in_use` while the store lives.
    _live: LiveInstance,
}

impl InstanceState {
    /// A fresh store for one run of a component, with its limits and deadline armed.
    pub fn new_store(engine: &Engine, limits: &InstanceLimits, wasi: WasiCtx, capabilities: Capabilities) -> Store<InstanceState> {
        let state = InstanceState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new().memory_size(limits.memory_bytes).trap_on_grow_failure(true).build(),
            capabilities,
            _live: LiveInstance::new(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limits);
        arm_deadline(&mut store, limits.request_timeout);
        store
    }

    fn key_value(&mut self) -> View<'_, KeyValueState> {
        View { state: &self.capabilities.key_value, table: &mut self.table }
    }

    fn sqlite(&mut self) -> View<'_, SqliteState> {
        View { state: &self.capabilities.sqlite, table: &mut self.table }
    }

    fn mqtt(&mut self) -> View<'_, MqttState> {
        View { state: &self.capabilities.mqtt, table: &mut self.table }
    }

    fn postgres(&mut self) -> View<'_, PgState> {
        View { state: &self.capabilities.postgres, table: &mut self.table }
    }

    fn redis(&mut self) -> View<'_, RedisState> {
        View { state: &self.capabilities.redis, table: &mut self.table }
    }

    fn variables(&mut self) -> &mut VariablesState {
        &mut self.capabilities.variables
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.capabilities.outbound_http }
    }
}

/// Everything a component may import: WASI (sockets included), wasi:http and Spin's capabilities.
pub fn new_linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    bindings::key_value::add_to_linker::<_, HasView<KeyValueState>>(&mut linker, InstanceState::key_value)?;
    bindings::postgres::add_to_linker::<_, HasView<PgState>>(&mut linker, InstanceState::postgres)?;
    bindings::redis::add_to_linker::<_, HasView<RedisState>>(&mut linker, InstanceState::redis)?;
    bindings::sqlite2::add_to_linker::<_, HasView<SqliteState>>(&mut linker, InstanceState::sqlite)?;
    bindings::sqlite3::add_to_linker::<_, HasView<SqliteState>>(&mut linker, InstanceState::sqlite)?;
    bindings::mqtt::add_to_linker::<_, HasView<MqttState>>(&mut linker, InstanceState::mqtt)?;
    bindings::variables::add_to_linker::<_, HasSelf<VariablesState>>(&mut linker, InstanceState::variables)?;
    Ok(linker)
}
