//! galley-e2e: end-to-end tests live in `tests/`; this library holds what both they and longer
//! runs (the soak) use: [`consistency`], the check that the service databases agree.

pub mod consistency;
