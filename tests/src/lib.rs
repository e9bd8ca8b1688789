//! galley-e2e: end-to-end tests live in `tests/`.
