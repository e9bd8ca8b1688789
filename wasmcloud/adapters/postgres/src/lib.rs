//! Exports Spin's Postgres (`spin:postgres/postgres@4.0.0`) by speaking the Postgres protocol
//! itself over wasi:sockets, for hosts that have no Spin Postgres (wasmCloud).
//!
//! Why not `wasmcloud:postgres`: that interface runs each call on whichever pooled connection
//! is free, so a `BEGIN` and the statements after it may land on different sessions, and every
//! write galley makes inside a transaction would be split. Here an opened connection is one
//! TCP session, held until the component drops it, exactly as Spin holds one.
//!
//! - [`address`]: the `postgres://` address a component opens.
//! - [`socket`]: a blocking TCP stream over wasi:sockets.
//! - [`session`]: the handshake and the extended query protocol.
//! - [`values`]: Spin's values to and from Postgres's text format.

pub mod address;
pub mod session;
pub mod socket;
pub mod values;

use std::cell::RefCell;

#[allow(warnings)]
mod generated {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "galley:wasmcloud/postgres-adapter",
        generate_all,
        // The value tests compare decoded values.
        additional_derives: [PartialEq],
    });
}

/// The Spin Postgres types, under one name for the modules.
pub mod bindings {
    pub use crate::generated::exports::spin::postgres::postgres::*;
}

use bindings::{Connection as ConnectionHandle, Error, Guest, GuestConnection, ParameterValue, RowSet};

struct Postgres;

/// An open connection: one session, used by one call at a time (a component instance is
/// single-threaded, and Spin's interface is synchronous).
pub struct Connection(RefCell<session::Session>);

impl Guest for Postgres {
    type Connection = Connection;
}

impl GuestConnection for Connection {
    fn open(address: String) -> Result<ConnectionHandle, Error> {
        let address = address::Address::parse(&address).map_err(Error::ConnectionFailed)?;
        let session = session::Session::open(&address)?;
        Ok(ConnectionHandle::new(Connection(RefCell::new(session))))
    }

    fn query(&self, statement: String, params: Vec<ParameterValue>) -> Result<RowSet, Error> {
        let outcome = self.0.borrow_mut().run(&statement, &params)?;
        Ok(RowSet { columns: outcome.columns, rows: outcome.rows })
    }

    fn execute(&self, statement: String, params: Vec<ParameterValue>) -> Result<u64, Error> {
        Ok(self.0.borrow_mut().run(&statement, &params)?.affected)
    }
}

generated::export!(Postgres with_types_in generated);
