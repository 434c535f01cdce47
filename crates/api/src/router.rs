//! The router around the routes: the table of routes as the OpenAPI document lists them
//! (which methods a path has, which query parameters each takes), and from it the 404/405
//! answer for anything no route serves and the refusal of unknown query parameters. One
//! registration (utoipa) yields the routes, their documentation and this table.

use std::collections::BTreeSet;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::{HttpMethod, ParameterIn};

use crate::error::{ApiError, allow_header};
use crate::extract::SESSION_COOKIE;
use crate::wire::ValidationError;

#[derive(Debug)]
struct Operation {
    method: &'static str,
    query_params: BTreeSet<String>,
}

#[derive(Debug)]
struct Route {
    pattern: String,
    /// The pattern's segments: a path matches when it has as many, each literal one spelled
    /// the same and each parameter non-empty (as actix's `{name}` reads it: `[^/]+`).
    segments: Vec<Segment>,
    operations: Vec<Operation>,
}

#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

impl Route {
    /// Compared segment by segment: no regular expression on the way of every request.
    fn matches(&self, path: &str) -> bool {
        let mut given = path.split('/');
        let all_match = self.segments.iter().all(|segment| match (segment, given.next()) {
            (Segment::Literal(literal), Some(part)) => literal == part,
            (Segment::Parameter, Some(part)) => !part.is_empty(),
            (_, None) => false,
        });
        all_match && given.next().is_none()
    }
}

fn segments(pattern: &str) -> Vec<Segment> {
    pattern
        .split('/')
        .map(|part| match part.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) {
            Some(_) => Segment::Parameter,
            None => Segment::Literal(part.to_owned()),
        })
        .collect()
}

/// Every documented route, most specific first (fewer path parameters).
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

impl RouteTable {
    pub fn from_openapi(document: &OpenApi) -> Self {
        let mut routes: Vec<Route> = document
            .paths
            .paths
            .iter()
            .map(|(pattern, item)| {
                let operations = [
                    (HttpMethod::Get, &item.get),
                    (HttpMethod::Post, &item.post),
                    (HttpMethod::Put, &item.put),
                    (HttpMethod::Delete, &item.delete),
                    (HttpMethod::Patch, &item.patch),
                ]
                .into_iter()
                .filter_map(|(method, operation)| {
                    let operation = operation.as_ref()?;
                    let query_params = operation
                        .parameters
                        .iter()
                        .flatten()
                        .filter(|p| matches!(p.parameter_in, ParameterIn::Query))
                        .map(|p| p.name.clone())
                        .collect();
                    Some(Operation { method: method_name(&method), query_params })
                })
                .collect();
                Route { pattern: pattern.clone(), segments: segments(pattern), operations }
            })
            .collect();
        routes.sort_by_key(|route| route.pattern.matches('{').count());
        Self { routes }
    }

    /// The route a path reaches: of the documented ones it matches, the one with the fewest
    /// parameters, so a literal segment (`/users/first`) shadows a parameter (`/users/{user}`)
    /// for every method, as the document reads.
    fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.matches(path))
    }

    /// The pattern of the route a path reaches, as actix names it (`/api/v2/users/{user}`).
    pub fn pattern(&self, path: &str) -> Option<&str> {
        self.route(path).map(|route| route.pattern.as_str())
    }

    /// The documented `(method, path pattern)` pairs, for tests that must cover them all.
    pub fn operations(&self) -> Vec<(&'static str, &str)> {
        self.routes.iter().flat_map(|r| r.operations.iter().map(move |o| (o.method, r.pattern.as_str()))).collect()
    }

    /// The methods the route a path reaches serves; empty when it reaches none.
    fn methods(&self, path: &str) -> Vec<&'static str> {
        self.route(path).map(Route::methods).unwrap_or_default()
    }
}

impl Route {
    /// The methods it serves, in order.
    fn methods(&self) -> Vec<&'static str> {
        let mut methods: Vec<&'static str> = self.operations.iter().map(|o| o.method).collect();
        methods.sort_unstable();
        methods
    }

    /// Unknown query parameters of the operation `method` reaches (the session token may ride
    /// along on any route).
    fn unknown_query_params(&self, method: &str, query: &str) -> Vec<String> {
        let Some(operation) = self.operations.iter().find(|operation| operation.method == method) else {
            return Vec::new();
        };
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let mut unknown: Vec<String> = pairs
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| name != SESSION_COOKIE && !operation.query_params.contains(name))
            .collect();
        unknown.dedup();
        unknown
    }
}

/// Middleware, before routing: 405 for a method the route a path reaches does not serve (even
/// where a parameterised route would take it), then `Invalid query parameters.` for parameters
/// the operation does not take.
pub async fn check_route(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(table) = req.app_data::<web::Data<RouteTable>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    // One lookup of the route serves both checks.
    let Some(route) = table.route(req.path()) else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let methods = route.methods();
    if !methods.is_empty() && !methods.contains(&req.method().as_str()) {
        return Ok(req.into_response(method_not_allowed(&methods)).map_into_right_body());
    }
    let unknown = route.unknown_query_params(req.method().as_str(), req.query_string());
    if !unknown.is_empty() {
        let validations = unknown
            .into_iter()
            .map(|name| ValidationError::new(name.clone(), format!("{name:?} is not a valid query param")));
        let response = ApiError::invalid_query(validations.collect()).error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// What no route answered: 405 if the path exists with other methods, else 404.
pub async fn fallback(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    let methods = table.methods(req.path());
    if methods.is_empty() {
        return ApiError::route_not_found().error_response();
    }
    method_not_allowed(&methods)
}

fn method_not_allowed(methods: &[&str]) -> HttpResponse {
    let mut response = ApiError::method_not_allowed().error_response();
    let (name, value) = allow_header(methods);
    response.headers_mut().insert(name, value);
    response
}

#[cfg(test)]
mod tests {
    use super::RouteTable;

    /// `pattern` with every parameter given `value`.
    fn filled(pattern: &str, value: &str) -> String {
        pattern
            .split('/')
            .map(|segment| if segment.starts_with('{') { value } else { segment })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_documented_path_reaches_its_own_route_and_nothing_else_does() {
        let table = RouteTable::from_openapi(&crate::openapi::document());
        assert!(table.routes.len() > 20, "the document lists the routes");
        for route in &table.routes {
            let path = filled(&route.pattern, "0193a7c2-5b8e-7d4f-9a1b-2c3d4e5f6a7b");
            let reached = table.route(&path).map(|found| found.pattern.as_str());
            assert_eq!(reached, Some(route.pattern.as_str()), "{path}");
            // One segment more or less, or a literal segment changed, reaches no route.
            assert!(
                table.route(&format!("{path}/more")).is_none_or(|found| found.pattern != route.pattern),
                "{path}/more"
            );
            if let Some(rest) = path.strip_prefix("/api/v2/") {
                assert!(table.route(&format!("/api/v3/{rest}")).is_none(), "{path} under v3");
            }
        }
        // A literal segment shadows a parameter.
        assert_eq!(table.route("/api/v2/users/first").map(|r| r.pattern.as_str()), Some("/api/v2/users/first"));
        assert_eq!(table.route("/api/v2/users/alice").map(|r| r.pattern.as_str()), Some("/api/v2/users/{user}"));
        assert!(table.route("/api/v2/users/alice/").is_none());
        assert!(table.route("/api/v2/users/").is_none(), "a parameter is never empty");
        assert!(table.route("/api/v2/users//roles").is_none());
        assert!(table.route("api/v2/users/alice").is_none());
    }

    /// The segment matcher reads a pattern as actix does, on every documented route and on
    /// paths one edit away from each.
    #[test]
    fn routes_match_the_paths_actix_would_match_them_on() {
        let table = RouteTable::from_openapi(&crate::openapi::document());
        for route in &table.routes {
            let def = actix_web::dev::ResourceDef::new(route.pattern.as_str());
            let filled = filled(&route.pattern, "x");
            let paths = [
                filled.clone(),
                format!("{filled}/"),
                format!("{filled}/x"),
                filled.replacen("/x", "/", 1),
                filled.replace("/api/v2/", "/api/v2//"),
                route.pattern.clone(),
                filled.trim_end_matches("/x").to_owned(),
            ];
            for path in paths {
                assert_eq!(route.matches(&path), def.is_match(&path), "{} on {path}", route.pattern);
            }
        }
    }
}
