//! End-to-end: what an operator sees. One order's spans, collected by an OTLP receiver inside
//! the test and decoded with OpenTelemetry's own protobuf types, form one trace from the
//! request to the `order.paid` event's handling; a real Prometheus scrapes galley's metrics
//! and counts the requests the test sent.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{json, Value};

use crate::support::*;

/// Every span an OTLP/HTTP (protobuf) receiver has been sent.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Span>>>);

impl Received {
    fn in_trace(&self, trace_id: &[u8]) -> Vec<Span> {
        let spans = self.0.lock().unwrap_or_else(|e| e.into_inner());
        spans.iter().filter(|s| s.trace_id == trace_id).cloned().collect()
    }
}

/// Starts the receiver on a port of its own: `POST /v1/traces` with an
/// `ExportTraceServiceRequest`, answered 200 as a collector does.
async fn otlp_receiver() -> (u16, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let received = Received::default();
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let store = store.clone();
                async move {
                    let is_traces = request.uri().path() == "/v1/traces"
                        && request.headers().get("content-type").is_some_and(|v| v == "application/x-protobuf");
                    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let status = match (is_traces, ExportTraceServiceRequest::decode(body)) {
                        (true, Ok(export)) => {
                            let spans = export.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans);
                            store.0.lock().unwrap_or_else(|e| e.into_inner()).extend(spans);
                            200
                        }
                        _ => 400,
                    };
                    let mut response = hyper::Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        }
    });
    (port, received)
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(text) => Some(text.as_str()),
        _ => None,
    })
}

fn kind(span: &Span) -> SpanKind {
    SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified)
}

/// A compact listing for assertion messages.
fn describe(spans: &[Span]) -> String {
    spans
        .iter()
        .map(|s| format!("{} [{:?}] {}", s.name, kind(s), attribute(s, "spin.component").unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A host that sends its spans to the receiver on `port`.
fn traced_app(port: u16) -> TestApp {
    spawn_app_with(HostOptions {
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://127.0.0.1:{port}")),
            // Spans reach the receiver within a fraction of a second, not the default 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ],
        ..HostOptions::default()
    })
}

/// The spans of one trace, once `complete` says all have arrived (they come in batches), or
/// what has arrived after 10 s.
async fn spans_of(received: &Received, trace_id: &[u8], complete: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = received.in_trace(trace_id);
        if complete(&spans) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    spans
}

/// The one span no other span of the trace is the parent of.
fn root(spans: &[Span]) -> &Span {
    let ids: HashSet<&[u8]> = spans.iter().map(|s| s.span_id.as_slice()).collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique");
    let roots: Vec<&Span> = spans.iter().filter(|s| !ids.contains(s.parent_span_id.as_slice())).collect();
    assert_eq!(roots.len(), 1, "one root:\n{}", describe(spans));
    roots[0]
}

fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.parent_span_id == parent.span_id).collect()
}

#[tokio::test]
async fn one_order_is_one_trace_from_the_request_to_the_events_handling() {
    let (port, received) = otlp_receiver().await;
    let app = traced_app(port);
    let product = app.stocked_product(5).await;
    let (_, token) = crate::orders::customer();
    let trace_hex = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let response = app
        .http
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&token)
        .header("idempotency-key", format!("trace-{trace_hex}"))
        .header("traceparent", format!("00-{trace_hex}-{caller_span}-01"))
        .json(&json!({"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_ok"}))
        .send()
        .await
        .expect("order");
    assert_eq!(response.status(), 201);
    let trace_id = hex::decode(&trace_hex).expect("hex");

    // The event is handled after the 201: wait for its spans too.
    let has_event_handling = |spans: &[Span]| {
        spans.iter().any(|s| kind(s) == SpanKind::Consumer && attribute(s, "spin.component") == Some("order-events"))
            && spans.iter().any(|s| attribute(s, "spin.component") == Some("order-events") && attribute(s, "db.system") == Some("postgresql"))
    };
    let spans = spans_of(&received, &trace_id, has_event_handling).await;
    assert!(has_event_handling(&spans), "the event's handling is in the order's trace:\n{}", describe(&spans));

    // A tree: one root, continuing the caller's span, and every other span's parent in the trace.
    let root = root(&spans);
    assert_eq!(root.parent_span_id, hex::decode(caller_span).expect("hex"), "the root continues the caller's span");
    assert_eq!(kind(root), SpanKind::Server);
    assert_eq!(attribute(root, "spin.component"), Some("order-create"));

    // Every component of the saga ran as a server span in the trace, and each service's
    // statements are client spans of its database, named without their parameters.
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    for component in ["order-create", "product-admin", "inventory-adjust", "payment"] {
        assert!(
            spans.iter().any(|s| kind(s) == SpanKind::Server && attribute(s, "spin.component") == Some(component)),
            "{component} served in the trace:\n{}",
            describe(&spans)
        );
    }
    for (component, database) in [("order-create", "orders"), ("inventory-adjust", "inventory"), ("payment", "payments"), ("order-events", "notifications")] {
        let statements: Vec<&Span> = spans
            .iter()
            .filter(|s| attribute(s, "spin.component") == Some(component) && attribute(s, "db.system") == Some("postgresql"))
            .collect();
        assert!(!statements.is_empty(), "{component}'s statements are spans:\n{}", describe(&spans));
        for statement in statements {
            assert_eq!(kind(statement), SpanKind::Client);
            assert_eq!(attribute(statement, "db.namespace"), Some(database), "{}", statement.name);
            let text = attribute(statement, "db.query.text").unwrap_or("");
            assert!(!text.is_empty() && !text.contains(&token), "{text}");
            assert!(attribute(statement, "server.address").is_some_and(|a| !a.is_empty()));
            // Under the component's own server (or consumer) span.
            let parent = by_id.get(statement.parent_span_id.as_slice()).expect("parent in the trace");
            assert_eq!(attribute(parent, "spin.component"), Some(component), "{} under {}", statement.name, parent.name);
        }
    }
    // The event was published by a Redis command in the trace, and handled under the request.
    assert!(spans.iter().any(|s| attribute(s, "db.system") == Some("redis") && attribute(s, "db.operation.name") == Some("PUBLISH")));
}

#[tokio::test]
async fn a_graphql_query_traces_each_downstream_call_under_the_gateway() {
    let (port, received) = otlp_receiver().await;
    let app = traced_app(port);
    let (user, token) = app.customer("gqltrace").await;
    let product = app.stocked_product(5).await;
    app.paid_order(&token, &[product]).await;

    let (traceparent, trace_hex) = crate::gateway::trace();
    let id = user["id"].as_str().expect("id");
    let answer = app.graphql(Some(&token), &traceparent, crate::gateway::USER_WITH_ORDERS, json!({"id": id})).await;
    assert_eq!((answer.status, answer.codes()), (200, vec![]), "{}", answer.body);
    // What the gateway says it called: `gateway: call GET <component><path> -> …`.
    let calls: Vec<(String, String)> = app
        .gateway_calls(&trace_hex)
        .iter()
        .filter_map(|line| {
            let call = line.split("gateway: call GET ").nth(1)?.split(' ').next()?;
            let (component, path) = call.split_at(call.find('/')?);
            Some((component.to_owned(), path.to_owned()))
        })
        .collect();
    assert!(calls.len() >= 3, "the user, the orders and the product: {calls:?}");

    let trace_id = hex::decode(&trace_hex).expect("hex");
    let served_below_each_call = |spans: &[Span]| {
        let clients: Vec<&Span> = spans.iter().filter(|s| kind(s) == SpanKind::Client && attribute(s, "url.full").is_some()).collect();
        clients.len() == calls.len() && clients.iter().all(|c| children(spans, c).iter().any(|s| kind(s) == SpanKind::Server))
    };
    let spans = spans_of(&received, &trace_id, served_below_each_call).await;
    let root = root(&spans);
    assert_eq!((kind(root), attribute(root, "spin.component")), (SpanKind::Server, Some("gateway")), "{}", describe(&spans));
    // One client span under the gateway's request per call it made, and the called
    // component's server span under each.
    let outbound: Vec<&Span> = children(&spans, root).into_iter().filter(|s| attribute(s, "url.full").is_some()).collect();
    assert_eq!(outbound.len(), calls.len(), "a span per downstream call:\n{}", describe(&spans));
    for (component, path) in &calls {
        let url = format!("http://{component}.spin.internal{path}");
        let call = outbound.iter().find(|s| attribute(s, "url.full") == Some(url.as_str()));
        let call = call.unwrap_or_else(|| panic!("no span for {url}:\n{}", describe(&spans)));
        assert_eq!(kind(call), SpanKind::Client);
        let served: Vec<&Span> = children(&spans, call);
        assert_eq!(served.len(), 1, "{url}");
        assert_eq!((kind(served[0]), attribute(served[0], "spin.component")), (SpanKind::Server, Some(component.as_str())));
    }
}

#[tokio::test]
async fn a_file_upload_is_one_trace_with_its_statements() {
    let (port, received) = otlp_receiver().await;
    let app = traced_app(port);
    let (_, token) = crate::files::user(galley_common::auth::Role::Customer);
    // New bytes each run: the upload stores new content (a repeat would find it stored).
    let bytes = format!("traced bytes {}", uuid::Uuid::new_v4());
    let (content_type, body) = crate::files::multipart(&[crate::files::file_part("notes.txt", "text/plain", bytes.as_bytes())]);
    let (traceparent, trace_hex) = crate::gateway::trace();
    let response = app
        .http
        .post(app.url("/api/v1/files"))
        .bearer_auth(&token)
        .header("content-type", content_type)
        .header("traceparent", &traceparent)
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 201);

    let trace_id = hex::decode(&trace_hex).expect("hex");
    // The request's span is recorded after its statements, so once it is here they all are.
    let served = |spans: &[Span]| spans.iter().any(|s| kind(s) == SpanKind::Server);
    let spans = spans_of(&received, &trace_id, served).await;
    let root = root(&spans);
    assert_eq!((kind(root), attribute(root, "spin.component")), (SpanKind::Server, Some("file-upload")));
    assert_eq!(attribute(root, "http.request.method"), Some("POST"));
    // Everything else is a statement of the files database, straight under the request.
    for span in spans.iter().filter(|s| s.span_id != root.span_id) {
        assert_eq!(span.parent_span_id, root.span_id, "{}", span.name);
        assert_eq!((kind(span), attribute(span, "db.system"), attribute(span, "db.namespace")), (SpanKind::Client, Some("postgresql"), Some("files")), "{}", span.name);
    }
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"INSERT files") && names.contains(&"COMMIT files"), "the upload's writes and their commit: {names:?}");
}

/// A Prometheus server of the test's own, scraping `target` every second.
struct Prometheus {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: galley\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("`prometheus` (Debian's package, installed by scripts/services.sh) runs");
        Prometheus { child, port, _dir: dir }
    }

    /// The value of an instant query's only sample, if it has one.
    async fn value(&self, http: &reqwest::Client, query: &str) -> Option<f64> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let answer: Value = http.get(url).query(&[("query", query)]).send().await.ok()?.json().await.ok()?;
        answer["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn prometheus_scrapes_request_counts_by_component_route_and_status() {
    let app = spawn_app_with(HostOptions {
        env: vec![("GALLEY_METRICS_LISTEN".into(), "127.0.0.1:0".into())],
        ..HostOptions::default()
    });
    let metrics = app
        .host_log()
        .lines()
        .find_map(|line| line.strip_prefix("Metrics at http://").and_then(|rest| rest.strip_suffix("/metrics")).map(str::to_string))
        .expect("galley prints the metrics address");
    let prometheus = Prometheus::start(&metrics);
    let product = app.create_product("4.00").await["id"].as_i64().expect("id");
    let (found, missing) = (7, 3);
    for _ in 0..found {
        assert_eq!(app.http.get(app.url(&format!("/api/v1/products/{product}"))).send().await.expect("get").status(), 200);
    }
    for _ in 0..missing {
        assert_eq!(app.http.get(app.url("/api/v1/products/999999999")).send().await.expect("get").status(), 404);
    }
    let count = |class: &str| {
        format!(
            "sum(http_server_request_duration_seconds_count{{component=\"product-query\",route=\"/api/v1/products/:id\",method=\"GET\",status_class=\"{class}\"}})"
        )
    };
    let mut seen = (None, None, None);
    for _ in 0..60 {
        seen = (
            prometheus.value(&app.http, &count("2xx")).await,
            prometheus.value(&app.http, &count("4xx")).await,
            prometheus.value(&app.http, "sum(galley_postgres_pool_max_connections{database=\"catalog\"})").await,
        );
        if seen.0 == Some(found as f64) && seen.1 == Some(missing as f64) && seen.2.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(seen.0, Some(found as f64), "2xx count as Prometheus scraped it");
    assert_eq!(seen.1, Some(missing as f64), "4xx count as Prometheus scraped it");
    assert!(seen.2.is_some_and(|max| max > 0.0), "the catalog pool's size is a series");
    // The histogram's buckets are OpenTelemetry's; every request fell in one of them.
    let in_ten_seconds = prometheus
        .value(&app.http, "sum(http_server_request_duration_seconds_bucket{component=\"product-query\",le=\"10\"})")
        .await;
    assert_eq!(in_ten_seconds, Some((found + missing) as f64));
    // The rest, read straight from the listener: the first product read was a cache miss, which
    // chains to inventory-adjust; the counters an alert rates exist at zero before any event.
    let text = app.http.get(format!("http://{metrics}/metrics")).send().await.expect("scrape").text().await.expect("text");
    let sample = |series: &str| -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
    };
    assert!(sample("galley_chained_calls_total{from=\"product-query\",to=\"inventory-adjust\"}").is_some_and(|n| n >= 1.0), "{text}");
    for zero in [
        "galley_http_requests_refused_total{reason=\"concurrency\"}",
        "galley_http_requests_refused_total{reason=\"instances\"}",
        "galley_reloads_total{outcome=\"failed\"}",
    ] {
        assert_eq!(sample(zero), Some(0.0), "{zero} in\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("galley_app_info{version=\"") && l.ends_with(" 1")), "{text}");
    assert!(sample("galley_instances_max").is_some_and(|n| n > 0.0), "{text}");
    let post = app.http.post(format!("http://{metrics}/metrics")).send().await.expect("post");
    assert_eq!(post.status(), 405);
    // Nothing else is served on the metrics address, and the app's port does not serve them.
    let other = app.http.get(format!("http://{metrics}/")).send().await.expect("get");
    assert_eq!(other.status(), 404);
    let on_app = app.http.get(app.url("/metrics")).send().await.expect("get");
    assert_eq!(on_app.status(), 404);
}

/// The saga gauges' values, parsed from the text format.
async fn saga_gauges(app: &TestApp, token: Option<&str>) -> (u16, HashMap<String, f64>) {
    let mut request = app.http.get(app.url("/api/v1/admin/sagas/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let values = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(name, value)| Some((name.to_string(), value.parse().ok()?)))
        .collect();
    (status, values)
}

#[tokio::test]
async fn the_saga_gauges_count_an_unsettled_order_for_schedulers_only() {
    let scheduler = "scheduler-token-for-tests-0123456789";
    let app = spawn_app_with(HostOptions {
        env: vec![
            ("SPIN_VARIABLE_RECOVERY_TOKEN".into(), scheduler.into()),
            // A payment slower than the saga waits: the order stays unsettled (a 202).
            ("SPIN_VARIABLE_CHARGE_TIMEOUT_MS".into(), "300".into()),
            ("SPIN_VARIABLE_PAYMENT_SLOW_MS".into(), "1500".into()),
            ("SPIN_VARIABLE_SAGA_RECOVERY_AFTER_SECS".into(), "0".into()),
        ],
        ..HostOptions::default()
    });
    let product = app.stocked_product(5).await;
    let (_, customer) = crate::orders::customer();
    let placed = app
        .http
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&customer)
        .header("idempotency-key", format!("gauges-{}", uuid::Uuid::new_v4().simple()))
        .json(&json!({"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_slow"}))
        .send()
        .await
        .expect("order");
    assert_eq!(placed.status(), 202);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (status, gauges) = saga_gauges(&app, Some(scheduler)).await;
    assert_eq!(status, 200);
    let unsettled = gauges["galley_sagas_unsettled"];
    let past = gauges["galley_sagas_unsettled_past_recovery"];
    assert!(unsettled >= 1.0, "our order is unsettled: {gauges:?}");
    assert!(past >= 1.0 && past <= unsettled, "with a 0 s threshold it is past recovery: {gauges:?}");
    assert!(gauges["galley_sagas_oldest_unsettled_age_seconds"] >= 0.1, "{gauges:?}");

    let post = app.http.post(app.url("/api/v1/admin/sagas/metrics")).bearer_auth(scheduler).send().await.expect("post");
    assert_eq!(post.status(), 405, "the gauges are read-only");
    assert_eq!(saga_gauges(&app, None).await.0, 401);
    assert_eq!(saga_gauges(&app, Some("forged.token.value")).await.0, 401);
    assert_eq!(saga_gauges(&app, Some(&customer)).await.0, 403);
    assert_eq!(saga_gauges(&app, Some(&crate::catalog::token(galley_common::auth::Role::Admin))).await.0, 200);
}

#[tokio::test]
async fn the_saga_gauges_are_a_503_problem_while_the_orders_database_is_down() {
    let app = spawn_app_with_databases_down();
    let response = app.http.get(app.url("/api/v1/admin/sagas/metrics")).bearer_auth(crate::catalog::token(galley_common::auth::Role::Admin)).send().await.expect("get");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

