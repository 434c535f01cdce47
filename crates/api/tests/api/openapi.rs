//! The OpenAPI document: committed, served, and true to Coder's published one.

use std::collections::BTreeSet;

use serde_json::{Value, json};

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

on_both_backends!(
    the_document_is_served_beside_swagger_ui,
    literal_paths_answer_other_methods_with_405_and_their_own_allow
);

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

/// `/users/first`, `/users/login` and `/users/logout` shadow `/users/{user}` for every method,
/// as the document reads them.
async fn literal_paths_answer_other_methods_with_405_and_their_own_allow(app: TestApp) {
    let owner = app.owner().await;
    let cases = [
        ("OPTIONS", "/api/v2/users/first", "GET, POST"),
        ("DELETE", "/api/v2/users/first", "GET, POST"),
        ("OPTIONS", "/api/v2/users/login", "POST"),
        ("GET", "/api/v2/users/login", "POST"),
        ("OPTIONS", "/api/v2/users/logout", "POST"),
        ("DELETE", "/api/v2/users/logout", "POST"),
        ("DELETE", "/api/v2/users/me/keys/tokens", "GET, POST"),
        ("OPTIONS", "/api/v2/organizations", "GET, POST"),
    ];
    for (method, path, allow) in cases {
        let reply = owner.call(method, path, None).await;
        assert_eq!(reply.parts(), (405, json!({ "message": "Method not allowed." })), "{method} {path}");
        assert_eq!(reply.header("allow").as_deref(), Some(allow), "{method} {path}");
    }
    assert_eq!(owner.get("/api/v2/users/owner").await.status, 200, "a parameter still matches other names");
}

fn document() -> Value {
    serde_json::to_value(api::openapi::document()).unwrap_or_default()
}

fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            all.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    all
}

#[test]
fn every_operation_documents_the_answers_its_shape_allows() {
    let document = document();
    for (method, path, operation) in operations(&document) {
        let answers = &operation["responses"];
        let has = |status: &str| answers.get(status).is_some();
        assert!(has("400"), "{method} {path}: unknown query parameters are answered 400");
        if path.starts_with("/api/v2/") {
            assert!(has("429") && has("503"), "{method} {path}: rate limits and an absent database");
            let retry = &answers["429"]["headers"]["Retry-After"];
            assert!(retry.is_object(), "{method} {path}: 429 says when to come back");
        }
        let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(
            has("401"),
            secured || path == "/api/v2/users/login",
            "{method} {path}: 401 exactly where a credential is checked"
        );
        assert_eq!(has("413"), operation.get("requestBody").is_some(), "{method} {path}: 413 where a body is read");
        for (status, answer) in answers.as_object().into_iter().flatten() {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &answer["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/codersdk.Response", "{method} {path} {status}");
            }
        }
    }
    let not_allowed = &document["components"]["responses"]["MethodNotAllowed"];
    assert!(not_allowed["headers"]["Allow"].is_object(), "405 carries Allow");
}

#[test]
fn field_rules_come_from_the_domain() {
    use domain::organization::{DisplayName, OrganizationName};
    let document = document();
    let schemas = &document["components"]["schemas"];
    let name = &schemas["codersdk.CreateOrganizationRequest"]["properties"]["name"];
    let rule = OrganizationName::rule();
    assert_eq!(name["maxLength"], json!(rule.max_chars));
    assert_eq!(name["minLength"], json!(rule.min_chars));
    assert_eq!(name["pattern"], json!(rule.pattern.map(|p| p.as_str())));
    assert_eq!(name["not"]["pattern"], json!(rule.excluded.map(|p| p.as_str())));
    assert_eq!(schemas["codersdk.CreateOrganizationRequest"]["required"], json!(["name"]));
    let display = &schemas["codersdk.UpdateOrganizationRequest"]["properties"]["display_name"];
    assert_eq!(display["maxLength"], json!(DisplayName::MAX_CHARS));
    let job = &schemas["api.CreateProvisionerJobRequest"];
    assert_eq!(job["required"], json!(["type"]));
    assert_eq!(
        job["properties"]["type"]["enum"],
        json!(["template_version_import", "workspace_build", "template_version_dry_run"])
    );
    assert_eq!(job["properties"]["tags"]["maxProperties"], json!(64));
    let daemon = &document["paths"]["/api/v2/provisionerdaemons"]["post"]["parameters"][0];
    assert_eq!(
        (daemon["name"].clone(), daemon["schema"]["pattern"].clone()),
        (json!("Coder-Provisioner-Daemon-Key"), json!("^[a-zA-Z0-9]{43}$"))
    );
}

#[test]
fn links_lead_to_operations_that_take_the_parameters_they_fill() {
    let document = document();
    let all = operations(&document);
    let mut count = 0;
    for (method, path, operation) in &all {
        for (status, answer) in operation["responses"].as_object().into_iter().flatten() {
            for (name, link) in answer["links"].as_object().into_iter().flatten() {
                count += 1;
                let target = link["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} {status} {name}: no operationId"));
                let (_, _, found) = all
                    .iter()
                    .find(|(_, _, o)| o["operationId"] == target)
                    .unwrap_or_else(|| panic!("{name} leads to {target}, which does not exist"));
                let takes: Vec<&str> =
                    found["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
                for qualified in link["parameters"].as_object().into_iter().flatten().map(|(p, _)| p.as_str()) {
                    let parameter = qualified.split_once('.').map_or(qualified, |(_, name)| name);
                    assert!(takes.contains(&parameter), "{name}: {target} takes no {parameter}");
                }
            }
        }
    }
    assert!(count >= 20, "the stateful paths are linked ({count} links)");
}
