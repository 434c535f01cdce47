use actix_web::{HttpResponse, get};

/// Check the server is up
#[utoipa::path(tag = "General", operation_id = "health-check", responses((status = 200, description = "The server is up", body = String, content_type = "text/plain")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("OK")
}
