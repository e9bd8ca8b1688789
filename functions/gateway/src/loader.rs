//! The product DataLoader: every order line asks for its product, and all the lines of one
//! answer share one batch read (`GET /api/v1/products?ids=…` of product-admin) instead of a
//! call each — no N+1.
//!
//! async-graphql's own `DataLoader` cannot be used here: it waits for its batch window with a
//! timer that is `unimplemented!()` on wasm32. This one waits for [`Backend::next_turn`]
//! instead (on Spin, `galley_common::edge::time::next_turn`: ready only after the executor has
//! run everything it could and waited on the host once), so every resolver that can run before
//! then registers its id first, and the batch is sent after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};
use serde::Deserialize;

use crate::downstream::{decode, lock, Failure, SharedBackend, CATALOG};
use crate::schema::Product;

/// Most ids one batch asks for (what product-admin accepts in one `?ids=`).
pub const MAX_BATCH: usize = 100;

type Found = Arc<HashMap<i64, Product>>;
type Batch = Shared<BoxFuture<'static, Result<Found, Failure>>>;
/// The ids a batch will ask for; `None` once it has taken them and sent its call.
type Pending = Arc<Mutex<Option<Vec<i64>>>>;

/// One per GraphQL request: it remembers what it read, so a product named twice is read once.
pub struct ProductLoader {
    backend: SharedBackend,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The batch every id asked for so far is (or was) read in.
    batches: HashMap<i64, Batch>,
    /// The batch still collecting ids, with the ids it will ask for; `None` inside once sent.
    open: Option<(Pending, Batch)>,
}

/// `GET /api/v1/products?ids=` answers `{items}`: the products that exist, unknown ids left out.
#[derive(Deserialize)]
struct Listing {
    items: Vec<Product>,
}

impl ProductLoader {
    pub fn new(backend: SharedBackend) -> ProductLoader {
        ProductLoader { backend, state: Mutex::new(State::default()) }
    }

    /// The product with `id`, `None` if the catalog has none.
    pub async fn load(&self, id: i64) -> Result<Option<Product>, Failure> {
        let batch = self.batch_for(id);
        Ok(batch.await?.get(&id).cloned())
    }

    fn batch_for(&self, id: i64) -> Batch {
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
    fn start(&self, ids: Pending) -> Batch {
        let backend = self.backend.clone();
        async move {
            backend.next_turn().await;
            let ids = lock(&ids).take().unwrap_or_default();
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let answer = backend.get(CATALOG, format!("/api/v1/products?ids={list}")).await?;
            let listing: Listing = decode(CATALOG, answer)?;
            Ok(Arc::new(listing.items.into_iter().map(|p| (p.id, p)).collect()))
        }
        .boxed()
        .shared()
    }
}
