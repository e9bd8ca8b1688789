//! gRPC `galley.user.v1.UserService` (user-grpc) through a real gRPC client: tonic over
//! cleartext HTTP/2 with prior knowledge, on the same port as the REST API, reading each call's
//! status from the response trailers. Plus gRPC-Web over HTTP/1.1 on the same route, and the
//! same status cases through grpcio (gRPC C-core, behind Python, C++, Ruby, PHP and C#), which
//! is stricter about framing than tonic: `tests/grpc/grpcio_client.py` in `.data/venv-grpc`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use galley_common::auth::{self, Claims, Role};
use galley_common::user_proto::{method_path, UserRequest, UserResponse, GET_USER_INFO};
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::support::{assert_problem, repo_root, spawn_app, spawn_app_with_databases_down, TestApp, TEST_SECRET};

/// A hand-written client for `UserService` (what tonic-build would generate, without protoc).
struct UserServiceClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl UserServiceClient {
    /// One h2c connection to the app: tonic's `http://` channel speaks HTTP/2 with prior
    /// knowledge, never HTTP/1.1.
    async fn connect(app: &TestApp) -> UserServiceClient {
        let channel = Channel::from_shared(app.base.clone()).expect("a valid URI").connect().await.expect("an h2c connection");
        UserServiceClient { grpc: tonic::client::Grpc::new(channel) }
    }

    async fn get_user_info(&mut self, user_id: &str, token: Option<&str>) -> Result<UserResponse, Status> {
        let mut request = tonic::Request::new(UserRequest { user_id: user_id.to_string() });
        if let Some(token) = token {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("an ASCII header value");
            request.metadata_mut().insert("authorization", value);
        }
        self.call(&method_path(GET_USER_INFO), request).await
    }

    async fn call(&mut self, path: &str, request: tonic::Request<UserRequest>) -> Result<UserResponse, Status> {
        self.grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
        let path = http::uri::PathAndQuery::try_from(path).expect("a valid path");
        let codec = tonic_prost::ProstCodec::<UserRequest, UserResponse>::default();
        self.grpc.unary(request, path, codec).await.map(tonic::Response::into_inner)
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn get_user_info_finds_yourself_over_h2c() {
    let app = spawn_app();
    let (user, token) = app.customer("grpc_self").await;
    let id = user["id"].as_str().expect("id");
    let mut client = UserServiceClient::connect(&app).await;
    let found = client.get_user_info(id, Some(&token)).await.expect("GetUserInfo succeeds");
    assert_eq!(found.username, user["username"].as_str().expect("username"));
    assert_eq!(found.mobile, user["mobile"].as_str().expect("mobile"));
    assert_eq!(found.id, id);
    // The id in any letter case names the same user, as in the REST API.
    let found = client.get_user_info(&id.to_uppercase(), Some(&token)).await.expect("upper-case id");
    assert_eq!(found.id, id);
}

#[tokio::test]
async fn not_found_for_a_missing_user_and_for_another_users_id_alike() {
    let app = spawn_app();
    let (_, token) = app.customer("grpc_nf").await;
    let (other, _) = app.customer("grpc_other").await;
    let mut client = UserServiceClient::connect(&app).await;
    let missing = client.get_user_info(&uuid(), Some(&token)).await.expect_err("no such user");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let not_yours = client.get_user_info(other["id"].as_str().expect("id"), Some(&token)).await.expect_err("not yours");
    assert_eq!(not_yours.code(), Code::NotFound, "{not_yours:?}");
    assert_eq!(not_yours.message(), missing.message(), "the two cases cannot be told apart");
}

#[tokio::test]
async fn an_admin_reads_anyone() {
    let app = spawn_app();
    let (user, _) = app.customer("grpc_by_admin").await;
    // An admin token for a user id that need not exist: the role decides, as for REST.
    let admin = auth::issue(&Claims::new(uuid(), Role::Admin, galley_common::unix_now()), TEST_SECRET.as_bytes()).expect("a token");
    let mut client = UserServiceClient::connect(&app).await;
    let found = client.get_user_info(user["id"].as_str().expect("id"), Some(&admin)).await.expect("an admin reads anyone");
    assert_eq!(found.username, user["username"].as_str().expect("username"));
}

#[tokio::test]
async fn missing_or_bad_tokens_are_unauthenticated() {
    let app = spawn_app();
    let (user, _) = app.customer("grpc_auth").await;
    let id = user["id"].as_str().expect("id");
    let mut client = UserServiceClient::connect(&app).await;
    let forged = auth::issue(&Claims::new(id, Role::Admin, galley_common::unix_now()), b"not-the-secret-not-the-secret-0123").expect("a token");
    let expired = auth::issue(&Claims::new(id, Role::Customer, galley_common::unix_now() - 7200), TEST_SECRET.as_bytes()).expect("a token");
    for (what, token) in [("none", None), ("garbage", Some("garbage")), ("forged", Some(forged.as_str())), ("expired", Some(expired.as_str()))] {
        let status = client.get_user_info(id, token).await.expect_err(what);
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
    }
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_an_invalid_argument() {
    let app = spawn_app();
    let (_, token) = app.customer("grpc_bad_id").await;
    let mut client = UserServiceClient::connect(&app).await;
    for id in ["42", "", "not-a-uuid", "7ab45f0f-9291-42eb-922d-130b806315c"] {
        let status = client.get_user_info(id, Some(&token)).await.expect_err(id);
        assert_eq!(status.code(), Code::InvalidArgument, "{id:?}: {status:?}");
        assert_eq!(status.message(), "user_id must be a UUID");
    }
}

#[tokio::test]
async fn an_unknown_method_is_unimplemented_and_compression_is_refused() {
    let app = spawn_app();
    let (user, token) = app.customer("grpc_unimpl").await;
    let mut client = UserServiceClient::connect(&app).await;
    let request = tonic::Request::new(UserRequest { user_id: uuid() });
    let status = client.call(&method_path("DeleteUser"), request).await.expect_err("no such method");
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");

    // A gzip-compressed request: the server offers identity only.
    let channel = Channel::from_shared(app.base.clone()).expect("URI").connect().await.expect("h2c");
    let grpc = tonic::client::Grpc::new(channel).send_compressed(CompressionEncoding::Gzip);
    let mut compressed = UserServiceClient { grpc };
    let status = compressed.get_user_info(user["id"].as_str().expect("id"), Some(&token)).await.expect_err("compressed");
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
}

#[tokio::test]
async fn many_calls_share_one_connection_concurrently() {
    let app = spawn_app();
    let (user, token) = app.customer("grpc_many").await;
    let id = user["id"].as_str().expect("id").to_string();
    // A connector that counts the TCP connections the channel opens.
    let opened = Arc::new(AtomicUsize::new(0));
    let counter = opened.clone();
    let address = app.base.trim_start_matches("http://").to_string();
    let connector = tower::service_fn(move |_: http::Uri| {
        let (counter, address) = (counter.clone(), address.clone());
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let stream = tokio::net::TcpStream::connect(address).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
        }
    });
    let channel = tonic::transport::Endpoint::from_shared(app.base.clone())
        .expect("a valid URI")
        .connect_with_connector(connector)
        .await
        .expect("an h2c connection");
    let grpc = tonic::client::Grpc::new(channel);
    // Every call is started before any is awaited to the end, each on a clone of the channel.
    let calls = (0..20).map(|_| {
        let mut client = UserServiceClient { grpc: grpc.clone() };
        let (id, token) = (id.clone(), token.clone());
        async move { client.get_user_info(&id, Some(&token)).await }
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.expect("each call succeeds").id, id);
    }
    assert_eq!(opened.load(Ordering::SeqCst), 1, "twenty concurrent calls, one HTTP/2 connection");
}

#[tokio::test]
async fn http1_rest_still_answers_on_the_grpc_port() {
    let app = spawn_app();
    let (user, token) = app.customer("grpc_rest").await;
    let id = user["id"].as_str().expect("id");
    let mut client = UserServiceClient::connect(&app).await;
    let over_grpc = client.get_user_info(id, Some(&token)).await.expect("gRPC");
    let response = app.lookup(id, Some(&token)).await;
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(response.status(), 200);
    let over_rest: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(over_rest["username"], over_grpc.username.as_str());
    assert_eq!(over_rest["mobile"], over_grpc.mobile.as_str());
}

#[tokio::test]
async fn a_database_outage_is_unavailable() {
    let app = spawn_app_with_databases_down();
    let id = uuid();
    let token = auth::issue(&Claims::new(id.as_str(), Role::Customer, galley_common::unix_now()), TEST_SECRET.as_bytes()).expect("a token");
    let mut client = UserServiceClient::connect(&app).await;
    let status = client.get_user_info(&id, Some(&token)).await.expect_err("the database is down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

/// gRPC-Web over HTTP/1.1: the same call as bytes, the status in a trailers frame in the body.
#[tokio::test]
async fn grpc_web_over_http1_answers_the_message_and_a_trailers_frame() {
    use prost::Message;
    let app = spawn_app();
    let (user, token) = app.customer("grpc_web").await;
    let id = user["id"].as_str().expect("id");
    let message = UserRequest { user_id: id.to_string() }.encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(&message);
    let response = app
        .http
        .post(app.url(&method_path(GET_USER_INFO)))
        .header("content-type", "application/grpc-web+proto")
        .bearer_auth(&token)
        .body(body)
        .send()
        .await
        .expect("a gRPC-Web answer");
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/grpc-web+proto");
    let bytes = response.bytes().await.expect("body");
    let (flag, length) = (bytes[0], u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes")) as usize);
    assert_eq!(flag, 0, "first the message");
    let found = UserResponse::decode(&bytes[5..5 + length]).expect("a UserResponse");
    assert_eq!(found.id, id);
    let trailers = &bytes[5 + length..];
    assert_eq!(trailers[0], 0x80, "then the trailers frame");
    assert_eq!(&trailers[5..], b"grpc-status: 0\r\n");

    // Refused calls are trailers-only: the status in the headers, no body.
    let response = app
        .http
        .post(app.url(&method_path(GET_USER_INFO)))
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .expect("a gRPC-Web answer");
    assert_eq!(response.headers()["grpc-status"], "16", "no token: UNAUTHENTICATED");
    assert!(response.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn what_is_not_grpc_gets_an_http_status() {
    let app = spawn_app();
    let path = method_path(GET_USER_INFO);
    let response = app.http.get(app.url(&path)).send().await.expect("an answer");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(assert_problem(response, 405).await["type"], "/problems/method-not-allowed");
    let response = app.http.post(app.url(&path)).header("content-type", "application/json").body("{}").send().await.expect("an answer");
    assert_eq!(response.status(), 415);
    assert_eq!(response.headers()["accept"], "application/grpc+proto");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(assert_problem(response, 415).await["type"], "/problems/unsupported-media-type");
}

/// What grpcio made of one call: its status code's name (`OK`, `NOT_FOUND`…), the status
/// message, and the response message's bytes when it succeeded.
#[derive(Debug, serde::Deserialize)]
struct GrpcioOutcome {
    code: String,
    details: String,
    response_hex: Option<String>,
}

/// Makes `calls` (see tests/grpc/grpcio_client.py for their shape) through grpcio against
/// `app`, one after another, in one Python process.
async fn grpcio_calls(app: &TestApp, calls: Vec<serde_json::Value>) -> Vec<GrpcioOutcome> {
    use std::io::Write;
    let python = repo_root().join(".data/venv-grpc/bin/python");
    assert!(python.exists(), "{} is missing: `make test` makes it (scripts/venv.sh .data/venv-grpc tests/grpc/requirements.txt)", python.display());
    let target = app.base.trim_start_matches("http://").to_string();
    let input: String = calls
        .into_iter()
        .map(|mut call| {
            call["target"] = serde_json::Value::String(target.clone());
            format!("{call}\n")
        })
        .collect();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(python)
            .arg(repo_root().join("tests/grpc/grpcio_client.py"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the grpcio client starts");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("the calls are written");
        child.wait_with_output().expect("the grpcio client ends")
    })
    .await
    .expect("the client's thread");
    assert!(output.status.success(), "the grpcio client failed: {:?}", output.status);
    String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).expect("one outcome a line")).collect()
}

/// A `GetUserInfo` call for grpcio: the encoded request and the token, if any.
fn grpcio_get_user_info(user_id: &str, token: Option<&str>) -> serde_json::Value {
    use prost::Message;
    let message = UserRequest { user_id: user_id.to_string() }.encode_to_vec();
    let metadata: Vec<[String; 2]> = token.map(|t| ["authorization".to_string(), format!("Bearer {t}")]).into_iter().collect();
    serde_json::json!({ "method": method_path(GET_USER_INFO), "message_hex": hex::encode(message), "metadata": metadata })
}

#[tokio::test]
async fn grpcio_reads_every_status_the_service_answers() {
    use prost::Message;
    let app = spawn_app();
    let (user, token) = app.customer("grpcio_status").await;
    let id = user["id"].as_str().expect("id");
    let sized = |size: usize| serde_json::json!({ "method": method_path(GET_USER_INFO), "message_size": size, "metadata": [["authorization", format!("Bearer {token}")]] });
    let cases = [
        ("a user reading itself", grpcio_get_user_info(id, Some(&token)), "OK"),
        ("a missing user", grpcio_get_user_info(&uuid(), Some(&token)), "NOT_FOUND"),
        ("no token", grpcio_get_user_info(id, None), "UNAUTHENTICATED"),
        ("a forged token", grpcio_get_user_info(id, Some("not.a.token")), "UNAUTHENTICATED"),
        ("an id that is not a UUID", grpcio_get_user_info("42", Some(&token)), "INVALID_ARGUMENT"),
        ("an unknown method", serde_json::json!({ "method": method_path("DeleteUser"), "message_hex": "" }), "UNIMPLEMENTED"),
        ("a message just over 16 KiB", sized(16 * 1024 + 1), "RESOURCE_EXHAUSTED"),
        ("a 5 MiB message", sized(5 * 1024 * 1024), "RESOURCE_EXHAUSTED"),
    ];
    let outcomes = grpcio_calls(&app, cases.iter().map(|(_, call, _)| call.clone()).collect()).await;
    assert_eq!(outcomes.len(), cases.len());
    for ((what, _, expected), outcome) in cases.iter().zip(&outcomes) {
        assert_eq!(outcome.code, *expected, "{what}: {outcome:?}");
    }
    // The success carries the user, and the statuses carry their messages.
    let response = hex::decode(outcomes[0].response_hex.as_deref().expect("a response")).expect("hex");
    assert_eq!(UserResponse::decode(&response[..]).expect("a UserResponse").id, id);
    assert_eq!(outcomes[4].details, "user_id must be a UUID");
    assert!(outcomes[6].details.contains("larger than"), "{:?}", outcomes[6]);
}

#[tokio::test]
async fn grpcio_sees_a_database_outage_as_unavailable() {
    let app = spawn_app_with_databases_down();
    let id = uuid();
    let token = auth::issue(&Claims::new(id.as_str(), Role::Customer, galley_common::unix_now()), TEST_SECRET.as_bytes()).expect("a token");
    let outcomes = grpcio_calls(&app, vec![grpcio_get_user_info(&id, Some(&token))]).await;
    assert_eq!(outcomes[0].code, "UNAVAILABLE", "{:?}", outcomes[0]);
}
