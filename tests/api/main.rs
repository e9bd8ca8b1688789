//! The app's end-to-end tests: one binary, so every module shares one `galley` host (and one
//! compilation of the components) through [`support::spawn_app`], with real Postgres and
//! Redis from `make test`.

mod catalog;
mod docs;
mod faults;
mod files;
mod gateway;
mod grpc;
mod isolation;
mod manifest;
mod migrations;
mod observability;
mod openapi;
mod orders;
mod payment;
mod privileges;
mod recovery;
mod replicas;
mod soak;
mod support;
mod users;
mod wasmcloud;
