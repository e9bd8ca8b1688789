//! Variables: resolution order and the component's view.

use crate::support::HostBuilder;

#[tokio::test]
async fn component_variable_renders_the_app_default() {
    let host = HostBuilder::new().start().await;
    let response = host.get("/probe/var/greeting").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello, world");
}

#[tokio::test]
async fn environment_overrides_default_and_command_line_overrides_environment() {
    let host = HostBuilder::new().env("SPIN_VARIABLE_GREETING", "hi").start().await;
    assert_eq!(host.get("/probe/var/greeting").await.text().await.unwrap(), "hi, world");
    let host = HostBuilder::new()
        .env("SPIN_VARIABLE_GREETING", "hi")
        .arg("--variable")
        .arg("greeting=hey")
        .start()
        .await;
    assert_eq!(host.get("/probe/var/greeting").await.text().await.unwrap(), "hey, world");
}

#[tokio::test]
async fn undeclared_variable_is_undefined() {
    let host = HostBuilder::new().start().await;
    let response = host.get("/probe/var/not_declared").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Undefined"));
    // An app variable the component does not map is not visible to it either.
    let response = host.get("/probe/var/pg_port").await;
    assert!(response.text().await.unwrap().contains("Undefined"));
}
