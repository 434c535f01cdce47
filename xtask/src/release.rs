//! The server under test, built in release mode for whichever chore starts it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Builds the release `api` binary and says where it is, as cargo names it (wherever the
/// target directory is, and whichever profile this tool itself runs in).
pub fn build_api() -> anyhow::Result<PathBuf> {
    build_api_with(Command::new(cargo()))
}

/// [`build_api`] with `cargo` as the caller prepared it (signals, environment).
pub fn build_api_with(mut cargo: Command) -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has no parent directory")?;
    let mut child = cargo
        .current_dir(root)
        .args(["build", "--release", "--package", "api", "--bin", "api", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let mut executable = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line?) else { continue };
            let is_api_bin = message["reason"] == "compiler-artifact"
                && message["target"]["name"] == "api"
                && message["target"]["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
            if is_api_bin && let Some(path) = message["executable"].as_str() {
                executable = Some(PathBuf::from(path));
            }
        }
    }
    if !child.wait()?.success() {
        bail!("cargo build --release -p api failed");
    }
    executable.context("cargo did not name the api executable")
}

/// The cargo that runs this tool, if it was run by cargo.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}
