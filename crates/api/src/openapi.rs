//! The OpenAPI 3.1 document, generated from the routes themselves, then completed in one place
//! with the answers every operation can give for reasons of its shape rather than its purpose.

use actix_web::App;
use actix_web::http::StatusCode;
use utoipa::openapi::content::Content;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::link::Link;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::Response as Answer;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayItems, KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_actix_web::AppExt;

use crate::extract::{DAEMON_KEY_HEADER, MAX_BODY_BYTES};
use crate::wire::Response;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coder organizations and provisioner jobs API",
        description = "A Coder-compatible `/api/v2` for organizations, users, tokens, membership and the \
                       provisioner job queue. Authenticate with the `Coder-Session-Token` header (or the \
                       `coder_session_token` cookie or query parameter, or `Authorization: Bearer`). Provisioner \
                       daemons authenticate with `Coder-Provisioner-Daemon-Key`.\n\n\
                       Every error is a `codersdk.Response`. Besides what each operation lists for its own \
                       purpose, any operation may answer 400 (an unknown query parameter, or a request it \
                       cannot read), 429 (too many requests) and 503 (the database is unavailable); those \
                       that need a credential 401, those that take a body 413, those naming a resource in \
                       their path 404. A path served with other methods answers 405 with an `Allow` header.",
        license(name = "AGPL-3.0-only")
    ),
    modifiers(&SecuritySchemes),
    components(schemas(Response)),
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
    let (_, mut document) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(utoipa_actix_web::scope("/api/v2").configure(crate::routes::api_v2))
        .configure(crate::routes::root)
        .split_for_parts();
    complete(&mut document);
    document
}

/// The document as committed in `openapi/openapi.json`.
pub fn json() -> Result<String, serde_json::Error> {
    document().to_pretty_json().map(|mut text| {
        text.push('\n');
        text
    })
}

/// What an operation is made of, as far as its common answers depend on it.
struct Shape {
    api: bool,
    credential: bool,
    daemon_key: bool,
    body: bool,
    query: bool,
    /// Path parameters naming something that may not exist (`{user}` is answered 400).
    resource: bool,
}

impl Shape {
    fn of(path: &str, operation: &Operation) -> Self {
        let daemon_key = operation.security.iter().flatten().any(|requirement| {
            serde_json::to_value(requirement).is_ok_and(|v| v.get("CoderProvisionerDaemonKey").is_some())
        });
        let parameters = || operation.parameters.iter().flatten();
        Self {
            api: path.starts_with("/api/v2/"),
            credential: operation.security.as_ref().is_some_and(|security| !security.is_empty()),
            daemon_key,
            body: operation.request_body.is_some(),
            query: parameters().any(|p| matches!(p.parameter_in, ParameterIn::Query)),
            resource: parameters().any(|p| matches!(p.parameter_in, ParameterIn::Path) && p.name != "user"),
        }
    }

    /// Why a request may be unreadable, in the terms the answers use.
    fn bad_request(&self) -> String {
        let mut causes = vec!["an unknown query parameter (`Invalid query parameters.`)"];
        if self.query {
            causes.push("a query parameter that cannot be read (`Invalid query parameters.`)");
        }
        if self.body {
            causes.push("a body that is not JSON (`Request body must be valid JSON.`)");
            causes.push("broken field rules (`Validation failed.`, one entry per field)");
        }
        format!("The request cannot be read: {}.", causes.join("; "))
    }
}

/// The canonical form of a UUID, the one this server writes. JSON Schema reads `format` as a
/// note rather than a rule, so every UUID states its form as a pattern as well.
const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// Adds the answers an operation can give because of its shape, gives every error answer the
/// `codersdk.Response` body, lets daemon operations state their key's format, and every UUID its
/// pattern.
fn complete(document: &mut Document) {
    let components = document.components.get_or_insert_with(Default::default);
    components.responses.insert("MethodNotAllowed".into(), RefOr::T(method_not_allowed()));
    for schema in components.schemas.values_mut() {
        pattern_uuids(schema, &format!("^{UUID}$"));
    }
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            let shape = Shape::of(path, operation);
            if shape.daemon_key {
                operation.parameters.get_or_insert_with(Vec::new).push(daemon_key_parameter());
            }
            for parameter in operation.parameters.iter_mut().flatten() {
                if let Some(schema) = &mut parameter.schema {
                    match parameter.parameter_in {
                        // An empty query value means the parameter's default, so the pattern
                        // takes it, and the format (which would not) is left to the pattern.
                        ParameterIn::Query => {
                            query_uuids(schema);
                            or_empty(schema);
                        }
                        _ => pattern_uuids(schema, &format!("^{UUID}$")),
                    }
                }
            }
            // A cause the operation states itself comes first; the common ones follow it.
            let mut add = |status: StatusCode, description: &str| {
                let answers = &mut operation.responses.responses;
                match answers.entry(status.as_str().to_owned()).or_insert_with(|| RefOr::T(Answer::new(""))) {
                    RefOr::T(answer) if answer.description.is_empty() => answer.description = description.to_owned(),
                    RefOr::T(answer) => answer.description = format!("{} {description}", answer.description),
                    RefOr::Ref(_) => {}
                }
            };
            add(StatusCode::BAD_REQUEST, &shape.bad_request());
            if shape.api {
                add(StatusCode::TOO_MANY_REQUESTS, "Too many requests; `Retry-After` says how many seconds to wait.");
                add(StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable; try again later.");
            }
            if shape.credential {
                add(
                    StatusCode::UNAUTHORIZED,
                    "No credential, or one that is malformed, unknown, expired or of a suspended user.",
                );
            }
            if shape.body {
                let limit = format!("The body is larger than {MAX_BODY_BYTES} bytes.");
                add(StatusCode::PAYLOAD_TOO_LARGE, &limit);
            }
            if shape.resource {
                add(StatusCode::NOT_FOUND, "Not found, or not visible to the caller.");
            }
            for (status, answer) in operation.responses.responses.iter_mut() {
                if let RefOr::T(answer) = answer {
                    dress(status, answer);
                    answer.links.values_mut().for_each(spell_link);
                }
            }
        }
    }
}

/// A number or flag in a query may also be given empty, which means its default.
fn or_empty(schema: &mut RefOr<Schema>) {
    let RefOr::T(Schema::Object(object)) = schema else {
        return;
    };
    if !matches!(object.schema_type, SchemaType::Type(Type::Integer | Type::Boolean)) {
        return;
    }
    let given = std::mem::take(object);
    let empty = ObjectBuilder::new().schema_type(Type::String).max_length(Some(0));
    *schema = RefOr::T(Schema::AnyOf(AnyOfBuilder::new().item(given).item(empty).build()));
}

/// A UUID query parameter, or a list of them: the pattern of one or nothing, no format.
fn query_uuids(schema: &mut RefOr<Schema>) {
    let uuid = SchemaFormat::KnownFormat(KnownFormat::Uuid);
    let object = match schema {
        RefOr::T(Schema::Object(object)) => Some(object),
        RefOr::T(Schema::Array(array)) => match &mut array.items {
            ArrayItems::RefOrSchema(items) => match items.as_mut() {
                RefOr::T(Schema::Object(object)) => Some(object),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    if let Some(object) = object.filter(|object| object.format.as_ref() == Some(&uuid)) {
        object.format = None;
        object.pattern = Some(format!("^(?:{UUID})?$"));
    }
}

/// Gives every string of `format: uuid` in `schema` the pattern of one.
fn pattern_uuids(schema: &mut RefOr<Schema>, pattern: &str) {
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            if object.format == Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)) && object.pattern.is_none() {
                object.pattern = Some(pattern.to_owned());
            }
            object.properties.values_mut().for_each(|property| pattern_uuids(property, pattern));
            if let Some(AdditionalProperties::RefOr(values)) = object.additional_properties.as_deref_mut() {
                pattern_uuids(values, pattern);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                pattern_uuids(items, pattern);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(|item| pattern_uuids(item, pattern)),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(|item| pattern_uuids(item, pattern)),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(|item| pattern_uuids(item, pattern)),
        _ => {}
    }
}

/// An error answer without a body gets `codersdk.Response`; a 429 says when to come back.
fn dress(status: &str, answer: &mut Answer) {
    if !status.starts_with('4') && !status.starts_with('5') {
        return;
    }
    if answer.content.is_empty() {
        let body = Content::new(Some(RefOr::Ref(Ref::from_schema_name(Response::name()))));
        answer.content.insert("application/json".into(), body);
    }
    if status == StatusCode::TOO_MANY_REQUESTS.as_str() {
        answer.headers.insert("Retry-After".into(), header(Type::Integer, "Seconds until a request may succeed."));
    }
}

/// utoipa 5 writes a link's `operationId`, `operationRef` and `requestBody` in snake case,
/// which no OpenAPI reader knows; they are moved to the keys the specification names.
fn spell_link(link: &mut RefOr<Link>) {
    let RefOr::T(link) = link else {
        return;
    };
    let mut keys = Vec::new();
    for (key, value) in [("operationId", &mut link.operation_id), ("operationRef", &mut link.operation_ref)] {
        if !value.is_empty() {
            keys.push((key, serde_json::Value::String(std::mem::take(value))));
        }
    }
    if let Some(body) = link.request_body.take() {
        keys.push(("requestBody", body));
    }
    link.extensions.get_or_insert_with(Default::default).extend(keys.into_iter().map(|(k, v)| (k.to_owned(), v)));
}

fn header(of: Type, description: &str) -> Header {
    HeaderBuilder::new().schema(ObjectBuilder::new().schema_type(of)).description(Some(description)).build()
}

/// The answer for a method a path does not serve.
fn method_not_allowed() -> Answer {
    let mut answer = Answer::new("The path exists, but not with this method; `Allow` lists the ones it has.");
    answer.headers.insert("Allow".into(), header(Type::String, "Methods the path serves."));
    dress(StatusCode::METHOD_NOT_ALLOWED.as_str(), &mut answer);
    answer
}

/// The daemon key as a header parameter, so its format is stated: a key of the wrong length
/// is refused as malformed (400), any other unknown one as unauthorised (401).
fn daemon_key_parameter() -> Parameter {
    let format = format!("^[a-zA-Z0-9]{{{}}}$", crate::secrets::PROVISIONER_KEY_LEN);
    ParameterBuilder::new()
        .name(DAEMON_KEY_HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some("The provisioner key the daemon signs in with, as created."))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some(format))))
        .build()
}
