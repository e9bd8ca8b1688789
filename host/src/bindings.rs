//! Host bindings generated from Spin's WIT (`wit/` at the repository root).
//!
//! Every import is `async` (Postgres, Redis and SQLite calls must not block the executor) and
//! `trappable` (a host bug traps the guest instead of panicking the host). Resources map to
//! the host types that back them.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "galley:host/spin-capabilities",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::capabilities::key_value::OpenStore,
        "fermyon:spin/redis.connection": crate::capabilities::redis_outbound::RedisConnection,
        "spin:postgres/postgres.connection": crate::capabilities::postgres::PgConnection,
        "fermyon:spin/sqlite.connection": crate::capabilities::sqlite::SqliteConnection,
        "spin:sqlite/sqlite.connection": crate::capabilities::sqlite::Sqlite3Connection,
        "fermyon:spin/mqtt.connection": crate::capabilities::mqtt::MqttConnection,
    },
});

/// The export of a `[[trigger.redis]]` component.
pub mod redis_trigger {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "galley:host/redis-trigger",
        exports: { default: async },
    });
}

// Two versions of `fermyon:spin` are in the WIT (2.0.0 and the unversioned inbound-redis),
// so bindgen puts the version into the module name.
pub use fermyon::spin2_0_0::{key_value, mqtt, redis, sqlite as sqlite2, variables};
pub use spin::postgres::postgres;
pub use spin::sqlite::sqlite as sqlite3;
