//! The import graph of a crate, file by file, and its cycles.
//!
//! A file imports another when it names an item of the other's module: in a
//! `use`, or as a path anywhere in its code (`crate::db::users::User`,
//! `super::Error`, `login::login` for a child module declared here). A path
//! counts for the deepest module of it that has a file of its own, so
//! `crate::db::users::User` is an edge to `db/users.rs` and
//! `crate::db::unique_violation` one to `db/mod.rs`. Declaring a module
//! (`mod users;`) is not an import, and tests are left out: a test module
//! may use what it tests from anywhere. Paths inside macro invocations are
//! not seen.
//!
//! A cycle is a set of files each of which reaches the others through such
//! edges: one cannot be read, changed or moved without the others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use syn::visit::Visit;

/// A module path from the crate root: `["db", "users"]`.
type ModPath = Vec<String>;

/// The modules of one crate with a file of their own, and which file
/// imports which.
#[derive(Debug, Default)]
pub struct Graph {
    /// Module path of each file.
    files: BTreeMap<ModPath, PathBuf>,
    /// Modules each module's file names, by module path.
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
    /// Re-exports: `module::Name` → the path `pub use` gave it.
    aliases: BTreeMap<ModPath, ModPath>,
}

impl Graph {
    /// The graph of the crate whose root file is `root` (`src/lib.rs` or
    /// `src/main.rs`).
    pub fn of_crate(root: &Path) -> anyhow::Result<Self> {
        let mut graph = Graph::default();
        let mut references = BTreeMap::new();
        graph.load(root, Vec::new(), &mut references)?;
        for (module, paths) in references {
            let targets: BTreeSet<ModPath> = paths
                .iter()
                .filter_map(|path| graph.resolve(path))
                .filter(|target| *target != module)
                .collect();
            graph.edges.insert(module, targets);
        }
        Ok(graph)
    }

    /// Reads the file of `module` and, recursively, of its child modules;
    /// gathers the absolute paths each file names.
    fn load(
        &mut self,
        file: &Path,
        module: ModPath,
        references: &mut BTreeMap<ModPath, Vec<ModPath>>,
    ) -> anyhow::Result<()> {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let ast = syn::parse_file(&text).with_context(|| format!("parsing {}", file.display()))?;
        let mut names = Names {
            module: module.clone(),
            children: child_modules(&ast.items),
            found: Vec::new(),
            exported: Vec::new(),
        };
        for item in &ast.items {
            if !is_test(item) {
                names.visit_item(item);
            }
        }
        for (name, target) in names.exported {
            let mut alias = module.clone();
            alias.push(name);
            self.aliases.insert(alias, target);
        }
        references.insert(module.clone(), names.found);
        self.files.insert(module.clone(), file.to_owned());

        // Child files: `a.rs` keeps its children in `a/`, `a/mod.rs`,
        // `lib.rs` and `main.rs` beside themselves.
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let dir = match stem {
            "mod" | "lib" | "main" => file.parent().map(Path::to_path_buf),
            _ => file.parent().map(|p| p.join(stem)),
        }
        .unwrap_or_default();
        for item in &ast.items {
            let syn::Item::Mod(child) = item else {
                continue;
            };
            if child.content.is_some() || is_test(item) {
                continue;
            }
            let name = child.ident.to_string();
            let candidates = [
                dir.join(format!("{name}.rs")),
                dir.join(&name).join("mod.rs"),
            ];
            let Some(path) = candidates.iter().find(|c| c.is_file()) else {
                anyhow::bail!("{}: no file for `mod {name};`", file.display());
            };
            let mut child_path = module.clone();
            child_path.push(name);
            self.load(path, child_path, references)?;
        }
        Ok(())
    }

    /// The deepest module with a file that `path` lies in, through
    /// re-exports: `crate::DatabaseUrl`, re-exported by `lib.rs` from
    /// `connect`, lies in `connect.rs`.
    fn resolve(&self, path: &[String]) -> Option<ModPath> {
        let mut path = path.to_vec();
        // Re-exports of re-exports, but not round and round.
        for _ in 0..8 {
            let module = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| self.files.contains_key(prefix))?;
            let Some(name) = path.get(module.len()) else {
                return Some(module);
            };
            let mut alias = module.clone();
            alias.push(name.clone());
            match self.aliases.get(&alias) {
                Some(target) => {
                    let rest = path[module.len() + 1..].to_vec();
                    path = target.clone();
                    path.extend(rest);
                }
                None => return Some(module),
            }
        }
        None
    }

    /// The file of `module`.
    pub fn file(&self, module: &[String]) -> &Path {
        self.files
            .get(module)
            .map_or(Path::new("?"), PathBuf::as_path)
    }

    /// The modules that import each other in a circle, each cycle sorted;
    /// empty when the graph is acyclic.
    pub fn cycles(&self) -> Vec<Vec<ModPath>> {
        Tarjan::run(&self.edges)
            .into_iter()
            .filter(|component| component.len() > 1)
            .collect()
    }

    /// The imports between the modules of `component`: `(from, to)` files.
    pub fn edges_within(&self, component: &[ModPath]) -> Vec<(&Path, &Path)> {
        let inside: BTreeSet<&ModPath> = component.iter().collect();
        component
            .iter()
            .flat_map(|from| {
                self.edges
                    .get(from)
                    .into_iter()
                    .flatten()
                    .filter(|to| inside.contains(to))
                    .map(move |to| (self.file(from), self.file(to)))
            })
            .collect()
    }

    /// One circle through the modules of `component`, for the message:
    /// `a → b → c → a`.
    pub fn describe(&self, component: &[ModPath]) -> String {
        let inside: BTreeSet<&ModPath> = component.iter().collect();
        let start = &component[0];
        // Breadth-first from the start back to it, inside the component.
        let mut previous: BTreeMap<&ModPath, &ModPath> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closing = None;
        while let Some(at) = queue.pop_front() {
            for next in self.edges.get(at).into_iter().flatten() {
                if !inside.contains(next) {
                    continue;
                }
                if next == start {
                    closing = Some(at);
                    break;
                }
                if !previous.contains_key(next) {
                    previous.insert(next, at);
                    queue.push_back(next);
                }
            }
            if closing.is_some() {
                break;
            }
        }
        let mut circle = vec![start];
        let mut at = closing.unwrap_or(start);
        while at != start {
            circle.push(at);
            at = previous.get(at).copied().unwrap_or(start);
        }
        circle[1..].reverse();
        circle.push(start);
        circle
            .iter()
            .map(|m| self.file(m).display().to_string())
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

/// `#[cfg(test)]` items.
fn is_test(item: &syn::Item) -> bool {
    let attrs = match item {
        syn::Item::Mod(m) => &m.attrs,
        syn::Item::Fn(f) => &f.attrs,
        syn::Item::Use(u) => &u.attrs,
        syn::Item::Impl(i) => &i.attrs,
        _ => return false,
    };
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|meta| meta.path().is_ident("test"))
    })
}

/// The child modules a file declares (with a file or inline).
fn child_modules(items: &[syn::Item]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) if !is_test(item) => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// Collects the crate-absolute form of every path a file names.
struct Names {
    module: ModPath,
    children: BTreeSet<String>,
    found: Vec<ModPath>,
    /// The names this file re-exports (`pub use`), and what they stand for.
    exported: Vec<(String, ModPath)>,
}

impl Names {
    /// `segments` made absolute, when it starts inside this crate.
    fn absolute(&self, segments: &[String]) -> Option<ModPath> {
        let first = segments.first()?;
        let mut path = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.module.clone(),
            "super" => {
                let mut base = self.module.clone();
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                return Some(base);
            }
            name if self.children.contains(name) => {
                let mut path = self.module.clone();
                path.push(name.to_owned());
                path.extend(segments[1..].iter().cloned());
                return Some(path);
            }
            _ => return None,
        };
        path.extend(segments[1..].iter().cloned());
        Some(path)
    }

    fn record(&mut self, segments: &[String]) -> Option<ModPath> {
        let path = self.absolute(segments)?;
        self.found.push(path.clone());
        Some(path)
    }

    /// The paths of a `use` tree, each with its prefix; under `pub use`,
    /// each name is also a re-export.
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, public: bool) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, public);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                if let Some(path) = self.record(prefix)
                    && public
                {
                    self.exported.push((n.ident.to_string(), path));
                }
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                if let Some(path) = self.record(prefix)
                    && public
                {
                    self.exported.push((r.rename.to_string(), path));
                }
                prefix.pop();
            }
            syn::UseTree::Glob(_) => {
                self.record(prefix);
            }
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree, public);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Names {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let public = !matches!(item.vis, syn::Visibility::Inherited);
        self.use_tree(&mut Vec::new(), &item.tree, public);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.segments.len() > 1 {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.record(&segments);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        // An inline test module is left out like a test file.
        if !module.attrs.iter().any(|a| a.path().is_ident("cfg")) {
            syn::visit::visit_item_mod(self, module);
        }
    }
}

/// Tarjan's strongly connected components.
struct Tarjan<'g> {
    edges: &'g BTreeMap<ModPath, BTreeSet<ModPath>>,
    index: BTreeMap<&'g ModPath, (usize, usize)>,
    stack: Vec<&'g ModPath>,
    on_stack: BTreeSet<&'g ModPath>,
    components: Vec<Vec<ModPath>>,
}

impl<'g> Tarjan<'g> {
    fn run(edges: &'g BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
        let mut tarjan = Tarjan {
            edges,
            index: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            components: Vec::new(),
        };
        for node in edges.keys() {
            if !tarjan.index.contains_key(node) {
                tarjan.connect(node);
            }
        }
        tarjan.components
    }

    fn connect(&mut self, node: &'g ModPath) {
        let n = self.index.len();
        self.index.insert(node, (n, n));
        self.stack.push(node);
        self.on_stack.insert(node);
        for next in self.edges.get(node).into_iter().flatten() {
            let low = if let Some(&(index, _)) = self.index.get(next) {
                self.on_stack.contains(next).then_some(index)
            } else {
                self.connect(next);
                Some(self.index[next].1)
            };
            if let Some(low) = low {
                let entry = self.index.get_mut(node).expect("indexed above");
                entry.1 = entry.1.min(low);
            }
        }
        let (index, low) = self.index[node];
        if index == low {
            let mut component = Vec::new();
            while let Some(member) = self.stack.pop() {
                self.on_stack.remove(member);
                component.push(member.clone());
                if member == node {
                    break;
                }
            }
            component.sort();
            self.components.push(component);
        }
    }
}
