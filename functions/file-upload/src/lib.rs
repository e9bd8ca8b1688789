//! file-upload: the file service, owner of the `files` database. Any other service (an avatar,
//! a product picture, an invoice) hands it a file and gets back a stable URL.
//!
//! - `POST /api/v1/files` (a logged-in user): `multipart/form-data` with one field, `file`, of
//!   at most `upload_max_bytes` (10 MiB by default), refused with 413 as soon as the body
//!   passes it ([`domain::receive`]). The file is stored as `<uuid>.<ext>` with its sniffed
//!   content type; 201 `{id, name, url, size, content_type, sha256, original_name}` and
//!   `Location: /media/<name>`.
//! - `GET /media/:name` (public): the bytes, with a strong `etag` (the sha256), `If-None-Match`
//!   → 304, one `Range` → 206, `cache-control: immutable`, `nosniff`, and `attachment` for
//!   anything a browser could run or lay out as a page.
//! - `DELETE /api/v1/files/:id`: the owner or an admin (anyone else: 404); the bytes go with
//!   the last name that refers to them, decided under a lock on the bytes' row, so two names
//!   deleted at once cannot each leave the bytes to the other.
//! - `GET /api/v1/admin/files/orphans` (admins): how many stored contents no name refers to
//!   (none, unless something outside this component deleted names); `DELETE` reclaims them.
//!
//! **Storage.** `file_contents` holds each distinct content once, keyed by its sha256; `files`
//! holds one row per upload (id, name, owner, original name, type, size, sha256). Identical
//! bytes uploaded twice are stored once, under two names.
//!
//! **One copy of the body.** The body is parsed as it streams (multer), and the file's bytes
//! are copied once, from the parser's chunks into a buffer sized from the declared length;
//! that buffer is the Postgres parameter itself (borrowed, never cloned), and it is sent only
//! if the content is new. A download moves the bytes out of the row set into the response.

pub mod domain;

use galley_common::auth::Role;
use galley_common::db::DbError;
use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::http::json;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use galley_common::edge::{pg, time, variable};
use galley_common::ids::{FileId, UserId};
use spin_sdk::http::Response;
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, Row};

use domain::{FileError, MediaName, Naming, Ranged, Received, StoredFile, Target};

galley_common::http_endpoint!(serve);

async fn serve(mut req: Request) -> Result<Response, FileError> {
    let target = Target::of(req.path())?;
    req.allow(target.methods())?;
    match target {
        Target::Collection => upload(&mut req).await,
        Target::Item(id) => remove(&req, &id),
        Target::Media(name) => download(&req, &name),
        Target::Orphans => orphans(&req),
    }
}

/// SQLSTATE of a foreign-key violation.
const FOREIGN_KEY_VIOLATION: &str = "23503";

async fn upload(req: &mut Request) -> Result<Response, FileError> {
    // Who first, then the body's head: nothing is read from a stranger, nor from a body that
    // is not multipart or announces more than the limit allows.
    let claims = req.claims()?;
    let owner = claims.user_id()?;
    let limit = domain::parse_limit(&variable("upload_max_bytes")?)?;
    let boundary = domain::boundary(req.header("content-type"))?;
    let declared = domain::declared_length(req.header("content-length"), limit)?;
    let body = OnePerTurn { inner: Box::pin(req.body_stream()?), turn: None };
    let received = domain::receive(body, boundary, limit, declared).await?;
    let naming = Naming::of(&received);
    let stored = store(&database()?, &owner, &naming, received)?;
    let mut response = json(201, &stored);
    response.set_header("location", stored.url.clone());
    Ok(response)
}

/// The request body, handed to the parser one chunk per executor turn.
///
/// multer's reader pulls chunks until its stream is pending, so on a fast link it would copy
/// everything the host has buffered (megabytes) into its own buffer before the file's reader
/// drains any of it; one chunk per turn keeps that buffer at a chunk or two. It also keeps
/// multer 3.1 from a misreading: when the first poll of a body finds nothing and its second
/// (within the same call) finds the whole rest *and* its end, multer reports the body
/// incomplete without looking at what it just read. Here a chunk and the end never arrive in
/// one call.
struct OnePerTurn<S> {
    inner: Pin<Box<S>>,
    turn: Option<time::YieldNow>,
}

impl<S: Stream> Stream for OnePerTurn<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        ready!(Pin::new(this.turn.get_or_insert_with(time::yield_now)).poll(cx));
        this.turn = None;
        this.inner.as_mut().poll_next(cx)
    }
}

/// Stores the content (unless it is stored already) and a new name for it, in one transaction.
fn store(conn: &Connection, owner: &UserId, naming: &Naming, received: Received) -> Result<StoredFile, FileError> {
    let size = received.bytes.len() as i64;
    let sha256 = received.sha256;
    // Built once and borrowed by the statements: the bytes move into the parameter, uncopied.
    let content = [pg::text(&sha256), size.into(), ParameterValue::Binary(received.bytes)];
    pg::transaction(conn, |c| {
        keep_content(c, &content)?;
        let sql = "WITH new AS (SELECT gen_random_uuid() AS id) \
                   INSERT INTO files (id, name, owner_id, original_name, content_type, size, sha256) \
                   SELECT new.id, CAST(new.id AS text) || $1::text, CAST($2::text AS uuid), $3::text, $4::text, $5, $6::text FROM new \
                   RETURNING CAST(id AS text) AS id, name, original_name, content_type, size, sha256";
        let params = [
            pg::text(&naming.suffix),
            owner.into(),
            pg::text(&naming.original_name),
            pg::text(&naming.content_type),
            size.into(),
            pg::text(&sha256),
        ];
        match pg::query_opt::<Stored>(c, sql, &params)? {
            Some(Stored(file)) => Ok(file),
            None => Err(DbError::NoRow("files").into()),
        }
    })
}

/// Makes sure `content` (`[sha256, size, bytes]`) is stored, and holds its row `FOR KEY SHARE`
/// until the transaction ends: a delete of its last other name then waits for this upload,
/// and finds the new name. The bytes are sent to Postgres only when the content is new.
fn keep_content(conn: &Connection, content: &[ParameterValue; 3]) -> Result<(), DbError> {
    for _ in 0..3 {
        let found = conn.query("SELECT 1 AS found FROM file_contents WHERE sha256 = $1 FOR KEY SHARE", &content[..1])?;
        if !found.rows.is_empty() {
            return Ok(());
        }
        let sql = "INSERT INTO file_contents (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING";
        if conn.execute(sql, content)? == 1 {
            return Ok(());
        }
        // Another upload of the same bytes committed them in between: lock that row instead.
    }
    Err(DbError::Decode { column: "sha256".into(), reason: "the content kept appearing and vanishing".into() })
}

fn remove(req: &Request, id: &FileId) -> Result<Response, FileError> {
    let claims = req.claims()?;
    let me = claims.user_id()?;
    let admin = claims.role == Role::Admin;
    let conn = database()?;
    pg::transaction(&conn, |c| {
        // Someone else's file is not found: whether it exists is not revealed.
        let sql = "SELECT sha256 FROM files WHERE id = CAST($1::text AS uuid) AND ($2::boolean OR owner_id = CAST($3::text AS uuid))";
        let rows = c.query(sql, &[id.into(), admin.into(), (&me).into()]).map_err(DbError::from)?;
        let sha256: String = match rows.rows().next() {
            Some(row) => pg::col(&row, "sha256")?,
            None => return Err(FileError::NotFound),
        };
        // The bytes' row first: deletes of names of the same bytes then run one after the
        // other, and the last one sees that no other name is left. (Deleting the name first
        // let two deletes each see the other's name still there, and both kept the bytes.)
        c.execute("SELECT 1 FROM file_contents WHERE sha256 = $1 FOR UPDATE", &[pg::text(&sha256)]).map_err(DbError::from)?;
        // A delete of the same name that got there first leaves nothing to delete.
        if c.execute("DELETE FROM files WHERE id = CAST($1::text AS uuid)", &[id.into()]).map_err(DbError::from)? == 0 {
            return Err(FileError::NotFound);
        }
        release_content(c, &sha256)?;
        Ok(())
    })?;
    Ok(Response::new(204u16, ()))
}

/// Stored contents that no name refers to: `GET` counts them (and lists up to 100 of them),
/// `DELETE` reclaims them. Contents an upload holds at the moment are neither counted nor
/// touched (an upload locks the row it will name).
fn orphans(req: &Request) -> Result<Response, FileError> {
    req.require_admin()?;
    let conn = database()?;
    const NAMELESS: &str = "NOT EXISTS (SELECT 1 FROM files f WHERE f.sha256 = c.sha256)";
    if req.method == galley_common::method::Method::Delete {
        let sql = format!(
            "DELETE FROM file_contents c WHERE c.sha256 IN (SELECT sha256 FROM file_contents c WHERE {NAMELESS} FOR UPDATE SKIP LOCKED) \
             AND {NAMELESS} RETURNING size"
        );
        let rows = conn.query(&sql, &[]).map_err(DbError::from)?;
        let sizes = rows.rows().map(|row| pg::col::<i64>(&row, "size")).collect::<Result<Vec<_>, _>>()?;
        eprintln!("file-upload: reclaimed {} orphaned contents ({} bytes)", sizes.len(), sizes.iter().sum::<i64>());
        return Ok(json(200, &serde_json::json!({ "reclaimed": sizes.len(), "bytes": sizes.iter().sum::<i64>() })));
    }
    let sql = format!("SELECT c.sha256, c.size FROM file_contents c WHERE {NAMELESS} FOR KEY SHARE SKIP LOCKED");
    let rows = conn.query(&sql, &[]).map_err(DbError::from)?;
    let mut found = Vec::new();
    let mut bytes = 0i64;
    for row in rows.rows() {
        bytes += pg::col::<i64>(&row, "size")?;
        found.push(pg::col::<String>(&row, "sha256")?);
    }
    let count = found.len();
    found.truncate(100);
    Ok(json(200, &serde_json::json!({ "count": count, "bytes": bytes, "sha256": found })))
}

/// Deletes the content once no name refers to it. An upload of the same bytes that holds the
/// row (see [`keep_content`]) makes this wait; once it commits, its name makes the delete fail
/// on the foreign key, and only this savepoint is undone: the content stays.
fn release_content(conn: &Connection, sha256: &str) -> Result<(), DbError> {
    conn.execute("SAVEPOINT release_content", &[])?;
    let sql = "DELETE FROM file_contents WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM files WHERE sha256 = $1)";
    match conn.execute(sql, &[pg::text(sha256)]).map_err(DbError::from) {
        Ok(_) => Ok(()),
        Err(e) if e.sqlstate() == Some(FOREIGN_KEY_VIOLATION) => {
            conn.execute("ROLLBACK TO SAVEPOINT release_content", &[])?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn download(req: &Request, name: &MediaName) -> Result<Response, FileError> {
    let conn = database()?;
    let sql = "SELECT content_type, size, sha256 FROM files WHERE name = $1";
    let meta = pg::query_opt::<Meta>(&conn, sql, &[pg::text(name.as_str())])?.ok_or(FileError::NotFound)?;
    let size = meta.size;
    let etag = domain::etag(&meta.sha256);
    let mut builder = Response::builder();
    builder
        .header("etag", etag.as_str())
        .header("cache-control", domain::CACHE_CONTROL)
        .header("x-content-type-options", "nosniff");
    if domain::none_match(req.header("if-none-match"), &etag) {
        return Ok(builder.status(304u16).build());
    }
    let ranged = if domain::if_range_allows(req.header("if-range"), &etag) {
        domain::byte_range(req.header("range"), size)
    } else {
        Ranged::Whole
    };
    let (status, first, length) = match ranged {
        Ranged::Whole => (200u16, 0, size),
        Ranged::Part { first, last } => {
            builder.header("content-range", format!("bytes {first}-{last}/{size}"));
            (206, first, last - first + 1)
        }
        Ranged::Unsatisfiable => {
            let mut response = req.problem(&FileError::RangeNotSatisfiable { size });
            response.set_header("content-range", format!("bytes */{size}"));
            return Ok(response);
        }
    };
    builder.status(status).header("accept-ranges", "bytes").header("content-type", meta.content_type.as_str());
    if !domain::renders_inline(&meta.content_type) {
        builder.header("content-disposition", domain::attachment(name)).header("content-security-policy", domain::ATTACHMENT_CSP);
    }
    if req.is_head() {
        // The kit drops the body of a HEAD; no `content-length` may be declared for bytes
        // that will not be written, and none are read.
        return Ok(builder.build());
    }
    let bytes = content(&conn, &meta.sha256, first, length, size)?.ok_or(FileError::NotFound)?;
    builder.header("content-length", bytes.len().to_string());
    Ok(builder.body(bytes).build())
}

/// `length` bytes of the content from `first` (all of it in one piece when that is what is
/// asked), moved out of the row set. `None` if the content was deleted since its name was read.
fn content(conn: &Connection, sha256: &str, first: u64, length: u64, size: u64) -> Result<Option<Vec<u8>>, DbError> {
    let rows = if first == 0 && length == size {
        conn.query("SELECT content FROM file_contents WHERE sha256 = $1", &[pg::text(sha256)])?
    } else {
        // `substring` counts from 1; stored out of line and uncompressed, only the chunks that
        // hold the range are read.
        let sql = "SELECT substring(content FROM CAST($2::bigint AS integer) FOR CAST($3::bigint AS integer)) AS content \
                   FROM file_contents WHERE sha256 = $1";
        conn.query(sql, &[pg::text(sha256), (first as i64 + 1).into(), (length as i64).into()])?
    };
    let Some(row) = rows.rows.into_iter().next() else { return Ok(None) };
    match row.into_iter().next() {
        Some(DbValue::Binary(bytes)) => Ok(Some(bytes)),
        _ => Err(DbError::Decode { column: "content".into(), reason: "not bytea".into() }),
    }
}

/// What a download needs to know before reading any bytes.
struct Meta {
    content_type: String,
    size: u64,
    sha256: String,
}

impl pg::FromRow for Meta {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        let size: i64 = pg::col(row, "size")?;
        let size = u64::try_from(size).map_err(|_| DbError::Decode { column: "size".into(), reason: "negative".into() })?;
        Ok(Meta { content_type: pg::col(row, "content_type")?, size, sha256: pg::col(row, "sha256")? })
    }
}

struct Stored(StoredFile);

impl pg::FromRow for Stored {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        let id: String = pg::col(row, "id")?;
        let id = FileId::parse(&id).map_err(|e| DbError::Decode { column: "id".into(), reason: e.to_string() })?;
        let name: String = pg::col(row, "name")?;
        Ok(Stored(StoredFile {
            id,
            url: domain::media_url(&name),
            name,
            size: pg::col(row, "size")?,
            content_type: pg::col(row, "content_type")?,
            sha256: pg::col(row, "sha256")?,
            original_name: pg::col(row, "original_name")?,
        }))
    }
}
