//! order-create: the order saga, and its recovery.
//!
//! `POST /api/v1/orders` prices the items from the catalog and runs the saga, every step
//! recorded in the `orders` database before the next one starts. Spin routes by path, not
//! method, so this component owns the collection route and answers `GET` (a listing) too,
//! with the orders service's shared listing code (`galley_common::order_listing`, the same
//! order-query runs for the gateway): neither the saga nor a listing takes an extra hop.
//! `GET /api/v1/admin/sagas/metrics` serves the unsettled sagas as Prometheus gauges
//! (`gauges.rs`) for the alert rules, to the same credential as recovery.
//!
//! 1. record the order (status 0), its lines and `saga_state = reserving`, in one transaction;
//! 2. reserve the stock (inventory-adjust), within `reserve_timeout_ms` → `charging`;
//! 3. charge the payment (payment), within `charge_timeout_ms`;
//! 4. in one transaction: status 1, `committing`, and an `order.paid` row in the outbox; then
//!    commit the reservation → `completed`, and publish the outbox row on `order_events`.
//!
//! A refusal (short stock, a declined card) runs the compensations (refund, release) and
//! cancels the order (status 2) with a reason. A step that times out leaves the order as it
//! is (status 0, answered 202): `POST /api/v1/admin/sagas/recover` later compensates it, or
//! finishes it if it was already paid. Every state change is one conditional `UPDATE … WHERE
//! saga_state = <expected>`, and every call is idempotent per order id, so the request and a
//! recoverer can never both take a step, and a step repeated is a step taken once.
//!
//! The same `Idempotency-Key` from the same user is the same order (a unique index decides
//! races): a repeat while the first request's saga can still be running waits for it (holding
//! no database connection) and answers what it answered; a repeat after that answers the
//! order as it stands at once. A request with two `Idempotency-Key` headers is refused.

pub mod domain;
pub mod gauges;
mod saga;

use std::time::Duration;

use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::http::json;
use galley_common::edge::{orders_db, time, variable};
use galley_common::error::ConfigError;
use galley_common::method::Method;
use galley_common::order_listing::Page;
use galley_common::orders::{Order, Status, COLLECTION, RECOVER_PATH, SAGA_METRICS_PATH};
use galley_common::problem::Problem;
use spin_sdk::http::Response;

use domain::{OrderError, OrderRequest};
use saga::Saga;

galley_common::http_endpoint!(serve);

async fn serve(req: Request) -> Result<Response, OrderError> {
    match req.path().trim_end_matches('/') {
        COLLECTION => {
            req.allow(&[Method::Get, Method::Post])?;
            match req.method {
                Method::Get => list(&req),
                _ => create(req).await,
            }
        }
        RECOVER_PATH => {
            req.allow(&[Method::Post])?;
            recover(req).await
        }
        SAGA_METRICS_PATH => {
            req.allow(&[Method::Get])?;
            saga_metrics(&req)
        }
        _ => Err(OrderError::NotFound),
    }
}

async fn create(mut req: Request) -> Result<Response, OrderError> {
    // (The request is kept whole to the end: its trace id tags a refusal.)
    let claims = req.claims()?;
    let user = claims.user_id().map_err(galley_common::error::CommonError::from)?;
    let key = domain::parse_key(req.header_values("idempotency-key"))?;
    let order = req.json::<OrderRequest>().await?.validate()?;
    let prices = saga::prices(&req, &order).await?;
    let amount = order.amount(&prices)?;
    let config = Config::read()?;
    let conn = database()?;
    let answer = match saga::record(&conn, &user, &key, &order, &prices, amount)? {
        saga::Recorded::New(order) => Saga::new(&req, &conn, &config).run(order).await?,
        saga::Recorded::Existing { id, fingerprint, age } => {
            if fingerprint != order.fingerprint() {
                return Err(OrderError::KeyReused);
            }
            // A replay waits holding no connection: the pool is for requests doing work.
            drop(conn);
            settled(&id, domain::replay_wait(config.settle_wait(), age)).await?
        }
    };
    Ok(order_response(&answer, req_trace(&req)))
}

/// `GET /api/v1/orders`: the caller's orders (an admin's: anyone's), a page at a time.
fn list(req: &Request) -> Result<Response, OrderError> {
    let claims = req.claims()?;
    let me = claims.user_id().map_err(galley_common::error::CommonError::from)?;
    let page = Page::parse(req.query(), &me, &claims)?;
    Ok(json(200, &orders_db::list(&database()?, &page)?))
}

fn req_trace(req: &Request) -> Option<String> {
    req.trace_id.clone()
}

/// The order once its saga has settled, or as it stands when `wait` is over: a repeated
/// request answers what the first one answered. Each look takes a connection for one read
/// and gives it back; the pauses between looks grow (25 ms to 400 ms), so replays that wait
/// together cost the database a few reads a second each.
async fn settled(id: &galley_common::ids::OrderId, wait: Duration) -> Result<Order, OrderError> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(25);
    loop {
        let order = orders_db::load(&database()?, id)?.ok_or(OrderError::NotFound)?;
        let waited = started.elapsed();
        if order.status != Status::Unpaid || waited >= wait {
            return Ok(order);
        }
        time::sleep(pause.min(wait - waited)).await;
        pause = (pause * 2).min(Duration::from_millis(400));
    }
}

/// The order, or for a cancelled one a problem+json carrying it (`order` member).
fn order_response(order: &Order, trace_id: Option<String>) -> Response {
    let mut response = match domain::answer(order) {
        domain::Answer::Order(status) => json(status, order),
        domain::Answer::Refused { status, kind, title, detail } => {
            let problem = Problem::new(status, kind, title, detail).with_trace_id(trace_id);
            let mut body = serde_json::to_value(&problem).unwrap_or_default();
            body["order"] = serde_json::to_value(order).unwrap_or_default();
            let mut response = json(status, &body);
            response.set_header("content-type", galley_common::problem::CONTENT_TYPE);
            response
        }
    };
    response.set_header("location", format!("{COLLECTION}/{}", order.id));
    response
}

/// Settles every saga left unsettled for longer than `saga_recovery_after_secs`, then
/// publishes what the outbox still holds. For schedulers: an admin token, or the
/// `recovery_token` variable as a bearer token (a scheduler has no user and no hourly token).
async fn recover(req: Request) -> Result<Response, OrderError> {
    require_scheduler(&req)?;
    let config = Config::read()?;
    let conn = database()?;
    let report = Saga::new(&req, &conn, &config).recover_all().await?;
    Ok(json(200, &report))
}

/// An admin token, or the `recovery_token` variable as a bearer token: the credential of the
/// schedulers and scrapers that call the admin saga routes.
fn require_scheduler(req: &Request) -> Result<(), OrderError> {
    let token = galley_common::auth::bearer_token(req.header("authorization")).map_err(galley_common::error::CommonError::from)?;
    let configured = variable("recovery_token").unwrap_or_default();
    if !domain::recovery_token_matches(&configured, token) {
        req.require_admin()?;
    }
    Ok(())
}

/// `GET /api/v1/admin/sagas/metrics`: the unsettled sagas as Prometheus gauges, for the
/// alert on sagas recovery should have settled (same credential as recovery).
fn saga_metrics(req: &Request) -> Result<Response, OrderError> {
    require_scheduler(req)?;
    let config = Config::read()?;
    let gauges = saga::gauges(&database()?, config.recovery_after_secs)?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", gauges::CONTENT_TYPE)
        .header("cache-control", "no-store")
        .body(gauges.render())
        .build())
}

/// The saga's variables.
pub struct Config {
    pub reserve_timeout: Duration,
    pub charge_timeout: Duration,
    pub recovery_after_secs: i64,
    /// How long one recovery call keeps taking sagas (`saga_recovery_budget_secs`).
    pub recovery_budget: Duration,
    /// Test-only fault switch: `after_reserve` or `after_charge` makes the saga trap there.
    pub fault: String,
    pub redis_url: String,
}

impl Config {
    fn read() -> Result<Config, ConfigError> {
        let millis = |name: &str| -> Result<Duration, ConfigError> {
            let raw = variable(name)?;
            raw.trim().parse::<u64>().map(Duration::from_millis).map_err(|_| ConfigError(format!("variable `{name}` is `{raw}`, not milliseconds")))
        };
        let raw = variable("saga_recovery_after_secs")?;
        let budget = variable("saga_recovery_budget_secs")?;
        Ok(Config {
            recovery_budget: budget.trim().parse::<u64>().map(Duration::from_secs).map_err(|_| {
                ConfigError(format!("variable `saga_recovery_budget_secs` is `{budget}`, not seconds"))
            })?,
            reserve_timeout: millis("reserve_timeout_ms")?,
            charge_timeout: millis("charge_timeout_ms")?,
            recovery_after_secs: raw
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("variable `saga_recovery_after_secs` is `{raw}`, not seconds")))?,
            fault: variable("saga_fault")?,
            redis_url: variable("redis_url")?,
        })
    }

    /// How long a repeated request waits for the first one's saga: as long as that saga can
    /// take before it answers 202 itself.
    fn settle_wait(&self) -> Duration {
        self.reserve_timeout + self.charge_timeout + Duration::from_secs(3)
    }
}

