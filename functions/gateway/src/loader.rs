//! The batch loaders (DataLoaders): every order line asks for its product, and every product
//! for its stock, and all of one answer's asks share one batch read each — `GET
//! /api/v1/products?ids=…` of product-admin for the products, `GET /stock?ids=…` of
//! inventory-adjust for their stock — instead of a call each: no N+1.
//!
//! async-graphql's own `DataLoader` cannot be used here: it waits for its batch window with a
//! timer that is `unimplemented!()` on wasm32. This one waits for [`Backend::next_turn`]
//! instead (on Spin, `galley_common::edge::time::next_turn`: ready only after the executor has
//! run everything it could and waited on the host once), so every resolver that can run before
//! then registers its id first, and the batch is sent after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};
use galley_common::inventory::{self, StockLevel, StockLevels};
use galley_common::ids::ProductId;
use serde::Deserialize;

use crate::downstream::{decode, lock, Failure, SharedBackend, CATALOG};
use crate::schema::Product;

/// Most ids one batch asks for (what product-admin and inventory-adjust accept in one `?ids=`).
pub const MAX_BATCH: usize = 100;

/// What a loader loads: how one batch of ids is read, and the id of what comes back.
pub trait Batched: Clone + Send + Sync + 'static {
    /// Reads the items of `ids` in one call; the ones that do not exist are left out.
    fn read(backend: SharedBackend, ids: Vec<i64>) -> BoxFuture<'static, Result<Vec<Self>, Failure>>;
    fn id(&self) -> i64;
}

type Found<T> = Arc<HashMap<i64, T>>;
type Batch<T> = Shared<BoxFuture<'static, Result<Found<T>, Failure>>>;
/// The ids a batch will ask for; `None` once it has taken them and sent its call.
type Pending = Arc<Mutex<Option<Vec<i64>>>>;

/// One per GraphQL request and kind: it remembers what it read, so an id named twice is read once.
pub struct Loader<T: Batched> {
    backend: SharedBackend,
    state: Mutex<State<T>>,
}

/// Products by id, from the catalog.
pub type ProductLoader = Loader<Product>;
/// Stock levels by product id, from the inventory.
pub type StockLoader = Loader<StockLevel>;

struct State<T: Batched> {
    /// The batch every id asked for so far is (or was) read in.
    batches: HashMap<i64, Batch<T>>,
    /// The batch still collecting ids, with the ids it will ask for; `None` inside once sent.
    open: Option<(Pending, Batch<T>)>,
}

impl<T: Batched> Loader<T> {
    pub fn new(backend: SharedBackend) -> Loader<T> {
        Loader { backend, state: Mutex::new(State { batches: HashMap::new(), open: None }) }
    }

    /// The item with `id`, `None` if its owner has none.
    pub async fn load(&self, id: i64) -> Result<Option<T>, Failure> {
        let batch = self.batch_for(id);
        Ok(batch.await?.get(&id).cloned())
    }

    fn batch_for(&self, id: i64) -> Batch<T> {
        let mut state = lock(&self.state);
        if let Some(batch) = state.batches.get(&id) {
            return batch.clone();
        }
        let joined = state.open.as_ref().and_then(|(ids, batch)| {
            let mut ids = lock(ids);
            let ids = ids.as_mut().filter(|ids| ids.len() < MAX_BATCH)?;
            ids.push(id);
            Some(batch.clone())
        });
        let batch = joined.unwrap_or_else(|| {
            let ids: Pending = Arc::new(Mutex::new(Some(vec![id])));
            let batch = self.start(ids.clone());
            state.open = Some((ids, batch.clone()));
            batch
        });
        state.batches.insert(id, batch.clone());
        batch
    }

    /// A batch that waits one turn for more ids, then reads them all in one call.
    fn start(&self, ids: Pending) -> Batch<T> {
        let backend = self.backend.clone();
        async move {
            backend.next_turn().await;
            let ids = lock(&ids).take().unwrap_or_default();
            let items = T::read(backend, ids).await?;
            Ok(Arc::new(items.into_iter().map(|item| (item.id(), item)).collect()))
        }
        .boxed()
        .shared()
    }
}

/// The ids as a `?ids=` list.
fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// `GET /api/v1/products?ids=` answers `{items}`: the products that exist, unknown ids left out.
#[derive(Deserialize)]
struct Listing {
    items: Vec<Product>,
}

impl Batched for Product {
    fn read(backend: SharedBackend, ids: Vec<i64>) -> BoxFuture<'static, Result<Vec<Product>, Failure>> {
        async move {
            let answer = backend.get(CATALOG, format!("/api/v1/products?ids={}", id_list(&ids))).await?;
            Ok(decode::<Listing>(CATALOG, answer)?.items)
        }
        .boxed()
    }

    fn id(&self) -> i64 {
        self.id
    }
}

impl Batched for StockLevel {
    fn read(backend: SharedBackend, ids: Vec<i64>) -> BoxFuture<'static, Result<Vec<StockLevel>, Failure>> {
        async move {
            // The ids come from products the catalog answered: all positive, none left out.
            let ids: Vec<ProductId> = ids.into_iter().filter_map(|id| ProductId::new(id).ok()).collect();
            let answer = backend.get(inventory::COMPONENT, inventory::stocks_path(&ids)).await?;
            Ok(decode::<StockLevels>(inventory::COMPONENT, answer)?.items)
        }
        .boxed()
    }

    fn id(&self) -> i64 {
        self.product_id.get()
    }
}
