//! Unlimited lists written as their rows arrive: one JSON array, read from the store and sent
//! a page at a time, so a reader costs the server about one page of memory however long the
//! list is and however many readers there are.

use std::future::Future;
use std::pin::Pin;

use actix_web::HttpResponse;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::web::Bytes;
use futures_util::{StreamExt, stream};
use serde::Serialize;

use crate::error::ApiError;
use crate::respond::JSON;

/// Rows per page: enough that each page's query is a small part of its cost, few enough that
/// 64 readers at once hold a few megabytes.
pub const PAGE: u32 = 500;

/// Where the array stands between two chunks.
enum Step<R, F> {
    /// A page read and not yet sent.
    Send(Vec<R>),
    /// The next page, not yet read.
    Read(Pin<Box<F>>),
    Done,
}

/// Answers 200 with the JSON array of `first` and of every page `next` reads after it, until a
/// page comes back with fewer than [`PAGE`] rows. `next` gets the last row sent; `wire` turns
/// a row into what is written.
///
/// The status is sent with the first page, so a failure reading a later one cannot become an
/// error answer: the connection is closed mid-array instead, which a client sees as a broken
/// body rather than a complete but short list.
pub fn json_array<R, W, N, F>(first: Vec<R>, wire: fn(R) -> W, next: N) -> HttpResponse
where
    R: 'static,
    W: Serialize + 'static,
    N: FnMut(&R) -> F + 'static,
    F: Future<Output = Result<Vec<R>, ApiError>> + 'static,
{
    // The state carries the reader, and whether a row has been written (every later row is
    // preceded by a comma).
    let start: (Step<R, F>, bool, N) = (Step::Send(first), false, next);
    let rows = stream::unfold(start, move |(step, mut any_row, mut next)| async move {
        let rows = match step {
            Step::Send(rows) => rows,
            Step::Read(page) => match page.await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::error!(%error, "a streamed list lost its next page; closing the response");
                    return Some((Err(std::io::Error::other(error.to_string())), (Step::Done, any_row, next)));
                }
            },
            Step::Done => return None,
        };
        // Only a full page can have a page after it.
        let following = match rows.last() {
            Some(last) if rows.len() >= PAGE as usize => Step::Read(Box::pin(next(last))),
            _ => Step::Done,
        };
        let mut chunk = Vec::with_capacity(rows.len() * 512 + 1);
        for row in rows {
            if any_row {
                chunk.push(b',');
            }
            any_row = true;
            if let Err(error) = serde_json::to_writer(&mut chunk, &wire(row)) {
                tracing::error!(%error, "a streamed list could not serialise a row; closing the response");
                return Some((Err(std::io::Error::other(error)), (Step::Done, any_row, next)));
            }
        }
        if matches!(following, Step::Done) {
            chunk.push(b']');
        }
        Some((Ok(Bytes::from(chunk)), (following, any_row, next)))
    });
    let opening = stream::once(std::future::ready(Ok(Bytes::from_static(b"["))));
    let mut response = HttpResponse::Ok().streaming(opening.chain(rows));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}
