//! `cargo xtask`: the one entry point for every check of the project.
//!
//! Each command runs stages of `.ci/run` (the script CI runs on a clean
//! clone, which also installs what a fresh machine lacks), so a check run
//! here is the check CI runs:
//!
//! | command        | stages of `.ci/run`                      |
//! |----------------|------------------------------------------|
//! | `ci`           | all of them, in order                    |
//! | `lint`         | fmt, clippy, audit, buf, then `house`    |
//! | `test`         | tests (the README's test command), python-worker |
//! | `bench`        | bench (the benchmarks, `--quick`)        |
//! | `faults`       | faults (the fault-injection runs)        |
//! | `fuzz`         | fuzz (each target for a while)           |
//! | `deploy-check` | deploy (kustomize, kubeconform, the dev stack's manifests) |
//! | `house`        | the checks on the house itself, below    |
//!
//! `house` checks what keeps the code easy to carry on: no file-level
//! import cycle in any crate (see [`modgraph`]), and the configuration
//! documented exactly as it is read (see [`config_docs`]). Both are also
//! tests of this crate, so the README's test command runs them.

mod config_docs;
mod modgraph;
mod workspace;

use std::path::Path;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

use workspace::{crate_roots, root};

/// Every check of the project; see the module docs for what each runs.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Everything CI runs (`.ci/run`), or only the stages named.
    Ci {
        /// fmt clippy audit buf deploy tests python-worker bench faults fuzz.
        stages: Vec<String>,
    },
    /// Formatting, clippy, advisories and licences, the protos' lint, and
    /// the house checks.
    Lint,
    /// The test suites (`cargo nextest run --workspace`) and the Python
    /// worker's.
    Test,
    /// The benchmarks (quick run; `bench/run` for the full one).
    Bench,
    /// The fault-injection runs.
    Faults,
    /// The fuzz targets, each for a while (nightly).
    Fuzz,
    /// The Kubernetes manifests and the container build files.
    DeployCheck,
    /// No import cycle; configuration documented as read.
    House,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stages: Vec<String> = match cli.command {
        Task::Ci { stages } => stages,
        Task::Lint => {
            let ran = ci(&["fmt", "clippy", "audit", "buf"]);
            if ran != ExitCode::SUCCESS {
                return ran;
            }
            return house();
        }
        Task::Test => vec!["tests".into(), "python-worker".into()],
        Task::Bench => vec!["bench".into()],
        Task::Faults => vec!["faults".into()],
        Task::Fuzz => vec!["fuzz".into()],
        Task::DeployCheck => vec!["deploy".into()],
        Task::House => return house(),
    };
    let stages: Vec<&str> = stages.iter().map(String::as_str).collect();
    ci(&stages)
}

/// `.ci/run` with `stages` (all of them when empty).
fn ci(stages: &[&str]) -> ExitCode {
    let status = Command::new(root().join(".ci/run")).args(stages).status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cargo xtask: cannot run .ci/run: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The house checks, reported on standard error.
fn house() -> ExitCode {
    let mut failed = false;
    for (check, problems) in [
        ("import cycles", import_cycles(&root())),
        ("configuration docs", config_docs::problems(&root())),
    ] {
        match problems {
            Ok(problems) if problems.is_empty() => eprintln!("{check}: ok"),
            Ok(problems) => {
                failed = true;
                eprintln!("{check}:");
                for problem in problems {
                    eprintln!("  {problem}");
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("{check}: {e:#}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Every import cycle in the workspace, one line each.
fn import_cycles(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for crate_root in crate_roots(root)? {
        let graph = modgraph::Graph::of_crate(&crate_root)?;
        for cycle in graph.cycles() {
            let shown = graph.describe(&cycle);
            let shown = shown.replace(&format!("{}/", root.display()), "");
            problems.push(format!("{} files: {shown}", cycle.len()));
            if std::env::var_os("XTASK_VERBOSE").is_some() {
                for (from, to) in graph.edges_within(&cycle) {
                    problems.push(format!("    {} uses {}", from.display(), to.display()));
                }
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_crate_has_an_import_cycle() {
        let cycles = import_cycles(&root()).unwrap();
        assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
    }

    #[test]
    fn a_cycle_is_found_and_shown() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
        std::fs::write(dir.join("a.rs"), "use crate::b::B;\npub struct A;\n").unwrap();
        std::fs::write(dir.join("b.rs"), "pub struct B(super::a::A);\n").unwrap();
        std::fs::write(
            dir.join("c.rs"),
            "use crate::a::A;\n#[cfg(test)]\nmod tests { use crate::c; }\n",
        )
        .unwrap();
        let graph = modgraph::Graph::of_crate(&dir.join("lib.rs")).unwrap();
        let cycles = graph.cycles();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        let shown = graph.describe(&cycles[0]);
        assert!(shown.ends_with("a.rs"), "{shown}");
        assert!(shown.contains("b.rs → "), "{shown}");
    }

    #[test]
    fn a_parent_naming_its_child_and_the_child_its_parent_is_a_cycle() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("db")).unwrap();
        std::fs::write(dir.join("lib.rs"), "mod db;\n").unwrap();
        std::fs::write(
            dir.join("db/mod.rs"),
            "mod users;\npub use users::User;\npub fn helper() {}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("db/users.rs"),
            "pub struct User;\nfn f() { super::helper() }\n",
        )
        .unwrap();
        let graph = modgraph::Graph::of_crate(&dir.join("lib.rs")).unwrap();
        assert_eq!(graph.cycles().len(), 1);

        // A sibling using the child through the parent's re-export depends
        // on the child, not on the parent.
        std::fs::write(dir.join("lib.rs"), "mod db;\nmod sessions;\n").unwrap();
        std::fs::write(dir.join("db/mod.rs"), "mod users;\npub use users::User;\n").unwrap();
        std::fs::write(
            dir.join("db/users.rs"),
            "use crate::sessions::S;\npub struct User;\n",
        )
        .unwrap();
        std::fs::write(dir.join("sessions.rs"), "pub struct S(crate::db::User);\n").unwrap();
        let graph = modgraph::Graph::of_crate(&dir.join("lib.rs")).unwrap();
        let cycles = graph.cycles();
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert_eq!(cycles[0].len(), 2, "users.rs and sessions.rs: {cycles:?}");

        // Without the parent's re-export, the child may use its parent.
        std::fs::write(dir.join("lib.rs"), "mod db;\n").unwrap();
        std::fs::write(dir.join("db/mod.rs"), "mod users;\npub fn helper() {}\n").unwrap();
        let graph = modgraph::Graph::of_crate(&dir.join("lib.rs")).unwrap();
        assert!(graph.cycles().is_empty());
    }
}
