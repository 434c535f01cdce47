//! Request bodies must arrive in time. actix times out slow headers (408 after 5 s) but not
//! slow bodies, so a client sending a byte a second would hold a connection and a handler
//! for as long as it likes. Here the body stream fails once the time is up; the request is
//! answered 408 and its connection closed.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::Stream;

use crate::error::ApiError;
use crate::state::AppState;

/// The body stream of one request, failing once its deadline has passed.
struct Deadline {
    body: Payload,
    timer: Pin<Box<tokio::time::Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired.get() {
            return Poll::Ready(None);
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            this.expired.set(true);
            let late = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body did not arrive in time");
            return Poll::Ready(Some(Err(PayloadError::Io(late))));
        }
        Pin::new(&mut this.body).poll_next(cx)
    }
}

/// A WebSocket's frames come through its "body" for as long as it is open.
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
}

/// Middleware: the body must be complete within `--request-body-timeout` of the headers.
pub async fn body_timeout(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limit = req.app_data::<web::Data<AppState>>().map(|state| state.settings.body_timeout);
    let Some(limit) = limit.filter(|_| !is_upgrade(req.headers())) else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let expired = Rc::new(Cell::new(false));
    let body = req.take_payload();
    let timer = Box::pin(tokio::time::sleep(limit));
    let deadline = Deadline { body, timer, expired: Rc::clone(&expired) };
    req.set_payload(Payload::Stream { payload: Box::pin(deadline) });
    let res = next.call(req).await?;
    if !expired.get() {
        return Ok(res.map_into_left_body());
    }
    let (request, _) = res.into_parts();
    let mut response = timed_out(limit).error_response();
    response.head_mut().set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(request, response).map_into_right_body())
}

fn timed_out(limit: Duration) -> ApiError {
    ApiError::new(StatusCode::REQUEST_TIMEOUT, "The request body did not arrive in time.")
        .detail(format!("A request body must arrive within {}s of its headers.", limit.as_secs()))
}
