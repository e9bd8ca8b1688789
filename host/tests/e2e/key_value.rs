//! Key-value: labels, access control, the operations, and persistence of `default`.

use crate::support::HostBuilder;

#[tokio::test]
async fn set_get_exists_delete_and_keys() {
    let host = HostBuilder::new().start().await;
    let key = format!("k-{}", uuid::Uuid::new_v4());
    for label in ["default", "mem"] {
        let url = host.url(&format!("/probe/kv/{label}/{key}"));
        assert_eq!(host.client.get(&url).send().await.unwrap().status(), 404, "missing key is ok(none)");
        assert_eq!(host.client.head(&url).send().await.unwrap().status(), 404);
        assert_eq!(host.client.put(&url).body("value-1").send().await.unwrap().status(), 200);
        assert_eq!(host.client.put(&url).body("value-2").send().await.unwrap().status(), 200);
        let got = host.client.get(&url).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.text().await.unwrap(), "value-2");
        assert_eq!(host.client.head(&url).send().await.unwrap().status(), 200);
        let keys: Vec<String> = host.get_json(&format!("/probe/kv/{label}")).await.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
        assert!(keys.contains(&key), "{label}: {keys:?}");
        assert_eq!(host.client.delete(&url).send().await.unwrap().status(), 200);
        assert_eq!(host.client.get(&url).send().await.unwrap().status(), 404);
        // Deleting a missing key succeeds.
        assert_eq!(host.client.delete(&url).send().await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn undeclared_label_is_access_denied() {
    let host = HostBuilder::new().start().await;
    let response = host.get("/probe/kv/elsewhere/x").await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("AccessDenied"));
    // `probe-denied` declares no stores at all, not even `default`.
    let response = host.get("/denied/kv/default/x").await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("AccessDenied"));
}

#[tokio::test]
async fn default_store_persists_across_restarts_and_mem_does_not() {
    let state = tempfile::tempdir().unwrap();
    let key = format!("persist-{}", uuid::Uuid::new_v4());
    {
        let host = HostBuilder::new().state_dir(state.path()).start().await;
        for label in ["default", "mem"] {
            let put = host.client.put(host.url(&format!("/probe/kv/{label}/{key}"))).body("kept").send().await.unwrap();
            assert_eq!(put.status(), 200);
        }
    }
    assert!(state.path().join("sqlite_key_value.db").exists());
    let host = HostBuilder::new().state_dir(state.path()).start().await;
    let default = host.get(&format!("/probe/kv/default/{key}")).await;
    assert_eq!(default.status(), 200);
    assert_eq!(default.text().await.unwrap(), "kept");
    assert_eq!(host.get(&format!("/probe/kv/mem/{key}")).await.status(), 404);
    // The compiled code was cached in the same state dir.
    let compiled = std::fs::read_dir(state.path().join("compiled")).unwrap().count();
    assert!(compiled >= 2, "expected cached compiled components, found {compiled}");
}

#[tokio::test]
async fn redis_backed_label() {
    let config = format!(
        "[key_value_store.mem]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
        crate::support::redis_port()
    );
    let host = HostBuilder::new().runtime_config(Some(&config)).start().await;
    let key = format!("kv-redis-{}", uuid::Uuid::new_v4());
    let url = host.url(&format!("/probe/kv/mem/{key}"));
    assert_eq!(host.client.get(&url).send().await.unwrap().status(), 404);
    assert_eq!(host.client.put(&url).body("in redis").send().await.unwrap().status(), 200);
    assert_eq!(host.client.get(&url).send().await.unwrap().text().await.unwrap(), "in redis");
    let client = redis::Client::open(format!("redis://127.0.0.1:{}", crate::support::redis_port())).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let stored: Option<String> = redis::AsyncCommands::get(&mut connection, &key).await.unwrap();
    assert_eq!(stored.as_deref(), Some("in redis"));
    assert_eq!(host.client.delete(&url).send().await.unwrap().status(), 200);
    assert_eq!(host.client.get(&url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn unreachable_redis_store_fails_the_call_instead_of_hanging() {
    let config = format!("[key_value_store.mem]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n", crate::support::free_port());
    let host = HostBuilder::new().runtime_config(Some(&config)).arg("--request-timeout-secs").arg("60").start().await;
    // The component gets an error back (and reports it); a hang would end in the time limit's
    // empty 500 instead.
    let response = host.get("/probe/kv/mem/anything").await;
    assert_eq!(response.status(), 500);
    assert!(response.text().await.unwrap().contains("Other"));
    // The default store is unaffected.
    assert_eq!(host.get("/probe/kv/default/anything-else").await.status(), 404);
}

#[tokio::test]
async fn hosts_sharing_a_state_dir_start_together() {
    // Each opens (and on first use creates) the same SQLite file at the same moment.
    let state = tempfile::tempdir().unwrap();
    let starts = (0..4).map(|_| HostBuilder::new().state_dir(state.path()).start());
    // Polled together, so the processes really do start at the same moment.
    let hosts = futures::future::join_all(starts).await;
    let key = format!("shared-{}", uuid::Uuid::new_v4());
    let put = hosts[0].client.put(hosts[0].url(&format!("/probe/kv/default/{key}"))).body("one file").send().await.unwrap();
    assert_eq!(put.status(), 200);
    let got = hosts[3].get(&format!("/probe/kv/default/{key}")).await;
    assert_eq!(got.text().await.unwrap(), "one file");
}
