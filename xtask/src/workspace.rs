//! Where the workspace and its crates are.

use std::path::{Path, PathBuf};

/// The repository root (this crate's parent).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository")
        .to_path_buf()
}

/// The root files of every crate of the workspace: each member's
/// `src/lib.rs`, `src/main.rs` and `src/bin/*.rs`.
pub fn crate_roots(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .ok_or_else(|| anyhow::anyhow!("no workspace members in Cargo.toml"))?;
    let mut roots = Vec::new();
    for member in members.split(',') {
        let member = member.trim().trim_matches('"');
        if member.is_empty() {
            continue;
        }
        let src = root.join(member).join("src");
        for file in ["lib.rs", "main.rs"] {
            if src.join(file).is_file() {
                roots.push(src.join(file));
            }
        }
        if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
            let mut bins: Vec<PathBuf> = bins
                .flatten()
                .map(|e| e.path())
                .map(|p| if p.is_dir() { p.join("main.rs") } else { p })
                .filter(|p| p.extension().is_some_and(|e| e == "rs") && p.is_file())
                .collect();
            bins.sort();
            roots.extend(bins);
        }
    }
    Ok(roots)
}
