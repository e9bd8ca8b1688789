//! One Postgres session: the startup handshake (password, MD5 or SCRAM-SHA-256), then each
//! statement through the extended query protocol (parse, bind, describe, execute, sync) with
//! text-format parameters and results. The wire messages are postgres-protocol's, the crate
//! under tokio-postgres; only the sequencing is here.

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::{ErrorResponseBody, Message};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;

use crate::address::Address;
use crate::bindings::{Column, DbError, DbValue, Error, ParameterValue, QueryError};
use crate::socket::TcpStream;
use crate::values;

/// What a statement returned: its columns (name, type OID), its rows, and the row count the
/// server reported (for INSERT, UPDATE, DELETE, ...).
#[derive(Debug, Default)]
pub struct Outcome {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<DbValue>>,
    pub affected: u64,
}

pub struct Session {
    stream: TcpStream,
    received: BytesMut,
    /// Set once the connection broke: a later call fails at once instead of reading garbage.
    broken: Option<String>,
}

fn protocol(error: std::io::Error) -> Error {
    Error::Other(format!("unreadable message from the server: {error}"))
}

/// The server's error as Spin reports it, field by field.
fn db_error(body: &ErrorResponseBody) -> Error {
    let mut error =
        DbError { as_text: String::new(), severity: String::new(), code: String::new(), message: String::new(), detail: None, extras: Vec::new() };
    let mut fields = body.fields();
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'S' => error.severity = value,
            b'C' => error.code = value,
            b'M' => error.message = value,
            b'D' => error.detail = Some(value),
            other => error.extras.push(((other as char).to_string(), value)),
        }
    }
    error.as_text = format!("{}: {}", error.severity, error.message);
    Error::QueryFailed(QueryError::DbError(error))
}

/// The row count at the end of a command tag (`INSERT 0 3`, `UPDATE 2`); 0 for `BEGIN` and the like.
fn affected_rows(tag: &str) -> u64 {
    tag.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

impl Session {
    pub fn open(address: &Address) -> Result<Session, Error> {
        let stream = TcpStream::connect(&address.host, address.port).map_err(Error::ConnectionFailed)?;
        let mut session = Session { stream, received: BytesMut::new(), broken: None };
        session.start(address).map_err(|e| match e {
            Error::QueryFailed(QueryError::DbError(db)) => Error::ConnectionFailed(db.as_text),
            other => other,
        })?;
        Ok(session)
    }

    fn send(&mut self, message: &BytesMut) -> Result<(), Error> {
        if let Some(reason) = &self.broken {
            return Err(Error::ConnectionFailed(reason.clone()));
        }
        self.stream.write_all(message).map_err(|e| self.break_with(e))
    }

    fn break_with(&mut self, reason: String) -> Error {
        self.broken = Some(reason.clone());
        Error::ConnectionFailed(reason)
    }

    fn receive(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(message) = Message::parse(&mut self.received).map_err(protocol)? {
                return Ok(message);
            }
            match self.stream.read_some() {
                Ok(bytes) => self.received.extend_from_slice(&bytes),
                Err(e) => return Err(self.break_with(e)),
            }
        }
    }

    fn start(&mut self, address: &Address) -> Result<(), Error> {
        let mut out = BytesMut::new();
        let parameters = [
            ("user", address.user.as_str()),
            ("database", address.database.as_str()),
            ("client_encoding", "UTF8"),
            // Timestamps come back in UTC, which is what the decoder assumes.
            ("TimeZone", "UTC"),
            ("application_name", "galley-wasmcloud"),
        ];
        frontend::startup_message(parameters, &mut out).map_err(protocol)?;
        self.send(&out)?;
        let password = || {
            address.password.as_deref().ok_or_else(|| Error::ConnectionFailed("the server wants a password and the address has none".into()))
        };
        let mut scram: Option<sasl::ScramSha256> = None;
        loop {
            let mut out = BytesMut::new();
            match self.receive()? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?.as_bytes(), &mut out).map_err(protocol)?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(address.user.as_bytes(), password()?.as_bytes(), body.salt());
                    frontend::password_message(hash.as_bytes(), &mut out).map_err(protocol)?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut offered = false;
                    while let Some(mechanism) = mechanisms.next().map_err(protocol)? {
                        offered |= mechanism == sasl::SCRAM_SHA_256;
                    }
                    if !offered {
                        return Err(Error::ConnectionFailed("the server offers no SASL mechanism but SCRAM-SHA-256-PLUS".into()));
                    }
                    let client = sasl::ScramSha256::new(password()?.as_bytes(), sasl::ChannelBinding::unsupported());
                    frontend::sasl_initial_response(sasl::SCRAM_SHA_256, client.message(), &mut out).map_err(protocol)?;
                    scram = Some(client);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let client = scram.as_mut().ok_or_else(|| Error::Other("SASL continued before it began".into()))?;
                    client.update(body.data()).map_err(|e| Error::ConnectionFailed(format!("SCRAM: {e}")))?;
                    frontend::sasl_response(client.message(), &mut out).map_err(protocol)?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let client = scram.as_mut().ok_or_else(|| Error::Other("SASL ended before it began".into()))?;
                    client.finish(body.data()).map_err(|e| Error::ConnectionFailed(format!("SCRAM: {e}")))?;
                }
                Message::ErrorResponse(body) => return Err(db_error(&body)),
                Message::ReadyForQuery(_) => return Ok(()),
                // ParameterStatus, BackendKeyData, notices: nothing to do.
                _ => {}
            }
            if !out.is_empty() {
                self.send(&out)?;
            }
        }
    }

    /// Runs one statement with its parameters and collects what it returns.
    pub fn run(&mut self, statement: &str, parameters: &[ParameterValue]) -> Result<Outcome, Error> {
        let encoded: Vec<values::Encoded> = parameters.iter().map(values::encode).collect();
        let mut out = BytesMut::new();
        frontend::parse("", statement, encoded.iter().map(|e| e.oid), &mut out).map_err(protocol)?;
        let written = frontend::bind(
            "",
            "",
            std::iter::once(0), // every parameter in text format
            &encoded,
            |value, buf| match &value.text {
                Some(text) => {
                    buf.extend_from_slice(text.as_bytes());
                    Ok(IsNull::No)
                }
                None => Ok(IsNull::Yes),
            },
            std::iter::once(0), // every result column in text format
            &mut out,
        );
        written.map_err(|_| Error::BadParameter("a parameter could not be written".into()))?;
        frontend::describe(b'P', "", &mut out).map_err(protocol)?;
        frontend::execute("", 0, &mut out).map_err(protocol)?;
        frontend::sync(&mut out);
        self.send(&out)?;

        let mut outcome = Outcome::default();
        let mut types = Vec::new();
        let mut failure = None;
        loop {
            match self.receive()? {
                Message::RowDescription(body) => {
                    let mut fields = body.fields();
                    while let Some(field) = fields.next().map_err(protocol)? {
                        types.push(field.type_oid());
                        outcome.columns.push(Column { name: field.name().to_owned(), data_type: values::data_type(field.type_oid()) });
                    }
                }
                Message::DataRow(body) if failure.is_none() => {
                    let mut ranges = body.ranges();
                    let mut row = Vec::with_capacity(types.len());
                    let mut column = 0;
                    while let Some(range) = ranges.next().map_err(protocol)? {
                        let type_oid = types.get(column).copied().unwrap_or(values::oid::UNKNOWN);
                        let raw = range.map(|r| &body.buffer()[r]);
                        match values::decode(type_oid, raw) {
                            Ok(value) => row.push(value),
                            Err(reason) => {
                                let name = outcome.columns.get(column).map_or("?", |c| c.name.as_str());
                                failure = Some(Error::ValueConversionFailed(format!("column `{name}`: {reason}")));
                            }
                        }
                        column += 1;
                    }
                    outcome.rows.push(row);
                }
                Message::CommandComplete(body) => outcome.affected = affected_rows(body.tag().map_err(protocol)?),
                Message::ErrorResponse(body) => failure = Some(db_error(&body)),
                // The server answered every message up to Sync: the session is ready again.
                Message::ReadyForQuery(_) => return failure.map_or(Ok(outcome), Err),
                _ => {}
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.broken.is_none() {
            let mut out = BytesMut::new();
            frontend::terminate(&mut out);
            let _ = self.stream.write_all(&out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::affected_rows;

    #[test]
    fn the_row_count_is_the_last_word_of_the_tag() {
        assert_eq!(affected_rows("INSERT 0 3"), 3);
        assert_eq!(affected_rows("UPDATE 12"), 12);
        assert_eq!(affected_rows("BEGIN"), 0);
    }
}
