//! What a capability's host functions see of an instance: its own per-instance state and the
//! instance's resource table, nothing else (the way the WASI crates see only `WasiCtxView`).
//! Capabilities depend on this module, not on the instance state that holds them all.

use std::marker::PhantomData;

use wasmtime::component::{HasData, ResourceTable};

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
