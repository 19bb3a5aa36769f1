//! Compiles the protos with `protox` (pure Rust, so no `protoc` is needed),
//! writes the encoded descriptor set for reflection and the gateway, and
//! generates the tonic/prost code from that same descriptor set.

use std::path::{Path, PathBuf};

/// The API packages; `google/` holds only the imported HTTP annotations.
const API_DIRS: &[&str] = &["access/v1", "auth/v1", "workspace/v1"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    for dir in API_DIRS {
        collect_protos(&root, &root.join(dir), &mut files)?;
    }
    files.sort();
    println!("cargo:rerun-if-changed=google");
    for dir in API_DIRS {
        println!("cargo:rerun-if-changed={dir}");
    }

    let mut compiler = protox::Compiler::new([&root])?;
    compiler
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)?;
    // Encoded by protox itself: `prost_types` would drop the custom method
    // options (`google.api.http`, `access.v1.rule`), which are extensions.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("descriptor_set.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let fds = compiler.file_descriptor_set();

    tonic_prost_build::configure()
        .emit_rerun_if_changed(false)
        // `bytes` fields as `Bytes`: file chunks pass through without copies.
        .bytes(".")
        .compile_fds(fds)?;
    Ok(())
}

/// Adds every `.proto` below `dir` to `files`, relative to `root`.
fn collect_protos(
    root: &Path,
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(root, &path, files)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            files.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}
