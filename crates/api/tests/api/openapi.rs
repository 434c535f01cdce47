//! The OpenAPI document: committed, served, and true to Coder's published one.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::TestApp;
use crate::on_both_backends;

fn root(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_committed_document_matches_the_code() {
    let committed = std::fs::read_to_string(root("openapi/openapi.json")).unwrap_or_default();
    let generated = api::openapi::json().unwrap_or_else(|e| panic!("{e}"));
    assert!(committed == generated, "openapi/openapi.json is out of date: run `cargo xtask openapi` and commit it");
}

/// Fields of Coder's schemas this API deliberately does not carry (features it lacks).
const NOT_CARRIED: &[(&str, &str)] = &[
    ("codersdk.Organization", "default_org_member_roles"),
    ("codersdk.UpdateOrganizationRequest", "default_org_member_roles"),
    ("codersdk.CreateFirstUserRequest", "onboarding_info"),
    ("codersdk.CreateFirstUserRequest", "trial"),
    ("codersdk.CreateFirstUserRequest", "trial_info"),
    ("codersdk.CreateTokenRequest", "allow_list"),
];

fn properties(schema: &Value) -> BTreeSet<String> {
    let mut names: BTreeSet<String> =
        schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(properties(part));
    }
    names
}

#[test]
fn every_coder_route_and_field_is_carried() {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(root("../shared/reference/coder-swagger-orgs.json"))
            .unwrap_or_else(|_| std::fs::read_to_string(root("openapi/coder-swagger-orgs.json")).unwrap_or_default()),
    )
    .unwrap_or(Value::Null);
    if reference.is_null() {
        eprintln!("skipped: Coder's reference swagger is not beside the repository");
        return;
    }
    let ours: Value = serde_json::to_value(api::openapi::document()).unwrap_or_default();
    for (path, item) in reference["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            assert!(ours["paths"][path][method].is_object(), "{method} {path} is missing");
        }
    }
    let schemas = &ours["components"]["schemas"];
    for (name, definition) in reference["definitions"].as_object().into_iter().flatten() {
        let Some(mine) = schemas.get(name) else {
            continue;
        };
        for field in properties(definition) {
            if NOT_CARRIED.contains(&(name.as_str(), field.as_str())) {
                continue;
            }
            assert!(properties(mine).contains(&field), "{name}.{field} is missing");
        }
    }
    for name in
        ["codersdk.Organization", "codersdk.ProvisionerJob", "codersdk.User", "codersdk.Response", "codersdk.APIKey"]
    {
        assert!(schemas.get(name).is_some(), "{name} is not defined");
    }
}

on_both_backends!(the_document_is_served_beside_swagger_ui);

async fn the_document_is_served_beside_swagger_ui(app: TestApp) {
    let client = app.anonymous();
    let served = client.get("/swagger/doc.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, serde_json::to_value(api::openapi::document()).unwrap_or_default());
    assert_eq!(served.body["openapi"], "3.1.0");
    let page = client.get("/swagger/").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    let redirect = client.send(client.request(reqwest::Method::GET, "/swagger")).await;
    assert_eq!(redirect.status, 200, "the redirect leads to the page");
}
