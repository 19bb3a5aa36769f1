//! The command line of `bench`.

use std::path::PathBuf;

use clap::Parser;

/// Benchmarks of the stack; see docs/BENCHMARKS.md.
#[derive(Debug, Parser)]
pub struct Cli {
    /// Short runs (a smoke test, under 2 minutes); figures are rough.
    #[arg(long)]
    pub quick: bool,
    /// Where the report is written.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    pub out: PathBuf,
    /// Where the release binaries are (default: next to this one).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Concurrent clients of the throughput scenarios (and of pgbench).
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// The virtualenv of the `GET me` peer (made by `bench/peer/install`).
    #[arg(long, default_value = "/opt/bench-peer")]
    pub peer_venv: PathBuf,
}
