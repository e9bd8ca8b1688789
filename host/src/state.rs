//! What one instance (one request, one Redis message) carries in its wasmtime `Store`, and the
//! linker that hands each capability its own part of it.
//!
//! Each capability keeps its per-instance state in its own module and sees only that state
//! and the resource table, through a projection given to its `add_to_linker` (the way the WASI
//! crates see only `WasiCtxView`). Adding a capability means a field and a constructor call
//! here, and one line in [`new_linker`].

use std::marker::PhantomData;
use std::sync::Arc;

use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::app::{App, AppComponent};
use crate::bindings;
use crate::component_log::ComponentLog;
use crate::engine::arm_deadline;
use crate::key_value::KeyValueState;
use crate::metrics::LiveInstance;
use crate::mqtt::MqttState;
use crate::outbound_http::OutboundHttp;
use crate::postgres::PgState;
use crate::redis_outbound::RedisState;
use crate::sockets;
use crate::sqlite::SqliteState;
use crate::trace::TraceContext;
use crate::variables::VariablesState;

pub struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
    outbound: OutboundHttp,
    key_value: KeyValueState,
    sqlite: SqliteState,
    postgres: PgState,
    redis: RedisState,
    mqtt: MqttState,
    variables: VariablesState,
    /// Counts the instance in `galley_instances_in_use` while the store lives.
    _live: LiveInstance,
}

/// One capability's per-instance state with the instance's resource table: what its
/// generated `Host` traits are implemented on.
pub struct View<'a, S> {
    pub state: &'a S,
    pub table: &'a mut ResourceTable,
}

/// Tells a generated `add_to_linker` that the host functions receive a [`View`] of `S`.
pub struct HasView<S>(PhantomData<S>);

impl<S: 'static> HasData for HasView<S> {
    type Data<'a> = View<'a, S>;
}

impl InstanceState {
    /// A fresh store for one run of `component`, with its limits and deadline armed.
    pub fn new_store(app: &Arc<App>, component: &Arc<AppComponent>, trace: TraceContext) -> Store<InstanceState> {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(ComponentLog::stdout(&component.id, trace))
            .stderr(ComponentLog::stderr(&component.id, trace))
            .envs(&component.environment)
            // The component's own sockets reach what its allow-list allows (`sockets.rs`).
            .allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(false)
            .socket_addr_check(sockets::address_check(component.id.clone(), component.allowed_hosts.clone()));
        let state = InstanceState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(app.limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            outbound: OutboundHttp::new(app.clone(), component.clone(), trace),
            key_value: KeyValueState::new(app, component, trace),
            sqlite: SqliteState::new(app, component),
            postgres: PgState::new(app, component, trace),
            redis: RedisState::new(app, component, trace),
            mqtt: MqttState::new(app, component),
            variables: VariablesState::new(component),
            _live: LiveInstance::new(),
        };
        let mut store = Store::new(&app.engine, state);
        store.limiter(|state| &mut state.limits);
        arm_deadline(&mut store, app.limits.request_timeout);
        store
    }

    fn key_value(&mut self) -> View<'_, KeyValueState> {
        View { state: &self.key_value, table: &mut self.table }
    }

    fn sqlite(&mut self) -> View<'_, SqliteState> {
        View { state: &self.sqlite, table: &mut self.table }
    }

    fn mqtt(&mut self) -> View<'_, MqttState> {
        View { state: &self.mqtt, table: &mut self.table }
    }

    fn postgres(&mut self) -> View<'_, PgState> {
        View { state: &self.postgres, table: &mut self.table }
    }

    fn redis(&mut self) -> View<'_, RedisState> {
        View { state: &self.redis, table: &mut self.table }
    }

    fn variables(&mut self) -> &mut VariablesState {
        &mut self.variables
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

/// Everything a component may import: WASI (sockets included), wasi:http and Spin's capabilities.
pub fn new_linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<InstanceState>> {
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
