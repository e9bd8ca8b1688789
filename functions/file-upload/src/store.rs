//! The `files` database: contents stored once by their sha256, names that refer to them, and
//! the locks that keep the two consistent when uploads and deletes of the same bytes race.

use galley_common::db::DbError;
use galley_common::edge::pg;
use galley_common::ids::{FileId, UserId};
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, Row};

use crate::domain::{self, FileError, MediaName, Naming, Received, StoredFile};

/// SQLSTATE of a foreign-key violation.
const FOREIGN_KEY_VIOLATION: &str = "23503";

/// Stores the content (unless it is stored already) and a new name for it, in one transaction.
pub fn store(conn: &Connection, owner: &UserId, naming: &Naming, received: Received) -> Result<StoredFile, FileError> {
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

/// Deletes the name `id` if `me` owns it (or `admin`), and its bytes with their last name.
/// Someone else's file is not found: whether it exists is not revealed.
pub fn remove_name(conn: &Connection, id: &FileId, me: &UserId, admin: bool) -> Result<(), FileError> {
    pg::transaction(conn, |c| {
        let sql = "SELECT sha256 FROM files WHERE id = CAST($1::text AS uuid) AND ($2::boolean OR owner_id = CAST($3::text AS uuid))";
        let rows = c.query(sql, &[id.into(), admin.into(), me.into()]).map_err(DbError::from)?;
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
    })
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

/// What a download needs to know before reading any bytes, by the name it was asked for.
pub fn meta(conn: &Connection, name: &MediaName) -> Result<Option<Meta>, DbError> {
    pg::query_opt::<Meta>(conn, "SELECT content_type, size, sha256 FROM files WHERE name = $1", &[pg::text(name.as_str())])
}

/// `length` bytes of the content from `first` (all of it in one piece when that is what is
/// asked), moved out of the row set. `None` if the content was deleted since its name was read.
pub fn content(conn: &Connection, sha256: &str, first: u64, length: u64, size: u64) -> Result<Option<Vec<u8>>, DbError> {
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
pub struct Meta {
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
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
