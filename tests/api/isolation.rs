//! End-to-end: one function's failure stays its own. While a test-only component traps,
//! loops until the request deadline or exhausts its memory on every request, user-lookup and
//! product-query keep answering every request. (How much their latency moves is measured,
//! not asserted: `bench/isolation.sh`.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;

/// Loops `path` until `stop`, returning each answer's status (0 for a transport error).
fn hammer(app: &TestApp, path: String, token: Option<String>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<u16>> {
    let (http, url) = (reqwest::Client::new(), app.url(&path));
    tokio::spawn(async move {
        let mut statuses = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let mut request = http.get(&url);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            statuses.push(match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let _ = response.bytes().await;
                    status
                }
                Err(_) => 0,
            });
        }
        statuses
    })
}

#[tokio::test]
async fn a_component_that_traps_loops_or_exhausts_memory_leaves_other_functions_unaffected() {
    // A request deadline short enough that a looping request ends within the run, and long
    // enough that a healthy request on a machine saturated by other work still finishes.
    let app = spawn_app_with(HostOptions {
        env: vec![("GALLEY_REQUEST_TIMEOUT_SECS".into(), "10".into())],
        ..HostOptions::default()
    });
    let (user, token) = app.customer("isolated").await;
    let user_path = format!("/api/v1/users/{}", user["id"].as_str().expect("user id"));
    let product = app.create_product("9.50").await;
    let product_path = format!("/api/v1/products/{}", product["id"]);

    let stop = Arc::new(AtomicBool::new(false));
    // A trap and exhausted memory are the component's failure (500); a loop runs until the
    // request limit, which galley answers as a timeout (504).
    let mut failing = Vec::new();
    for (failure, status) in [("trap", 500), ("loop", 504), ("oom", 500)] {
        failing.push((failure, status, hammer(&app, format!("/_e2e/misbehave/{failure}"), None, stop.clone())));
    }
    let mut healthy = Vec::new();
    for _ in 0..3 {
        healthy.push(hammer(&app, user_path.clone(), Some(token.clone()), stop.clone()));
        healthy.push(hammer(&app, product_path.clone(), None, stop.clone()));
    }
    tokio::time::sleep(Duration::from_secs(11)).await;
    stop.store(true, Ordering::Relaxed);

    let mut failed_answers = 0;
    for (failure, status, task) in failing {
        let statuses = task.await.expect("a failing client");
        assert!(statuses.iter().all(|s| *s == status), "{failure}: every answer {status}: {statuses:?}");
        failed_answers += statuses.len();
    }
    let mut served = 0;
    for task in healthy {
        let statuses = task.await.expect("a healthy client");
        println!("healthy client: {} requests", statuses.len());
        let errors: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
        assert!(errors.is_empty(), "{} of {} healthy requests failed: {errors:?}", errors.len(), statuses.len());
        served += statuses.len();
    }
    assert!(served > 0 && failed_answers > 0, "the load did not run: {served} healthy, {failed_answers} failing");
    let log = app.host_log();
    let failures = log.lines().filter(|l| l.contains("e2e-misbehave") && l.contains("component failed")).count();
    assert!(failures > 0, "the host logs each failure with the component's name");
}
