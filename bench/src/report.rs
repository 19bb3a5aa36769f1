//! The Markdown report: machine facts, then the table.

use bench::stack::Stack;

use crate::cli::Cli;
use crate::scenarios::Row;

/// The Markdown report: machine facts, then the table.
pub async fn render(cli: &Cli, stack: &Stack, pgbench_tps: f64, rows: &[Row]) -> String {
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let postgres = command(
        stack.pg_bin.join("postgres").to_str().unwrap_or("postgres"),
        &["--version"],
    );
    let mut text = String::new();
    text.push_str("# Benchmarks\n\n");
    text.push_str(&format!(
        "Written by `bench{}` on {} at commit `{}`.\n\n",
        if cli.quick { " --quick" } else { "" },
        command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        command("git", &["rev-parse", "--short", "HEAD"]),
    ));
    text.push_str(&format!(
        "Machine: {cores} cores, {cpu}; {}; {postgres}. Clients: {}; bcrypt cost {} on {} threads. pgbench -S (scale 10): {pgbench_tps:.0} tps.\n\n",
        command("rustc", &["--version"]),
        cli.clients,
        stack.bcrypt_cost,
        stack.bcrypt_concurrency,
    ));
    text.push_str(
        "| scenario | figure (ratios measured in this run) | target | |\n|---|---|---|---|\n",
    );
    for row in rows {
        text.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.scenario, row.figure, row.target, row.verdict
        ));
    }
    // What limits the figures, from profiles: kept with the harness, so
    // that every report carries it.
    let notes = concat!(env!("CARGO_MANIFEST_DIR"), "/NOTES.md");
    if let Ok(notes) = std::fs::read_to_string(notes) {
        text.push('\n');
        text.push_str(&notes);
    }
    text
}
