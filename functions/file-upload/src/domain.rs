//! The file service's rules: which resource a path names, how an upload is read (multipart,
//! bounded while it streams, hashed as it arrives), what a stored file is called and typed,
//! and how a download answers conditional and range requests. No Spin types: unit-tested
//! natively, the multipart reading included (on in-memory streams).

use futures::{Stream, StreamExt};
use galley_common::body::BodyError;
use galley_common::problem::ProblemRow;
use galley_common::error::ConfigError;
use galley_common::ids::FileId;
use galley_common::method::Method;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The upload route; `/api/v1/files/:id` is one file (DELETE).
pub const COLLECTION: &str = "/api/v1/files";
/// Where stored files are served: `/media/<name>`.
pub const MEDIA: &str = "/media";
/// The operators' view of stored bytes that no name refers to (GET finds, DELETE reclaims).
pub const ORPHANS: &str = "/api/v1/admin/files/orphans";
/// The default of the `upload_max_bytes` variable: 10 MiB.
pub const DEFAULT_LIMIT: u64 = 10 * 1024 * 1024;
/// The largest `upload_max_bytes` accepted: a file is held in the instance's memory once
/// (galley's default instance limit is 128 MiB).
pub const MAX_LIMIT: u64 = 64 * 1024 * 1024;
/// What a request body may carry beyond the file: the multipart boundaries and the part's
/// headers. A body over `limit + FRAMING_ALLOWANCE` cannot hold an acceptable file.
pub const FRAMING_ALLOWANCE: u64 = 16 * 1024;
/// Original names are kept for display, cut to this many characters.
pub const ORIGINAL_NAME_MAX: usize = 255;
/// Extensions are 1 to this many characters of `[a-z0-9]`.
pub const EXTENSION_MAX: usize = 10;
/// Every stored name is immutable (a new upload is a new name), so caches may keep it forever.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// The type of bytes that could not be identified and came without a usable declared type.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// The policy sent with anything served as an attachment: should a browser render it anyway,
/// it may load nothing and run nothing.
pub const ATTACHMENT_CSP: &str = "default-src 'none'; sandbox";

/// The multipart body is well formed but does not hold exactly the one `file` field.
const INVALID_UPLOAD: ProblemRow = (422, "validation", "Invalid upload");

galley_common::api_errors! {
    pub enum FileError {
        #[error("content type `{0}` is not supported; send `multipart/form-data` with one field named `file`")]
        NotMultipart(String) => (415, "unsupported-media-type", "Unsupported media type"),
        #[error("the multipart body is malformed: {0}")]
        Malformed(String) => (400, "malformed-body", "Malformed request body"),
        #[error("the file is larger than the {limit}-byte limit")]
        TooLarge { limit: u64 } => (413, "body-too-large", "Request body too large"),
        #[error("the body has no field named `file`")]
        MissingFile => INVALID_UPLOAD,
        #[error("the body has more than one field named `file`; send one file per request")]
        DuplicateFile => INVALID_UPLOAD,
        #[error("unexpected field `{0}`: the body takes one field, `file`")]
        UnknownField(String) => INVALID_UPLOAD,
        #[error("no such file")]
        NotFound => galley_common::problem::NOT_FOUND,
        #[error("the range is outside the file's {size} bytes")]
        RangeNotSatisfiable { size: u64 } => (416, "range-not-satisfiable", "Range not satisfiable"),
    }
}

/// What a path names. The component owns three routes (Spin routes by path, not method):
/// `/api/v1/files`, `/api/v1/files/:id` and `/media/:name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Collection,
    Item(FileId),
    Media(MediaName),
    Orphans,
}

impl Target {
    pub fn of(path: &str) -> Result<Target, FileError> {
        let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
        if path == COLLECTION {
            return Ok(Target::Collection);
        }
        if path == ORPHANS {
            return Ok(Target::Orphans);
        }
        if let Some(segment) = path.strip_prefix(COLLECTION).and_then(|rest| rest.strip_prefix('/')) {
            if segment.contains('/') {
                return Err(FileError::NotFound);
            }
            return FileId::parse(segment).map(Target::Item).map_err(|e| FileError::Common(e.into()));
        }
        match path.strip_prefix(MEDIA).and_then(|rest| rest.strip_prefix('/')) {
            // Any name that is not one we could have given is simply not there.
            Some(segment) => MediaName::parse(segment).map(Target::Media).ok_or(FileError::NotFound),
            None => Err(FileError::NotFound),
        }
    }

    /// The methods this target answers (`HEAD` goes wherever `GET` does).
    pub fn methods(&self) -> &'static [Method] {
        match self {
            Target::Collection => &[Method::Post],
            Target::Item(_) => &[Method::Delete],
            Target::Media(_) => &[Method::Get],
            Target::Orphans => &[Method::Get, Method::Delete],
        }
    }
}

/// A stored file's public name as this service gives them: a lower-case UUID, then
/// optionally `.` and 1–10 characters of `[a-z0-9]`. Anything else cannot name a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaName(String);

impl MediaName {
    pub fn parse(text: &str) -> Option<MediaName> {
        let (id, extension) = match text.split_once('.') {
            Some((id, extension)) => (id, Some(extension)),
            None => (text, None),
        };
        let id_ok = FileId::parse(id).is_ok_and(|parsed| parsed.as_str() == id);
        let extension_ok = extension.is_none_or(is_extension);
        (id_ok && extension_ok).then(|| MediaName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_extension(text: &str) -> bool {
    (1..=EXTENSION_MAX).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The `upload_max_bytes` variable: a whole number of bytes, 1 to [`MAX_LIMIT`].
pub fn parse_limit(text: &str) -> Result<u64, ConfigError> {
    match text.trim().parse::<u64>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(ConfigError(format!("upload_max_bytes must be a whole number of bytes from 1 to {MAX_LIMIT}, not `{text}`"))),
    }
}

/// The multipart boundary from the request's `content-type`: 415 for anything that is not
/// `multipart/form-data`, 400 for a multipart type without a boundary.
pub fn boundary(content_type: Option<&str>) -> Result<String, FileError> {
    let Some(content_type) = content_type else {
        return Err(FileError::NotMultipart("(none)".into()));
    };
    multer::parse_boundary(content_type).map_err(|e| match e {
        multer::Error::NoBoundary => FileError::Malformed("the content type names no boundary".into()),
        _ => FileError::NotMultipart(content_type.chars().take(100).collect()),
    })
}

/// The declared `content-length`, refused up front (before any byte is read) when the body it
/// announces cannot hold a file within `limit`.
pub fn declared_length(content_length: Option<&str>, limit: u64) -> Result<Option<u64>, FileError> {
    match content_length.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(n) if n > limit.saturating_add(FRAMING_ALLOWANCE) => Err(FileError::TooLarge { limit }),
        declared => Ok(declared),
    }
}

/// Why the body stream stopped early; multer hands it back inside its own error.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("the body is larger than the limit allows")]
    TooLarge,
    /// The body itself failed: it could not be read, or it arrived too slowly.
    #[error(transparent)]
    Body(BodyError),
}

/// The one file of an upload, read whole, with its digest.
#[derive(Debug)]
pub struct Received {
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes`.
    pub sha256: String,
    /// The part's `filename`, as the client sent it.
    pub file_name: Option<String>,
    /// The part's `content-type` (its essence, lower-case), as the client declared it.
    pub declared_type: Option<String>,
}

/// Reads a `multipart/form-data` body that must hold exactly one field, `file`, of at most
/// `limit` bytes. The limit is enforced as the bytes stream in: the field is refused with 413
/// as soon as it passes `limit`, and the body as soon as it passes `limit` +
/// [`FRAMING_ALLOWANCE`], so nothing larger is ever held. The file's bytes are copied once,
/// from the parser's chunks into one buffer (sized from `size_hint`, the declared length, when
/// there is one), and hashed on the way. The body is read to its end, so a second `file`, an
/// unknown field or a truncated body is refused rather than ignored.
pub async fn receive<S>(body: S, boundary: String, limit: u64, size_hint: Option<u64>) -> Result<Received, FileError>
where
    S: Stream<Item = Result<Vec<u8>, BodyError>> + Send + 'static,
{
    let body_cap = limit.saturating_add(FRAMING_ALLOWANCE);
    let mut seen: u64 = 0;
    let body = body.map(move |chunk| {
        let chunk = chunk.map_err(Stop::Body)?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > body_cap {
            return Err(Stop::TooLarge);
        }
        Ok(chunk)
    });
    let refuse = |e: multer::Error| classify(e, limit);
    let mut multipart = multer::Multipart::new(body, boundary);
    let mut file: Option<Received> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(refuse)? {
        match field.name() {
            Some("file") if file.is_none() => {}
            Some("file") => return Err(FileError::DuplicateFile),
            Some(other) => return Err(FileError::UnknownField(other.chars().take(40).collect())),
            None => return Err(FileError::UnknownField("(a part without a name)".into())),
        }
        let file_name = field.file_name().map(str::to_owned);
        let declared_type = field.content_type().map(|m| m.essence_str().to_ascii_lowercase());
        let mut bytes = Vec::with_capacity(initial_capacity(size_hint, limit));
        let mut hasher = Sha256::new();
        while let Some(chunk) = field.chunk().await.map_err(refuse)? {
            let len = bytes.len() as u64 + chunk.len() as u64;
            if len > limit {
                return Err(FileError::TooLarge { limit });
            }
            hasher.update(&chunk);
            grow_for(&mut bytes, chunk.len(), limit);
            bytes.extend_from_slice(&chunk);
        }
        let sha256 = hex::encode(hasher.finalize());
        file = Some(Received { bytes, sha256, file_name, declared_type });
    }
    file.ok_or(FileError::MissingFile)
}

/// Room for the whole file at once when the declared length says how big the body is (it is a
/// little more than the file), capped by the limit; a modest start otherwise.
fn initial_capacity(size_hint: Option<u64>, limit: u64) -> usize {
    const UNKNOWN: u64 = 64 * 1024;
    size_hint.unwrap_or(UNKNOWN).min(limit) as usize
}

/// Makes room for `more` bytes. A buffer that is outgrown (no declared length, and the file is
/// past its modest start) gets the whole limit at once: a wasm memory never shrinks, so growing
/// by doubling would leave every outgrown buffer behind as a hole (about as much again as the
/// file), while capacity that is never written costs only address space.
fn grow_for(bytes: &mut Vec<u8>, more: usize, limit: u64) {
    if bytes.capacity() - bytes.len() >= more {
        return;
    }
    let target = (limit as usize).max(bytes.len() + more);
    bytes.reserve_exact(target - bytes.len());
}

fn classify(e: multer::Error, limit: u64) -> FileError {
    use std::error::Error as _;
    match e {
        multer::Error::StreamReadFailed(inner) => match inner.downcast_ref::<Stop>() {
            Some(Stop::TooLarge) => FileError::TooLarge { limit },
            Some(Stop::Body(e)) => FileError::Common(e.clone().into()),
            None => FileError::Common(BodyError::Unreadable.into()),
        },
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => FileError::TooLarge { limit },
        multer::Error::IncompleteStream | multer::Error::IncompleteFieldData { .. } | multer::Error::IncompleteHeaders => {
            FileError::Malformed("the body ended before the closing boundary".into())
        }
        other => {
            let cause = other.source().map(|s| format!(": {s}")).unwrap_or_default();
            FileError::Malformed(format!("{other}{cause}"))
        }
    }
}

/// What is stored for an upload besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// `""` or `.ext`: the public name is the new id followed by it.
    pub suffix: String,
    /// The client's file name, cleaned, for display only.
    pub original_name: String,
    pub content_type: String,
}

impl Naming {
    pub fn of(received: &Received) -> Naming {
        let original = received.file_name.as_deref().unwrap_or("");
        Naming {
            suffix: extension(original).map(|e| format!(".{e}")).unwrap_or_default(),
            original_name: display_name(original),
            content_type: content_type(&received.bytes, received.declared_type.as_deref()),
        }
    }
}

/// The last segment of a client's path (browsers send a bare name; RFC 7578 §4.2 says any
/// directories must not be used), without characters that have no business in a name shown
/// to a person: control characters (NUL included, which Postgres cannot store) and the
/// invisible direction and joiner marks (U+202E makes `evil<U+202E>gnp.exe` read as `evilexe.png`).
fn clean(original: &str) -> String {
    let last = original.rsplit(['/', '\\']).next().unwrap_or("");
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    };
    last.chars().filter(|c| !invisible(*c)).collect::<String>().trim().to_owned()
}

/// The name kept for display: [`clean`]ed and cut to [`ORIGINAL_NAME_MAX`] characters.
pub fn display_name(original: &str) -> String {
    clean(original).chars().take(ORIGINAL_NAME_MAX).collect()
}

/// The stored name's extension: what follows the last `.` of the cleaned name, lower-cased
/// (ASCII only, so no Unicode case mapping can turn a foreign letter into `[a-z]`), kept only
/// if it is 1–10 characters of `[a-z0-9]`. A leading dot starts a hidden name, not an
/// extension (`.htaccess` has none), as `Path::extension` sees it.
pub fn extension(original: &str) -> Option<String> {
    let name = clean(original);
    let (stem, extension) = name.rsplit_once('.')?;
    if stem.is_empty() {
        return None;
    }
    let extension = extension.to_ascii_lowercase();
    is_extension(&extension).then_some(extension)
}

/// The content type to store: what the bytes are, when the sniffer recognises them (a PNG is
/// `image/png` whatever the client said). Otherwise the client's declared type, unless it is
/// one the sniffer knows how to recognise (the bytes then are not what it claims) or is not a
/// media type at all; failing both, `application/octet-stream`. Whatever is stored, it is only
/// ever served with `nosniff`, and as an attachment unless [`renders_inline`] says it is safe.
pub fn content_type(bytes: &[u8], declared: Option<&str>) -> String {
    if let Some(kind) = infer::get(bytes) {
        return kind.mime_type().to_owned();
    }
    match declared {
        Some(declared) if is_media_type(declared) && !infer::is_mime_supported(declared) => declared.to_owned(),
        _ => OCTET_STREAM.to_owned(),
    }
}

/// `type/subtype` of RFC 9110 tokens, lower-case, no parameters.
fn is_media_type(text: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    text.split_once('/').is_some_and(|(kind, sub)| token(kind) && token(sub))
}

/// Whether a browser may show this type in place: raster images, audio, video and plain text,
/// which no browser executes or lays out as a page (with `nosniff`, a browser never
/// reinterprets them). Everything else, HTML, SVG, any XML, JavaScript, PDF and the unknown
/// included, is served as an attachment.
pub fn renders_inline(content_type: &str) -> bool {
    let Some((kind, sub)) = content_type.split_once('/') else { return false };
    match kind {
        "image" => !(sub.contains("svg") || sub.contains("xml")),
        "audio" | "video" => true,
        "text" => sub == "plain",
        _ => false,
    }
}

/// The `content-disposition` of an attachment: the stored name (always safe ASCII).
pub fn attachment(name: &MediaName) -> String {
    format!("attachment; filename=\"{}\"", name.as_str())
}

/// The strong entity tag of a file: its content's digest.
pub fn etag(sha256: &str) -> String {
    format!("\"{sha256}\"")
}

/// Whether `If-None-Match` matches `etag` (weak comparison, RFC 9110 §13.1.2): then a `GET`
/// answers 304.
pub fn none_match(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(header) = if_none_match else { return false };
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Whether a `Range` may be honoured given `If-Range` (RFC 9110 §13.1.5): without one, yes;
/// with one, only if it is our strong entity tag (a date, or another tag, asks for the whole).
pub fn if_range_allows(if_range: Option<&str>, etag: &str) -> bool {
    if_range.is_none_or(|value| value.trim() == etag)
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// No usable range: the whole file, 200.
    Whole,
    /// Bytes `first..=last`, 206.
    Part { first: u64, last: u64 },
    /// A well-formed range wholly past the end: 416.
    Unsatisfiable,
}

/// One `bytes=` range (RFC 9110 §14.1.2): `first-last`, `first-` or `-suffix`. A header that
/// is malformed, of another unit, or asks for several ranges is ignored (the whole file; a
/// server may always do so), so no client gets a `multipart/byteranges` answer.
pub fn byte_range(range: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else { return Ranged::Whole };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Ranged::Whole };
    let number = |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u64>().ok()).flatten();
    match (first, last) {
        ("", suffix) => match number(suffix) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if size == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part { first: size.saturating_sub(n), last: size - 1 },
        },
        (first, "") => match number(first) {
            None => Ranged::Whole,
            Some(first) if first >= size => Ranged::Unsatisfiable,
            Some(first) => Ranged::Part { first, last: size - 1 },
        },
        (first, last) => match (number(first), number(last)) {
            (Some(first), Some(last)) if first <= last => {
                if first >= size {
                    Ranged::Unsatisfiable
                } else {
                    Ranged::Part { first, last: last.min(size - 1) }
                }
            }
            _ => Ranged::Whole,
        },
    }
}

/// The 201 answer to an upload, and what the service tells about a stored file.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFile {
    pub id: FileId,
    pub name: String,
    /// `/media/<name>`, relative to the API: stable for as long as the file exists.
    pub url: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
    /// The client's file name, cleaned, for display only (never used to store or serve).
    pub original_name: String,
}

pub fn media_url(name: &str) -> String {
    format!("{MEDIA}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::stream;

    const BOUNDARY: &str = "XyZzY-boundary";

    fn part(name: &str, file_name: Option<&str>, content_type: Option<&str>, data: &[u8]) -> Vec<u8> {
        let mut out = format!("--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"").into_bytes();
        if let Some(f) = file_name {
            out.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = content_type {
            out.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    fn body(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut out: Vec<u8> = parts.concat();
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }

    /// Feeds `bytes` in chunks of `chunk` bytes, as the host's body stream does.
    fn read(bytes: Vec<u8>, chunk: usize, limit: u64) -> Result<Received, FileError> {
        let chunks: Vec<Result<Vec<u8>, BodyError>> = bytes.chunks(chunk).map(|c| Ok(c.to_vec())).collect();
        block_on(receive(stream::iter(chunks), BOUNDARY.into(), limit, None))
    }

    fn png() -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend((0..=255u8).cycle().take(5000));
        png
    }

    #[test]
    fn one_file_is_read_whole_and_hashed_at_any_chunking() {
        let data = png();
        for chunk in [1, 7, 100, 16 * 1024] {
            let got = read(body(&[part("file", Some("cat.PNG"), Some("text/html"), &data)]), chunk, 1 << 20).unwrap();
            assert_eq!(got.bytes, data);
            assert_eq!(got.sha256, hex::encode(Sha256::digest(&data)));
            assert_eq!(got.file_name.as_deref(), Some("cat.PNG"));
            assert_eq!(got.declared_type.as_deref(), Some("text/html"));
        }
        let empty = read(body(&[part("file", Some("empty.txt"), None, b"")]), 16, 10).unwrap();
        assert!(empty.bytes.is_empty());
        assert_eq!(empty.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn the_limit_is_the_files_size_exactly() {
        let exact = read(body(&[part("file", Some("a.bin"), None, &[7u8; 1000])]), 64, 1000).unwrap();
        assert_eq!(exact.bytes.len(), 1000);
        assert!(exact.bytes.capacity() <= 1000, "no buffer larger than the limit");
        let over = read(body(&[part("file", Some("a.bin"), None, &[7u8; 1001])]), 64, 1000);
        assert!(matches!(over, Err(FileError::TooLarge { limit: 1000 })), "{over:?}");
    }

    #[test]
    fn an_endless_body_is_refused_once_past_the_limit_without_reading_on() {
        // A body that never ends: the stream is pulled only until the limit is passed.
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = pulled.clone();
        let head = format!("--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n").into_bytes();
        let endless = stream::once(async move { Ok(head) }).chain(stream::repeat_with(move || {
            counter.fetch_add(1024, std::sync::atomic::Ordering::Relaxed);
            Ok(vec![b'a'; 1024])
        }));
        let got = block_on(receive(endless, BOUNDARY.into(), 100_000, None));
        assert!(matches!(got, Err(FileError::TooLarge { limit: 100_000 })), "{got:?}");
        let pulled = pulled.load(std::sync::atomic::Ordering::Relaxed);
        assert!(pulled <= 100_000 + FRAMING_ALLOWANCE + 1024, "read {pulled} bytes");
    }

    #[test]
    fn an_unknown_field_is_refused_as_soon_as_it_is_seen() {
        let parts = [part("file", Some("a"), None, b"x"), part("note", None, None, b"a note")];
        assert!(matches!(read(body(&parts), 512, 100), Err(FileError::UnknownField(f)) if f == "note"));
    }

    #[test]
    fn what_surrounds_the_file_is_bounded_too() {
        // A preamble (ignored by multipart) that alone passes the limit plus the framing allowance.
        let mut bytes = vec![b'p'; 100 + FRAMING_ALLOWANCE as usize + 1];
        bytes.extend(body(&[part("file", Some("a"), None, b"x")]));
        assert!(matches!(read(bytes, 1024, 100), Err(FileError::TooLarge { limit: 100 })));
    }

    #[test]
    fn a_missing_duplicated_or_unknown_field_is_422() {
        assert!(matches!(read(body(&[]), 10, 100), Err(FileError::MissingFile)));
        assert!(matches!(read(body(&[part("other", None, None, b"x")]), 10, 100), Err(FileError::UnknownField(f)) if f == "other"));
        let two = body(&[part("file", Some("a"), None, b"1"), part("file", Some("b"), None, b"2")]);
        assert!(matches!(read(two, 10, 100), Err(FileError::DuplicateFile)));
        for err in [FileError::MissingFile, FileError::DuplicateFile, FileError::UnknownField("x".into())] {
            assert_eq!(galley_common::problem::ApiError::status(&err), 422);
        }
    }

    #[test]
    fn a_truncated_or_garbled_body_is_400() {
        let whole = body(&[part("file", Some("a.txt"), None, b"hello world")]);
        for cut in [10, 60, whole.len() - 12, whole.len() - 4] {
            let got = read(whole[..cut].to_vec(), 8, 100);
            assert!(matches!(got, Err(FileError::Malformed(_))), "cut at {cut}: {got:?}");
        }
        assert!(matches!(read(b"not multipart at all".to_vec(), 8, 100), Err(FileError::Malformed(_))));
        assert!(matches!(read(Vec::new(), 8, 100), Err(FileError::Malformed(_))));
    }

    #[test]
    fn a_body_that_fails_to_arrive_keeps_its_own_status() {
        // Cut short or stalled: 400; behind the pace: 408, not folded into the 400.
        for (failure, status) in [(BodyError::Unreadable, 400), (BodyError::TooSlow, 408)] {
            let chunks = vec![Ok(part("file", Some("a"), None, b"abc")), Err(failure)];
            match block_on(receive(stream::iter(chunks), BOUNDARY.into(), 100, None)) {
                Err(FileError::Common(e)) => assert_eq!(galley_common::problem::ApiError::status(&e), status),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn only_multipart_form_data_is_accepted() {
        assert_eq!(boundary(Some("multipart/form-data; boundary=abc")).unwrap(), "abc");
        assert_eq!(boundary(Some("Multipart/Form-Data; boundary=\"a b\"")).unwrap(), "a b");
        for other in [None, Some("application/json"), Some("text/plain"), Some("multipart/mixed; boundary=a"), Some("garbage")] {
            assert!(matches!(boundary(other), Err(FileError::NotMultipart(_))), "{other:?}");
        }
        assert!(matches!(boundary(Some("multipart/form-data")), Err(FileError::Malformed(_))));
    }

    #[test]
    fn a_declared_length_past_the_limit_is_refused_up_front() {
        assert_eq!(declared_length(Some("1000"), 1000).unwrap(), Some(1000));
        assert_eq!(declared_length(Some(&(1000 + FRAMING_ALLOWANCE).to_string()), 1000).unwrap(), Some(1000 + FRAMING_ALLOWANCE));
        assert!(matches!(declared_length(Some(&(1001 + FRAMING_ALLOWANCE).to_string()), 1000), Err(FileError::TooLarge { .. })));
        assert_eq!(declared_length(None, 1000).unwrap(), None);
    }

    #[test]
    fn the_limit_variable_is_checked() {
        assert_eq!(parse_limit("10485760").unwrap(), DEFAULT_LIMIT);
        for bad in ["", "0", "-1", "1e6", "ten", &(MAX_LIMIT + 1).to_string()] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extensions_are_short_lower_case_ascii_or_nothing() {
        let cases = [
            ("cat.PNG", Some("png")),
            ("archive.tar.gz", Some("gz")),
            ("../../etc/passwd", None),
            ("..\\..\\windows\\win.INI", Some("ini")),
            ("a.PHP%00.png", Some("png")),
            ("a.php\0.png", Some("png")),
            (".htaccess", None),
            ("dir/.bashrc", None),
            ("no-extension", None),
            ("trailing.", None),
            ("toolong.abcdefghijk", None),
            ("ten.abcdefghij", Some("abcdefghij")),
            ("résumé.PDF", Some("pdf")),
            ("名前.ＰＮＧ", None),
            // The Kelvin sign lower-cases to `k` under Unicode rules; not here.
            ("x.\u{212A}", None),
            ("x.p-g", None),
            ("x.png ", Some("png")),
            ("evil\u{202E}gnp.exe", Some("exe")),
            ("", None),
        ];
        for (name, expected) in cases {
            assert_eq!(extension(name).as_deref(), expected, "{name:?}");
        }
        assert_eq!(extension(&format!("{}.txt", "a".repeat(500))).as_deref(), Some("txt"));
    }

    #[test]
    fn original_names_are_cleaned_for_display() {
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(display_name("a\0b\r\n.txt"), "ab.txt");
        assert_eq!(display_name("evil\u{202E}gnp.exe"), "evilgnp.exe");
        assert_eq!(display_name("  名前 .png "), "名前 .png");
        assert_eq!(display_name(&"é".repeat(500)).chars().count(), ORIGINAL_NAME_MAX);
    }

    #[test]
    fn media_names_are_the_ones_we_give_and_nothing_else() {
        let id = "7ab45f0f-9291-42eb-922d-130b806315c2";
        for good in [id.to_owned(), format!("{id}.png"), format!("{id}.abcdefghij")] {
            assert!(MediaName::parse(&good).is_some(), "{good}");
        }
        for bad in [
            String::new(),
            id.to_uppercase(),
            format!("{id}."),
            format!("{id}.PNG"),
            format!("{id}.png.exe"),
            format!("{id}.abcdefghijk"),
            format!("../{id}.png"),
            format!("{id}%2epng"),
            "passwd".into(),
        ] {
            assert!(MediaName::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn paths_name_the_collection_an_item_or_a_media_file() {
        let id = "7ab45f0f-9291-42eb-922d-130b806315c2";
        assert_eq!(Target::of("/api/v1/files").unwrap(), Target::Collection);
        assert_eq!(Target::of("/api/v1/files/").unwrap(), Target::Collection);
        assert_eq!(Target::of("/api/v1/admin/files/orphans").unwrap(), Target::Orphans);
        assert!(matches!(Target::of(&format!("/api/v1/files/{}", id.to_uppercase())).unwrap(), Target::Item(f) if f.as_str() == id));
        assert!(matches!(Target::of("/api/v1/files/nope"), Err(FileError::Common(_))), "a bad id is a 400");
        assert!(matches!(Target::of(&format!("/media/{id}.png")).unwrap(), Target::Media(_)));
        for missing in ["/media/", "/media/x.png", "/media", "/elsewhere", "/api/v1/files/a/b"] {
            assert!(matches!(Target::of(missing), Err(FileError::NotFound)), "{missing}");
        }
    }

    #[test]
    fn the_bytes_decide_the_type_and_claims_are_checked() {
        assert_eq!(content_type(&png(), Some("text/html")), "image/png");
        assert_eq!(content_type(b"<!DOCTYPE html><html><script>alert(1)</script>", Some("image/png")), "text/html");
        assert_eq!(content_type(b"<?xml version=\"1.0\"?><svg/>", None), "text/xml");
        assert_eq!(content_type(b"just some words", Some("text/plain")), "text/plain");
        assert_eq!(content_type(b"just some words", Some("image/png")), OCTET_STREAM, "a recognisable type that was not recognised");
        assert_eq!(content_type(b"just some words", Some("not a type")), OCTET_STREAM);
        assert_eq!(content_type(b"", None), OCTET_STREAM);
        assert_eq!(content_type(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", Some("image/svg+xml")), "image/svg+xml");
    }

    #[test]
    fn only_what_a_browser_cannot_run_is_shown_inline() {
        for inline in ["image/png", "image/jpeg", "image/webp", "audio/mpeg", "video/mp4", "text/plain"] {
            assert!(renders_inline(inline), "{inline}");
        }
        for attached in [
            "text/html",
            "image/svg+xml",
            "text/xml",
            "application/xml",
            "application/xhtml+xml",
            "text/javascript",
            "application/javascript",
            "application/pdf",
            "text/x-shellscript",
            OCTET_STREAM,
            "",
        ] {
            assert!(!renders_inline(attached), "{attached}");
        }
    }

    #[test]
    fn conditional_requests_compare_entity_tags() {
        let tag = etag("ab");
        assert_eq!(tag, "\"ab\"");
        assert!(none_match(Some("\"ab\""), &tag));
        assert!(none_match(Some("\"x\", W/\"ab\""), &tag));
        assert!(none_match(Some("*"), &tag));
        assert!(!none_match(Some("\"abc\""), &tag));
        assert!(!none_match(None, &tag));
        assert!(if_range_allows(None, &tag));
        assert!(if_range_allows(Some("\"ab\""), &tag));
        assert!(!if_range_allows(Some("W/\"ab\""), &tag), "If-Range compares strongly");
        assert!(!if_range_allows(Some("Wed, 21 Oct 2015 07:28:00 GMT"), &tag));
    }

    #[test]
    fn byte_ranges() {
        let r = |h: &str, size| byte_range(Some(h), size);
        assert_eq!(r("bytes=0-99", 1000), Ranged::Part { first: 0, last: 99 });
        assert_eq!(r("bytes=500-", 1000), Ranged::Part { first: 500, last: 999 });
        assert_eq!(r("bytes=-100", 1000), Ranged::Part { first: 900, last: 999 });
        assert_eq!(r("bytes=-5000", 1000), Ranged::Part { first: 0, last: 999 });
        assert_eq!(r("bytes=990-5000", 1000), Ranged::Part { first: 990, last: 999 });
        assert_eq!(r("bytes=999-999", 1000), Ranged::Part { first: 999, last: 999 });
        assert_eq!(r("bytes=1000-", 1000), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=1000-2000", 1000), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=-0", 1000), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=-1", 0), Ranged::Unsatisfiable);
        for ignored in ["bytes=5-1", "bytes=a-b", "bytes=0-1,4-5", "items=0-1", "bytes=-", "bytes=+1-2", "bytes 0-1", "bytes=99999999999999999999999-"] {
            assert_eq!(r(ignored, 1000), Ranged::Whole, "{ignored}");
        }
        assert_eq!(byte_range(None, 1000), Ranged::Whole);
    }

    #[test]
    fn a_buffer_is_sized_once_or_outgrown_once() {
        assert_eq!(initial_capacity(Some(5_000_000), 1000), 1000);
        assert_eq!(initial_capacity(Some(500), 1000), 500);
        assert_eq!(initial_capacity(None, 1_000_000), 64 * 1024);
        let mut v: Vec<u8> = Vec::with_capacity(4);
        v.extend_from_slice(&[0; 4]);
        grow_for(&mut v, 4, 100);
        assert_eq!(v.capacity(), 100, "straight to the limit");
        let before = v.as_ptr();
        v.extend_from_slice(&[0; 4]);
        grow_for(&mut v, 90, 100);
        assert_eq!((v.capacity(), v.as_ptr()), (100, before), "never again");
    }
}
