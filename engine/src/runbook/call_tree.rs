//! `kind: runbook`: a runbook and every runbook it calls, loaded and
//! validated as one tree, then expanded into one list of steps.
//!
//! Each file is read, parsed and validated once, however often it is
//! called. A call's steps are spliced in right after the call step, their
//! ids prefixed with the call's (`restore/<step>`, `restore/sub/<step>`),
//! each with an extra need on its call step, so the scheduler, the journal
//! and every report keep working on plain step ids. What makes a child step
//! different is its *scope*: the call it belongs to ([`CallTree::scope`]),
//! whose rendered `with.inputs` are its `inputs` and whose prefix its
//! `steps.<id>` reads go through.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use lifeboat_steps::Registry;

use crate::runbook::diagnostic::{did_you_mean, Diagnostic};
use crate::runbook::engine_kind::EngineKind;
use crate::runbook::input_decl::InputDecl;
use crate::runbook::loader;
use crate::runbook::node::{Loc, Node, NodeValue};
use crate::runbook::source_file::SourceFile;
use crate::runbook::step::{item_id, Need, Section, Step};
use crate::runbook::templates::Templates;
use crate::runbook::validator::{self, CallOutputs};
use crate::runbook::{Runbook, RunbookOutput};

/// The separator between a call's id and its steps' ids.
pub const SCOPE_SEPARATOR: char = '/';

/// Where the called files come from: the disk, beside the top file, or a
/// run's stored copies (by key).
pub enum TreeFiles<'a> {
    Disk,
    Stored(&'a BTreeMap<String, String>),
}

/// One called runbook file: its key (its path relative to the top file's
/// directory, with `/`) and its text.
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub key: String,
    pub source: Arc<SourceFile>,
}

/// One `kind: runbook` step of the expanded runbook.
#[derive(Debug, Clone)]
pub struct CallSite {
    /// The called file's key.
    pub file: String,
    /// The called runbook's input declarations (types, defaults).
    pub inputs: Vec<InputDecl>,
    /// Its `outputs:`, rendered in the call's scope when its steps are done.
    pub outputs: Vec<RunbookOutput>,
    /// Its steps (nested calls' included), by index in the expanded runbook.
    pub children: Range<usize>,
    /// A call with `for_each`: its item calls (`<id>[<key>]`, each a call
    /// of the file with the item bound), by index, in item order. Empty
    /// until the items are known ([`CallItems`]), or for a plain call.
    pub items: Vec<usize>,
    /// An item call: the loop it is an item of, and its item.
    pub item: Option<CallItem>,
}

/// The item an item call of a `for_each` call runs with.
#[derive(Debug, Clone)]
pub struct CallItem {
    /// The loop step's index.
    pub of: usize,
    pub key: String,
    /// The loop's `as` name, which the call's `with.inputs` read it by.
    pub name: String,
    pub value: serde_json::Value,
}

/// The items of each `for_each` call of the top runbook, by its id: each
/// item's key and value in item order, known once the run's inputs are
/// (`run/launcher.rs`). Without them (`validate`, `graph`) a loop's called
/// steps are not laid out.
pub type CallItems = HashMap<String, Vec<(String, serde_json::Value)>>;

/// The calls of an expanded runbook.
#[derive(Debug, Clone, Default)]
pub struct CallTree {
    /// Each step's call (the index of the `kind: runbook` step it belongs
    /// to), by step index; `None` for the top runbook's steps.
    scopes: Vec<Option<usize>>,
    /// The call sites, by the call step's index.
    calls: HashMap<usize, Arc<CallSite>>,
    /// Every called file, in the order first called.
    pub files: Vec<TreeFile>,
}

impl CallTree {
    /// The call step `i` belongs to.
    pub fn scope(&self, i: usize) -> Option<usize> {
        self.scopes.get(i).copied().flatten()
    }

    /// Step `i`'s call site, when it is a `kind: runbook` step.
    pub fn call(&self, i: usize) -> Option<&Arc<CallSite>> {
        self.calls.get(&i)
    }

    /// The SHA-256 of the whole tree: the top file's digest alone when it
    /// calls nothing (what a run recorded before calls existed), else one
    /// over the top digest and every called file's key and digest.
    pub fn digest(&self, top: &Runbook) -> String {
        if self.files.is_empty() {
            return top.digest();
        }
        let stored: BTreeMap<String, String> = self
            .files
            .iter()
            .map(|f| (f.key.clone(), f.source.text.clone()))
            .collect();
        tree_digest(&top.source.text, &stored)
    }

    /// The called files' texts by key, as a run stores them.
    pub fn stored_files(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|f| (f.key.clone(), f.source.text.clone()))
            .collect()
    }

    /// The run's copy of the called files (`runbook-tree.json`): one JSON
    /// object of key to text, canonical (keys sorted, one way of writing),
    /// so the same tree is the same bytes, whatever order its files were
    /// first called in.
    pub fn stored_json(&self) -> Vec<u8> {
        canonical_tree_json(&self.stored_files())
    }
}

/// [`CallTree::stored_json`] of files by key. Keys are sorted by the map;
/// the object is written compactly, one entry a line, so that a diff of
/// two copies shows which file changed.
pub fn canonical_tree_json(files: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = String::from("{");
    for (n, (key, text)) in files.iter().enumerate() {
        out.push_str(if n == 0 { "\n" } else { ",\n" });
        out.push_str(&serde_json::Value::String(key.clone()).to_string());
        out.push(':');
        out.push_str(&serde_json::Value::String(text.clone()).to_string());
    }
    out.push_str(if files.is_empty() { "}\n" } else { "\n}\n" });
    out.into_bytes()
}

/// The digest of a top file's text and its called files' texts by key
/// (see [`CallTree::digest`]).
pub fn tree_digest(top: &str, files: &BTreeMap<String, String>) -> String {
    let sha = |t: &str| lifeboat_steps::checksum::sha256_hex(t.as_bytes());
    if files.is_empty() {
        return sha(top);
    }
    let mut all = format!("{}\n", sha(top));
    for (key, text) in files {
        all.push_str(&format!("{key}\0{}\n", sha(text)));
    }
    sha(&all)
}

/// The key of `file`, written in the file whose key is `from` (`""` for
/// the top file): `from`'s directory joined with `file`, normalised.
pub fn child_key(from: &str, file: &str) -> String {
    let base = Path::new(from).parent().unwrap_or(Path::new(""));
    let mut parts: Vec<String> = Vec::new();
    for c in base.join(file).components() {
        match c {
            Component::ParentDir if parts.last().is_some_and(|p| p != "..") => {
                parts.pop();
            }
            Component::ParentDir => parts.push("..".into()),
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::RootDir => parts = vec![String::new()],
            _ => {}
        }
    }
    parts.join("/")
}

/// A runbook and its called runbooks, validated: the top runbook expanded
/// with every call's steps, and the tree; or every problem.
pub fn load(
    top: Runbook,
    files: TreeFiles,
    registry: &Registry,
    templates: &Templates,
    items: &CallItems,
) -> (Option<(Runbook, CallTree)>, Vec<Diagnostic>) {
    let top_dir = top
        .source
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut loader = TreeLoader {
        files,
        top_dir,
        registry,
        templates,
        items,
        parsed: HashMap::new(),
        order: Vec::new(),
        diagnostics: Vec::new(),
    };
    let top = Arc::new(top);
    let top_key = top_name(&top);
    let mut stack = vec![(top_key.clone(), top_key.clone())];
    loader.check_file(&top, &top_key, &mut stack, None);
    if loader.diagnostics.iter().any(Diagnostic::is_error) {
        return (None, loader.diagnostics);
    }
    let mut tree = CallTree::default();
    let mut steps = Vec::with_capacity(top.steps.len());
    loader.expand(&top, &top_key, "", None, None, &mut steps, &mut tree);
    tree.files = loader
        .order
        .iter()
        .filter_map(|key| {
            let parsed = loader.parsed.get(key)?.as_ref()?;
            Some(TreeFile {
                key: key.clone(),
                source: parsed.source.clone(),
            })
        })
        .collect();
    need_whole_calls(&mut steps, &tree);
    let mut expanded = (*top).clone();
    expanded.index = Runbook::index_steps(&steps);
    expanded.steps = steps;
    loader.diagnostics.extend(check_called_stop_at(&expanded));
    if loader.diagnostics.iter().any(Diagnostic::is_error) {
        return (None, loader.diagnostics);
    }
    (Some((expanded, tree)), loader.diagnostics)
}

/// `rto.stop_at: <call>/<step>`, which the validator leaves for the
/// expanded runbook: it must name a called step (the clock stops when that
/// step first succeeds, as for a step of the top runbook).
fn check_called_stop_at(expanded: &Runbook) -> Option<Diagnostic> {
    let rto = expanded.rto.as_ref()?;
    let stop_at = rto.stop_at.as_deref()?;
    let (call, _) = stop_at.split_once(SCOPE_SEPARATOR)?;
    if expanded.step(stop_at).is_some() {
        return None;
    }
    let prefix = format!("{call}{SCOPE_SEPARATOR}");
    let called = expanded
        .steps
        .iter()
        .map(|s| s.id.as_str())
        .filter(|id| id.starts_with(&prefix));
    let help = did_you_mean(stop_at, called).unwrap_or_else(|| {
        format!("name a step of the runbook `{call}` calls, as `{call}/<step id>`, or `{call}` itself, which succeeds when all its steps have")
    });
    Some(
        Diagnostic::error(format!(
            "`rto.stop_at` names `{stop_at}`, which is not a step of the runbook `{call}` calls"
        ))
        .at(rto.stop_at_loc)
        .width(stop_at.chars().count())
        .in_file(&expanded.source)
        .help(help),
    )
}

/// A step that needs a call also needs the call's last steps (those no
/// other step of the call needs), so the step graph says what the
/// scheduler does: it runs after all of them (`plan`'s critical path,
/// `resume --from`'s descendants, levels).
fn need_whole_calls(steps: &mut [Step], tree: &CallTree) {
    let index = Runbook::index_steps(steps);
    let mut leaves: HashMap<usize, Vec<String>> = HashMap::new();
    for (&c, site) in &tree.calls {
        let mut needed = std::collections::HashSet::new();
        for j in site.children.clone() {
            for need in steps[j].needs_ids() {
                if let Some(&k) = index.get(need) {
                    needed.insert(k);
                }
            }
        }
        leaves.insert(
            c,
            site.children
                .clone()
                .filter(|j| !needed.contains(j))
                .map(|j| steps[j].id.clone())
                .collect(),
        );
    }
    for (i, step) in steps.iter_mut().enumerate() {
        let mut extra = Vec::new();
        for need in step.needs_ids() {
            let Some(&c) = index.get(need) else { continue };
            let Some(ids) = leaves.get(&c) else { continue };
            if tree.calls[&c].children.contains(&i) {
                continue;
            }
            extra.extend(ids.iter().cloned());
        }
        for id in extra {
            if !step.needs_ids().any(|n| n == id) {
                step.needs.push(Need {
                    id,
                    loc: Loc::UNKNOWN,
                });
            }
        }
    }
}

fn top_name(top: &Runbook) -> String {
    top.source
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| top.source.path().display().to_string())
}

struct TreeLoader<'a> {
    files: TreeFiles<'a>,
    top_dir: PathBuf,
    registry: &'a Registry,
    templates: &'a Templates,
    /// The items of the `for_each` calls, when the run's inputs are known.
    items: &'a CallItems,
    /// Each called file by key, once: `None` when it did not load.
    parsed: HashMap<String, Option<Arc<Runbook>>>,
    /// Keys in the order first called.
    order: Vec<String>,
    diagnostics: Vec<Diagnostic>,
}

impl TreeLoader<'_> {
    /// Validates `runbook` (the file `key`), loading the files it calls
    /// first. `stack` is the chain of calls that led here (key, shown
    /// name); `called_from` says where, for diagnostics in called files.
    fn check_file(
        &mut self,
        runbook: &Arc<Runbook>,
        key: &str,
        stack: &mut Vec<(String, String)>,
        called_from: Option<&str>,
    ) {
        let mut calls = CallOutputs::new();
        for step in runbook.steps.iter() {
            if EngineKind::from_name(&step.kind) != Some(EngineKind::Runbook) {
                continue;
            }
            if let Some(f) = step.for_each.as_ref().filter(|_| called_from.is_some()) {
                let d = Diagnostic::error(format!(
                    "step `{}`: `for_each` on a `runbook` call is supported only in the runbook that is run, not in a called one",
                    step.id
                ))
                .at(f.loc)
                .width("for_each".len())
                .in_file(&runbook.source)
                .help("loop over the call in the top runbook and pass each item down as an input, or loop over the steps inside this runbook");
                self.push(d, called_from);
            }
            let Some(file_node) = step.with.get("file") else {
                continue;
            };
            let Some(file) = file_node.as_str().filter(|f| !f.contains("{{")) else {
                continue;
            };
            let child = child_key(key, file);
            let at = format!(
                "{}:{}:{}",
                runbook.source.path().display(),
                file_node.loc.line,
                file_node.loc.col
            );
            let width = runbook
                .source
                .scalar_width(file_node.loc, file.chars().count());
            if let Some(pos) = stack.iter().position(|(k, _)| *k == child) {
                let mut chain: Vec<&str> = stack[pos..].iter().map(|(_, n)| n.as_str()).collect();
                chain.push(&stack[pos].1);
                self.push(
                    Diagnostic::error(format!(
                        "step `{}` calls `{file}`, which makes a call cycle: {}",
                        step.id,
                        chain.join(" -> ")
                    ))
                    .at(file_node.loc)
                    .width(width)
                    .in_file(&runbook.source)
                    .help("a runbook cannot call itself, directly or through others; move the shared steps into a runbook both call"),
                    called_from,
                );
                continue;
            }
            if !self.parsed.contains_key(&child) {
                let loaded = self.read(&child, file, step, file_node, width, runbook, called_from);
                self.order.push(child.clone());
                let loaded = loaded.and_then(|source| {
                    let (rb, diagnostics) = loader::load(source);
                    let note = format!("{at} (step `{}`)", step.id);
                    for d in diagnostics {
                        self.push(d, Some(&note));
                    }
                    rb.map(Arc::new)
                });
                self.parsed.insert(child.clone(), loaded.clone());
                if let Some(rb) = loaded {
                    stack.push((child.clone(), file.to_string()));
                    let note = format!("{at} (step `{}`)", step.id);
                    self.check_file(&rb, &child, stack, Some(&note));
                    stack.pop();
                }
            }
            if let Some(Some(rb)) = self.parsed.get(&child).cloned() {
                self.check_inputs(runbook, step, file, &rb, called_from);
                calls.insert(
                    step.id.clone(),
                    (
                        file.to_string(),
                        rb.outputs.iter().map(|o| o.name.clone()).collect(),
                    ),
                );
            }
        }
        for d in validator::validate_with_calls(runbook, self.registry, self.templates, &calls) {
            self.push(d, called_from);
        }
        if called_from.is_some() {
            self.refuse_sections(runbook, called_from);
        }
    }

    /// A diagnostic, with the call that led to its file.
    fn push(&mut self, mut d: Diagnostic, called_from: Option<&str>) {
        if d.called_from.is_none() {
            d.called_from = called_from.map(String::from);
        }
        self.diagnostics.push(d);
    }

    /// The text of the called file `key`, or an error at the call.
    #[allow(clippy::too_many_arguments)]
    fn read(
        &mut self,
        key: &str,
        file: &str,
        step: &Step,
        file_node: &Node,
        width: usize,
        caller: &Runbook,
        called_from: Option<&str>,
    ) -> Option<Arc<SourceFile>> {
        let path = self.top_dir.join(key);
        let text = match &self.files {
            TreeFiles::Disk => std::fs::read(&path)
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        "no such file".to_string()
                    } else {
                        e.to_string()
                    }
                })
                .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".into())),
            TreeFiles::Stored(stored) => stored
                .get(key)
                .cloned()
                .ok_or_else(|| "not among the run's copies of its runbooks".to_string()),
        };
        match text {
            Ok(text) => Some(Arc::new(SourceFile::new(path, text))),
            Err(problem) => {
                self.push(
                    Diagnostic::error(format!(
                        "step `{}` calls `{file}`, which cannot be read (`{}`): {problem}",
                        step.id,
                        path.display()
                    ))
                    .at(file_node.loc)
                    .width(width)
                    .in_file(&caller.source)
                    .help("check the path; `file` is relative to the calling runbook's file"),
                    called_from,
                );
                None
            }
        }
    }

    /// The call's `with.inputs` against the called runbook's `inputs:`:
    /// names, required ones, and the types of literal values.
    fn check_inputs(
        &mut self,
        caller: &Runbook,
        step: &Step,
        file: &str,
        child: &Runbook,
        called_from: Option<&str>,
    ) {
        let given = step.with.get("inputs");
        let entries: &[(Node, Node)] = match given.map(|n| &n.value) {
            Some(NodeValue::Map(entries)) => entries,
            _ => &[],
        };
        for (key, value) in entries {
            let name = key.key_text();
            let Some(decl) = child.input(&name) else {
                let help = did_you_mean(&name, child.inputs.iter().map(|i| i.name.as_str()))
                    .unwrap_or_else(|| {
                        if child.inputs.is_empty() {
                            format!("`{file}` declares no inputs; remove it")
                        } else {
                            let names: Vec<&str> =
                                child.inputs.iter().map(|i| i.name.as_str()).collect();
                            format!("`{file}` declares {}", names.join(", "))
                        }
                    });
                let d = Diagnostic::error(format!(
                    "step `{}` gives input `{name}`, which `{file}` does not declare",
                    step.id
                ))
                .at(key.loc)
                .width(name.chars().count())
                .in_file(&caller.source)
                .help(help);
                self.push(d, called_from);
                continue;
            };
            let literal = !matches!(&value.value, NodeValue::String(s) if s.contains("{{") || s.contains("{%"));
            if literal && !decl.accepts(&value.to_json()) {
                let d = Diagnostic::error(format!(
                    "step `{}` gives input `{name}` {}, but `{file}` declares it `{}`",
                    step.id,
                    value.type_name(),
                    decl.ty.as_str()
                ))
                .at(value.loc)
                .width(1)
                .in_file(&caller.source)
                .help(format!("give `{name}` a {} value", decl.ty.as_str()));
                self.push(d, called_from);
            }
        }
        for decl in &child.inputs {
            let required = decl.default.is_none() && !decl.optional;
            if required && !entries.iter().any(|(k, _)| k.key_text() == decl.name) {
                let loc = given.map_or(step.kind_loc, |n| n.loc);
                let d = Diagnostic::error(format!(
                    "step `{}` does not give input `{}`, which `{file}` requires",
                    step.id, decl.name
                ))
                .at(loc)
                .width(1)
                .in_file(&caller.source)
                .help(format!(
                    "add `{}: ...` under `with.inputs`, or give the input a `default` in `{file}`",
                    decl.name
                ));
                self.push(d, called_from);
            }
        }
    }

    /// A called runbook runs inside its caller: its `on_failure` and
    /// `finally` would have no honest place, so they are refused.
    fn refuse_sections(&mut self, child: &Runbook, called_from: Option<&str>) {
        for section in [Section::OnFailure, Section::Finally] {
            if let Some(first) = child.section(section).next() {
                let d = Diagnostic::error(format!(
                    "a called runbook cannot have `{}` (step `{}`)",
                    section.as_str(),
                    first.id
                ))
                .at(first.loc)
                .width(1)
                .in_file(&child.source)
                .help(format!(
                    "move these steps into the `{}` of the calling runbook, or into a runbook of their own",
                    section.as_str()
                ));
                self.push(d, called_from);
            }
        }
    }

    /// Appends `runbook`'s steps (all sections for the top, main ones for a
    /// call) to `out`, ids prefixed with `prefix`, each call followed by
    /// its called runbook's steps.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &self,
        runbook: &Runbook,
        key: &str,
        prefix: &str,
        call: Option<usize>,
        section: Option<Section>,
        out: &mut Vec<Step>,
        tree: &mut CallTree,
    ) {
        for step in &runbook.steps {
            if section.is_some() && step.section != Section::Main {
                continue;
            }
            let mut s = step.clone();
            s.id = format!("{prefix}{}", step.id);
            for need in &mut s.needs {
                need.id = format!("{prefix}{}", need.id);
            }
            if let Some(c) = call {
                s.needs.push(Need {
                    id: out[c].id.clone(),
                    loc: Loc::UNKNOWN,
                });
            }
            if let Some(section) = section {
                s.section = section;
            }
            let index = out.len();
            let section = s.section;
            out.push(s);
            tree.scopes.push(call);
            if EngineKind::from_name(&step.kind) != Some(EngineKind::Runbook) {
                continue;
            }
            let Some(file) = step.with.get("file").and_then(Node::as_str) else {
                continue;
            };
            let child_key = child_key(key, file);
            let Some(Some(child)) = self.parsed.get(&child_key) else {
                continue;
            };
            let site = |children: Range<usize>, items: Vec<usize>, item: Option<CallItem>| {
                Arc::new(CallSite {
                    file: child_key.clone(),
                    inputs: child.inputs.clone(),
                    outputs: child.outputs.clone(),
                    children,
                    items,
                    item,
                })
            };
            let Some(f) = &step.for_each else {
                let child_prefix = format!("{prefix}{}{SCOPE_SEPARATOR}", step.id);
                self.expand(
                    child,
                    &child_key,
                    &child_prefix,
                    Some(index),
                    Some(section),
                    out,
                    tree,
                );
                tree.calls
                    .insert(index, site(index + 1..out.len(), Vec::new(), None));
                continue;
            };
            // A loop of calls: one item call per item, `<id>[<key>]`, each
            // needing the loop and followed by its called steps,
            // `<id>[<key>]/<step>`. A `when` that reads the item is each
            // item call's; the loop keeps the others.
            let per_item = step.when.as_ref().is_some_and(|w| {
                self.templates
                    .expression_references(&w.text)
                    .map_or(true, |refs| {
                        refs.iter()
                            .any(|r| r.split('.').next() == Some(f.as_name.as_str()))
                    })
            });
            if per_item {
                out[index].when = None;
            }
            let mut item_calls = Vec::new();
            for (key, value) in self.items.get(&out[index].id).into_iter().flatten() {
                let mut s = step.clone();
                s.id = format!("{prefix}{}", item_id(&step.id, key));
                s.needs = vec![Need {
                    id: out[index].id.clone(),
                    loc: Loc::UNKNOWN,
                }];
                s.for_each = None;
                s.section = section;
                s.continue_on_failure = false;
                if !per_item {
                    s.when = None;
                }
                let item_index = out.len();
                let child_prefix = format!("{}{SCOPE_SEPARATOR}", s.id);
                out.push(s);
                tree.scopes.push(Some(index));
                self.expand(
                    child,
                    &child_key,
                    &child_prefix,
                    Some(item_index),
                    Some(section),
                    out,
                    tree,
                );
                let item = CallItem {
                    of: index,
                    key: key.clone(),
                    name: f.as_name.clone(),
                    value: value.clone(),
                };
                tree.calls.insert(
                    item_index,
                    site(item_index + 1..out.len(), Vec::new(), Some(item)),
                );
                item_calls.push(item_index);
            }
            tree.calls
                .insert(index, site(index + 1..out.len(), item_calls, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_tree_is_canonical_whatever_the_order_of_calls() {
        let tree = |order: &[(&str, &str)]| CallTree {
            files: order
                .iter()
                .map(|(key, text)| TreeFile {
                    key: key.to_string(),
                    source: Arc::new(SourceFile::new(*key, *text)),
                })
                .collect(),
            ..CallTree::default()
        };
        let a = tree(&[("lib/b.yaml", "b: \"1\"\n"), ("lib/a.yaml", "a\n")]);
        let b = tree(&[("lib/a.yaml", "a\n"), ("lib/b.yaml", "b: \"1\"\n")]);
        assert_eq!(a.stored_json(), b.stored_json());
        assert_eq!(
            String::from_utf8(a.stored_json()).expect("utf-8"),
            "{\n\"lib/a.yaml\":\"a\\n\",\n\"lib/b.yaml\":\"b: \\\"1\\\"\\n\"\n}\n"
        );
        // Read back, it is the same tree, with the same digest.
        let read: BTreeMap<String, String> =
            serde_json::from_slice(&a.stored_json()).expect("json");
        assert_eq!(read, b.stored_files());
        assert_eq!(
            tree_digest("top", &read),
            tree_digest("top", &a.stored_files())
        );
        assert_eq!(CallTree::default().stored_json(), b"{}\n");
    }

    #[test]
    fn keys_are_relative_to_the_calling_file() {
        assert_eq!(child_key("", "lib/a.yaml"), "lib/a.yaml");
        assert_eq!(child_key("lib/a.yaml", "b.yaml"), "lib/b.yaml");
        assert_eq!(child_key("lib/a.yaml", "../c.yaml"), "c.yaml");
        assert_eq!(child_key("", "../shared/d.yaml"), "../shared/d.yaml");
        assert_eq!(child_key("lib/a.yaml", "./sub/e.yaml"), "lib/sub/e.yaml");
    }
}
