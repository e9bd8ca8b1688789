//! Redis-triggered test component: for each message, `INCR received:<payload>` and
//! `SET last <payload>` on the Redis at variable `redis_address`, so a test can see that the
//! message arrived once. The payload `trap` makes it panic instead (the host must survive).

use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: bytes::Bytes) -> anyhow::Result<()> {
    if message.as_ref() == b"trap" {
        panic!("deliberate trap on message");
    }
    let address = spin_sdk::variables::get("redis_address")?;
    let connection = spin_sdk::redis::Connection::open(&address)?;
    let text = String::from_utf8_lossy(&message).to_string();
    connection.incr(&format!("received:{text}"))?;
    connection.set("last", &message.to_vec())?;
    Ok(())
}
