//! Exports `fermyon:spin/redis-types`: an interface of types only (the payload and the error a
//! Redis handler returns). A Redis-triggered component imports it, and so does the trigger
//! adapter; a host must link every import, and wasmCloud has no such interface, so the
//! composer satisfies both from this component. It has no code: there is nothing to call.

wit_bindgen::generate!({
    path: "../../wit",
    world: "galley:wasmcloud/redis-types-adapter",
    generate_all,
});

#[allow(dead_code)] // named only by export!, which has nothing of it to call
struct RedisTypes;

export!(RedisTypes);
