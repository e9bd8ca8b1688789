//! wasmCloud builds of galley's components.
//!
//! A Spin component imports Spin's own interfaces (variables, key-value, outbound Redis, its
//! Postgres) and a Redis-triggered one exports Spin's `inbound-redis`; a wasmCloud host provides
//! none of those. This crate composes each component with the adapter components built from
//! `wasmcloud/adapters/` (each exports one Spin interface, implemented with what wasmCloud
//! provides), so the `.wasm` that Spin and galley run stays exactly as it is, and a second,
//! composed file is made for wasmCloud.
//!
//! - [`component`] reads what a component imports and exports.
//! - [`adapters`] is the table of adapters: which Spin interface each one stands in for.
//! - [`compose`] plugs the adapters a component needs into it (wasm-compose).
//! - [`wasmcloud`] is what a wasmCloud host provides, and the check of a composed component.
//! - [`manifest`] reads `spin.toml`: components, their `.wasm` files, variables and triggers.
//! - [`deployment`] generates the wasmCloud 2.x Kubernetes objects from it.
//! - [`lattice`] writes a local lattice's configuration (`make wasmcloud-check`).

pub mod adapters;
pub mod component;
pub mod compose;
pub mod deployment;
pub mod lattice;
pub mod manifest;
pub mod wasmcloud;
