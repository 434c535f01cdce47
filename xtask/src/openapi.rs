//! `openapi/openapi.json`, written from the routes so it cannot drift from them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The committed document's path, from the workspace root.
pub fn committed_path() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
    root.join("openapi").join("openapi.json")
}

/// Writes the document, or with `check` compares it and fails with the fix to run.
pub fn run(check: bool) -> anyhow::Result<()> {
    let path = committed_path();
    let generated = api::openapi::json()?;
    if check {
        let committed = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if committed != generated {
            bail!("{} is out of date with the code: run `cargo xtask openapi` and commit the result", path.display());
        }
        println!("{} is up to date", path.display());
        return Ok(());
    }
    std::fs::write(&path, generated).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
