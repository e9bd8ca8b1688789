//! The GraphQL schema: what a client may ask in one round trip, and which owning function
//! answers each part. Resolvers only ask the [`Backend`](crate::downstream::Backend) for REST
//! paths the caller could call directly, with the caller's own token, so the gateway never
//! shows more than the REST API would; a failed part is an error on its own field
//! (`extensions.code`) while the rest of the answer stands.
//!
//! No Spin types here: the schema builds and is tested natively, and `api/schema.graphql` is
//! its SDL (a test fails when the two drift apart).

use async_graphql::{
    ComplexObject, Context, EmptyMutation, EmptySubscription, Object, Request, Schema, SimpleObject, ID,
};
use galley_common::ids::{OrderId, ProductId, UserId};
use galley_common::orders;
use galley_common::query::{DEFAULT_LIMIT, MAX_LIMIT};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;

use crate::downstream::{decode, Code, Failure, Memoised, SharedBackend, CATALOG, ORDERS, USERS};
use crate::loader::{ProductLoader, StockLoader};

pub type GatewaySchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Deepest query accepted. The data graph itself is at most 7 levels deep; the limit leaves
/// room for the introspection query GraphiQL sends (its type references nest about 15 deep)
/// and refuses anything deeper before it runs.
pub const MAX_DEPTH: usize = 16;
/// Most complexity accepted: one per field, a list field its page size (`first`) times what
/// each item asks for. A whole screen fits — `userWithOrders(first: 100)` with every order
/// field and each line's product is about 2700 — while a query that repeats such lists under
/// aliases is refused before any downstream call.
pub const MAX_COMPLEXITY: usize = 3000;

/// The schema with its limits; introspection stays on.
pub fn build() -> GatewaySchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// A request with what its resolvers need: the backend (carrying the caller's identity and
/// trace), memoised for this request so an identical call is made once, a fresh product
/// loader, and who the caller is.
pub fn prepare(request: Request, backend: SharedBackend, viewer: Viewer) -> Request {
    let backend: SharedBackend = Arc::new(Memoised::new(backend));
    request.data(ProductLoader::new(backend.clone())).data(StockLoader::new(backend.clone())).data(backend).data(viewer)
}

/// The caller as the bearer token says, for `me`. Every other field leaves the token to the
/// owning function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// No `Authorization: Bearer` header.
    Anonymous,
    /// A token that is malformed, forged or expired.
    Rejected,
    User(UserId),
}

/// A user as `GET /api/v1/users/:id` shows it.
#[derive(Debug, Clone, PartialEq, Deserialize, SimpleObject)]
pub struct User {
    pub id: ID,
    pub username: String,
    pub mobile: String,
    /// `customer` or `admin`.
    pub role: String,
    /// UTC, RFC 3339.
    pub created_at: String,
}

/// A product as the catalog shows it (`GET /api/v1/products`), with its stock from the inventory.
#[derive(Debug, Clone, PartialEq, Deserialize, SimpleObject)]
#[graphql(complex)]
pub struct Product {
    #[graphql(skip)]
    pub id: i64,
    pub name: String,
    /// A decimal string with two places (`"12.50"`), never a float.
    pub price: String,
    pub description: Option<String>,
}

#[ComplexObject]
impl Product {
    /// The product's id (a positive whole number, as text).
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// How many can be bought now (on hand, not reserved), as `GET /api/v1/products/:id`
    /// answers it. Every product of one answer is read in one batch from the inventory.
    async fn stock(&self, ctx: &Context<'_>) -> Option<i64> {
        nullable(ctx, load_stock(ctx, self.id).await)
    }
}

/// An order as `GET /api/v1/orders/:id` shows it: the orders service's own type, read as
/// strictly as any of its callers reads it, and shown in GraphQL's terms.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Order(orders::Order);

/// An order as `GET /api/v1/orders/:id` shows it.
#[Object]
impl Order {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn user_id(&self) -> ID {
        ID(self.0.user_id.to_string())
    }

    /// 0 unpaid (not settled yet), 1 paid, 2 cancelled.
    async fn status(&self) -> i32 {
        i32::from(u8::from(self.0.status))
    }

    /// The total, a decimal string with two places.
    async fn amount(&self) -> String {
        self.0.amount.to_string()
    }

    async fn payment_method(&self) -> &str {
        &self.0.payment_method
    }

    /// Why it was cancelled (`insufficient_stock`, `payment_declined`, `abandoned`); null otherwise.
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
    }

    /// The same for a human.
    async fn cancel_detail(&self) -> Option<&str> {
        self.0.cancel_detail.as_deref()
    }

    async fn lines(&self) -> Vec<OrderLine> {
        self.0.lines.iter().cloned().map(OrderLine).collect()
    }

    /// UTC, RFC 3339.
    async fn created_at(&self) -> &str {
        &self.0.created_at
    }
}

/// One line of an order (the orders service's own type).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine(orders::OrderLine);

/// One line of an order, priced when the order was made.
#[Object]
impl OrderLine {
    async fn quantity(&self) -> i64 {
        self.0.quantity.get()
    }

    /// The unit price the order was made at (a decimal string); the product's price may have changed since.
    async fn unit_price(&self) -> String {
        self.0.unit_price.to_string()
    }

    async fn product_id(&self) -> ID {
        ID(self.0.product_id.to_string())
    }

    /// The product as the catalog shows it now. All the lines of one answer are read in one
    /// batch; a product the catalog no longer has is a `NOT_FOUND` error on this field.
    async fn product(&self, ctx: &Context<'_>) -> Option<Product> {
        nullable(ctx, load_product(ctx, self.0.product_id.get()).await)
    }
}

/// Declares a Relay-style page of `$node`: `$connection { edges, nodes, pageInfo }` and its
/// `$edge { node, cursor }` (async-graphql cannot nest generic output types).
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty) => {
        #[doc = concat!("A Relay-style page of `", stringify!($node), "`s.")]
        #[derive(Debug, Clone, SimpleObject)]
        pub struct $connection {
            pub edges: Vec<$edge>,
            /// The same items as `edges`, without their cursors.
            pub nodes: Vec<$node>,
            pub page_info: PageInfo,
        }

        #[derive(Debug, Clone, SimpleObject)]
        pub struct $edge {
            pub node: $node,
            /// Pass as `after` to continue after this item. Products have one on every edge;
            /// orders are paged by a position the orders service tells only for a page's last
            /// item, so only the last edge of an order page has one.
            pub cursor: Option<String>,
        }

        impl $connection {
            /// A page whose edges' cursors `cursor_of` gives (the page's end cursor for the last).
            fn new(items: Vec<$node>, end_cursor: Option<String>, cursor_of: impl Fn(&$node) -> Option<String>) -> Self {
                let last = items.len().saturating_sub(1);
                let edges = items
                    .iter()
                    .enumerate()
                    .map(|(i, node)| {
                        let cursor = cursor_of(node).or_else(|| if i == last { end_cursor.clone() } else { None });
                        $edge { node: node.clone(), cursor }
                    })
                    .collect();
                let page_info = PageInfo { has_next_page: end_cursor.is_some(), end_cursor };
                $connection { edges, nodes: items, page_info }
            }
        }
    };
}

connection!(ProductConnection, ProductEdge, Product);
connection!(OrderConnection, OrderEdge, Order);

#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// The `after` of the next page; null on the last page.
    pub end_cursor: Option<String>,
}

/// A user and their orders, read at the same time.
pub struct UserWithOrders {
    user: Result<User, Failure>,
    orders: Result<OrderConnection, Failure>,
}

#[Object]
impl UserWithOrders {
    /// The user (`GET /api/v1/users/:id`).
    async fn user(&self, ctx: &Context<'_>) -> Option<&User> {
        nullable(ctx, self.user.as_ref().map_err(Failure::clone))
    }

    /// Their orders, newest first (`GET /api/v1/orders?user_id=`).
    async fn orders(&self, ctx: &Context<'_>) -> Option<&OrderConnection> {
        nullable(ctx, self.orders.as_ref().map_err(Failure::clone))
    }
}

pub struct Query;

#[Object]
impl Query {
    /// The caller, as their bearer token names them.
    async fn me(&self, ctx: &Context<'_>) -> Option<User> {
        let me = async {
            match ctx.data::<Viewer>().map_err(|e| Failure::new(Code::Internal, e.message))? {
                Viewer::User(id) => read_user(ctx, id).await,
                Viewer::Anonymous => Err(Failure::new(Code::Unauthenticated, "an `Authorization: Bearer <token>` header is required")),
                Viewer::Rejected => Err(Failure::new(Code::Unauthenticated, "the bearer token is invalid or expired")),
            }
        };
        nullable(ctx, me.await)
    }

    /// A user: yourself, or anyone for an admin; otherwise `NOT_FOUND`, as the REST API.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Option<User> {
        nullable(ctx, async { read_user(ctx, &user_id(&id)?).await }.await)
    }

    /// A user and their orders in one round trip: both are read at the same time.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn user_with_orders(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = 20, desc = "Orders per page, 1 to 100 (null: 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page of orders.")] after: Option<String>,
) -> Option<UserWithOrders> {
        let (page, id) = nullable(ctx, OrderPage::parse(first, after.as_deref()).and_then(|page| Ok((page, user_id(&id)?))))?;
        // Two independent calls, in flight at the same time.
        let (user, orders) = futures::join!(read_user(ctx, &id), read_orders(ctx, page, Some(&id)));
        Some(UserWithOrders { user, orders })
    }

    /// A product; `NOT_FOUND` if the catalog has none with this id.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Option<Product> {
        nullable(ctx, async {
            let id = ProductId::parse(&id).map_err(|e| Failure::new(Code::BadUserInput, e.to_string()))?;
            load_product(ctx, id.get()).await
        }
        .await)
    }

    /// The catalog a page at a time, in id order.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "Products per page, 1 to 100 (null: 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` (or any edge's cursor) to continue after.")] after: Option<String>,
    ) -> Option<ProductConnection> {
        nullable(ctx, async {
            let limit = page_size(first)?;
            let mut path = format!("/api/v1/products?limit={limit}");
            if let Some(after) = after {
                let after = ProductId::parse(&after).map_err(|e| Failure::new(Code::BadUserInput, format!("after: {e}")))?;
                path.push_str(&format!("&after={after}"));
            }
            #[derive(Deserialize)]
            struct Listing {
                items: Vec<Product>,
                next_after: Option<i64>,
            }
            let listing: Listing = fetch(ctx, CATALOG, path).await?;
            Ok(ProductConnection::new(listing.items, listing.next_after.map(|id| id.to_string()), |p| Some(p.id.to_string())))
        }
        .await)
    }

    /// One of your orders (any, for an admin); `NOT_FOUND` for a missing or another user's.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Option<Order> {
        nullable(ctx, async {
            // A malformed id is the same answer as a missing one, as in the REST API.
            let id = OrderId::parse(&id).map_err(|_| Failure::new(Code::NotFound, "no such order"))?;
            fetch(ctx, ORDERS, format!("/api/v1/orders/{id}")).await
        }
        .await)
    }

    /// Your orders (everyone's, for an admin), newest first.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "Orders per page, 1 to 100 (null: 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Option<OrderConnection> {
        let page = nullable(ctx, OrderPage::parse(first, after.as_deref()))?;
        nullable(ctx, read_orders(ctx, page, None).await)
    }
}

/// A list field costs its page size times what each item asks for; a nonsensical page size
/// counts as the largest (it is refused when the field runs anyway).
fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let size = usize::try_from(first.unwrap_or(DEFAULT_LIMIT as i32)).ok().filter(|n| (1..=MAX_LIMIT as usize).contains(n)).unwrap_or(MAX_LIMIT as usize);
    size.saturating_mul(child_complexity)
}

/// The page size asked for (`first`; absent or null: the REST default, 20).
fn page_size(first: Option<i32>) -> Result<u32, Failure> {
    let Some(first) = first else { return Ok(DEFAULT_LIMIT) };
    u32::try_from(first)
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| Failure::new(Code::BadUserInput, format!("first must be a whole number from 1 to {MAX_LIMIT}")))
}

/// A page of orders as order-query's listing takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OrderPage {
    limit: u32,
    before: Option<i64>,
}

impl OrderPage {
    fn parse(first: Option<i32>, after: Option<&str>) -> Result<OrderPage, Failure> {
        let before = after
            .map(|cursor| {
                cursor.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Failure::new(Code::BadUserInput, "after must be the endCursor of a previous page of orders")
                })
            })
            .transpose()?;
        Ok(OrderPage { limit: page_size(first)?, before })
    }
}

/// A user id as the users service spells it; a malformed one is `NOT_FOUND`, as in the REST
/// API, decided without a call.
fn user_id(id: &str) -> Result<UserId, Failure> {
    UserId::parse(id).map_err(|_| Failure::new(Code::NotFound, "no such user"))
}

async fn read_user(ctx: &Context<'_>, id: &UserId) -> Result<User, Failure> {
    fetch(ctx, USERS, format!("/api/v1/users/{id}")).await
}

/// A page of orders: the caller's own, or `owner`'s (which the orders service allows only to
/// the owner and admins: `FORBIDDEN` otherwise).
async fn read_orders(ctx: &Context<'_>, page: OrderPage, owner: Option<&UserId>) -> Result<OrderConnection, Failure> {
    let mut path = format!("/api/v1/orders?limit={}", page.limit);
    if let Some(before) = page.before {
        path.push_str(&format!("&before={before}"));
    }
    if let Some(owner) = owner {
        path.push_str(&format!("&user_id={owner}"));
    }
    #[derive(Deserialize)]
    struct Listing {
        items: Vec<Order>,
        next_before: Option<i64>,
    }
    let listing: Listing = fetch(ctx, ORDERS, path).await?;
    Ok(OrderConnection::new(listing.items, listing.next_before.map(|n| n.to_string()), |_| None))
}

async fn load_product(ctx: &Context<'_>, id: i64) -> Result<Product, Failure> {
    let loader = ctx.data::<ProductLoader>().map_err(|e| Failure::new(Code::Internal, e.message))?;
    loader.load(id).await?.ok_or_else(|| Failure {
        code: Code::NotFound,
        message: format!("the catalog has no product {id}"),
        service: Some(CATALOG.to_owned()),
        status: None,
    })
}

async fn load_stock(ctx: &Context<'_>, product_id: i64) -> Result<i64, Failure> {
    let loader = ctx.data::<StockLoader>().map_err(|e| Failure::new(Code::Internal, e.message))?;
    let level = loader.load(product_id).await?.ok_or_else(|| Failure {
        code: Code::NotFound,
        message: format!("the inventory has no stock row for product {product_id}"),
        service: Some(galley_common::inventory::COMPONENT.to_owned()),
        status: None,
    })?;
    Ok(level.on_hand)
}

async fn fetch<T: DeserializeOwned>(ctx: &Context<'_>, component: &'static str, path: String) -> Result<T, Failure> {
    let backend = ctx.data::<SharedBackend>().map_err(|e| Failure::new(Code::Internal, e.message))?;
    decode(component, backend.get(component, path).await?)
}

/// A resolver's outcome as GraphQL reports it: the value, or null with an error on this
/// field. (A resolver that returned the error itself would have async-graphql leave the field
/// out of `data` altogether, where the GraphQL spec wants it present and null.)
fn nullable<T>(ctx: &Context<'_>, result: Result<T, Failure>) -> Option<T> {
    result
        .map_err(|failure| ctx.add_error(ctx.set_error_path(failure.to_graphql().into_server_error(ctx.item.pos))))
        .ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use futures::future::{BoxFuture, FutureExt};
    use serde_json::{json, Value};

    use super::*;
    use crate::downstream::{Backend, MAX_CALLS};

    const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../api/schema.graphql");
    const ALICE: &str = "0b4c6a5e-8a4e-4c4f-9d0e-3f4b5a6c7d8e";
    const ORDER: &str = "6f1c2b3a-4d5e-4f60-8a1b-2c3d4e5f6a7b";

    /// An order as the orders service sends it, with `status` as given.
    fn order_json(status: Value) -> Value {
        json!({"id": ORDER, "user_id": ALICE, "status": status, "amount": "5.00", "payment_method": "pm_card_ok",
               "cancel_reason": null, "cancel_detail": null, "created_at": "2026-12-07T00:00:00Z",
               "lines": [{"product_id": 3, "quantity": 2, "unit_price": "2.50"}]})
    }

    #[test]
    fn an_order_is_read_as_strictly_as_the_orders_service_writes_it() {
        let order: Order = serde_json::from_value(order_json(json!(1))).expect("a paid order");
        assert_eq!((u8::from(order.0.status), order.0.amount.to_string()), (1, "5.00".to_string()));
        // Not an order status, an amount that is not money, a quantity below one: refused,
        // where the gateway's own looser copy of the type took them.
        assert!(serde_json::from_value::<Order>(order_json(json!(7))).is_err());
        let mut bad_amount = order_json(json!(1));
        bad_amount["amount"] = json!("five");
        assert!(serde_json::from_value::<Order>(bad_amount).is_err());
        let mut bad_quantity = order_json(json!(1));
        bad_quantity["lines"][0]["quantity"] = json!(0);
        assert!(serde_json::from_value::<Order>(bad_quantity).is_err());
    }

    /// Canned answers by `component path`; every call is recorded.
    #[derive(Default)]
    struct Fake {
        answers: HashMap<String, Result<Value, Failure>>,
        calls: Mutex<Vec<String>>,
    }

    impl Fake {
        fn answer(mut self, component: &str, path: &str, answer: Result<Value, Failure>) -> Self {
            self.answers.insert(format!("{component} {path}"), answer);
            self
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Backend for Fake {
        fn get(&self, component: &'static str, path: String) -> BoxFuture<'static, Result<Value, Failure>> {
            let key = format!("{component} {path}");
            self.calls.lock().unwrap().push(key.clone());
            let answer = self.answers.get(&key).cloned().unwrap_or_else(|| Err(Failure::new(Code::Internal, format!("unexpected call {key}"))));
            async move { answer }.boxed()
        }

        fn next_turn(&self) -> BoxFuture<'static, ()> {
            // As on Spin: ready only after every task that can run now has run.
            tokio::time::sleep(std::time::Duration::from_millis(1)).boxed()
        }
    }

    fn user() -> Value {
        json!({"id": ALICE, "username": "alice", "mobile": "13800138000", "role": "customer", "created_at": "2026-11-26T09:00:00Z"})
    }

    fn order(id: &str, products: &[i64]) -> Value {
        let lines: Vec<Value> = products.iter().map(|p| json!({"product_id": p, "quantity": 1, "unit_price": "2.50"})).collect();
        json!({"id": id, "user_id": ALICE, "status": 1, "amount": "5.00", "payment_method": "pm_card_visa",
               "cancel_reason": null, "cancel_detail": null, "lines": lines, "created_at": "2026-11-26T09:00:00Z"})
    }

    fn product(id: i64) -> Value {
        json!({"id": id, "name": format!("p{id}"), "price": "2.50", "description": null})
    }

    async fn run(fake: Arc<Fake>, viewer: Viewer, query: &str) -> Value {
        let response = build().execute(prepare(Request::new(query), fake, viewer)).await;
        serde_json::to_value(response).unwrap()
    }

    fn codes(response: &Value) -> Vec<(String, String)> {
        response["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| (e["path"].to_string(), e["extensions"]["code"].as_str().unwrap_or("-").to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_committed_schema_is_the_codes() {
        let sdl = build().sdl();
        if std::env::var_os("GALLEY_WRITE_SCHEMA").is_some() {
            std::fs::write(SCHEMA_FILE, &sdl).unwrap();
        }
        let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
        assert!(
            committed == sdl,
            "api/schema.graphql differs from the schema in functions/gateway/src/schema.rs; if the change is \
             meant, regenerate it: GALLEY_WRITE_SCHEMA=1 cargo test -p gateway the_committed_schema"
        );
    }

    #[tokio::test]
    async fn a_user_and_their_orders_take_two_concurrent_calls_and_one_batch_of_products() {
        let orders = json!({"items": [order(ORDER, &[3, 1, 2]), order("7f1c2b3a-4d5e-4f60-8a1b-2c3d4e5f6a7b", &[2, 3])], "next_before": 41});
        let fake = Arc::new(
            Fake::default()
                .answer(USERS, &format!("/api/v1/users/{ALICE}"), Ok(user()))
                .answer(ORDERS, &format!("/api/v1/orders?limit=2&user_id={ALICE}"), Ok(orders))
                .answer(CATALOG, "/api/v1/products?ids=3,1,2", Ok(json!({"items": [product(1), product(2), product(3)]}))),
        );
        let query = format!(
            r#"{{ userWithOrders(id: "{ALICE}", first: 2) {{ user {{ username }}
                 orders {{ pageInfo {{ hasNextPage endCursor }} edges {{ cursor }} nodes {{ id lines {{ productId product {{ name }} }} }} }} }} }}"#
        );
        let response = run(fake.clone(), Viewer::Anonymous, &query).await;
        assert_eq!(codes(&response), vec![]);
        let data = &response["data"]["userWithOrders"];
        assert_eq!(data["user"]["username"], "alice");
        assert_eq!(data["orders"]["pageInfo"], json!({"hasNextPage": true, "endCursor": "41"}));
        assert_eq!(data["orders"]["edges"], json!([{"cursor": null}, {"cursor": "41"}]));
        let names: Vec<&Value> = data["orders"]["nodes"][0]["lines"].as_array().unwrap().iter().map(|l| &l["product"]["name"]).collect();
        assert_eq!(names, [&json!("p3"), &json!("p1"), &json!("p2")]);
        // Both reads before anything else, then one batch for every line's product.
        let calls = fake.calls();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(calls[2], format!("{CATALOG} /api/v1/products?ids=3,1,2"));
    }

    #[tokio::test]
    async fn every_products_stock_in_an_answer_is_one_batch_from_the_inventory() {
        use galley_common::inventory::COMPONENT as INVENTORY;
        let orders = json!({"items": [order(ORDER, &[3, 1, 2]), order("7f1c2b3a-4d5e-4f60-8a1b-2c3d4e5f6a7b", &[2, 3])], "next_before": null});
        let fake = Arc::new(
            Fake::default()
                .answer(USERS, &format!("/api/v1/users/{ALICE}"), Ok(user()))
                .answer(ORDERS, &format!("/api/v1/orders?limit=2&user_id={ALICE}"), Ok(orders))
                .answer(CATALOG, "/api/v1/products?ids=3,1,2", Ok(json!({"items": [product(1), product(2), product(3)]})))
                // Product 2 has no stock row: null with an error on that field only.
                .answer(INVENTORY, "/stock?ids=3,1,2", Ok(json!({"items": [{"product_id": 1, "on_hand": 7}, {"product_id": 3, "on_hand": 0}]}))),
        );
        let query = format!(r#"{{ userWithOrders(id: "{ALICE}", first: 2) {{ orders {{ nodes {{ lines {{ product {{ id stock }} }} }} }} }} }}"#);
        let response = run(fake.clone(), Viewer::Anonymous, &query).await;
        let lines = &response["data"]["userWithOrders"]["orders"]["nodes"][0]["lines"];
        let stock: Vec<&Value> = lines.as_array().unwrap().iter().map(|l| &l["product"]["stock"]).collect();
        assert_eq!(stock, [&json!(0), &json!(7), &Value::Null]);
        assert!(codes(&response).iter().all(|(_, code)| code == "NOT_FOUND"), "{response}");
        let calls = fake.calls();
        assert_eq!(calls.len(), 4, "user, orders, one batch of products, one of stock: {calls:?}");
        assert_eq!(calls[3], format!("{INVENTORY} /stock?ids=3,1,2"));
    }

    #[tokio::test]
    async fn a_failed_field_is_an_error_on_that_field_and_the_rest_is_answered() {
        let missing = Failure { code: Code::NotFound, message: "no such order".into(), service: Some(ORDERS.into()), status: Some(404) };
        let fake = Arc::new(
            Fake::default()
                .answer(USERS, &format!("/api/v1/users/{ALICE}"), Ok(user()))
                .answer(ORDERS, &format!("/api/v1/orders/{ORDER}"), Err(missing)),
        );
        let viewer = Viewer::User(UserId::parse(ALICE).unwrap());
        let response = run(fake, viewer, &format!(r#"{{ me {{ username }} order(id: "{ORDER}") {{ id }} }}"#)).await;
        assert_eq!(response["data"], json!({"me": {"username": "alice"}, "order": null}));
        assert_eq!(codes(&response), vec![(r#"["order"]"#.to_owned(), "NOT_FOUND".to_owned())]);
    }

    #[tokio::test]
    async fn me_without_a_token_is_unauthenticated_without_a_call() {
        let fake = Arc::new(Fake::default());
        let response = run(fake.clone(), Viewer::Anonymous, "{ me { id } }").await;
        assert_eq!(codes(&response), vec![(r#"["me"]"#.to_owned(), "UNAUTHENTICATED".to_owned())]);
        assert_eq!(fake.calls(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn too_deep_or_too_complex_queries_are_refused_before_any_call() {
        let deep = format!("{{ me {{ id }} __schema {{ types {{ {}name{} }} }} }}", "ofType { ".repeat(MAX_DEPTH), " }".repeat(MAX_DEPTH));
        let lists = (0..10).map(|i| format!("p{i}: products(first: 100) {{ nodes {{ id name price description }} }}")).collect::<String>();
        for query in [deep, format!("{{ me {{ id }} {lists} }}")] {
            let fake = Arc::new(Fake::default());
            let response = run(fake.clone(), Viewer::User(UserId::parse(ALICE).unwrap()), &query).await;
            assert_eq!(response["data"], Value::Null, "{response}");
            let message = response["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
            assert!(message.contains("too deep") || message.contains("too complex"), "{message}");
            assert_eq!(fake.calls(), Vec::<String>::new());
        }
    }

    #[tokio::test]
    async fn a_whole_screen_of_a_hundred_orders_is_within_the_limits() {
        let query = format!(
            r#"{{ userWithOrders(id: "{ALICE}", first: 100) {{ user {{ id username mobile role createdAt }}
                 orders {{ pageInfo {{ hasNextPage endCursor }} nodes {{ id userId status amount paymentMethod cancelReason
                 cancelDetail createdAt lines {{ productId quantity unitPrice product {{ id name price description }} }} }} }} }} }}"#
        );
        let fake = Arc::new(Fake::default());
        let response = run(fake.clone(), Viewer::Anonymous, &query).await;
        // It ran (the fake answers nothing, so both parts are errors on their fields).
        assert!(response["data"]["userWithOrders"].is_object(), "{response}");
        assert_eq!(fake.calls().len(), 2);
    }

    #[tokio::test]
    async fn identical_calls_in_one_request_are_made_once() {
        let fake = Arc::new(Fake::default().answer(USERS, &format!("/api/v1/users/{ALICE}"), Ok(user())));
        let viewer = Viewer::User(UserId::parse(ALICE).unwrap());
        let query = format!(r#"{{ a: me {{ id }} b: me {{ username }} c: user(id: "{ALICE}") {{ role }} }}"#);
        let response = run(fake.clone(), viewer, &query).await;
        assert_eq!(codes(&response), vec![]);
        assert_eq!(response["data"]["c"]["role"], "customer");
        assert_eq!(fake.calls(), vec![format!("{USERS} /api/v1/users/{ALICE}")]);
    }

    #[tokio::test]
    async fn one_request_makes_at_most_max_calls_distinct_calls() {
        let fake = Arc::new(Fake::default());
        let backend = Memoised::new(fake.clone());
        for i in 0..MAX_CALLS {
            let _ = backend.get(ORDERS, format!("/api/v1/orders/{i}")).await;
        }
        // A repeat is still answered (from the first call); a new path is refused uncalled.
        let repeat = backend.get(ORDERS, "/api/v1/orders/0".to_owned()).await;
        assert!(repeat.unwrap_err().message.contains("unexpected call"));
        let over = backend.get(ORDERS, "/api/v1/orders/new".to_owned()).await.unwrap_err();
        assert_eq!(over.code, Code::BadUserInput);
        assert_eq!(fake.calls().len(), MAX_CALLS);
    }

    #[tokio::test]
    async fn every_root_field_has_its_calls_counted() {
        let response = run(Arc::new(Fake::default()), Viewer::Anonymous, "{ __schema { queryType { fields { name } } } }").await;
        let fields = response["data"]["__schema"]["queryType"]["fields"].as_array().unwrap().clone();
        assert_eq!(fields.len(), 7, "{fields:?}");
        for field in fields {
            let name = field["name"].as_str().unwrap();
            assert!(crate::limits::calls_of(name, true) > 0, "`{name}` makes calls; count them in limits::calls_of");
        }
    }

    #[tokio::test]
    async fn graphiqls_introspection_query_is_within_the_limits() {
        // graphql-js 16's `getIntrospectionQuery()` (what GraphiQL sends), type references at
        // their deepest (nine `ofType`s).
        let type_ref = format!("kind name {}kind name{}", "ofType { kind name ".repeat(9), " }".repeat(9));
        let query = format!(
            "query IntrospectionQuery {{ __schema {{ queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
               types {{ ...FullType }} directives {{ name description locations args {{ ...InputValue }} }} }} }}
             fragment FullType on __Type {{ kind name description
               fields(includeDeprecated: true) {{ name description args {{ ...InputValue }} type {{ ...TypeRef }} isDeprecated deprecationReason }}
               inputFields {{ ...InputValue }} interfaces {{ ...TypeRef }}
               enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }} possibleTypes {{ ...TypeRef }} }}
             fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} defaultValue }}
             fragment TypeRef on __Type {{ {type_ref} }}"
        );
        let response = run(Arc::new(Fake::default()), Viewer::Anonymous, &query).await;
        assert!(response.get("errors").is_none(), "{response}");
        assert_eq!(response["data"]["__schema"]["queryType"]["name"], "Query");
    }
}
