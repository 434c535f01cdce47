//! CONTRACT §3: users, their status and site roles.

use serde_json::json;
use uuid::Uuid;

use crate::harness::{PASSWORD, TestApp, masked};
use crate::on_both_backends;

on_both_backends!(
    an_owner_creates_a_user_in_the_default_organization,
    a_user_can_join_several_organizations_at_creation,
    creating_a_user_in_an_unknown_organization_is_not_found,
    duplicate_usernames_and_emails_are_conflicts,
    weak_passwords_are_refused_by_the_estimator,
    users_are_found_by_id_username_or_me,
    unknown_and_unreadable_users_get_the_same_answer,
    only_owners_list_and_create_users,
    a_suspended_user_is_refused_at_once_and_can_be_reactivated,
    owners_cannot_suspend_or_demote_themselves,
    site_roles_can_be_granted_and_taken,
    a_user_lists_its_organizations,
    a_deleted_user_is_gone_but_its_jobs_stay,
    nobody_deletes_themselves_or_an_organizations_last_member,
);

async fn an_owner_creates_a_user_in_the_default_organization(app: TestApp) {
    let owner = app.owner().await;
    let body =
        json!({ "email": "alice@example.com", "username": "alice", "name": "Alice Liddell", "password": PASSWORD });
    let reply = owner.post("/api/v2/users", body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let default = owner.get("/api/v2/organizations/default").await.body["id"].clone();
    let expected = json!({
        "id": "*", "username": "alice", "avatar_url": "", "name": "Alice Liddell", "email": "alice@example.com",
        "created_at": "*", "updated_at": "*", "last_seen_at": "*", "status": "active", "login_type": "password",
        "theme_preference": "", "is_service_account": false, "has_ai_seat": false,
        "organization_ids": [default], "roles": []
    });
    assert_eq!(masked(reply.body, &["id", "created_at", "updated_at", "last_seen_at"]), expected);
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status, 201);
}

async fn a_user_can_join_several_organizations_at_creation(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let other = owner.create_organization("other").await;
    let alice = app.user(&owner, "alice", &[acme, other]).await;
    let mut ids: Vec<String> = alice.get("/api/v2/users/me").await.body["organization_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    ids.sort();
    let mut expected = vec![acme.to_string(), other.to_string()];
    expected.sort();
    assert_eq!(ids, expected);
}

async fn creating_a_user_in_an_unknown_organization_is_not_found(app: TestApp) {
    let owner = app.owner().await;
    let missing = Uuid::new_v4();
    let body =
        json!({ "email": "a@example.com", "username": "a", "password": PASSWORD, "organization_ids": [missing] });
    let reply = owner.post("/api/v2/users", body).await;
    let message = format!("Organization does not exist with the provided id \"{missing}\".");
    assert_eq!(reply.parts(), (404, json!({ "message": message })));
    assert_eq!(owner.get("/api/v2/users/a").await.status, 400);
}

async fn duplicate_usernames_and_emails_are_conflicts(app: TestApp) {
    let owner = app.owner().await;
    app.user(&owner, "alice", &[]).await;
    for (username, email) in [("ALICE", "other@example.com"), ("other", "Alice@Example.com")] {
        let body = json!({ "email": email, "username": username, "password": PASSWORD });
        let reply = owner.post("/api/v2/users", body).await;
        assert_eq!(reply.parts(), (409, json!({ "message": "User already exists." })), "{username} {email}");
    }
}

async fn weak_passwords_are_refused_by_the_estimator(app: TestApp) {
    let owner = app.owner().await;
    for password in ["password", "alice12345", "qwertyuiop123"] {
        let body = json!({ "email": "alice@example.com", "username": "alice", "password": password });
        let reply = owner.post("/api/v2/users", body).await;
        assert_eq!(
            (reply.status, reply.body["message"].clone()),
            (400, json!("Password not strong enough!")),
            "{password}"
        );
        assert_eq!(reply.body["validations"][0]["field"], "password");
    }
}

async fn users_are_found_by_id_username_or_me(app: TestApp) {
    let owner = app.owner().await;
    let alice = app.user(&owner, "alice", &[]).await;
    for key in [alice.user_id.to_string(), "alice".into(), "ALICE".into()] {
        assert_eq!(owner.get(&format!("/api/v2/users/{key}")).await.id(), alice.user_id, "{key}");
    }
    assert_eq!(alice.get("/api/v2/users/me").await.id(), alice.user_id);
    assert_eq!(alice.get("/api/v2/users/alice").await.id(), alice.user_id);
}

async fn unknown_and_unreadable_users_get_the_same_answer(app: TestApp) {
    let owner = app.owner().await;
    let alice = app.user(&owner, "alice", &[]).await;
    app.user(&owner, "bob", &[]).await;
    let message = "\"user\" must be an existing uuid or username.";
    let unknown = owner.get("/api/v2/users/nobody").await;
    assert_eq!(unknown.parts(), (400, json!({ "message": message, "detail": "queried user=\"nobody\"" })));
    let missing_id = Uuid::new_v4();
    let by_id = owner.get(&format!("/api/v2/users/{missing_id}")).await;
    assert_eq!(by_id.parts(), (400, json!({ "message": message, "detail": format!("queried user=\"{missing_id}\"") })));
    let unreadable = alice.get("/api/v2/users/bob").await;
    assert_eq!(unreadable.parts(), (400, json!({ "message": message, "detail": "queried user=\"bob\"" })));
}

async fn only_owners_list_and_create_users(app: TestApp) {
    let owner = app.owner().await;
    let alice = app.user(&owner, "alice", &[]).await;
    let listed = owner.get("/api/v2/users").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["count"], 2);
    let usernames: Vec<_> =
        listed.body["users"].as_array().into_iter().flatten().map(|u| u["username"].clone()).collect();
    assert_eq!(usernames, vec![json!("alice"), json!("owner")]);
    assert_eq!(alice.get("/api/v2/users").await.status, 403);
    let body = json!({ "email": "b@example.com", "username": "b", "password": PASSWORD });
    assert_eq!(alice.post("/api/v2/users", body).await.status, 403);
}

async fn a_suspended_user_is_refused_at_once_and_can_be_reactivated(app: TestApp) {
    let owner = app.owner().await;
    let alice = app.user(&owner, "alice", &[]).await;
    let token = alice.post("/api/v2/users/me/keys/tokens", json!({ "token_name": "ci" })).await.body["key"].clone();
    let suspended = owner.put(&format!("/api/v2/users/{}/status/suspend", alice.user_id), json!({})).await;
    assert_eq!((suspended.status, suspended.body["status"].clone()), (200, json!("suspended")));
    let message = "User is not active (status = \"suspended\"). Contact an admin to reactivate your account.";
    assert_eq!(alice.get("/api/v2/users/me").await.parts(), (401, json!({ "message": message })));
    let by_token = alice.with_token(token.as_str().unwrap_or_default()).get("/api/v2/users/me").await;
    assert_eq!(by_token.status, 401);
    let login = app.login("alice@example.com", PASSWORD).await;
    let login_message = "Your account is suspended. Contact an admin to reactivate your account.";
    assert_eq!(login.parts(), (401, json!({ "message": login_message })));
    let active = owner.put(&format!("/api/v2/users/{}/status/activate", alice.user_id), json!({})).await;
    assert_eq!(active.body["status"], "active");
    assert_eq!(alice.get("/api/v2/users/me").await.status, 200);
}

async fn owners_cannot_suspend_or_demote_themselves(app: TestApp) {
    let owner = app.owner().await;
    let suspend = owner.put("/api/v2/users/me/status/suspend", json!({})).await;
    assert_eq!(suspend.parts(), (400, json!({ "message": "You cannot suspend yourself." })));
    let roles = owner.put("/api/v2/users/me/roles", json!({ "roles": [] })).await;
    assert_eq!(roles.parts(), (400, json!({ "message": "You cannot change your own roles." })));
    let alice = app.user(&owner, "alice", &[]).await;
    owner.put(&format!("/api/v2/users/{}/roles", alice.user_id), json!({ "roles": ["owner"] })).await;
    let other_owner = owner.put(&format!("/api/v2/users/{}/status/suspend", alice.user_id), json!({})).await;
    let message = "You cannot suspend a user with the \"owner\" role. You must remove the role first.";
    assert_eq!(other_owner.parts(), (400, json!({ "message": message })));
}

async fn site_roles_can_be_granted_and_taken(app: TestApp) {
    let owner = app.owner().await;
    let alice = app.user(&owner, "alice", &[]).await;
    let path = format!("/api/v2/users/{}/roles", alice.user_id);
    let granted = owner.put(&path, json!({ "roles": ["owner"] })).await;
    assert_eq!(granted.body["roles"], json!([{ "name": "owner", "display_name": "Owner" }]));
    assert_eq!(alice.get("/api/v2/users").await.status, 200);
    let taken = owner.put(&path, json!({ "roles": ["member"] })).await;
    assert_eq!(taken.body["roles"], json!([]));
    assert_eq!(alice.get("/api/v2/users").await.status, 403);
    let unknown = owner.put(&path, json!({ "roles": ["emperor"] })).await;
    assert_eq!(unknown.parts(), (400, json!({ "message": "role \"emperor\" does not exist" })));
    let by_member = alice.put("/api/v2/users/owner/roles", json!({ "roles": [] })).await;
    assert_eq!(by_member.status, 400);
}

async fn a_user_lists_its_organizations(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    owner.create_organization("other").await;
    let alice = app.user(&owner, "alice", &[acme]).await;
    let listed = alice.get("/api/v2/users/me/organizations").await;
    let names: Vec<_> = listed.body.as_array().into_iter().flatten().map(|o| o["name"].clone()).collect();
    assert_eq!(names, vec![json!("acme")]);
    assert_eq!(alice.get("/api/v2/users/me/organizations/ACME").await.id(), acme);
    assert_eq!(alice.get("/api/v2/users/me/organizations/other").await.status, 404);
    assert_eq!(owner.get(&format!("/api/v2/users/{}/organizations/acme", alice.user_id)).await.id(), acme);
}

async fn a_deleted_user_is_gone_but_its_jobs_stay(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let alice = app.user(&owner, "alice", &[]).await;
    let token = alice.post("/api/v2/users/me/keys/tokens", json!({})).await.body["key"].clone();
    let job = alice.create_job(default, json!({})).await;
    let deleted = owner.delete(&format!("/api/v2/users/{}", alice.user_id)).await;
    assert_eq!(deleted.parts(), (200, json!({ "message": "User has been deleted!" })));
    assert_eq!(alice.get("/api/v2/users/me").await.status, 401);
    assert_eq!(alice.with_token(token.as_str().unwrap_or_default()).get("/api/v2/users/me").await.status, 401);
    assert_eq!(owner.get("/api/v2/users/alice").await.status, 400);
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status, 401);
    assert_eq!(owner.get("/api/v2/users").await.body["count"], 1);
    let kept = owner.job(default, job).await;
    assert_eq!((kept.status, kept.body["initiator_id"].clone()), (200, json!(alice.user_id)));
    // The name is free again.
    app.user(&owner, "alice", &[]).await;
}

async fn nobody_deletes_themselves_or_an_organizations_last_member(app: TestApp) {
    let owner = app.owner().await;
    let me = owner.delete("/api/v2/users/me").await;
    assert_eq!(me.parts(), (403, json!({ "message": "You cannot delete yourself!" })));
    let acme = owner.create_organization("acme").await;
    let alice = app.user(&owner, "alice", &[acme]).await;
    let second = app.user(&owner, "second", &[]).await;
    owner.put(&format!("/api/v2/users/{}/roles", second.user_id), json!({ "roles": ["owner"] })).await;
    assert_eq!(second.delete(&format!("/api/v2/organizations/{acme}/members/owner")).await.status, 204);
    let refused = second.delete(&format!("/api/v2/users/{}", alice.user_id)).await;
    let message =
        "User is the last member of organization \"acme\"; add another member or delete the organization first.";
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.body["message"], message);
    assert_eq!(alice.delete(&format!("/api/v2/users/{}", second.user_id)).await.status, 400);
}
