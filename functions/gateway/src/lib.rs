//! gateway: one GraphQL endpoint over the users, catalog and orders functions, so a client
//! reads "a user and their orders" (and their lines' products, with stock) in one round trip.
//!
//! `POST /graphql` and `GET /graphql?query=…` answer GraphQL; a browser asking `GET /graphql`
//! for HTML gets the GraphiQL IDE ([`ide`]: pinned assets, a Content-Security-Policy). A
//! document is bounded before async-graphql sees it ([`limits`]). The schema ([`schema`]) and
//! the batching of product and stock reads ([`loader`]) are plain Rust, built and tested natively; they
//! reach the owning functions through the [`downstream::Backend`] trait (memoised per
//! request), which the Spin edge ([`edge`]) implements with service chaining.

pub mod downstream;
pub mod ide;
pub mod limits;
pub mod loader;
pub mod schema;

mod edge;
#[cfg(test)]
mod field_cost;
