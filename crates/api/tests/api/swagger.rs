//! Swagger UI in a real browser, with every host but this one unreachable.

use std::path::PathBuf;
use std::process::Command;

use storage::testing::Backend;

use crate::harness::TestApp;

/// The browser to drive: `CHROMIUM`, or Debian's. `None` (after saying so) when there is
/// none; with `REQUIRE_BROWSER=1` that fails the test instead.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var("CHROMIUM").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("REQUIRE_BROWSER").map_or(true, |v| v != "1"),
        "REQUIRE_BROWSER=1 but {} is missing",
        path.display()
    );
    eprintln!("skipped: Swagger UI browser test (install chromium or set CHROMIUM)");
    None
}

#[actix_web::test]
async fn swagger_ui_renders_every_route_without_a_network() {
    let Some(browser) = chromium() else {
        return;
    };
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("{}/swagger/", app.base);
    let dom = tokio::task::spawn_blocking(move || {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // Any host but loopback goes to a proxy that is not there: no CDN can help.
                "--proxy-server=http://127.0.0.1:9",
                "--virtual-time-budget=20000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .output()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("cannot run the browser: {e}"));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("Coder organizations and provisioner jobs API"), "the document's title is not shown");
    for route in [
        "/api/v2/organizations/{organization}/provisionerjobs",
        "/api/v2/users/first",
        "/api/v2/provisionerdaemons/{daemon}/acquire",
    ] {
        assert!(dom.contains(route), "{route} is not listed");
    }
    let operations = dom.matches("class=\"opblock opblock-").count();
    let documented = api::router::RouteTable::from_openapi(&api::openapi::document()).operations().len();
    assert_eq!(operations, documented, "every operation is rendered");
}
