//! The OpenAPI 3.1 document, generated from the routes themselves.

use actix_web::App;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::extract::DAEMON_KEY_HEADER;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coder organizations and provisioner jobs API",
        description = "A Coder-compatible `/api/v2` for organizations, users, tokens, membership and the \
                       provisioner job queue. Authenticate with the `Coder-Session-Token` header (or the \
                       `coder_session_token` cookie or query parameter, or `Authorization: Bearer`). Provisioner \
                       daemons authenticate with `Coder-Provisioner-Daemon-Key`.",
        license(name = "AGPL-3.0-only")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "Authorization", description = "Signing in and out"),
        (name = "Users", description = "Accounts, site roles and API tokens"),
        (name = "Organizations", description = "Tenants"),
        (name = "Members", description = "Who belongs to an organization, with which role"),
        (name = "Provisioning", description = "Provisioner jobs, keys and daemons of an organization"),
        (name = "Provisioner daemons", description = "The plain-HTTP protocol daemons speak"),
        (name = "General", description = "Health"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let header = |name: &str| SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(name)));
        components.add_security_scheme("CoderSessionToken", header("Coder-Session-Token"));
        components.add_security_scheme("Authorization", header("Authorization"));
        components.add_security_scheme("CoderProvisionerDaemonKey", header(DAEMON_KEY_HEADER));
    }
}

/// The document, without starting a server.
pub fn document() -> Document {
    let (_, document) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(utoipa_actix_web::scope("/api/v2").configure(crate::routes::api_v2))
        .configure(crate::routes::root)
        .split_for_parts();
    document
}

/// The document as committed in `openapi/openapi.json`.
pub fn json() -> Result<String, serde_json::Error> {
    document().to_pretty_json().map(|mut text| {
        text.push('\n');
        text
    })
}
