//! Variables: resolution order and the component's view.

use crate::support::{Host, HostBuilder};

/// What the probe component reads of its variable `name`: the status and the text.
async fn variable(host: &Host, name: &str) -> (u16, String) {
    let response = host.get(&format!("/probe/var/{name}")).await;
    (response.status().as_u16(), response.text().await.expect("the probe's answer"))
}

#[tokio::test]
async fn component_variable_renders_the_app_default() {
    let host = HostBuilder::new().start().await;
    assert_eq!(variable(&host, "greeting").await, (200, "hello, world".into()));
}

#[tokio::test]
async fn environment_overrides_default_and_command_line_overrides_environment() {
    let host = HostBuilder::new().env("SPIN_VARIABLE_GREETING", "hi").start().await;
    assert_eq!(variable(&host, "greeting").await.1, "hi, world");
    let host = HostBuilder::new()
        .env("SPIN_VARIABLE_GREETING", "hi")
        .arg("--variable")
        .arg("greeting=hey")
        .start()
        .await;
    assert_eq!(variable(&host, "greeting").await.1, "hey, world");
}

#[tokio::test]
async fn undeclared_variable_is_undefined() {
    let host = HostBuilder::new().start().await;
    let (status, text) = variable(&host, "not_declared").await;
    assert_eq!(status, 404);
    assert!(text.contains("Undefined"), "{text}");
    // An app variable the component does not map is not visible to it either.
    let (_, text) = variable(&host, "pg_port").await;
    assert!(text.contains("Undefined"), "{text}");
}
