//! Request bodies must arrive in time (`--request-body-timeout`); streams are not bodies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use storage::testing::Backend;

use crate::harness::{PASSWORD, TestApp};
use crate::on_both_backends;

on_both_backends!(
    with_one_second_bodies: a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes,
    a_slow_body_that_arrives_in_time_is_served,
    a_websocket_outlives_the_body_timeout,
);

impl TestApp {
    pub async fn with_one_second_bodies(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |config| config.settings.body_timeout = Duration::from_secs(1)).await
    }

    fn address(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }
}

/// Sends a sign-in's headers and the first `sent` bytes of its body, and no more.
fn start_login(address: &str, sent: usize) -> (TcpStream, String) {
    let body = json!({ "email": "owner@example.com", "password": PASSWORD }).to_string();
    let mut stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /api/v2/users/login HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    stream.write_all(&body.as_bytes()[..sent]).unwrap_or_else(|e| panic!("{e}"));
    (stream, body[sent..].to_owned())
}

/// Everything the server sends until it closes the connection.
fn read_until_closed(mut stream: TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap_or_else(|e| panic!("{e}"));
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap_or_else(|e| panic!("the connection was not closed: {e}"));
    String::from_utf8_lossy(&answer).into_owned()
}

async fn a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes(app: TestApp) {
    app.owner().await;
    let address = app.address();
    let started = Instant::now();
    let slow: Vec<_> = (0..20)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || {
                let (stream, _) = start_login(&address, 5);
                read_until_closed(stream)
            })
        })
        .collect();
    for client in slow {
        let answer = client.join().unwrap_or_else(|_| panic!("client thread panicked"));
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 408 Request Timeout"), "{answer}");
        assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
        let body: Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(
            body,
            json!({
                "message": "The request body did not arrive in time.",
                "detail": "A request body must arrive within 1s of its headers."
            })
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

async fn a_slow_body_that_arrives_in_time_is_served(app: TestApp) {
    app.owner().await;
    let (mut stream, rest) = start_login(&app.address(), 10);
    tokio::time::sleep(Duration::from_millis(400)).await;
    stream.write_all(rest.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap_or_else(|e| panic!("{e}"));
    let mut answer = [0u8; 64];
    let read = stream.read(&mut answer).unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

async fn a_websocket_outlives_the_body_timeout(app: TestApp) {
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    let mut socket = w.follow_logs(job).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    w.daemon.log(job, &["still here"]).await;
    w.daemon.complete(job).await;
    let mut received = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(frame)) = socket.next().await {
            match frame {
                awc::ws::Frame::Text(text) => received.push(text),
                awc::ws::Frame::Close(reason) => return reason.map(|r| r.code),
                _ => {}
            }
        }
        None
    })
    .await;
    assert_eq!(ended.ok().flatten(), Some(awc::ws::CloseCode::Normal));
    assert_eq!(received.len(), 1);
}
