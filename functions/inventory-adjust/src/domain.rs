//! Inventory rules: which private operation a request is, what each body must hold, and what
//! a repeated reservation of an order answers. No Spin types: unit-tested natively.

use galley_common::ids::{OrderId, ProductId};
use galley_common::inventory::{problems, Line, Reservation, ReserveRequest, State, RESERVATIONS_PATH, STOCK_PATH};
use galley_common::method::Method;
use serde::Deserialize;

/// Most lines one order may reserve; an order is a shopping basket, not a bulk import.
pub const MAX_LINES: usize = 100;

/// The private operations, by method and path (the whole path: chaining matches `/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `POST /stock` `{product_id}`: create a zero stock row unless there is one.
    CreateStock,
    /// `GET /stock/:product_id`
    GetStock(ProductId),
    /// `GET /stock?ids=3,1,7`: the stock of each product that has a row, in one read (the
    /// GraphQL gateway's batch of a screen's products).
    GetStocks(Vec<ProductId>),
    /// `PUT /stock/:product_id` `{"on_hand": n}` or `{"delta": n}`
    ChangeStock(ProductId),
    /// `POST /reservations` `{order_id, lines: [{product_id, quantity}]}`
    Reserve,
    /// `POST /reservations/:order_id/release`
    Release(OrderId),
    /// `POST /reservations/:order_id/commit`
    Commit(OrderId),
}

galley_common::api_errors! {
    pub enum InventoryError {
        #[error("no inventory operation at {method} {path}")]
        NoSuchOperation { method: String, path: String } => galley_common::problem::NOT_FOUND,
        #[error("{0}")]
        Invalid(String) => (422, "validation", "Invalid request"),
        #[error("product {0} has no stock record")]
        UnknownProduct(ProductId) => galley_common::problem::NOT_FOUND,
        #[error("order {0} has no reservation")]
        UnknownOrder(OrderId) => galley_common::problem::NOT_FOUND,
        #[error("not enough stock: {0}")]
        InsufficientStock(String) => (409, problems::INSUFFICIENT_STOCK, "Not enough stock"),
        #[error("order {0} was already reserved with other lines")]
        LinesDiffer(OrderId) => (409, problems::RESERVATION_CONFLICT, "Reservation conflict"),
        #[error("order {order}'s reservation is {state}; it cannot be {action}")]
        Closed { order: OrderId, state: &'static str, action: &'static str } => (409, problems::RESERVATION_CLOSED, "Reservation closed"),
        #[error("product {product_id} has {on_hand} on hand; a change of {delta} would leave it out of range")]
        OutOfRange { product_id: ProductId, on_hand: i64, delta: i64 } => (409, "stock-out-of-range", "Stock out of range"),
        #[error("{0}")]
        BadQuery(String) => (400, "bad-query", "Bad query"),
    }
}

impl Op {
    pub fn route(method: &Method, path: &str, query: &str) -> Result<Op, InventoryError> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let stock = STOCK_PATH.trim_start_matches('/');
        let reservations = RESERVATIONS_PATH.trim_start_matches('/');
        let op = match (method, segments.as_slice()) {
            (Method::Post, [s]) if *s == stock => Op::CreateStock,
            (Method::Get, [s]) if *s == stock => {
                let ids = galley_common::query::product_ids(query).map_err(InventoryError::BadQuery)?;
                Op::GetStocks(ids.ok_or_else(|| InventoryError::BadQuery("ids: name 1 to 100 product ids".into()))?)
            }
            (Method::Get, [s, id]) if *s == stock => Op::GetStock(ProductId::parse(id)?),
            (Method::Put, [s, id]) if *s == stock => Op::ChangeStock(ProductId::parse(id)?),
            (Method::Post, [r]) if *r == reservations => Op::Reserve,
            (Method::Post, [r, order, "release"]) if *r == reservations => Op::Release(OrderId::parse(order)?),
            (Method::Post, [r, order, "commit"]) if *r == reservations => Op::Commit(OrderId::parse(order)?),
            _ => return Err(InventoryError::NoSuchOperation { method: method.to_string(), path: path.into() }),
        };
        Ok(op)
    }
}

/// The lines of a reservation, checked and sorted by product id: every transaction then locks
/// stock rows in the same order, so two reservations can never deadlock on each other. (Each
/// line's product id and quantity were checked as the body was read.)
pub fn validate_reservation(request: ReserveRequest) -> Result<(OrderId, Vec<Line>), InventoryError> {
    let ReserveRequest { order_id, mut lines } = request;
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(InventoryError::Invalid(format!("an order reserves 1 to {MAX_LINES} lines")));
    }
    lines.sort_by_key(|l| l.product_id);
    if let Some(pair) = lines.windows(2).find(|w| w[0].product_id == w[1].product_id) {
        return Err(InventoryError::Invalid(format!("product {} appears in more than one line", pair[0].product_id)));
    }
    Ok((order_id, lines))
}

/// What a reserve answers given the order's stored reservation, new or not, so a repeat gets
/// the first outcome: the same success, or the same refusal.
pub fn reserve_answer(stored: Reservation, requested: &[Line]) -> Result<Reservation, InventoryError> {
    match stored.state {
        State::Released => Err(InventoryError::Closed { order: stored.order_id.clone(), state: "released", action: "reserved" }),
        _ if stored.lines != requested => Err(InventoryError::LinesDiffer(stored.order_id.clone())),
        State::Rejected => Err(InventoryError::InsufficientStock(stored.detail.unwrap_or_default())),
        State::Reserved | State::Committed => Ok(stored),
    }
}

/// The refusal of a reservation: for each short line, what was asked and what there is
/// (`None`: no stock record for that product).
pub fn shortage_detail(short: &[(Line, Option<i64>)]) -> String {
    short
        .iter()
        .map(|(line, available)| match available {
            Some(n) => format!("product {} has {n} on hand, {} requested", line.product_id, line.quantity),
            None => format!("product {} is unknown", line.product_id),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Body of `PUT /stock/:id`: exactly one of `on_hand` (set) and `delta` (adjust).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockChangeRequest {
    #[serde(default, deserialize_with = "galley_common::whole::option_i64")]
    pub on_hand: Option<i64>,
    #[serde(default, deserialize_with = "galley_common::whole::option_i64")]
    pub delta: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    Set(i64),
    Adjust(i64),
}

impl StockChangeRequest {
    pub fn validate(self) -> Result<StockChange, InventoryError> {
        let max = i64::from(i32::MAX);
        match (self.on_hand, self.delta) {
            (Some(n), None) if (0..=max).contains(&n) => Ok(StockChange::Set(n)),
            (Some(n), None) => Err(InventoryError::Invalid(format!("on_hand {n} is not between 0 and {max}"))),
            (None, Some(d)) if (-max..=max).contains(&d) => Ok(StockChange::Adjust(d)),
            (None, Some(d)) => Err(InventoryError::Invalid(format!("delta {d} is not between -{max} and {max}"))),
            _ => Err(InventoryError::Invalid("send exactly one of `on_hand` (set) and `delta` (adjust)".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::inventory::Quantity;
    use galley_common::problem::ApiError;

    const ORDER: &str = "7ab45f0f-9291-42eb-922d-130b806315c2";

    fn order() -> OrderId {
        OrderId::parse(ORDER).unwrap()
    }

    fn line(product_id: i64, quantity: i64) -> Line {
        Line { product_id: ProductId::new(product_id).unwrap(), quantity: Quantity::new(quantity).unwrap() }
    }

    fn product(id: i64) -> ProductId {
        ProductId::new(id).unwrap()
    }

    #[test]
    fn routes() {
        assert_eq!(Op::route(&Method::Post, "/stock", "").unwrap(), Op::CreateStock);
        assert_eq!(Op::route(&Method::Get, "/stock/5", "").unwrap(), Op::GetStock(product(5)));
        assert_eq!(Op::route(&Method::Put, "/stock/5/", "").unwrap(), Op::ChangeStock(product(5)));
        assert_eq!(Op::route(&Method::Post, "/reservations", "").unwrap(), Op::Reserve);
        assert_eq!(Op::route(&Method::Post, &format!("/reservations/{ORDER}/release"), "").unwrap(), Op::Release(order()));
        assert_eq!(Op::route(&Method::Post, &format!("/reservations/{ORDER}/commit"), "").unwrap(), Op::Commit(order()));
        assert_eq!(Op::route(&Method::Delete, "/stock/5", "").unwrap_err().status(), 404);
        assert_eq!(Op::route(&Method::Get, "/api/v1/inventory/5", "").unwrap_err().status(), 404);
        assert_eq!(Op::route(&Method::Get, "/stock/abc", "").unwrap_err().status(), 400);
        assert_eq!(Op::route(&Method::Get, "/stock/05", "").unwrap_err().status(), 400);
        assert_eq!(Op::route(&Method::Get, "/stock", "ids=3,1,3").unwrap(), Op::GetStocks(vec![product(1), product(3)]));
        assert_eq!(Op::route(&Method::Get, "/stock", "").unwrap_err().status(), 400, "no ids");
        assert_eq!(Op::route(&Method::Get, "/stock", "ids=1,x").unwrap_err().status(), 400);
        assert_eq!(Op::route(&Method::Post, "/reservations/nope/commit", "").unwrap_err().status(), 400);
    }

    fn reserve(lines: Vec<Line>) -> Result<(OrderId, Vec<Line>), InventoryError> {
        validate_reservation(ReserveRequest { order_id: order(), lines })
    }

    #[test]
    fn reservation_lines_are_sorted_and_checked() {
        let (_, lines) = reserve(vec![line(9, 1), line(3, 2)]).unwrap();
        assert_eq!(lines, vec![line(3, 2), line(9, 1)]);
        for bad in [vec![], vec![line(2, 1), line(2, 3)]] {
            assert_eq!(reserve(bad.clone()).unwrap_err().status(), 422, "{bad:?}");
        }
        assert!(reserve((1..=101).map(|i| line(i, 1)).collect()).is_err());
        // Quantities and product ids out of range never get this far: the body does not parse.
        let body = format!(r#"{{"order_id":"{ORDER}","lines":[{{"product_id":1,"quantity":0}}]}}"#);
        assert!(galley_common::body::parse_json::<ReserveRequest>(body.as_bytes(), 1024).is_err());
    }

    fn stored(state: State, lines: Vec<Line>) -> Reservation {
        Reservation { order_id: order(), state, lines, detail: Some("product 3 is unknown".into()) }
    }

    #[test]
    fn a_repeat_gets_the_first_outcome() {
        let lines = vec![line(3, 2)];
        assert!(reserve_answer(stored(State::Reserved, lines.clone()), &lines).is_ok());
        assert!(reserve_answer(stored(State::Committed, lines.clone()), &lines).is_ok());
        let err = reserve_answer(stored(State::Rejected, lines.clone()), &lines).unwrap_err();
        assert_eq!(err.status(), 409);
        assert!(err.detail().contains("product 3 is unknown"));
        assert_eq!(reserve_answer(stored(State::Reserved, lines.clone()), &[line(3, 3)]).unwrap_err().kind(), "reservation-conflict");
        // A release that came first leaves a tombstone without lines: closed, whatever is asked.
        assert_eq!(reserve_answer(stored(State::Released, vec![]), &lines).unwrap_err().kind(), "reservation-closed");
    }

    #[test]
    fn shortages_say_what_is_missing() {
        let d = shortage_detail(&[(line(3, 5), Some(2)), (line(4, 1), None)]);
        assert_eq!(d, "product 3 has 2 on hand, 5 requested; product 4 is unknown");
    }

    #[test]
    fn a_stock_change_is_a_set_or_an_adjustment() {
        let change = |on_hand, delta| StockChangeRequest { on_hand, delta }.validate();
        assert_eq!(change(Some(10), None).unwrap(), StockChange::Set(10));
        assert_eq!(change(None, Some(-3)).unwrap(), StockChange::Adjust(-3));
        for (on_hand, delta) in [(Some(-1), None), (None, None), (Some(1), Some(1)), (Some(1 << 40), None), (None, Some(1 << 40))] {
            assert_eq!(change(on_hand, delta).unwrap_err().status(), 422);
        }
    }
}
