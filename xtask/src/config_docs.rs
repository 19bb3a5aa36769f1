//! The configuration, documented as it is read.
//!
//! The settings are read in each program's `config.rs` (and the few shared
//! readers listed in [`PROGRAMS`]); `docs/configuration.md` lists them in
//! tables whose first column names them; the Kubernetes manifests in
//! `deploy/k8s/base` set them (`*.env`, and `*_FILE` variables in the
//! Deployments). The three drift apart unless something compares them: a
//! setting read but not documented, documented but not read, or set in a
//! manifest but read by no one (a typo the program would silently ignore)
//! is a problem.
//!
//! A name is read where a string literal is the first argument of one of
//! the readers (`env.string("NAME", …)`, `env.optional(…)`, … and
//! `std::env::var("NAME")`) or the argument after `env` of a helper
//! (`url(env, "NAME", …)`), or a `format!` there: `format!("OIDC_{upper}_ISSUER")`
//! reads the family the documentation writes `OIDC_<NAME>_ISSUER`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use syn::visit::Visit;

const TELEMETRY: &str = "crates/service-runtime/src/telemetry.rs";
const FORWARDED: &str = "crates/service-runtime/src/forwarded.rs";

/// Each program, the files its settings are read in, and its manifests in
/// `deploy/k8s/base` (`<name>.env`, `<name>.yaml`) when it has any.
pub const PROGRAMS: &[(&str, &[&str], bool)] = &[
    (
        "auth-service",
        &["auth-service/src/config.rs", TELEMETRY, FORWARDED],
        true,
    ),
    (
        "workspace-service",
        &["workspace-service/src/config.rs", TELEMETRY],
        true,
    ),
    (
        "gateway",
        &["gateway/src/config.rs", TELEMETRY, FORWARDED],
        true,
    ),
    (
        "excel-worker",
        &["workspace-service/src/bin/excel-worker.rs", TELEMETRY],
        false,
    ),
    (
        "devstack",
        &[
            "deploy/devstack/src/main.rs",
            "crates/postgres-kit/src/cluster.rs",
        ],
        false,
    ),
];

/// The readers whose first argument names a variable.
const READERS: &[&str] = &[
    "string",
    "optional",
    "required",
    "secret",
    "parse",
    "number",
    "seconds",
    "millis",
    "flag",
    "path",
    "socket_addr",
    "var",
    "var_os",
    "try_from_env",
];

/// Variables of the system rather than of this project.
const SYSTEM: &[&str] = &["PATH", "HOME"];

/// Everything that is out of step, one line each; empty when docs, code
/// and manifests agree.
pub fn problems(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut read_by: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut per_program: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (program, sources, _) in PROGRAMS {
        for source in *sources {
            for name in read_in(&root.join(source))? {
                read_by.entry(name.clone()).or_default().insert(program);
                per_program.entry(program).or_default().insert(name);
            }
        }
    }
    // Every config.rs is one of the sources above.
    for config in config_files(root)? {
        let listed = PROGRAMS
            .iter()
            .any(|(_, sources, _)| sources.iter().any(|s| root.join(s) == config));
        if !listed {
            problems.push(format!(
                "{} is not in xtask's list of configuration sources",
                config.strip_prefix(root).unwrap_or(&config).display()
            ));
        }
    }

    let docs_path = root.join("docs/configuration.md");
    let docs = std::fs::read_to_string(&docs_path)
        .with_context(|| format!("reading {}", docs_path.display()))?;
    let documented = documented(&docs);
    for (name, programs) in &read_by {
        if !documented.contains(name) {
            let programs: Vec<&str> = programs.iter().copied().collect();
            problems.push(format!(
                "{name} (read by {}) is not in docs/configuration.md",
                programs.join(", ")
            ));
        }
    }
    for name in &documented {
        if !read_by.contains_key(name) {
            problems.push(format!(
                "{name} is in docs/configuration.md but no program reads it"
            ));
        }
    }

    for (program, _, deployed) in PROGRAMS {
        if !deployed {
            continue;
        }
        let reads = per_program.get(program).cloned().unwrap_or_default();
        for (file, name) in manifest_names(root, program)? {
            let setting = name.strip_suffix("_FILE").unwrap_or(&name);
            if !reads.contains(setting) {
                problems.push(format!(
                    "deploy/k8s/base/{file} sets {name}, which {program} does not read"
                ));
            }
        }
    }
    Ok(problems)
}

/// The variables read in one source file (tests left out).
pub fn read_in(file: &Path) -> anyhow::Result<BTreeSet<String>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let ast = syn::parse_file(&text).with_context(|| format!("parsing {}", file.display()))?;
    let mut reads = Reads::default();
    for item in &ast.items {
        if !is_test(item) {
            reads.visit_item(item);
        }
    }
    Ok(reads.names)
}

/// The names in the first column of the tables of `docs` (each in
/// backticks; a cell may hold several).
pub fn documented(docs: &str) -> BTreeSet<String> {
    docs.lines()
        .filter_map(|line| line.strip_prefix('|'))
        .filter_map(|row| row.split('|').next())
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .filter(|name| is_variable(name))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The variables `program`'s manifests set: `NAME=` lines of its `.env`
/// (commented-out ones too: they are offered to be switched on) and `- name:
/// NAME` entries of its `.yaml`. With the file each is in.
fn manifest_names(root: &Path, program: &str) -> anyhow::Result<Vec<(String, String)>> {
    let base = root.join("deploy/k8s/base");
    let mut names = Vec::new();
    let env_file = format!("{program}.env");
    let text = std::fs::read_to_string(base.join(&env_file))
        .with_context(|| format!("reading deploy/k8s/base/{env_file}"))?;
    for line in text.lines() {
        let line = line.trim_start_matches(['#', ' ']);
        if let Some((name, _)) = line.split_once('=')
            && is_variable(name)
        {
            names.push((env_file.clone(), name.to_owned()));
        }
    }
    let yaml_file = format!("{program}.yaml");
    let text = std::fs::read_to_string(base.join(&yaml_file))
        .with_context(|| format!("reading deploy/k8s/base/{yaml_file}"))?;
    for line in text.lines() {
        if let Some(name) = line.trim().strip_prefix("- name: ")
            && is_variable(name.trim())
        {
            names.push((yaml_file.clone(), name.trim().to_owned()));
        }
    }
    Ok(names)
}

/// Every `config.rs` under the workspace's crates.
fn config_files(root: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    for crate_root in crate::workspace::crate_roots(root)? {
        let Some(src) = crate_root.parent() else {
            continue;
        };
        let config = src.join("config.rs");
        if config.is_file() && !found.contains(&config) {
            found.push(config);
        }
    }
    Ok(found)
}

/// `NAME`, `OIDC_<NAME>_ISSUER`: upper-case letters, digits, `_` and a
/// `<PLACEHOLDER>`, starting with a letter.
fn is_variable(name: &str) -> bool {
    name.len() >= 3
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '_' | '<' | '>'))
        && !SYSTEM.contains(&name)
}

/// `#[cfg(test)]` items.
fn is_test(item: &syn::Item) -> bool {
    let attrs = match item {
        syn::Item::Mod(m) => &m.attrs,
        syn::Item::Fn(f) => &f.attrs,
        _ => return false,
    };
    attrs.iter().any(|a| a.path().is_ident("cfg"))
}

#[derive(Default)]
struct Reads {
    names: BTreeSet<String>,
}

impl Reads {
    fn argument(&mut self, argument: Option<&syn::Expr>) {
        let name = match argument {
            Some(syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            })) => s.value(),
            Some(syn::Expr::Reference(r)) => match &*r.expr {
                syn::Expr::Macro(m) if m.mac.path.is_ident("format") => {
                    let Ok(s) = m.mac.parse_body::<syn::LitStr>() else {
                        return;
                    };
                    placeholders(&s.value())
                }
                _ => return,
            },
            _ => return,
        };
        if is_variable(&name) {
            self.names.insert(name);
        }
    }
}

/// `OIDC_{upper}_ISSUER` → `OIDC_<NAME>_ISSUER`: whatever the format
/// puts in, the documentation calls it `<NAME>`.
fn placeholders(format: &str) -> String {
    let mut out = String::new();
    let mut rest = format;
    while let Some((before, after)) = rest.split_once('{') {
        out.push_str(before);
        out.push_str("<NAME>");
        rest = after.split_once('}').map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

impl<'ast> Visit<'ast> for Reads {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if READERS.contains(&call.method.to_string().as_str()) {
            self.argument(call.args.first());
        }
        syn::visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let syn::Expr::Path(path) = &*call.func
            && path
                .path
                .segments
                .last()
                .is_some_and(|s| READERS.contains(&s.ident.to_string().as_str()))
        {
            self.argument(call.args.first());
        }
        // A helper of the config module given the environment and a name:
        // `url(env, "AUTH_SERVICE_URL", …)`.
        let mut args = call.args.iter();
        if args.any(|arg| matches!(arg, syn::Expr::Path(p) if p.path.is_ident("env"))) {
            self.argument(args.next());
        }
        syn::visit::visit_expr_call(self, call);
    }

    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        if !module.attrs.iter().any(|a| a.path().is_ident("cfg")) {
            syn::visit::visit_item_mod(self, module);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_code_and_manifests_agree() {
        let problems = problems(&crate::workspace::root()).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn reads_are_found_in_calls_and_formats_but_not_in_tests() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.rs");
        std::fs::write(
            &file,
            r#"
            fn from_env(env: &Env) {
                let a = env.string("A_B", "x");
                let p = env.required(&format!("OIDC_{upper}_ISSUER"));
                let l = std::env::var("LOG_FORMAT");
                let not = env.string(&name, "");
                let helper = url(env, "HELPER_URL", "http://x");
                let path = std::env::var_os("PATH");
            }
            #[cfg(test)]
            mod tests { fn t() { env.string("ONLY_IN_TESTS", ""); } }
            "#,
        )
        .unwrap();
        let names: Vec<String> = read_in(&file).unwrap().into_iter().collect();
        assert_eq!(
            names,
            ["A_B", "HELPER_URL", "LOG_FORMAT", "OIDC_<NAME>_ISSUER"]
        );
    }

    #[test]
    fn documented_names_are_the_first_column() {
        let docs = "| variable | default |\n|---|---|\n| `A_B` / `C_D` | `E_F` |\n| `OIDC_<NAME>_ISSUER` | none |\n";
        let names: Vec<String> = documented(docs).into_iter().collect();
        assert_eq!(names, ["A_B", "C_D", "OIDC_<NAME>_ISSUER"]);
    }
}
