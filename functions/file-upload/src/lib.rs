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
//!
//! **Where things are.** This file is the HTTP edge (routes, headers, status codes);
//! [`domain`] holds the rules (multipart, limits, names, ranges, ETags) and tests natively;
//! `store` holds the SQL of the `files` database; `body` feeds the request body to the parser.

pub mod domain;
mod body;
mod store;

use galley_common::auth::Role;
use galley_common::db::DbError;
use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::http::json;
use galley_common::edge::{pg, variable};
use galley_common::ids::FileId;
use spin_sdk::http::Response;

use body::OnePerTurn;
use domain::{FileError, MediaName, Naming, Ranged, Target};

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

async fn upload(req: &mut Request) -> Result<Response, FileError> {
    // Who first, then the body's head: nothing is read from a stranger, nor from a body that
    // is not multipart or announces more than the limit allows.
    let claims = req.claims()?;
    let owner = claims.user_id()?;
    let limit = domain::parse_limit(&variable("upload_max_bytes")?)?;
    let boundary = domain::boundary(req.header("content-type"))?;
    let declared = domain::declared_length(req.header("content-length"), limit)?;
    let body = OnePerTurn::new(req.body_stream()?);
    let received = domain::receive(body, boundary, limit, declared).await?;
    let naming = Naming::of(&received);
    let stored = store::store(&database()?, &owner, &naming, received)?;
    let mut response = json(201, &stored);
    response.set_header("location", stored.url.clone());
    Ok(response)
}

fn remove(req: &Request, id: &FileId) -> Result<Response, FileError> {
    let claims = req.claims()?;
    let me = claims.user_id()?;
    store::remove_name(&database()?, id, &me, claims.role == Role::Admin)?;
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

fn download(req: &Request, name: &MediaName) -> Result<Response, FileError> {
    let conn = database()?;
    let meta = store::meta(&conn, name)?.ok_or(FileError::NotFound)?;
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
    let bytes = store::content(&conn, &meta.sha256, first, length, size)?.ok_or(FileError::NotFound)?;
    builder.header("content-length", bytes.len().to_string());
    Ok(builder.body(bytes).build())
}

