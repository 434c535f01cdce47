//! CONTRACT §2: the first user, signing in and out, and every way a token is refused.

use chrono::Duration;
use domain::auth::{LoginType, NewApiKey};
use domain::repo::ApiKeyRepo;
use serde_json::json;

use crate::harness::{PASSWORD, TestApp};
use crate::on_both_backends;

const SIGNED_OUT: &str = "You are signed out or your session has expired. Please sign in again to continue.";

on_both_backends!(
    first_user_is_reported_missing_then_present,
    the_first_user_is_an_owner_in_the_default_organization,
    the_first_user_can_be_created_only_once,
    a_weak_first_password_is_not_strong_enough,
    invalid_first_user_fields_are_all_listed,
    a_token_is_read_from_cookie_query_header_and_bearer,
    wrong_password_and_unknown_email_get_the_same_answer,
    requests_without_a_token_are_signed_out,
    malformed_tokens_are_refused_with_the_format_error,
    unknown_ids_and_wrong_secrets_are_refused,
    an_expired_token_says_when_it_expired,
    logout_ends_the_session_and_clears_the_cookie,
    a_body_that_is_not_json_is_refused,
    a_body_that_is_not_a_json_object_is_refused,
    a_body_over_one_mebibyte_is_too_large,
    a_session_slides_forward_at_most_once_an_hour,
    a_token_records_use_but_keeps_its_expiry,
);

async fn first_user_is_reported_missing_then_present(app: TestApp) {
    let anonymous = app.anonymous();
    let before = anonymous.get("/api/v2/users/first").await;
    assert_eq!(before.parts(), (404, json!({ "message": "The initial user has not been created!" })));
    app.owner().await;
    let after = anonymous.get("/api/v2/users/first").await;
    assert_eq!(after.parts(), (200, json!({ "message": "The initial user has already been created!" })));
}

async fn the_first_user_is_an_owner_in_the_default_organization(app: TestApp) {
    let owner = app.owner().await;
    let me = owner.get("/api/v2/users/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["roles"], json!([{ "name": "owner", "display_name": "Owner" }]));
    let default = owner.get("/api/v2/organizations/default").await;
    assert_eq!(me.body["organization_ids"], json!([default.body["id"]]));
    assert_eq!(me.body["username"], "owner");
    assert_eq!(me.body["status"], "active");
}

async fn the_first_user_can_be_created_only_once(app: TestApp) {
    app.owner().await;
    let body = json!({ "email": "again@example.com", "username": "again", "password": PASSWORD });
    let again = app.anonymous().post("/api/v2/users/first", body).await;
    assert_eq!(again.parts(), (409, json!({ "message": "The initial user has already been created." })));
}

async fn a_weak_first_password_is_not_strong_enough(app: TestApp) {
    let body = json!({ "email": "admin@example.com", "username": "admin", "password": "password1" });
    let reply = app.anonymous().post("/api/v2/users/first", body).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["message"], "Password not strong enough!");
    assert_eq!(reply.body["validations"][0]["field"], "password");
    assert!(reply.body["validations"][0]["detail"].as_str().is_some_and(|d| !d.is_empty()));
    let still_none = app.anonymous().get("/api/v2/users/first").await;
    assert_eq!(still_none.status, 404);
}

async fn invalid_first_user_fields_are_all_listed(app: TestApp) {
    let body = json!({ "email": "not-an-email", "username": "bad name", "password": "" });
    let reply = app.anonymous().post("/api/v2/users/first", body).await;
    let expected = json!({
        "message": "Validation failed.",
        "validations": [
            { "field": "email", "detail": "Validation failed for tag \"email\" with value: \"not-an-email\"" },
            { "field": "username", "detail": "Validation failed for tag \"username\" with value: \"bad name\"" },
            { "field": "password", "detail": "Validation failed for tag \"required\" with value: \"\"" },
        ]
    });
    assert_eq!(reply.parts(), (400, expected));
}

async fn a_token_is_read_from_cookie_query_header_and_bearer(app: TestApp) {
    let owner = app.owner().await;
    let token = owner.token.clone().unwrap_or_default();
    let anonymous = app.anonymous();
    let login = app.login("owner@example.com", PASSWORD).await;
    let cookie = login.header("set-cookie").unwrap_or_default();
    assert!(cookie.starts_with("coder_session_token="), "{cookie}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let me = "/api/v2/users/me";
    let by_cookie =
        anonymous.request(reqwest::Method::GET, me).header("Cookie", format!("coder_session_token={token}"));
    let by_query = anonymous.request(reqwest::Method::GET, &format!("{me}?coder_session_token={token}"));
    let by_header = anonymous.request(reqwest::Method::GET, me).header("Coder-Session-Token", &token);
    let by_bearer = anonymous.request(reqwest::Method::GET, me).header("Authorization", format!("Bearer {token}"));
    for request in [by_cookie, by_query, by_header, by_bearer] {
        let reply = anonymous.send(request).await;
        assert_eq!((reply.status, reply.body["username"].clone()), (200, json!("owner")));
    }
    // Taken out of the URL before logging, the token leaves the other parameters intact.
    let with_others = anonymous.get(&format!("/api/v2/organizations?coder_session_token={token}")).await;
    assert_eq!(with_others.status, 200);
    let jobs = format!("/api/v2/organizations/default/provisionerjobs?limit=abc&coder_session_token={token}");
    assert_eq!(anonymous.get(&jobs).await.body["validations"][0]["field"], "limit");
    // The cookie comes first: a bad cookie is not rescued by a good header.
    let both = anonymous
        .request(reqwest::Method::GET, me)
        .header("Cookie", "coder_session_token=abcdefghij-abcdefghijklmnopqrstuv")
        .header("Coder-Session-Token", &token);
    assert_eq!(anonymous.send(both).await.status, 401);
}

async fn wrong_password_and_unknown_email_get_the_same_answer(app: TestApp) {
    app.owner().await;
    let expected = (401, json!({ "message": "Incorrect email or password." }));
    assert_eq!(app.login("owner@example.com", "wrong-horse-battery-staple").await.parts(), expected);
    assert_eq!(app.login("nobody@example.com", PASSWORD).await.parts(), expected);
    assert_eq!(app.login("OWNER@example.com", PASSWORD).await.status, 201);
}

async fn requests_without_a_token_are_signed_out(app: TestApp) {
    let reply = app.anonymous().get("/api/v2/organizations").await;
    let expected = json!({ "message": SIGNED_OUT, "detail": "Cookie \"coder_session_token\" or query parameter must be provided." });
    assert_eq!(reply.parts(), (401, expected));
}

async fn malformed_tokens_are_refused_with_the_format_error(app: TestApp) {
    let anonymous = app.anonymous();
    let cases = [
        ("nodash", "Invalid API key format: incorrect amount of API key parts, expected 2 got 1"),
        ("short-abcdefghijklmnopqrstuv", "Invalid API key format: invalid API key ID length, expected 10 got 5"),
        ("abcdefghij-short", "Invalid API key format: invalid API key secret length, expected 22 got 5"),
    ];
    for (token, detail) in cases {
        let reply = anonymous.with_token(token).get("/api/v2/organizations").await;
        assert_eq!(reply.parts(), (401, json!({ "message": SIGNED_OUT, "detail": detail })), "{token}");
    }
}

async fn unknown_ids_and_wrong_secrets_are_refused(app: TestApp) {
    let owner = app.owner().await;
    let token = owner.token.clone().unwrap_or_default();
    let unknown = app.anonymous().with_token("abcdefghij-abcdefghijklmnopqrstuv").get("/api/v2/users/me").await;
    assert_eq!(unknown.parts(), (401, json!({ "message": SIGNED_OUT, "detail": "API key is invalid." })));
    let wrong_secret = format!("{}-abcdefghijklmnopqrstuv", &token[..10]);
    let reply = app.anonymous().with_token(&wrong_secret).get("/api/v2/users/me").await;
    assert_eq!(reply.parts(), (401, json!({ "message": SIGNED_OUT, "detail": "API key secret is invalid." })));
}

async fn an_expired_token_says_when_it_expired(app: TestApp) {
    let owner = app.owner().await;
    let created = owner
        .post("/api/v2/users/me/keys/tokens", json!({ "lifetime": 1_000_000_000i64, "token_name": "brief" }))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let token = created.body["key"].as_str().unwrap_or_default().to_owned();
    assert_eq!(owner.with_token(&token).get("/api/v2/users/me").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let reply = owner.with_token(&token).get("/api/v2/users/me").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["message"], SIGNED_OUT);
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("API key expired at \"") && detail.ends_with(" +0000 UTC\"."), "{detail}");
}

async fn logout_ends_the_session_and_clears_the_cookie(app: TestApp) {
    let owner = app.owner().await;
    let reply = owner.post("/api/v2/users/logout", json!({})).await;
    assert_eq!(reply.parts(), (200, json!({ "message": "Logged out!" })));
    let cookie = reply.header("set-cookie").unwrap_or_default();
    assert!(cookie.starts_with("coder_session_token=;") && cookie.contains("Max-Age=0"), "{cookie}");
    let after = owner.get("/api/v2/users/me").await;
    assert_eq!(after.parts(), (401, json!({ "message": SIGNED_OUT, "detail": "API key is invalid." })));
}

async fn a_body_that_is_not_json_is_refused(app: TestApp) {
    let owner = app.owner().await;
    let request = owner.request(reqwest::Method::POST, "/api/v2/organizations").body("{not json");
    let reply = owner.send(request).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["message"], "Request body must be valid JSON.");
    assert!(reply.body["detail"].is_string());
    assert_eq!(reply.header("content-type").as_deref(), Some("application/json; charset=utf-8"));
    let wrong_type = owner.post("/api/v2/organizations", json!({ "name": 5 })).await;
    assert_eq!(
        (wrong_type.status, wrong_type.body["message"].clone()),
        (400, json!("Request body must be valid JSON."))
    );
}

/// serde would fill a struct from an array field by field; a request body is an object.
async fn a_body_that_is_not_a_json_object_is_refused(app: TestApp) {
    let owner = app.owner().await;
    for body in [json!([]), json!(["ci"]), json!("ci"), json!(5), json!(null)] {
        let reply = owner.post("/api/v2/users/me/keys/tokens", body.clone()).await;
        let expected = json!({ "message": "Request body must be valid JSON.", "detail": "expected a JSON object" });
        assert_eq!(reply.parts(), (400, expected), "{body}");
    }
    assert_eq!(owner.get("/api/v2/users/me/keys/tokens").await.body, json!([]), "no token was made");
    let jobs = "/api/v2/organizations/default/provisionerjobs";
    for nested in [json!({ "input": [null, null] }), json!({ "metadata": ["docker"] })] {
        let mut body = json!({ "type": "template_version_import" });
        for (key, value) in nested.as_object().into_iter().flatten() {
            body[key] = value.clone();
        }
        let reply = owner.post(jobs, body).await;
        assert_eq!(
            (reply.status, reply.body["message"].clone()),
            (400, json!("Request body must be valid JSON.")),
            "{nested}"
        );
    }
    assert_eq!(owner.get(jobs).await.body, json!([]), "no job was made");
}

async fn a_body_over_one_mebibyte_is_too_large(app: TestApp) {
    let owner = app.owner().await;
    let huge = json!({ "name": "big", "description": "x".repeat(1 << 20) });
    let reply = owner.post("/api/v2/organizations", huge).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.body["message"], "Request body too large.");
}

/// A key as if made `age` ago (no route can backdate one), and its token.
fn aged_key(app: &TestApp, user: uuid::Uuid, login_type: LoginType, age: Duration) -> (String, String) {
    let token = api::secrets::new_api_token();
    let key = NewApiKey::new(&token, user, login_type, String::new(), Duration::hours(24));
    app.state.store.insert_api_key(key, api::state::now() - age).unwrap_or_else(|e| panic!("{e}"));
    (token.id().to_owned(), token.to_string())
}

fn stored(app: &TestApp, id: &str) -> domain::auth::ApiKey {
    app.state.store.api_key(id).ok().flatten().unwrap_or_else(|| panic!("key {id} is gone"))
}

async fn a_session_slides_forward_at_most_once_an_hour(app: TestApp) {
    let owner = app.owner().await;
    let (id, token) = aged_key(&app, owner.user_id, LoginType::Password, Duration::hours(2));
    let before = stored(&app, &id);
    assert_eq!(owner.with_token(&token).get("/api/v2/users/me").await.status, 200);
    let slid = stored(&app, &id);
    assert!(
        slid.expires_at > before.expires_at + Duration::minutes(110),
        "{:?} -> {:?}",
        before.expires_at,
        slid.expires_at
    );
    assert!(slid.last_used > before.last_used + Duration::minutes(110));
    assert_eq!(owner.with_token(&token).get("/api/v2/users/me").await.status, 200);
    assert_eq!(stored(&app, &id), slid, "a second use within the hour writes nothing");
}

async fn a_token_records_use_but_keeps_its_expiry(app: TestApp) {
    let owner = app.owner().await;
    let (id, token) = aged_key(&app, owner.user_id, LoginType::Token, Duration::hours(2));
    let before = stored(&app, &id);
    assert_eq!(owner.with_token(&token).get("/api/v2/users/me").await.status, 200);
    let after = stored(&app, &id);
    assert_eq!(after.expires_at, before.expires_at);
    assert!(after.last_used > before.last_used + Duration::minutes(110));
}
