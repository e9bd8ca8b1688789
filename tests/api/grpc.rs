//! gRPC `galley.user.v1.UserService` (user-grpc) through a real gRPC client: tonic over
//! cleartext HTTP/2 with prior knowledge, on the same port as the REST API, reading each call's
//! status from the response trailers. Plus gRPC-Web over HTTP/1.1 on the same route.

use galley_common::auth::{self, Claims, Role};
use galley_common::user_proto::{method_path, UserRequest, UserResponse, GET_USER_INFO};
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::support::{spawn_app, spawn_app_with_databases_down, TestApp, TEST_SECRET};

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
    let client = UserServiceClient::connect(&app).await;
    // tonic's channel multiplexes every clone onto the one HTTP/2 connection.
    let calls = (0..20).map(|_| {
        let mut client = UserServiceClient { grpc: client.grpc.clone() };
        let (id, token) = (id.clone(), token.clone());
        async move { client.get_user_info(&id, Some(&token)).await }
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.expect("each call succeeds").id, id);
    }
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
    let response = app.http.post(app.url(&path)).header("content-type", "application/json").body("{}").send().await.expect("an answer");
    assert_eq!(response.status(), 415);
}
