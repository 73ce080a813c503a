//! A runbook read, loaded and validated: the one way to a
//! [`CheckedRunbook`], the validated runbook the launcher and the
//! scheduler run. Validation resolves every step's `kind:` (and its
//! `check` probe's) once, here; code that holds a `CheckedRunbook` never
//! looks a kind up by name and has no "unknown kind" case.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use lifeboat_steps::{Effect, Registry, Rerun, StepKind};
use serde_json::Value;

use crate::runbook::call_tree::{self, CallItems, CallTree, TreeFiles};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::engine_kind::EngineKind;
use crate::runbook::loader;
use crate::runbook::source_file::SourceFile;
use crate::runbook::templates::Templates;
use crate::runbook::Runbook;

/// What a step's `kind:` names, resolved by validation.
#[derive(Clone)]
pub enum ResolvedKind {
    /// A kind the engine runs itself (`assert`, `checkpoint`, `approval`,
    /// `manual`).
    Engine(EngineKind),
    /// A kind of the steps crate.
    Step(Arc<dyn StepKind>),
}

impl ResolvedKind {
    pub fn engine(&self) -> Option<EngineKind> {
        match self {
            ResolvedKind::Engine(kind) => Some(*kind),
            ResolvedKind::Step(_) => None,
        }
    }

    /// An `approval` or `manual` step.
    pub fn is_human(&self) -> bool {
        self.engine().is_some_and(EngineKind::is_human)
    }
}

/// A runbook that passed validation, with its kinds resolved. It derefs to
/// the [`Runbook`] model; the kinds are by step index.
#[derive(Clone)]
pub struct CheckedRunbook {
    runbook: Runbook,
    kinds: Vec<ResolvedKind>,
    /// The kind of each step's `check` probe, for steps that have one.
    probe_kinds: Vec<Option<Arc<dyn StepKind>>>,
    /// The `kind: runbook` calls, and each step's scope.
    tree: Arc<CallTree>,
}

impl Deref for CheckedRunbook {
    type Target = Runbook;
    fn deref(&self) -> &Runbook {
        &self.runbook
    }
}

impl CheckedRunbook {
    /// Resolves the kinds of a runbook that validation accepted; an error
    /// names a kind validation should have refused (a bug, not bad input).
    fn resolve(runbook: Runbook, tree: CallTree, registry: &Registry) -> Result<Self, Diagnostic> {
        let source = runbook.source.clone();
        let unresolved = |kind: &str, loc| {
            Diagnostic::error(format!(
                "internal error: step kind `{kind}` passed validation but is not known; this is a bug in lifeboat, please report it"
            ))
            .at(loc)
            .width(kind.len())
            .in_file(&source)
        };
        let mut kinds = Vec::with_capacity(runbook.steps.len());
        let mut probe_kinds = Vec::with_capacity(runbook.steps.len());
        for step in &runbook.steps {
            let kind = match EngineKind::from_name(&step.kind) {
                Some(engine) => ResolvedKind::Engine(engine),
                None => match registry.get(&step.kind) {
                    Some(kind) => ResolvedKind::Step(kind.clone()),
                    None => return Err(unresolved(&step.kind, step.kind_loc)),
                },
            };
            kinds.push(kind);
            probe_kinds.push(match &step.check {
                Some(probe) => match registry.get(&probe.kind) {
                    Some(kind) => Some(kind.clone()),
                    None => return Err(unresolved(&probe.kind, probe.kind_loc)),
                },
                None => None,
            });
        }
        Ok(Self {
            runbook,
            kinds,
            probe_kinds,
            tree: Arc::new(tree),
        })
    }

    /// The calls (`kind: runbook`) of the runbook, and each step's scope.
    pub fn tree(&self) -> &CallTree {
        &self.tree
    }

    /// The SHA-256 a run records and a resume checks: of the whole tree of
    /// runbook files (the top file's alone when it calls none).
    pub fn digest(&self) -> String {
        self.tree.digest(&self.runbook)
    }

    /// Its `for_each` calls whose items are known (`items`, by the call's
    /// id) laid out: each item call, `<id>[<key>]`, and its called steps,
    /// `<id>[<key>]/<step>`, become steps of the runbook, as a plain call's
    /// do. The same files, so the same digest.
    pub fn with_call_items(
        &self,
        items: &CallItems,
        registry: &Registry,
        templates: &Templates,
    ) -> Result<CheckedRunbook, Vec<Diagnostic>> {
        let files = self.tree.stored_files();
        check_source(
            (*self.runbook.source).clone(),
            TreeFiles::Stored(&files),
            registry,
            templates,
            false,
            items,
        )
        .map(|(checked, _)| checked)
    }

    /// The `for_each` calls of the top runbook, by index: what
    /// [`CheckedRunbook::with_call_items`] lays out.
    pub fn call_loops(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.runbook.steps.len()).filter(|&i| {
            self.tree.scope(i).is_none()
                && self.runbook.steps[i].for_each.is_some()
                && self.tree.call(i).is_some()
        })
    }

    /// The model, without the resolved kinds.
    pub fn runbook(&self) -> &Runbook {
        &self.runbook
    }

    /// Step `i`'s kind.
    pub fn kind(&self, i: usize) -> &ResolvedKind {
        &self.kinds[i]
    }

    /// The kind of step `i`'s `check` probe; `Some` exactly when the step
    /// has a `check`.
    pub fn probe_kind(&self, i: usize) -> Option<&Arc<dyn StepKind>> {
        self.probe_kinds[i].as_ref()
    }

    /// Whether step `i` only reads: its own `read_only`, else its kind's
    /// answer for its unrendered parameters (an `http` GET). Engine kinds
    /// change nothing in the world.
    pub fn is_read_only(&self, i: usize) -> bool {
        match &self.kinds[i] {
            ResolvedKind::Engine(_) => self.runbook.steps[i].read_only.unwrap_or(true),
            ResolvedKind::Step(kind) => self.runbook.steps[i].is_read_only(kind.as_ref()),
        }
    }

    /// What a resume does with step `i` if it was interrupted mid-step,
    /// and whether it is safe to repeat once completed: its own `rerun`;
    /// else `safe` when the step only reads (`read_only: true`, or a
    /// read-only kind); else its kind's default, where `check` without a
    /// `check` probe means `never`, and a kind that is `safe` only because
    /// it reads by default (`http`, a GET) is `never` when this step
    /// changes things (a POST, or `read_only: false`). Engine kinds
    /// (`approval`, `assert`, …) are safe. The one definition for the
    /// scheduler and the resume checks.
    pub fn rerun_policy(&self, i: usize) -> Rerun {
        let step = &self.runbook.steps[i];
        if let Some(policy) = step.rerun {
            return policy;
        }
        let ResolvedKind::Step(kind) = &self.kinds[i] else {
            return Rerun::Safe;
        };
        if step.is_read_only(kind.as_ref()) {
            return Rerun::Safe;
        }
        match kind.default_rerun() {
            // Without a probe to check with, asking a human is the only
            // safe answer.
            Rerun::Check if step.check.is_none() => Rerun::Never,
            Rerun::Safe if kind.effect(&Value::Null) == Effect::ReadOnly => Rerun::Never,
            policy => policy,
        }
    }
}

/// Reads, loads and validates a runbook file. `Ok` holds the runbook and any
/// warnings; `Err` holds every problem (errors and warnings).
pub fn load_checked(
    path: &Path,
    registry: &Registry,
    templates: &Templates,
) -> Result<(CheckedRunbook, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                return Err(vec![Diagnostic::error(format!(
                    "`{}` is not UTF-8 text",
                    path.display()
                ))
                .help("save the runbook as UTF-8")])
            }
        },
        Err(e) => {
            let help = if e.kind() == std::io::ErrorKind::NotFound {
                "check the path; shipped runbooks live under runbooks/"
            } else {
                "check the file's permissions"
            };
            return Err(vec![Diagnostic::error(format!(
                "cannot read `{}`: {e}",
                path.display()
            ))
            .help(help)]);
        }
    };
    check_source(
        SourceFile::new(path, text),
        TreeFiles::Disk,
        registry,
        templates,
        true,
        &CallItems::new(),
    )
}

/// Loads and validates runbook text.
pub fn check_text(
    source: SourceFile,
    registry: &Registry,
    templates: &Templates,
) -> Result<(CheckedRunbook, Vec<Diagnostic>), Vec<Diagnostic>> {
    check_source(
        source,
        TreeFiles::Stored(&BTreeMap::new()),
        registry,
        templates,
        false,
        &CallItems::new(),
    )
}

/// [`check_text`] for a run's stored copy: the files it calls are `files`
/// (by key, as [`CallTree::stored_files`] gives them).
pub fn check_stored(
    source: SourceFile,
    files: &BTreeMap<String, String>,
    registry: &Registry,
    templates: &Templates,
) -> Result<(CheckedRunbook, Vec<Diagnostic>), Vec<Diagnostic>> {
    check_source(
        source,
        TreeFiles::Stored(files),
        registry,
        templates,
        false,
        &CallItems::new(),
    )
}

/// [`check_text`]; with `files`, also the files the runbook names beside
/// itself (`recipients:`), which a run's stored copy has no directory for.
fn check_source(
    source: SourceFile,
    tree_files: TreeFiles,
    registry: &Registry,
    templates: &Templates,
    files: bool,
    items: &CallItems,
) -> Result<(CheckedRunbook, Vec<Diagnostic>), Vec<Diagnostic>> {
    let top_source = Arc::new(source);
    let (runbook, mut diagnostics) = loader::load(top_source.clone());
    let Some(runbook) = runbook else {
        return Err(diagnostics);
    };
    if files {
        diagnostics.extend(crate::runbook::recipients::check(&runbook));
    }
    let (expanded, tree_diagnostics) =
        call_tree::load(runbook, tree_files, registry, templates, items);
    diagnostics.extend(tree_diagnostics);
    // The top file's problems in line order, then each called file's.
    diagnostics.sort_by_key(|d| {
        let top = d
            .source
            .as_ref()
            .is_none_or(|s| Arc::ptr_eq(s, &top_source));
        (!top, d.loc.line, d.loc.col)
    });
    let Some((runbook, tree)) = expanded else {
        return Err(diagnostics);
    };
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    match CheckedRunbook::resolve(runbook, tree, registry) {
        Ok(checked) => Ok((checked, diagnostics)),
        Err(bug) => {
            diagnostics.push(bug);
            Err(diagnostics)
        }
    }
}

/// The registry of every step kind this build of Lifeboat offers.
pub fn registry() -> Registry {
    Registry::builtin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(yaml: &str) -> CheckedRunbook {
        match check_text(
            SourceFile::new("t.yaml", yaml),
            &registry(),
            &Templates::new(),
        ) {
            Ok((runbook, _)) => runbook,
            Err(d) => panic!("{}", d.iter().map(Diagnostic::render).collect::<String>()),
        }
    }

    const KINDS: &str = r#"
version: 1
name: kinds
steps:
  - id: gate
    kind: approval
    with: { prompt: "go?" }
  - id: mark
    kind: checkpoint
  - id: get
    kind: http
    with: { url: "http://127.0.0.1:1/x" }
  - id: post
    kind: http
    with: { url: "http://127.0.0.1:1/x", method: POST }
  - id: sh
    kind: shell
    with: { run: ["true"] }
  - id: probed
    kind: shell
    rerun: check
    check:
      kind: http
      with: { url: "http://127.0.0.1:1/health" }
    with: { run: ["true"] }
"#;

    #[test]
    fn validation_resolves_every_kind_once() {
        let rb = checked(KINDS);
        let kinds: Vec<String> = (0..rb.steps.len())
            .map(|i| match rb.kind(i) {
                ResolvedKind::Engine(k) => format!("engine {k:?}"),
                ResolvedKind::Step(k) => format!("step {}", k.name()),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "engine Approval",
                "engine Checkpoint",
                "step http",
                "step http",
                "step shell",
                "step shell"
            ]
        );
        assert!(rb.kind(0).is_human() && !rb.kind(1).is_human());
        let probes: Vec<Option<&str>> = (0..rb.steps.len())
            .map(|i| rb.probe_kind(i).map(|k| k.name()))
            .collect();
        assert_eq!(probes, [None, None, None, None, None, Some("http")]);
    }

    #[test]
    fn rerun_policy_follows_the_resolved_kind() {
        let rb = checked(KINDS);
        let policies: Vec<Rerun> = (0..rb.steps.len()).map(|i| rb.rerun_policy(i)).collect();
        assert_eq!(
            policies,
            [
                Rerun::Safe,  // an engine kind
                Rerun::Safe,  // an engine kind
                Rerun::Safe,  // an http GET reads
                Rerun::Never, // an http POST may change things
                Rerun::Never, // shell's default
                Rerun::Check, // its own `rerun`, with a probe
            ]
        );
        assert!(rb.is_read_only(2) && !rb.is_read_only(3) && !rb.is_read_only(4));
    }
}
