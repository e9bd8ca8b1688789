//! End-to-end: the user functions over real HTTP, against `galley` and the test Postgres.

use std::io::Write;
use std::process::{Command, Stdio};

use galley_common::auth::{self, Claims, Role, TOKEN_TTL_SECS};
use serde_json::{json, Value};
use crate::support::*;

#[tokio::test]
async fn register_then_token_then_lookup() {
    let app = spawn_app();
    let name = unique_username("Round");
    let resp = app.register(&name, "a-good-password").await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let user: Value = resp.json().await.unwrap();
    assert_eq!(user["username"], name.as_str());
    assert_eq!(user["mobile"], MOBILE);
    assert_eq!(user["role"], "customer");
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    let id = user["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/users/{id}"));
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "only id, username, mobile, role, created_at: {keys:?}");

    // Login is case-insensitive on the username, like uniqueness.
    let resp = app.token(&name.to_uppercase(), "a-good-password").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let claims = auth::verify(token, TEST_SECRET.as_bytes()).expect("HS256 JWT signed with auth_secret");
    assert_eq!(claims.sub, id);
    assert_eq!(claims.role, Role::Customer);
    assert_eq!(claims.exp - claims.iat, TOKEN_TTL_SECS);

    let resp = app.lookup(id, Some(token)).await;
    assert_eq!(resp.status(), 200);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me, user);
}

#[tokio::test]
async fn missing_fields_are_422_naming_the_field() {
    let app = spawn_app();
    let full = json!({"username": unique_username("miss"), "password": "a-good-password", "mobile": MOBILE});
    for field in ["username", "password", "mobile"] {
        let mut body = full.clone();
        body.as_object_mut().unwrap().remove(field);
        let p = assert_problem(app.post_json("/api/v1/users", &body).await, 422).await;
        assert!(p["detail"].as_str().unwrap().contains(field), "{p}");
    }
    let p = assert_problem(app.post_json("/api/v1/auth/token", &json!({"username": "x"})).await, 422).await;
    assert!(p["detail"].as_str().unwrap().contains("password"), "{p}");
}

#[tokio::test]
async fn wrong_types_are_422() {
    let app = spawn_app();
    let body = json!({"username": 42, "password": "a-good-password", "mobile": MOBILE});
    let p = assert_problem(app.post_json("/api/v1/users", &body).await, 422).await;
    assert!(p["detail"].as_str().unwrap().contains("invalid type"), "{p}");
    let body = json!({"username": "someone", "password": ["a"]});
    assert_problem(app.post_json("/api/v1/auth/token", &body).await, 422).await;
    // A body that is JSON but not an object.
    assert_problem(app.post_raw("/api/v1/users", "[1,2]").await, 422).await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app();
    for body in ["{\"username\": ", "not json", ""] {
        let p = assert_problem(app.post_raw("/api/v1/users", body).await, 400).await;
        assert_eq!(p["type"], "/problems/malformed-body");
        assert_problem(app.post_raw("/api/v1/auth/token", body).await, 400).await;
    }
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn_app();
    let padding = "x".repeat(64 * 1024);
    let body = json!({"username": unique_username("big"), "password": padding, "mobile": MOBILE}).to_string();
    assert_problem(app.post_raw("/api/v1/users", body.clone()).await, 413).await;
    assert_problem(app.post_raw("/api/v1/auth/token", body).await, 413).await;
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let app = spawn_app();
    let resp = app.http.post(app.url("/api/v1/users")).header("content-type", "text/plain").body("hi").send().await.unwrap();
    assert_problem(resp, 415).await;
}

#[tokio::test]
async fn bad_field_values_are_422_saying_what_was_wrong() {
    let app = spawn_app();
    let cases = [
        (json!({"username": unique_username("mob"), "password": "a-good-password", "mobile": "12800138000"}), "mobile"),
        (json!({"username": unique_username("mob"), "password": "a-good-password", "mobile": "1380013800"}), "mobile"),
        (json!({"username": unique_username("pw"), "password": "short", "mobile": MOBILE}), "password"),
        (json!({"username": unique_username("pw"), "password": "p".repeat(129), "mobile": MOBILE}), "password"),
        (json!({"username": "ab", "password": "a-good-password", "mobile": MOBILE}), "username"),
        (json!({"username": "no spaces allowed", "password": "a-good-password", "mobile": MOBILE}), "username"),
        (json!({"username": "x".repeat(33), "password": "a-good-password", "mobile": MOBILE}), "username"),
    ];
    for (body, field) in cases {
        let p = assert_problem(app.post_json("/api/v1/users", &body).await, 422).await;
        assert_eq!(p["type"], "/problems/validation");
        assert!(p["detail"].as_str().unwrap().contains(field), "{field}: {p}");
    }
    // Nothing was written for any of them.
    let resp = app.token("ab", "a-good-password").await;
    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn a_client_cannot_choose_its_role() {
    let app = spawn_app();
    let body = json!({"username": unique_username("eve"), "password": "a-good-password", "mobile": MOBILE, "role": "admin"});
    assert_problem(app.post_json("/api/v1/users", &body).await, 422).await;
}

#[tokio::test]
async fn duplicate_username_in_any_letter_case_is_409() {
    let app = spawn_app();
    let name = unique_username("Dup");
    assert_eq!(app.register(&name, "a-good-password").await.status(), 201);
    for variant in [name.clone(), name.to_lowercase(), name.to_uppercase()] {
        let p = assert_problem(app.register(&variant, "another-password").await, 409).await;
        assert_eq!(p["type"], "/problems/username-taken");
    }
    // The original password still works: the duplicates changed nothing.
    app.token_for(&name, "a-good-password").await;
}

#[tokio::test]
async fn fifty_concurrent_registrations_of_one_name_yield_one_201() {
    let app = spawn_app();
    let name = unique_username("race");
    let attempts = (0..50).map(|i| {
        let app = &app;
        let name = if i % 2 == 0 { name.clone() } else { name.to_uppercase() };
        async move { app.register(&name, "a-good-password").await.status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = spawn_app();
    let (user, _) = app.customer("pw").await;
    let name = user["username"].as_str().unwrap();
    let mut wrong = assert_problem(app.token(name, "not-the-password").await, 401).await;
    let mut unknown = assert_problem(app.token(&unique_username("ghost"), "not-the-password").await, 401).await;
    wrong.as_object_mut().unwrap().remove("trace_id");
    unknown.as_object_mut().unwrap().remove("trace_id");
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let app = spawn_app();
    let (user, token) = app.customer("tok").await;
    let id = user["id"].as_str().unwrap();
    let now = galley_common::unix_now();

    let expired = auth::issue(&Claims::new(id, Role::Customer, now - 2 * TOKEN_TTL_SECS), TEST_SECRET.as_bytes()).unwrap();
    let other_secret = auth::issue(&Claims::new(id, Role::Admin, now), b"some-other-secret-some-other-secret!").unwrap();
    // Tampered: the payload of an admin token on the customer token's signature.
    let admin_payload = other_secret.split('.').nth(1).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], admin_payload, parts[2]);

    for bad in [expired.as_str(), other_secret.as_str(), tampered.as_str(), "not.a.jwt", "garbage"] {
        let resp = app.lookup(id, Some(bad)).await;
        assert_eq!(resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
        let p = assert_problem(resp, 401).await;
        assert_eq!(p["type"], "/problems/unauthorized");
    }
    assert_problem(app.lookup(id, None).await, 401).await;
    // The good token still works.
    assert_eq!(app.lookup(id, Some(&token)).await.status(), 200);
}

#[tokio::test]
async fn reading_another_user_is_the_same_404_as_a_missing_one() {
    let app = spawn_app();
    let (alice, alice_token) = app.customer("alice").await;
    let (bob, _) = app.customer("bob").await;
    let bob_id = bob["id"].as_str().unwrap();
    let mut other = assert_problem(app.lookup(bob_id, Some(&alice_token)).await, 404).await;
    let mut missing = assert_problem(app.lookup(&uuid::Uuid::new_v4().to_string(), Some(&alice_token)).await, 404).await;
    let mut malformed = assert_problem(app.lookup("not-an-id", Some(&alice_token)).await, 404).await;
    for p in [&mut other, &mut missing, &mut malformed] {
        p.as_object_mut().unwrap().remove("trace_id");
    }
    assert_eq!(other, missing);
    assert_eq!(other, malformed);
    assert_eq!(app.lookup(alice["id"].as_str().unwrap(), Some(&alice_token)).await.status(), 200);
}

/// The documented bootstrap (`make admin` runs this binary): the password comes on stdin.
fn create_admin(username: &str, password: &str) {
    let bin = std::env::var("GALLEY_ADMIN_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target/release/galley-admin"));
    let mut child = Command::new(&bin)
        .args(["--port", &pg_port(), "--username", username, "--mobile", MOBILE])
        .arg("--secrets-file")
        .arg(repo_root().join(".data/test/db-secrets.env"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "galley-admin failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(!printed.contains(password), "galley-admin printed the password");
}

#[tokio::test]
async fn an_admin_created_with_the_bootstrap_tool_reads_anyone() {
    let app = spawn_app();
    let admin = unique_username("admin");
    create_admin(&admin, "admin-password-from-stdin");
    let token = app.token_for(&admin, "admin-password-from-stdin").await;
    let claims = auth::verify(&token, TEST_SECRET.as_bytes()).unwrap();
    assert_eq!(claims.role, Role::Admin);

    let (carol, _) = app.customer("carol").await;
    let resp = app.lookup(carol["id"].as_str().unwrap(), Some(&token)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), carol);
    assert_problem(app.lookup(&uuid::Uuid::new_v4().to_string(), Some(&token)).await, 404).await;
    // The admin's name is taken like any other.
    assert_problem(app.register(&admin.to_uppercase(), "a-good-password").await, 409).await;
}

#[tokio::test]
async fn problems_carry_the_inbound_trace_id() {
    let app = spawn_app();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = app
        .http
        .post(app.url("/api/v1/users"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    let p = assert_problem(resp, 400).await;
    assert_eq!(p["trace_id"], trace);
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let app = spawn_app();
    let resp = app.http.get(app.url("/api/v1/users")).send().await.unwrap();
    assert_eq!(resp.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"), "a 405 says what is allowed");
    assert_problem(resp, 405).await;
    assert_problem(app.http.get(app.url("/api/v1/auth/token")).send().await.unwrap(), 405).await;
    let (user, token) = app.customer("meth").await;
    let resp = app.http.delete(app.url(&format!("/api/v1/users/{}", user["id"].as_str().unwrap()))).bearer_auth(token).send().await.unwrap();
    assert_problem(resp, 405).await;
}

#[tokio::test]
async fn no_password_or_hash_in_any_response_or_log_line() {
    let app = spawn_app();
    let name = unique_username("quiet");
    let password = format!("leak-canary-{}", uuid::Uuid::new_v4().simple());
    let created = app.register(&name, &password).await.text().await.unwrap();
    let token_body = app.token(&name, &password).await.text().await.unwrap();
    let wrong = app.token(&name, &format!("{password}-wrong")).await.text().await.unwrap();
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"].as_str().unwrap().to_owned();
    let token = serde_json::from_str::<Value>(&token_body).unwrap()["access_token"].as_str().unwrap().to_owned();
    let looked_up = app.lookup(&id, Some(&token)).await.text().await.unwrap();
    let log = app.host_log();
    for text in [&created, &token_body, &wrong, &looked_up, &log] {
        assert!(!text.contains(&password), "password leaked: {text}");
        assert!(!text.contains("$argon2"), "hash leaked: {text}");
        assert!(!text.contains("password_hash"), "hash column leaked: {text}");
    }
}

// ---- What an outsider found (the defects report): each test below failed before its fix. ----

#[tokio::test]
async fn a_nul_character_in_any_text_field_is_a_422_before_any_query() {
    let app = spawn_app();
    // The unauthenticated token route, whose username goes straight into a query.
    let p = assert_problem(app.post_raw("/api/v1/auth/token", r#"{"username":"a\u0000","password":"x"}"#).await, 422).await;
    assert!(p["detail"].as_str().unwrap().contains("NUL"), "{p}");
    let name = unique_username("nul");
    let body = format!(r#"{{"username":"{name}","password":"a-good-pass\u0000word","mobile":"{MOBILE}"}}"#);
    assert_problem(app.post_raw("/api/v1/users", body).await, 422).await;
    // Nothing was registered.
    assert_problem(app.token(&name, "a-good-password").await, 401).await;
}

#[tokio::test]
async fn a_customer_reads_their_own_record_whatever_the_letter_case_of_the_id() {
    let app = spawn_app();
    let (user, token) = app.customer("case").await;
    let id = user["id"].as_str().unwrap();
    let resp = app.lookup(&id.to_uppercase(), Some(&token)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["id"], id, "the canonical id comes back");
}

#[tokio::test]
async fn a_body_without_a_content_type_is_415() {
    let app = spawn_app();
    let body = json!({"username": unique_username("noct"), "password": "a-good-password", "mobile": MOBILE}).to_string();
    for path in ["/api/v1/users", "/api/v1/auth/token"] {
        let resp = app.http.post(app.url(path)).body(body.clone()).send().await.unwrap();
        let p = assert_problem(resp, 415).await;
        assert!(p["detail"].as_str().unwrap().contains("application/json"), "{p}");
    }
}

#[tokio::test]
async fn error_details_speak_json_never_rust() {
    let app = spawn_app();
    let bodies = [
        "[1,2]".to_string(),
        r#""just a string""#.to_string(),
        json!({"username": 42, "password": "a-good-password", "mobile": MOBILE}).to_string(),
        json!({"username": "someone", "password": {"a": 1}, "mobile": MOBILE}).to_string(),
        json!({"username": "someone", "password": 1.5, "mobile": MOBILE}).to_string(),
    ];
    for body in bodies {
        for path in ["/api/v1/users", "/api/v1/auth/token"] {
            let p = assert_problem(app.post_raw(path, body.clone()).await, 422).await;
            let detail = p["detail"].as_str().unwrap();
            for rust in ["struct", "Request", "i64", "u32", "sequence", "map", "floating"] {
                assert!(!detail.contains(rust), "{path} {body}: `{rust}` in {detail:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_database_outage_is_a_fast_503_that_says_when_to_retry() {
    let app = spawn_app_with_databases_down();
    let resp = app.token("nobody_at_all", "a-good-password").await;
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_problem(resp, 503).await;
    let secs: u64 = retry_after.expect("retry-after on a 503").parse().expect("delay-seconds");
    assert!(secs > 0);
}

#[tokio::test]
async fn head_reads_like_get_without_a_body() {
    let app = spawn_app();
    let (user, token) = app.customer("head").await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let resp = app.http.head(app.url(&path)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp = app.http.head(app.url(&path)).send().await.unwrap();
    assert_eq!(resp.status(), 401, "HEAD is authorised as GET is");
    // A route that only writes still refuses it.
    let resp = app.http.head(app.url("/api/v1/users")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

/// A client address of this test run's own, so no other test's failures count against it.
fn fresh_address() -> String {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    format!("10.{}.{}.{}", bytes[0], bytes[1], bytes[2])
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_username_briefly_and_then_let_the_user_in() {
    let app = spawn_app();
    let name = unique_username("locked");
    assert_eq!(app.register(&name, "a-good-password").await.status(), 201);
    // From a different address each time: only the username's count is at work. Five failures
    // are free; the sixth locks the username for 2 s.
    for _ in 0..6 {
        assert_problem(app.token_from(&name, "a-wrong-password", &fresh_address()).await, 401).await;
    }
    // Locked: even the right password is refused, before it is checked.
    let locked = app.token_from(&name, "a-good-password", &fresh_address()).await;
    assert_eq!(locked.status(), 429);
    let retry_after: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let problem = assert_problem(locked, 429).await;
    assert_eq!(problem["type"], "/problems/too-many-attempts");

    // Not for ever: after Retry-After the real user gets in, and that clears the count.
    tokio::time::sleep(std::time::Duration::from_millis(retry_after * 1000 + 300)).await;
    assert_eq!(app.token_from(&name, "a-good-password", &fresh_address()).await.status(), 200);
    assert_problem(app.token_from(&name, "a-wrong-password", &fresh_address()).await, 401).await;
}

#[tokio::test]
async fn an_address_that_keeps_failing_is_locked_whatever_username_it_tries_and_only_it() {
    let app = spawn_app();
    let guesser = fresh_address();
    // Thirty failures are free; the next locks the address for 5 s.
    for i in 0..31 {
        assert_problem(app.token_from(&unique_username(&format!("guess{i}")), "a-wrong-password", &guesser).await, 401).await;
    }
    let name = unique_username("bystander");
    assert_eq!(app.register(&name, "a-good-password").await.status(), 201);
    let refused = app.token_from(&name, "a-good-password", &guesser).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // The same user from anywhere else is not affected.
    assert_eq!(app.token_from(&name, "a-good-password", &fresh_address()).await.status(), 200);
}

#[tokio::test]
async fn every_answer_forbids_type_sniffing_and_names_no_server() {
    let app = spawn_app();
    let (user, token) = app.customer("headers").await;
    let answers = [
        app.lookup(user["id"].as_str().unwrap(), Some(&token)).await,
        app.lookup(user["id"].as_str().unwrap(), None).await,
        app.post_raw("/api/v1/users", "not json").await,
        app.http.delete(app.url("/api/v1/auth/token")).send().await.unwrap(),
    ];
    for answer in answers {
        let status = answer.status();
        assert_eq!(answer.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{status}");
        assert!(!answer.headers().contains_key("server"), "{status}: a server banner");
    }
}

#[tokio::test]
async fn during_a_key_rotation_old_and_new_tokens_are_accepted_and_after_it_only_the_listed_keys() {
    const NEW_SECRET: &str = "a-new-auth-secret-a-new-auth-secret-0123456789";
    // The shared host signs with TEST_SECRET; this one has rotated to NEW_SECRET, TEST_SECRET previous.
    let rotated = spawn_app_with(HostOptions {
        env: vec![
            ("SPIN_VARIABLE_AUTH_SECRET".into(), NEW_SECRET.into()),
            ("SPIN_VARIABLE_AUTH_SECRET_PREVIOUS".into(), TEST_SECRET.into()),
        ],
        ..HostOptions::default()
    });
    let name = unique_username("rotating");
    let created: Value = rotated.register(&name, "a-good-password").await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();

    // A token signed with the previous secret still reads the user.
    let old = auth::issue(&Claims::new(id, Role::Customer, galley_common::unix_now()), TEST_SECRET.as_bytes()).unwrap();
    assert_eq!(rotated.lookup(id, Some(&old)).await.status(), 200);
    // New tokens are signed with the new secret, and say so in their kid.
    let new = rotated.token_for(&name, "a-good-password").await;
    assert_eq!(auth::token_key_id(&new), Some(auth::key_id(NEW_SECRET.as_bytes())));
    assert_eq!(rotated.lookup(id, Some(&new)).await.status(), 200);

    // A host that does not list the new secret refuses its tokens, whatever the user.
    let unrotated = spawn_app();
    assert_problem(unrotated.lookup(id, Some(&new)).await, 401).await;
}
