//! CONTRACT §3: organization members and their roles.

use serde_json::json;

use crate::harness::{TestApp, masked};
use crate::on_both_backends;

on_both_backends!(
    members_are_listed_with_their_user_data,
    admins_add_and_remove_members,
    adding_an_existing_member_or_unknown_user_is_refused,
    the_last_member_cannot_be_removed,
    nobody_changes_their_own_membership,
    the_admin_role_is_given_and_taken,
);

async fn members_are_listed_with_their_user_data(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let alice = app.user(&owner, "alice", &[acme]).await;
    owner.make_admin(acme, &alice).await;
    let listed = alice.get(&format!("/api/v2/organizations/{acme}/members")).await;
    let expected = json!([
        {
            "username": "alice", "name": "", "avatar_url": "", "email": "alice@example.com", "global_roles": [],
            "user_id": alice.user_id, "organization_id": acme, "created_at": "*", "updated_at": "*",
            "roles": [{ "name": "organization-admin", "display_name": "Organization Admin", "organization_id": acme.to_string() }]
        },
        {
            "username": "owner", "name": "Owner", "avatar_url": "", "email": "owner@example.com",
            "global_roles": [{ "name": "owner", "display_name": "Owner" }],
            "user_id": owner.user_id, "organization_id": acme, "created_at": "*", "updated_at": "*", "roles": []
        }
    ]);
    assert_eq!(masked(listed.body, &["created_at", "updated_at"]), expected);
}

async fn admins_add_and_remove_members(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let admin = app.user(&owner, "admin", &[acme]).await;
    owner.make_admin(acme, &admin).await;
    let bob = app.user(&owner, "bob", &[]).await;
    let added = admin.post(&format!("/api/v2/organizations/{acme}/members/bob"), json!({})).await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!((added.body["user_id"].clone(), added.body["roles"].clone()), (json!(bob.user_id), json!([])));
    assert_eq!(bob.get(&format!("/api/v2/organizations/{acme}")).await.status, 200);
    let removed = admin.delete(&format!("/api/v2/organizations/{acme}/members/{}", bob.user_id)).await;
    assert_eq!(removed.status, 204);
    assert_eq!(bob.get(&format!("/api/v2/organizations/{acme}")).await.status, 404);
    assert_eq!(admin.delete(&format!("/api/v2/organizations/{acme}/members/bob")).await.status, 404);
}

async fn adding_an_existing_member_or_unknown_user_is_refused(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let again = owner.post(&format!("/api/v2/organizations/{acme}/members/owner"), json!({})).await;
    assert_eq!(again.parts(), (400, json!({ "message": "Organization member already exists in this organization" })));
    let unknown = owner.post(&format!("/api/v2/organizations/{acme}/members/nobody"), json!({})).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["message"], "\"user\" must be an existing uuid or username.");
}

async fn the_last_member_cannot_be_removed(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let alice = app.user(&owner, "alice", &[acme]).await;
    let second_owner = app.user(&owner, "second", &[]).await;
    owner.put(&format!("/api/v2/users/{}/roles", second_owner.user_id), json!({ "roles": ["owner"] })).await;
    assert_eq!(second_owner.delete(&format!("/api/v2/organizations/{acme}/members/owner")).await.status, 204);
    let last = second_owner.delete(&format!("/api/v2/organizations/{acme}/members/{}", alice.user_id)).await;
    assert_eq!(last.parts(), (400, json!({ "message": "An organization must keep at least one member." })));
}

async fn nobody_changes_their_own_membership(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let leave = owner.delete(&format!("/api/v2/organizations/{acme}/members/me")).await;
    assert_eq!(leave.parts(), (400, json!({ "message": "cannot remove self from an organization" })));
    let roles = owner.put(&format!("/api/v2/organizations/{acme}/members/me/roles"), json!({ "roles": [] })).await;
    let expected = json!({
        "message": "You cannot change your own organization roles.",
        "detail": "Another user with the appropriate permissions must change your roles."
    });
    assert_eq!(roles.parts(), (400, expected));
}

async fn the_admin_role_is_given_and_taken(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let alice = app.user(&owner, "alice", &[acme]).await;
    let path = format!("/api/v2/organizations/{acme}/members/{}/roles", alice.user_id);
    assert_eq!(alice.patch(&format!("/api/v2/organizations/{acme}"), json!({ "display_name": "A" })).await.status, 403);
    owner.make_admin(acme, &alice).await;
    assert_eq!(alice.patch(&format!("/api/v2/organizations/{acme}"), json!({ "display_name": "A" })).await.status, 200);
    let taken = owner.put(&path, json!({ "roles": [] })).await;
    assert_eq!(taken.body["roles"], json!([]));
    assert_eq!(alice.patch(&format!("/api/v2/organizations/{acme}"), json!({ "display_name": "B" })).await.status, 403);
    let unknown = owner.put(&path, json!({ "roles": ["owner"] })).await;
    assert_eq!(unknown.parts(), (400, json!({ "message": "role \"owner\" does not exist" })));
}
