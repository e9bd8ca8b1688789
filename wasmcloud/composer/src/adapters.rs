//! The adapter components (`wasmcloud/adapters/*`): which Spin interface each one exports and
//! where its build lands. An adapter is plugged into a component that imports that interface;
//! the trigger adapter instead wraps a component that exports Spin's `inbound-redis`.

use std::path::{Path, PathBuf};

/// One adapter: its name (kebab case, as wasm-compose names components after their files), the
/// crate's wasm file name, and the interface of the component it satisfies (a Spin interface,
/// or outgoing HTTP for Spin's service chaining).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adapter {
    pub name: &'static str,
    pub wasm: &'static str,
    pub interface: &'static str,
}

/// Spin's Postgres over wasi:sockets (see the adapter's crate for why not `wasmcloud:postgres`).
pub const POSTGRES: Adapter =
    Adapter { name: "postgres", wasm: "adapter_postgres.wasm", interface: "spin:postgres/postgres@4.0.0" };

/// Service chaining: `*.spin.internal` requests sent where configuration says.
pub const CHAINING: Adapter =
    Adapter { name: "chaining", wasm: "adapter_chaining.wasm", interface: "wasi:http/outgoing-handler@0.2.12" };

/// The adapters that satisfy a component's Spin imports.
pub const IMPORT_ADAPTERS: &[Adapter] = &[
    POSTGRES,
    CHAINING,
    Adapter {
        name: "variables",
        wasm: "adapter_variables.wasm",
        interface: "fermyon:spin/variables@2.0.0",
    },
    Adapter {
        name: "key-value",
        wasm: "adapter_key_value.wasm",
        interface: "fermyon:spin/key-value@2.0.0",
    },
    Adapter {
        name: "redis",
        wasm: "adapter_redis.wasm",
        interface: "fermyon:spin/redis@2.0.0",
    },
    Adapter {
        name: "redis-types",
        wasm: "adapter_redis_types.wasm",
        interface: "fermyon:spin/redis-types",
    },
];

/// The adapter that runs a Redis-triggered component (one exporting this interface) from
/// wasmCloud messages.
pub const REDIS_TRIGGER: Adapter = Adapter {
    name: "redis-trigger",
    wasm: "adapter_redis_trigger.wasm",
    interface: "fermyon:spin/inbound-redis",
};

/// The folder the adapters were built into (`cargo build --target wasm32-wasip2 --release`).
#[derive(Debug, Clone)]
pub struct AdapterDir(pub PathBuf);

impl AdapterDir {
    pub fn path_of(&self, adapter: &Adapter) -> anyhow::Result<PathBuf> {
        let path = self.0.join(adapter.wasm);
        anyhow::ensure!(
            path.is_file(),
            "adapter {} is not built (expected {}; `make wasmcloud` builds it)",
            adapter.wasm,
            path.display()
        );
        Ok(path)
    }

    pub fn new(dir: impl AsRef<Path>) -> Self {
        AdapterDir(dir.as_ref().to_path_buf())
    }
}

/// Which adapters to plug into a component, and whether to make a Redis-triggered component a
/// messaging handler.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub adapters: &'a [Adapter],
    pub messaging_trigger: bool,
}

/// Everything: the composition that runs on wasmCloud.
pub const WASMCLOUD: Plan<'static> = Plan { adapters: IMPORT_ADAPTERS, messaging_trigger: true };
