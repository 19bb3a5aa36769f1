//! Token verification alone, from criterion's last estimates.

use std::path::PathBuf;

use serde_json::Value;

use super::Row;

/// Token verification alone, from criterion's last estimates
/// (`cargo bench -p access --bench verify`), when there are any.
pub fn row() -> Row {
    let estimate = |name: &str| -> Option<(f64, std::time::SystemTime)> {
        let path =
            PathBuf::from(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
                .join("criterion/verify")
                .join(name)
                .join("new/estimates.json");
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        let estimates: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        Some((
            estimates["median"]["point_estimate"].as_f64()? / 1000.0,
            modified,
        ))
    };
    match (estimate("first_use"), estimate("remembered")) {
        (Some((cold, at)), Some((cached, _))) => {
            let age = at.elapsed().map_or(0, |d| d.as_secs() / 60);
            Row {
                scenario: "token verification alone (micro-benchmark, `criterion`)",
                figure: format!(
                    "first use (signature checked) **{cold:.2} µs**, seen before (remembered) **{cached:.2} µs** per verify (medians; criterion run {age} min before this report)"
                ),
                target: "record",
                verdict: "recorded".into(),
            }
        }
        _ => Row {
            scenario: "token verification alone (micro-benchmark, `criterion`)",
            figure: "not measured in this run: `cargo bench -p access --bench verify`".into(),
            target: "record",
            verdict: "—".into(),
        },
    }
}
