//! End-to-end: the file service over real HTTP against `galley` and the test Postgres
//! (`files` database). Uploads are built by hand (the multipart framing is the client's side
//! and must be exact, hostile or broken on purpose); checks look into the database, so "stored
//! once" and "nothing stored" are checked, not assumed.

use std::time::Duration;

use futures::future::join_all;
use galley_common::auth::{self, Claims, Role};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const DEFAULT_LIMIT: usize = 10 * 1024 * 1024;
/// The limit of the dedicated small-limit host.
const SMALL_LIMIT: usize = 4096;

/// A fresh user (files refer to users by id only) and a token for it.
pub(crate) fn user(role: Role) -> (String, String) {
    let id = uuid::Uuid::new_v4().to_string();
    let claims = Claims::new(id.clone(), role, galley_common::unix_now());
    (id.clone(), auth::issue(&claims, TEST_SECRET.as_bytes()).expect("sign test token"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One part of a multipart body.
pub(crate) struct Part<'a> {
    name: &'a str,
    file_name: Option<&'a str>,
    content_type: Option<&'a str>,
    data: &'a [u8],
}

pub(crate) fn file_part<'a>(file_name: &'a str, content_type: &'a str, data: &'a [u8]) -> Part<'a> {
    Part { name: "file", file_name: Some(file_name), content_type: Some(content_type), data }
}

/// A `multipart/form-data` body and its content type, with a fresh boundary.
pub(crate) fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = format!("galley-e2e-{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{}\"", part.name).as_bytes());
        if let Some(file_name) = part.file_name {
            body.extend_from_slice(b"; filename=\"");
            body.extend_from_slice(file_name.as_bytes());
            body.extend_from_slice(b"\"");
        }
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = part.content_type {
            body.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A real PNG (RGBA, pseudo-random pixels in stored deflate blocks, so every byte value
/// occurs, CR LF and `--` runs included) with a text chunk that looks like multipart framing.
fn png(width: u32, height: u32, seed: u64) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut typed = kind.to_vec();
        typed.extend_from_slice(data);
        out.extend_from_slice(&typed);
        out.extend_from_slice(&crc32(&typed).to_be_bytes());
    }
    let mut state = seed | 1;
    let mut raw = Vec::new();
    for _ in 0..height {
        raw.push(0); // filter: none
        for _ in 0..width * 4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            raw.push((state >> 24) as u8);
        }
    }
    // zlib: stored blocks, then the Adler-32 of the raw data.
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"tEXt", b"Comment\0\r\n--\r\n--galley-e2e-\r\n\r\ncontent-disposition: form-data; name=\"file\"\r\n");
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", b"");
    out
}

/// Bytes no two calls share (for uploads that must not be deduplicated).
fn unique_bytes(len: usize) -> Vec<u8> {
    let mut seed: [u8; 32] = Sha256::digest(uuid::Uuid::new_v4().as_bytes()).into();
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed = Sha256::digest(seed).into();
        out.extend_from_slice(&seed);
    }
    out.truncate(len);
    out
}

impl TestApp {
    async fn upload_body(&self, token: Option<&str>, content_type: &str, body: Vec<u8>) -> reqwest::Response {
        let mut req = self.http.post(self.url("/api/v1/files")).header("content-type", content_type).body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request")
    }

    async fn upload(&self, token: &str, file_name: &str, content_type: &str, data: &[u8]) -> reqwest::Response {
        let (ct, body) = multipart(&[file_part(file_name, content_type, data)]);
        self.upload_body(Some(token), &ct, body).await
    }

    /// Uploads and expects 201: the answer's JSON.
    async fn uploaded(&self, token: &str, file_name: &str, content_type: &str, data: &[u8]) -> Value {
        let resp = self.upload(token, file_name, content_type, data).await;
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(status, 201, "{body}");
        assert_eq!(location.as_deref(), body["url"].as_str(), "Location is the file's URL");
        body
    }

    async fn media(&self, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.http.get(self.url(url));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await.expect("request")
    }

    async fn delete_file(&self, token: Option<&str>, id: &str) -> reqwest::Response {
        let mut req = self.http.delete(self.url(&format!("/api/v1/files/{id}")));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request")
    }
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn is_safe_name(name: &str, extension: Option<&str>) -> bool {
    let (id, ext) = match name.split_once('.') {
        Some((id, ext)) => (id, Some(ext)),
        None => (name, None),
    };
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.to_string() == id) && ext == extension
}

async fn files_of(owner: &str) -> i64 {
    let db = database("files").await;
    db.query_one("SELECT count(*) FROM files WHERE owner_id = $1::text::uuid", &[&owner]).await.expect("count").get(0)
}

async fn contents_with(sha256: &str) -> i64 {
    let db = database("files").await;
    db.query_one("SELECT count(*) FROM file_contents WHERE sha256 = $1", &[&sha256]).await.expect("count").get(0)
}

#[tokio::test]
async fn a_png_round_trips_byte_for_byte_and_is_typed_by_its_bytes() {
    let app = spawn_app();
    let (owner, token) = user(Role::Customer);
    let image = png(96, 64, 42);
    // The client's claim is wrong on purpose: the bytes decide.
    let file = app.uploaded(&token, "Holiday Photo.PNG", "text/html", &image).await;
    let name = file["name"].as_str().expect("name");
    assert!(is_safe_name(name, Some("png")), "{name}");
    assert_eq!(file["url"], format!("/media/{name}"));
    assert_eq!(file["size"], image.len());
    assert_eq!(file["content_type"], "image/png");
    assert_eq!(file["sha256"], sha256_hex(&image));
    assert_eq!(file["original_name"], "Holiday Photo.PNG");
    assert!(name.starts_with(file["id"].as_str().expect("id")));

    let resp = app.media(file["url"].as_str().unwrap(), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type").as_deref(), Some("image/png"));
    assert_eq!(header(&resp, "content-length"), Some(image.len().to_string()));
    assert_eq!(header(&resp, "etag"), Some(format!("\"{}\"", sha256_hex(&image))));
    assert_eq!(header(&resp, "cache-control").as_deref(), Some("public, max-age=31536000, immutable"));
    assert_eq!(header(&resp, "x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header(&resp, "accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(header(&resp, "content-disposition"), None, "an image is shown in place");
    assert_eq!(resp.bytes().await.expect("body").as_ref(), image.as_slice(), "the same bytes");

    // HEAD: the same head, no body.
    let head = app.http.head(app.url(file["url"].as_str().unwrap())).send().await.expect("request");
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-type").as_deref(), Some("image/png"));
    assert_eq!(header(&head, "etag"), Some(format!("\"{}\"", sha256_hex(&image))));
    assert!(head.bytes().await.expect("body").is_empty());

    // Stored as told, owned by the uploader.
    let db = database("files").await;
    let row = db
        .query_one(
            "SELECT owner_id::text, original_name, content_type, size, sha256 FROM files WHERE name = $1",
            &[&name],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), owner);
    assert_eq!(row.get::<_, String>(1), "Holiday Photo.PNG");
    assert_eq!(row.get::<_, String>(2), "image/png");
    assert_eq!(row.get::<_, i64>(3), image.len() as i64);
    let stored: Vec<u8> = db
        .query_one("SELECT content FROM file_contents WHERE sha256 = $1", &[&row.get::<_, String>(4)])
        .await
        .expect("content")
        .get(0);
    assert_eq!(stored, image);
}

#[tokio::test]
async fn an_empty_file_is_a_file() {
    let app = spawn_app();
    let (_, token) = user(Role::Customer);
    let file = app.uploaded(&token, "empty.txt", "text/plain", b"").await;
    assert_eq!(file["size"], 0);
    assert_eq!(file["sha256"], sha256_hex(b""));
    assert!(is_safe_name(file["name"].as_str().unwrap(), Some("txt")));
    let resp = app.media(file["url"].as_str().unwrap(), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-length").as_deref(), Some("0"));
    assert_eq!(header(&resp, "content-type").as_deref(), Some("text/plain"));
    assert!(resp.bytes().await.unwrap().is_empty());
}

/// At the real default limit (10 MiB): exactly the limit is stored, one byte more is a 413
/// that stores nothing.
#[tokio::test]
async fn the_default_limit_is_ten_mebibytes_exactly() {
    let app = spawn_app();
    let (owner, token) = user(Role::Customer);
    let exact = unique_bytes(DEFAULT_LIMIT);
    let file = app.uploaded(&token, "exact.bin", "application/octet-stream", &exact).await;
    assert_eq!(file["size"], DEFAULT_LIMIT);
    let resp = app.media(file["url"].as_str().unwrap(), &[]).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), exact.as_slice());

    let over = unique_bytes(DEFAULT_LIMIT + 1);
    let problem = assert_problem(app.upload(&token, "over.bin", "application/octet-stream", &over).await, 413).await;
    assert_eq!(problem["type"], "/problems/body-too-large");
    assert!(problem["detail"].as_str().unwrap().contains("10485760"), "{problem}");
    assert_eq!(files_of(&owner).await, 1, "only the file within the limit");
    assert_eq!(contents_with(&sha256_hex(&over)).await, 0);
}

/// Reads the start of the answer to a request written by hand, whose body is never finished.
async fn answer_before_the_body_ends(base: &str, head: String, partial_body: &[u8]) -> String {
    let mut socket = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.expect("connect");
    socket.write_all(head.as_bytes()).await.expect("write head");
    socket.write_all(partial_body).await.expect("write body");
    let mut buf = vec![0u8; 8192];
    // Well within galley's 10 s body idle timeout: the answer must not wait for more body.
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
        .await
        .expect("an answer while the body is still unfinished")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// On a host whose `upload_max_bytes` is 4096: the limit comes from the variable, is exact, and
/// is enforced before the body ends: a declared length past it is refused before any byte is
/// sent, and a streamed (chunked) body as soon as the file passes it.
#[tokio::test]
async fn the_limit_is_a_variable_enforced_while_the_body_streams() {
    let app = spawn_app_with(HostOptions {
        env: vec![("SPIN_VARIABLE_UPLOAD_MAX_BYTES".into(), SMALL_LIMIT.to_string())],
        ..HostOptions::default()
    });
    let (owner, token) = user(Role::Customer);
    let exact = unique_bytes(SMALL_LIMIT);
    assert_eq!(app.uploaded(&token, "exact.bin", "application/octet-stream", &exact).await["size"], SMALL_LIMIT);
    let over = unique_bytes(SMALL_LIMIT + 1);
    let problem = assert_problem(app.upload(&token, "over.bin", "application/octet-stream", &over).await, 413).await;
    assert!(problem["detail"].as_str().unwrap().contains("4096"), "{problem}");

    // A declared length no acceptable body can have: refused with nothing sent.
    let boundary = "galley-e2e-stream";
    let head = |framing: &str| {
        format!(
            "POST /api/v1/files HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\
             content-type: multipart/form-data; boundary={boundary}\r\n{framing}\r\n"
        )
    };
    let answer = answer_before_the_body_ends(&app.base, head("content-length: 10485760\r\n"), b"").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A chunked body with no declared length: the part's head, then more than the limit, then
    // nothing more (no last chunk). The 413 comes without waiting for the rest.
    let mut data = format!("--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n").into_bytes();
    data.extend_from_slice(&unique_bytes(SMALL_LIMIT + 1000));
    let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
    chunk.extend_from_slice(&data);
    chunk.extend_from_slice(b"\r\n");
    let answer = answer_before_the_body_ends(&app.base, head("transfer-encoding: chunked\r\n"), &chunk).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    assert_eq!(files_of(&owner).await, 1, "only the file within the limit");
    assert_eq!(contents_with(&sha256_hex(&over)).await, 0);
}

/// A body that trickles in, cut at awkward places (inside the boundaries, between a part's head
/// and its data, just before the closing boundary), is read whole.
#[tokio::test]
async fn a_body_that_arrives_in_pieces_is_read_whole() {
    let app = spawn_app();
    let (_, token) = user(Role::Customer);
    let data = unique_bytes(40_000);
    let (ct, body) = multipart(&[file_part("slow.bin", "application/octet-stream", &data)]);
    let data_at = body.windows(4).position(|w| w == b"\r\n\r\n").expect("part head") + 4;
    let closing_at = body.len() - (ct.len() - "multipart/form-data; boundary=".len()) - 8;
    let mut cuts = vec![0, 10, data_at - 2, data_at, data_at + 20_000, closing_at, closing_at + 5, body.len()];
    cuts.dedup();
    let mut socket = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.expect("connect");
    let head = format!(
        "POST /api/v1/files HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\ncontent-type: {ct}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.expect("write head");
    for piece in cuts.windows(2) {
        socket.write_all(&body[piece[0]..piece[1]]).await.expect("write piece");
        socket.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await.expect("answer").expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains(&sha256_hex(&data)), "{answer}");
    let url = answer.split("\"url\":\"").nth(1).and_then(|rest| rest.split('"').next()).expect("url in the answer");
    let resp = app.media(url, &[]).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_slice());
}

#[tokio::test]
async fn hostile_names_are_stored_under_safe_names() {
    let app = spawn_app();
    let (_, token) = user(Role::Customer);
    let long = format!("{}.txt", "a".repeat(496));
    let cases: [(&str, Option<&str>, &str); 9] = [
        ("../../etc/passwd", None, "passwd"),
        ("a.PHP%00.png", Some("png"), "a.PHP%00.png"),
        (".htaccess", None, ".htaccess"),
        ("..\\..\\boot.INI", Some("ini"), "boot.INI"),
        ("fïlé 名前.PNG", Some("png"), "fïlé 名前.PNG"),
        ("写真.ＪＰＧ", None, "写真.ＪＰＧ"),
        ("evil\u{202E}gnp.exe", Some("exe"), "evilgnp.exe"),
        (&long, Some("txt"), &long[..255]),
        ("no extension", None, "no extension"),
    ];
    for (file_name, extension, shown) in cases {
        let data = format!("<?php system($_GET['c']); ?> {file_name}");
        let file = app.uploaded(&token, file_name, "application/x-php", data.as_bytes()).await;
        let name = file["name"].as_str().unwrap();
        assert!(is_safe_name(name, extension), "{file_name:?} stored as {name}");
        assert_eq!(file["original_name"], shown, "{file_name:?}");
        let resp = app.media(&format!("/media/{name}"), &[]).await;
        assert_eq!(resp.status(), 200, "{name}");
        // Never something a browser would run: an attachment, whatever the name said.
        assert!(header(&resp, "content-disposition").is_some_and(|d| d.starts_with("attachment")), "{file_name:?}");
        assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_bytes());
    }
    // Without any file name at all: no extension, an empty display name.
    let (ct, body) = multipart(&[Part { name: "file", file_name: None, content_type: None, data: b"plain field" }]);
    let resp = app.upload_body(Some(&token), &ct, body).await;
    assert_eq!(resp.status(), 201);
    let file: Value = resp.json().await.unwrap();
    assert!(is_safe_name(file["name"].as_str().unwrap(), None), "{file}");
    assert_eq!(file["original_name"], "");
    assert_eq!(file["content_type"], "application/octet-stream");
}

#[tokio::test]
async fn bodies_that_are_not_one_file_are_refused() {
    let app = spawn_app();
    let (owner, token) = user(Role::Customer);
    // Not multipart at all: 415.
    for ct in ["application/json", "text/plain", "multipart/mixed; boundary=x", "application/x-www-form-urlencoded"] {
        let p = assert_problem(app.upload_body(Some(&token), ct, b"{\"file\": 1}".to_vec()).await, 415).await;
        assert_eq!(p["type"], "/problems/unsupported-media-type", "{ct}");
    }
    let resp = app.http.post(app.url("/api/v1/files")).bearer_auth(&token).body("x").send().await.unwrap();
    assert_problem(resp, 415).await;

    // Multipart, but not one field named `file`: 422.
    let cases: Vec<(Vec<Part>, &str)> = vec![
        (vec![], "no field named `file`"),
        (vec![Part { name: "document", file_name: Some("a.txt"), content_type: None, data: b"x" }], "unexpected field `document`"),
        (vec![file_part("a.txt", "text/plain", b"1"), file_part("b.txt", "text/plain", b"2")], "more than one field named `file`"),
        (vec![file_part("a.txt", "text/plain", b"1"), Part { name: "note", file_name: None, content_type: None, data: b"hi" }], "unexpected field `note`"),
    ];
    for (parts, detail) in cases {
        let (ct, body) = multipart(&parts);
        let p = assert_problem(app.upload_body(Some(&token), &ct, body).await, 422).await;
        assert!(p["detail"].as_str().unwrap().contains(detail), "{p}");
    }

    // Broken multipart: 400.
    let (ct, body) = multipart(&[file_part("a.txt", "text/plain", b"the whole text")]);
    for cut in [20, body.len() / 2, body.len() - 8] {
        let p = assert_problem(app.upload_body(Some(&token), &ct, body[..cut].to_vec()).await, 400).await;
        assert_eq!(p["type"], "/problems/malformed-body");
    }
    assert_problem(app.upload_body(Some(&token), "multipart/form-data", body.clone()).await, 400).await;
    assert_problem(app.upload_body(Some(&token), &ct, b"no boundary anywhere".to_vec()).await, 400).await;

    // No token, or a bad one: 401, before anything else.
    let (ct, body) = multipart(&[file_part("a.txt", "text/plain", b"x")]);
    let p = assert_problem(app.upload_body(None, &ct, body.clone()).await, 401).await;
    assert_eq!(p["type"], "/problems/unauthorized", "{p}");
    assert_problem(app.upload_body(Some("not-a-token"), &ct, body.clone()).await, 401).await;
    assert_problem(app.upload_body(None, "application/json", b"{}".to_vec()).await, 401).await;

    // Other methods: 405.
    let resp = app.http.get(app.url("/api/v1/files")).bearer_auth(&token).send().await.unwrap();
    assert_problem(resp, 405).await;
    assert_eq!(files_of(&owner).await, 0, "nothing stored by any refusal");
}

#[tokio::test]
async fn unknown_and_malformed_media_names_are_404() {
    let app = spawn_app();
    let (_, token) = user(Role::Customer);
    let file = app.uploaded(&token, "a.txt", "text/plain", b"hello").await;
    let name = file["name"].as_str().unwrap();
    let unknown = format!("/media/{}.txt", uuid::Uuid::new_v4());
    let upper = format!("/media/{}", name.to_uppercase());
    let other_ext = format!("/media/{}.png", file["id"].as_str().unwrap());
    for path in [unknown.as_str(), upper.as_str(), other_ext.as_str(), "/media/passwd", "/media/..%2f..%2fetc%2fpasswd", "/media/x.png"] {
        let resp = app.media(path, &[]).await;
        assert_eq!(resp.status(), 404, "{path}");
    }
    let resp = app.http.post(app.url(&format!("/media/{name}"))).send().await.unwrap();
    assert_problem(resp, 405).await;
}

#[tokio::test]
async fn conditional_and_range_requests() {
    let app = spawn_app();
    let (_, token) = user(Role::Customer);
    let data = unique_bytes(100_000);
    let file = app.uploaded(&token, "data.bin", "application/octet-stream", &data).await;
    let url = file["url"].as_str().unwrap();
    let etag = format!("\"{}\"", sha256_hex(&data));

    for tag in [etag.clone(), format!("W/{etag}"), format!("\"other\", {etag}"), "*".into()] {
        let resp = app.media(url, &[("if-none-match", &tag)]).await;
        assert_eq!(resp.status(), 304, "{tag}");
        assert_eq!(header(&resp, "etag").as_deref(), Some(etag.as_str()));
        assert_eq!(header(&resp, "cache-control").as_deref(), Some("public, max-age=31536000, immutable"));
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    assert_eq!(app.media(url, &[("if-none-match", "\"other\"")]).await.status(), 200);

    let cases: [(&str, usize, usize); 5] =
        [("bytes=0-9", 0, 9), ("bytes=99990-", 99_990, 99_999), ("bytes=-5", 99_995, 99_999), ("bytes=50000-50000", 50_000, 50_000), ("bytes=70000-999999", 70_000, 99_999)];
    for (range, first, last) in cases {
        let resp = app.media(url, &[("range", range)]).await;
        assert_eq!(resp.status(), 206, "{range}");
        assert_eq!(header(&resp, "content-range"), Some(format!("bytes {first}-{last}/100000")), "{range}");
        assert_eq!(header(&resp, "content-length"), Some((last - first + 1).to_string()));
        assert_eq!(header(&resp, "etag").as_deref(), Some(etag.as_str()));
        assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[first..=last], "{range}");
    }
    // With a matching If-Range the range is served; with a stale one, the whole file.
    let resp = app.media(url, &[("range", "bytes=0-0"), ("if-range", &etag)]).await;
    assert_eq!(resp.status(), 206);
    let resp = app.media(url, &[("range", "bytes=0-0"), ("if-range", "\"stale\"")]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().len(), data.len());
    // Several ranges, or nonsense: ignored, the whole file.
    for ignored in ["bytes=0-1,5-6", "bytes=9-1", "lines=1-2"] {
        let resp = app.media(url, &[("range", ignored)]).await;
        assert_eq!(resp.status(), 200, "{ignored}");
    }
    let resp = app.media(url, &[("range", "bytes=100000-")]).await;
    assert_eq!(header(&resp, "content-range").as_deref(), Some("bytes */100000"));
    assert_problem(resp, 416).await;
}

#[tokio::test]
async fn what_a_browser_would_run_is_served_as_an_attachment_with_nosniff() {
    let app = spawn_app();
    let (_, token) = user(Role::Customer);
    let page = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>";
    let cases: [(&str, &str, &[u8], &str); 4] = [
        // Named and declared as a picture; the bytes say otherwise.
        ("innocent.png", "image/png", page, "text/html"),
        ("drawing.svg", "image/svg+xml", b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>", "image/svg+xml"),
        ("feed.xml", "application/xml", b"<?xml version=\"1.0\"?><x:script xmlns:x=\"http://www.w3.org/1999/xhtml\">alert(1)</x:script>", "text/xml"),
        ("app.js", "text/javascript", b"alert(1)", "text/javascript"),
    ];
    for (file_name, declared, bytes, stored) in cases {
        let file = app.uploaded(&token, file_name, declared, bytes).await;
        assert_eq!(file["content_type"], stored, "{file_name}");
        let resp = app.media(file["url"].as_str().unwrap(), &[]).await;
        assert_eq!(header(&resp, "content-type").as_deref(), Some(stored));
        assert_eq!(header(&resp, "x-content-type-options").as_deref(), Some("nosniff"));
        let disposition = header(&resp, "content-disposition").unwrap_or_default();
        assert_eq!(disposition, format!("attachment; filename=\"{}\"", file["name"].as_str().unwrap()), "{file_name}");
        assert_eq!(header(&resp, "content-security-policy").as_deref(), Some("default-src 'none'; sandbox"));
    }
    // Plain text is shown in place, still with nosniff.
    let file = app.uploaded(&token, "notes.txt", "text/plain", b"just words, then <b>markup</b>, typed as text").await;
    let resp = app.media(file["url"].as_str().unwrap(), &[]).await;
    assert_eq!(header(&resp, "content-type").as_deref(), Some("text/plain"));
    assert_eq!(header(&resp, "content-disposition"), None);
    assert_eq!(header(&resp, "x-content-type-options").as_deref(), Some("nosniff"));
}

#[tokio::test]
async fn fifty_concurrent_uploads_all_land_under_distinct_names() {
    let app = spawn_app();
    let (owner, token) = user(Role::Customer);
    let payloads: Vec<Vec<u8>> = (0..50).map(|_| unique_bytes(64 * 1024)).collect();
    let answers = join_all(payloads.iter().enumerate().map(|(i, data)| {
        let (app, token) = (&app, &token);
        async move { app.uploaded(token, &format!("part-{i}.bin"), "application/octet-stream", data).await }
    }))
    .await;
    let names: std::collections::BTreeSet<&str> = answers.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 50, "distinct names");
    for (answer, data) in answers.iter().zip(&payloads) {
        assert_eq!(answer["sha256"], sha256_hex(data));
        let resp = app.media(answer["url"].as_str().unwrap(), &[]).await;
        assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_slice());
    }
    assert_eq!(files_of(&owner).await, 50);
}

#[tokio::test]
async fn the_same_bytes_are_stored_once_under_every_name() {
    let app = spawn_app();
    let (alice, alice_token) = user(Role::Customer);
    let (_, bob_token) = user(Role::Customer);
    let data = unique_bytes(200_000);
    let first = app.uploaded(&alice_token, "report.pdf", "application/pdf", &data).await;
    let second = app.uploaded(&bob_token, "copy.bin", "application/octet-stream", &data).await;
    assert_ne!(first["name"], second["name"]);
    assert_eq!(first["sha256"], second["sha256"]);
    // Twenty more at once, racing to store the same new content.
    let racing = unique_bytes(50_000);
    let answers = join_all((0..20).map(|i| {
        let (app, token, racing) = (&app, &alice_token, &racing);
        async move { app.uploaded(token, &format!("race-{i}.bin"), "application/octet-stream", racing).await }
    }))
    .await;
    let names: std::collections::BTreeSet<&str> = answers.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 20);

    let db = database("files").await;
    for (sha, names) in [(sha256_hex(&data), 2i64), (sha256_hex(&racing), 20)] {
        assert_eq!(contents_with(&sha).await, 1, "stored once");
        let count: i64 = db.query_one("SELECT count(*) FROM files WHERE sha256 = $1", &[&sha]).await.unwrap().get(0);
        assert_eq!(count, names);
    }
    assert_eq!(files_of(&alice).await, 21);
    for answer in [&first, &second] {
        let resp = app.media(answer["url"].as_str().unwrap(), &[]).await;
        assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_slice());
    }
}

#[tokio::test]
async fn only_the_owner_or_an_admin_deletes_and_the_bytes_go_with_the_last_name() {
    let app = spawn_app();
    let (_, owner) = user(Role::Customer);
    let (_, stranger) = user(Role::Customer);
    let (_, admin) = user(Role::Admin);
    let data = unique_bytes(10_000);
    let sha = sha256_hex(&data);
    let kept = app.uploaded(&owner, "a.bin", "application/octet-stream", &data).await;
    let twin = app.uploaded(&owner, "b.bin", "application/octet-stream", &data).await;
    let kept_id = kept["id"].as_str().unwrap();
    let twin_id = twin["id"].as_str().unwrap();

    // A stranger cannot tell the file exists.
    let p = assert_problem(app.delete_file(Some(&stranger), kept_id).await, 404).await;
    assert_eq!(p["type"], "/problems/not-found");
    assert_eq!(app.media(kept["url"].as_str().unwrap(), &[]).await.status(), 200);
    assert_problem(app.delete_file(None, kept_id).await, 401).await;
    assert_problem(app.delete_file(Some(&owner), "not-an-id").await, 400).await;
    assert_problem(app.delete_file(Some(&owner), &uuid::Uuid::new_v4().to_string()).await, 404).await;

    // The owner deletes one name: it is gone, the bytes stay for the other.
    let resp = app.delete_file(Some(&owner), kept_id).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.media(kept["url"].as_str().unwrap(), &[]).await.status(), 404);
    assert_problem(app.delete_file(Some(&owner), kept_id).await, 404).await;
    assert_eq!(contents_with(&sha).await, 1);
    assert_eq!(app.media(twin["url"].as_str().unwrap(), &[]).await.status(), 200);

    // An admin deletes the last name: the bytes go with it.
    assert_eq!(app.delete_file(Some(&admin), twin_id).await.status(), 204);
    assert_eq!(app.media(twin["url"].as_str().unwrap(), &[]).await.status(), 404);
    assert_eq!(contents_with(&sha).await, 0);

    // The same bytes uploaded again are stored again.
    let again = app.uploaded(&owner, "c.bin", "application/octet-stream", &data).await;
    assert_eq!(contents_with(&sha).await, 1);
    let resp = app.media(again["url"].as_str().unwrap(), &[]).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_slice());
}

/// Deleting the last name while the same bytes are being uploaded again never leaves a name
/// without its bytes: every upload that answered 201 can be downloaded.
#[tokio::test]
async fn deletes_racing_uploads_of_the_same_bytes_lose_nothing() {
    let app = spawn_app();
    let (_, token) = user(Role::Customer);
    let data = unique_bytes(30_000);
    for _ in 0..5 {
        let first = app.uploaded(&token, "x.bin", "application/octet-stream", &data).await;
        let id = first["id"].as_str().unwrap().to_owned();
        let (deleted, uploads) = tokio::join!(
            app.delete_file(Some(&token), &id),
            join_all((0..4).map(|_| app.uploaded(&token, "y.bin", "application/octet-stream", &data)))
        );
        assert_eq!(deleted.status(), 204);
        for upload in uploads {
            let resp = app.media(upload["url"].as_str().unwrap(), &[]).await;
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_slice());
            assert_eq!(app.delete_file(Some(&token), upload["id"].as_str().unwrap()).await.status(), 204);
        }
    }
    assert_eq!(contents_with(&sha256_hex(&data)).await, 0);
}

/// Two names of the same bytes deleted at once: both answer 204 and the bytes go with them,
/// every round (before the fix each delete saw the other's name still there, and the bytes
/// stayed with no name in most rounds).
#[tokio::test]
async fn deleting_two_names_of_the_same_bytes_at_once_leaves_no_orphan() {
    let app = spawn_app();
    let (_, token) = user(Role::Customer);
    for round in 0..10 {
        let data = unique_bytes(5_000);
        let first = app.uploaded(&token, "a.bin", "application/octet-stream", &data).await;
        let second = app.uploaded(&token, "b.bin", "application/octet-stream", &data).await;
        let (a, b) = tokio::join!(
            app.delete_file(Some(&token), first["id"].as_str().unwrap()),
            app.delete_file(Some(&token), second["id"].as_str().unwrap())
        );
        assert_eq!((a.status().as_u16(), b.status().as_u16()), (204, 204), "round {round}");
        assert_eq!(contents_with(&sha256_hex(&data)).await, 0, "round {round}: the bytes outlived their last name");
    }
}

/// An operator finds stored bytes that no name refers to (made here behind the service's back,
/// as a restore or a hand-run delete could) and reclaims them; customers may do neither.
#[tokio::test]
async fn operators_find_and_reclaim_orphaned_bytes() {
    let app = spawn_app();
    let (_, admin) = user(Role::Admin);
    let (_, customer) = user(Role::Customer);
    let data = unique_bytes(3_000);
    let sha = sha256_hex(&data);
    let db = database("files").await;
    db.execute("INSERT INTO file_contents (sha256, size, content) VALUES ($1, $2, $3)", &[&sha, &(data.len() as i64), &data])
        .await
        .expect("an orphan made by hand");
    // A named file is never an orphan.
    let named = app.uploaded(&customer, "kept.bin", "application/octet-stream", &unique_bytes(2_000)).await;

    let orphans = |method: reqwest::Method, token: &str| app.http.request(method, app.url("/api/v1/admin/files/orphans")).bearer_auth(token).send();
    assert_problem(orphans(reqwest::Method::GET, &customer).await.expect("an answer"), 403).await;
    assert_problem(orphans(reqwest::Method::DELETE, &customer).await.expect("an answer"), 403).await;
    assert_eq!(contents_with(&sha).await, 1, "a customer reclaims nothing");

    let found: Value = orphans(reqwest::Method::GET, &admin).await.expect("an answer").json().await.expect("JSON");
    let listed: Vec<&str> = found["sha256"].as_array().expect("a list").iter().filter_map(Value::as_str).collect();
    assert!(listed.contains(&sha.as_str()), "{found}");
    assert!(!listed.contains(&named["sha256"].as_str().unwrap()), "{found}");
    assert!(found["count"].as_u64().unwrap() >= 1 && found["bytes"].as_u64().unwrap() >= data.len() as u64, "{found}");

    let reclaimed = orphans(reqwest::Method::DELETE, &admin).await.expect("an answer");
    assert_eq!(reclaimed.status(), 200);
    let reclaimed: Value = reclaimed.json().await.expect("JSON");
    assert!(reclaimed["reclaimed"].as_u64().unwrap() >= 1, "{reclaimed}");
    assert_eq!(contents_with(&sha).await, 0, "the orphan is reclaimed");
    assert_eq!(app.media(named["url"].as_str().unwrap(), &[]).await.status(), 200, "a named file is untouched");
}

/// Sends `head`, then `body` one byte every 2 s (each inside galley's 10 s body idle timeout,
/// so only the pace can refuse it), and returns the status line and body of the answer.
async fn answer_to_a_trickled_body(base: &str, head: String, body: &[u8]) -> (String, String) {
    let mut socket = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.expect("connect");
    socket.write_all(head.as_bytes()).await.expect("write head");
    let (mut reader, mut writer) = socket.into_split();
    let body = body.to_vec();
    let trickle = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    // Read until the answer is whole (its declared length) or the connection ends.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let whole = |answer: &[u8]| {
        let text = String::from_utf8_lossy(answer);
        let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
        let length = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)));
        length.is_some_and(|n| body.len() >= n)
    };
    while !whole(&answer) {
        match tokio::time::timeout(Duration::from_secs(40), reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    trickle.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// A body that arrives a byte every 2 s is refused with 408 problem+json once it falls behind
/// the pace every body is held to (after 5 s, 1 KiB/s on average), not held until galley's
/// request limit and then cut off with an empty 500. The upload stores nothing.
#[tokio::test]
async fn a_trickled_body_is_a_408_problem_and_stores_nothing() {
    let app = spawn_app();
    let (owner, token) = user(Role::Customer);
    let (content_type, body) = multipart(&[file_part("slow.bin", "application/octet-stream", &unique_bytes(400))]);
    let host = app.base.trim_start_matches("http://");
    let head = format!(
        "POST /api/v1/files HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let (status, problem) = answer_to_a_trickled_body(&app.base, head, &body).await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}: {problem}");
    // (The body may come chunked: the JSON is what stands between its braces.)
    let json = problem.find('{').zip(problem.rfind('}')).map_or("", |(start, end)| &problem[start..=end]);
    let problem: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: a problem body in {problem:?}"));
    assert_eq!(problem["type"], "/problems/body-too-slow");
    assert!(problem["detail"].as_str().unwrap().contains("too slowly"), "{problem}");
    assert_eq!(files_of(&owner).await, 0);

    // A JSON body (a registration) is held to the same pace.
    let json = br#"{"username": "slowpoke", "password": "correct horse battery", "mobile": "13800138000"}"#;
    let head = format!("POST /api/v1/users HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", json.len());
    let (status, problem) = answer_to_a_trickled_body(&app.base, head, json).await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}: {problem}");
    assert!(problem.contains("/problems/body-too-slow"), "{problem}");
}
