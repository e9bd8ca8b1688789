//! Runs a Spin Redis-triggered component (one exporting `fermyon:spin/inbound-redis`) from a
//! wasmCloud messaging link: the composer makes this adapter the outer component, so the host
//! calls its `wasmcloud:messaging/handler` for each message on the subscribed subject, and the
//! message body goes to the component exactly as a Redis payload would.

wit_bindgen::generate!({
    path: "../../wit",
    world: "galley:wasmcloud/redis-trigger-adapter",
    generate_all,
});

use exports::wasmcloud::messaging::handler::{BrokerMessage, Guest};
use fermyon::spin::inbound_redis;
use fermyon::spin::redis_types::Error;

struct RedisTrigger;

impl Guest for RedisTrigger {
    fn handle_message(msg: BrokerMessage) -> Result<(), String> {
        match inbound_redis::handle_message(&msg.body) {
            Ok(()) => Ok(()),
            // Spin's error carries no reason (the component logged it); the subject says where.
            Err(Error::Success | Error::Error) => Err(format!(
                "the handler refused a message on `{}`",
                msg.subject
            )),
        }
    }
}

export!(RedisTrigger);
