//! CONTRACT §4: the five organization routes, every rule and message.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Cast, TestApp, masked};
use crate::on_both_backends;

const NOT_FOUND: &str = "Resource not found or you do not have access to this resource";

on_both_backends!(
    the_default_organization_exists_from_the_first_start,
    a_new_organization_has_every_field_and_its_creator_as_member,
    the_display_name_defaults_to_the_name,
    invalid_names_fail_validation_with_the_field,
    default_is_reserved_in_any_case,
    names_are_unique_regardless_of_case,
    an_organization_is_found_by_id_name_default_or_nil_uuid,
    an_unknown_organization_is_not_found,
    patch_changes_only_what_it_names,
    patch_refuses_a_taken_or_reserved_name,
    the_default_organization_can_be_renamed_but_not_deleted,
    deletion_is_refused_while_others_still_belong,
    a_deleted_organization_is_gone_and_its_name_free,
    the_list_is_ordered_by_name_and_limited_to_memberships,
    only_owners_create_organizations,
    members_read_admins_change_outsiders_see_nothing,
    unknown_routes_methods_and_query_params_are_refused,
);

fn path(id: impl std::fmt::Display) -> String {
    format!("/api/v2/organizations/{id}")
}

async fn the_default_organization_exists_from_the_first_start(app: TestApp) {
    let owner = app.owner().await;
    let reply = owner.get("/api/v2/organizations").await;
    let expected = json!([{
        "id": "*", "name": "coder", "display_name": "Coder", "description": "Builtin default organization.",
        "icon": "", "created_at": "*", "updated_at": "*", "is_default": true
    }]);
    assert_eq!(masked(reply.body, &["id", "created_at", "updated_at"]), expected);
}

async fn a_new_organization_has_every_field_and_its_creator_as_member(app: TestApp) {
    let owner = app.owner().await;
    let body =
        json!({ "name": "acme", "display_name": "Acme Corp", "description": "Rockets", "icon": "/emojis/1f680.png" });
    let reply = owner.post("/api/v2/organizations", body).await;
    assert_eq!(reply.status, 201);
    let expected = json!({
        "id": "*", "name": "acme", "display_name": "Acme Corp", "description": "Rockets", "icon": "/emojis/1f680.png",
        "created_at": "*", "updated_at": "*", "is_default": false
    });
    assert_eq!(masked(reply.body.clone(), &["id", "created_at", "updated_at"]), expected);
    let created_at = reply.body["created_at"].as_str().unwrap_or_default();
    assert!(created_at.ends_with('Z') && created_at.len() <= 27, "{created_at}");
    let me = owner.get("/api/v2/users/me").await;
    assert!(me.body["organization_ids"].as_array().is_some_and(|ids| ids.contains(&reply.body["id"])));
    let members = owner.get(&format!("{}/members", path(reply.id()))).await;
    assert_eq!(members.body[0]["username"], "owner");
}

async fn the_display_name_defaults_to_the_name(app: TestApp) {
    let owner = app.owner().await;
    let reply = owner.post("/api/v2/organizations", json!({ "name": "Acme-2", "display_name": "" })).await;
    assert_eq!((reply.body["name"].clone(), reply.body["display_name"].clone()), (json!("Acme-2"), json!("Acme-2")));
}

async fn invalid_names_fail_validation_with_the_field(app: TestApp) {
    let owner = app.owner().await;
    for name in ["acme corp", "-acme", "acme-", "a--b", "new", "create", &"a".repeat(33), "acme_corp"] {
        let reply = owner.post("/api/v2/organizations", json!({ "name": name })).await;
        let detail = format!("Validation failed for tag \"organization_name\" with value: \"{name}\"");
        let expected =
            json!({ "message": "Validation failed.", "validations": [{ "field": "name", "detail": detail }] });
        assert_eq!(reply.parts(), (400, expected), "{name}");
    }
    let missing = owner.post("/api/v2/organizations", json!({})).await;
    let detail = "Validation failed for tag \"required\" with value: \"\"";
    assert_eq!(
        missing.parts(),
        (400, json!({ "message": "Validation failed.", "validations": [{ "field": "name", "detail": detail }] }))
    );
    let both = owner.post("/api/v2/organizations", json!({ "name": "a b", "display_name": " padded" })).await;
    let fields: Vec<Value> =
        both.body["validations"].as_array().into_iter().flatten().map(|v| v["field"].clone()).collect();
    assert_eq!(fields, vec![json!("name"), json!("display_name")]);
    let long_display =
        owner.post("/api/v2/organizations", json!({ "name": "ok", "display_name": "d".repeat(65) })).await;
    assert_eq!(long_display.body["validations"][0]["field"], "display_name");
}

async fn default_is_reserved_in_any_case(app: TestApp) {
    let owner = app.owner().await;
    for name in ["default", "Default", "DEFAULT"] {
        let reply = owner.post("/api/v2/organizations", json!({ "name": name })).await;
        assert_eq!(reply.parts(), (400, json!({ "message": "Organization name \"default\" is reserved." })), "{name}");
    }
}

async fn names_are_unique_regardless_of_case(app: TestApp) {
    let owner = app.owner().await;
    owner.create_organization("acme").await;
    for name in ["acme", "ACME", "Acme"] {
        let reply = owner.post("/api/v2/organizations", json!({ "name": name })).await;
        assert_eq!(reply.parts(), (409, json!({ "message": "Organization already exists with that name." })));
    }
    let taken_by_default = owner.post("/api/v2/organizations", json!({ "name": "Coder" })).await;
    assert_eq!(taken_by_default.status, 409);
}

async fn an_organization_is_found_by_id_name_default_or_nil_uuid(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("Acme").await;
    for key in [acme.to_string(), "Acme".into(), "acme".into(), "ACME".into()] {
        assert_eq!(owner.get(&path(&key)).await.id(), acme, "{key}");
    }
    let default = owner.get("/api/v2/organizations/default").await;
    assert_eq!(default.body["is_default"], true);
    assert_eq!(owner.get(&path(Uuid::nil())).await.id(), default.id());
    assert_eq!(owner.get(&path("coder")).await.id(), default.id());
}

async fn an_unknown_organization_is_not_found(app: TestApp) {
    let owner = app.owner().await;
    for key in [Uuid::new_v4().to_string(), "nope".into(), "not a name".into()] {
        assert_eq!(owner.get(&path(&key)).await.parts(), (404, json!({ "message": NOT_FOUND })), "{key}");
    }
}

async fn patch_changes_only_what_it_names(app: TestApp) {
    let owner = app.owner().await;
    let body = json!({ "name": "acme", "display_name": "Acme", "description": "Rockets", "icon": "/emojis/1f680.png" });
    let acme = owner.post("/api/v2/organizations", body).await.id();
    let unchanged = owner.patch(&path(acme), json!({ "name": "", "display_name": "" })).await;
    assert_eq!(
        (unchanged.body["name"].clone(), unchanged.body["display_name"].clone()),
        (json!("acme"), json!("Acme"))
    );
    assert_eq!(unchanged.body["description"], "Rockets");
    let renamed = owner.patch(&path(acme), json!({ "name": "acme-2", "description": "" })).await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["name"], "acme-2");
    assert_eq!(renamed.body["display_name"], "Acme");
    assert_eq!(renamed.body["description"], "");
    assert_eq!(renamed.body["icon"], "/emojis/1f680.png");
    assert_ne!(renamed.body["updated_at"], renamed.body["created_at"]);
    let cleared = owner.patch(&path("acme-2"), json!({ "icon": "" })).await;
    assert_eq!(cleared.body["icon"], "");
    assert_eq!(owner.get(&path("acme")).await.status, 404);
    let invalid = owner.patch(&path(acme), json!({ "display_name": " padded " })).await;
    assert_eq!((invalid.status, invalid.body["message"].clone()), (400, json!("Validation failed.")));
}

async fn patch_refuses_a_taken_or_reserved_name(app: TestApp) {
    let owner = app.owner().await;
    owner.create_organization("acme").await;
    let other = owner.create_organization("other").await;
    let taken = owner.patch(&path(other), json!({ "name": "ACME" })).await;
    let expected = json!({
        "message": "Organization already exists with the name \"ACME\".",
        "validations": [{ "field": "name", "detail": "This value is already in use and should be unique." }]
    });
    assert_eq!(taken.parts(), (409, expected));
    let reserved = owner.patch(&path(other), json!({ "name": "default" })).await;
    assert_eq!(reserved.parts(), (400, json!({ "message": "Organization name \"default\" is reserved." })));
}

async fn the_default_organization_can_be_renamed_but_not_deleted(app: TestApp) {
    let owner = app.owner().await;
    let renamed = owner.patch("/api/v2/organizations/default", json!({ "name": "main" })).await;
    assert_eq!(
        (renamed.status, renamed.body["name"].clone(), renamed.body["is_default"].clone()),
        (200, json!("main"), json!(true))
    );
    let refused = owner.delete("/api/v2/organizations/main").await;
    assert_eq!(refused.parts(), (400, json!({ "message": "Default organization cannot be deleted." })));
}

async fn deletion_is_refused_while_others_still_belong(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let alice = app.user(&owner, "alice", &[acme]).await;
    let bob = app.user(&owner, "bob", &[acme]).await;
    let refused = owner.delete(&path(acme)).await;
    let expected = json!({
        "message": "Error deleting organization.",
        "detail": "This organization has 2 members that must be deleted first."
    });
    assert_eq!(refused.parts(), (409, expected));
    for user in [&alice, &bob] {
        assert_eq!(owner.delete(&format!("{}/members/{}", path(acme), user.user_id)).await.status, 204);
    }
    assert_eq!(owner.delete(&path(acme)).await.status, 200);
}

async fn a_deleted_organization_is_gone_and_its_name_free(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let deleted = owner.delete(&path(acme)).await;
    assert_eq!(deleted.parts(), (200, json!({ "message": "Organization has been deleted." })));
    for key in [acme.to_string(), "acme".into()] {
        assert_eq!(owner.get(&path(&key)).await.status, 404, "{key}");
    }
    assert_eq!(owner.delete(&path(acme)).await.status, 404);
    let names: Vec<Value> = owner
        .get("/api/v2/organizations")
        .await
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("coder")]);
    let me = owner.get("/api/v2/users/me").await;
    assert_eq!(me.body["organization_ids"].as_array().map(Vec::len), Some(1));
    let again = owner.create_organization("acme").await;
    assert_ne!(again, acme);
}

async fn the_list_is_ordered_by_name_and_limited_to_memberships(app: TestApp) {
    let owner = app.owner().await;
    let zeta = owner.create_organization("zeta").await;
    owner.create_organization("Alpha").await;
    owner.create_organization("beta").await;
    let names = |reply: crate::harness::Reply| -> Vec<String> {
        reply.body.as_array().into_iter().flatten().filter_map(|o| o["name"].as_str().map(str::to_owned)).collect()
    };
    assert_eq!(names(owner.get("/api/v2/organizations").await), vec!["Alpha", "beta", "coder", "zeta"]);
    let member = app.user(&owner, "member", &[zeta]).await;
    assert_eq!(names(member.get("/api/v2/organizations").await), vec!["zeta"]);
}

async fn only_owners_create_organizations(app: TestApp) {
    let owner = app.owner().await;
    let member = app.user(&owner, "member", &[]).await;
    let reply = member.post("/api/v2/organizations", json!({ "name": "mine" })).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["message"], "Forbidden.");
}

async fn members_read_admins_change_outsiders_see_nothing(app: TestApp) {
    let Cast { acme, member, admin, outsider, .. } = app.cast().await;
    assert_eq!(member.get(&path(acme)).await.status, 200);
    let forbidden = member.patch(&path(acme), json!({ "display_name": "Mine" })).await;
    assert_eq!((forbidden.status, forbidden.body["message"].clone()), (403, json!("Forbidden.")));
    assert_eq!(member.delete(&path(acme)).await.status, 403);
    assert_eq!(admin.patch(&path(acme), json!({ "display_name": "Ours" })).await.status, 200);
    for reply in [
        outsider.get(&path(acme)).await,
        outsider.get(&path("acme")).await,
        outsider.patch(&path(acme), json!({ "display_name": "Theirs" })).await,
        outsider.delete(&path(acme)).await,
    ] {
        assert_eq!(reply.parts(), (404, json!({ "message": NOT_FOUND })));
    }
}

async fn unknown_routes_methods_and_query_params_are_refused(app: TestApp) {
    let owner = app.owner().await;
    assert_eq!(owner.get("/api/v2/nothing-here").await.parts(), (404, json!({ "message": "Route not found." })));
    let wrong_method = owner.put("/api/v2/organizations", json!({})).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow").as_deref(), Some("GET, POST"));
    let unknown = owner.get("/api/v2/organizations?color=red").await;
    let expected = json!({
        "message": "Invalid query parameters.",
        "validations": [{ "field": "color", "detail": "\"color\" is not a valid query param" }]
    });
    assert_eq!(unknown.parts(), (400, expected));
}
