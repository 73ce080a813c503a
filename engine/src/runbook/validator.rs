//! Semantic checks of a loaded runbook: everything `validate` proves before
//! anything runs. Every problem is collected; nothing here panics or stops
//! at the first error.

use std::collections::{BTreeSet, HashMap};

use lifeboat_steps::params::{ParamProblem, PathSegment};
use lifeboat_steps::{Effect, OutputDecl, Registry};

use crate::runbook::call_tree::SCOPE_SEPARATOR;
use crate::runbook::diagnostic::{did_you_mean, Diagnostic};
use crate::runbook::engine_kind::EngineKind;
use crate::runbook::input_decl::InputType;
use crate::runbook::node::{Loc, Node, NodeValue};
use crate::runbook::step::{split_item_id, Need, Section, Step};
use crate::runbook::step_graph::StepGraph;
use crate::runbook::template_context::{
    CONFIRMED_BY_CHECK, CONTEXT_NAMES, RUN_FIELDS, STEP_FIELDS,
};
use crate::runbook::templates::Templates;
use crate::runbook::Runbook;

/// Where a template sits, which decides what it may read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `with:` and `when:` of a step: inputs, run, and its ancestors.
    Step,
    /// `until:`: all of the above plus `outputs`, the step's own.
    Until,
    /// `check.until:`: like `until`, but `outputs` are the probe's.
    CheckUntil,
    /// `for_each.items`: like `with`, but the item does not exist yet.
    Items,
}

/// The outputs of a step with `for_each`, whatever its kind.
pub const FOR_EACH_OUTPUTS: &[&str] = &["items", "by_key"];

/// The file each `kind: runbook` step calls (as written in `with.file`)
/// and the output names it declares, by the calling step's id
/// (`runbook/call_tree.rs` fills it).
pub type CallOutputs = HashMap<String, (String, Vec<String>)>;

pub struct Validator<'a> {
    runbook: &'a Runbook,
    calls: &'a CallOutputs,
    registry: &'a Registry,
    templates: &'a Templates,
    graphs: HashMap<Section, StepGraph>,
    diagnostics: Vec<Diagnostic>,
}

/// Checks a loaded runbook that calls no other, and returns every problem
/// found (the tree's files go through [`validate_with_calls`]).
#[cfg(test)]
pub fn validate(runbook: &Runbook, registry: &Registry, templates: &Templates) -> Vec<Diagnostic> {
    validate_with_calls(runbook, registry, templates, &CallOutputs::new())
}

/// [`validate`], with the outputs of the runbooks its `kind: runbook`
/// steps call, against which reads of their outputs are checked.
pub fn validate_with_calls(
    runbook: &Runbook,
    registry: &Registry,
    templates: &Templates,
    calls: &CallOutputs,
) -> Vec<Diagnostic> {
    let graphs = [Section::Main, Section::OnFailure, Section::Finally]
        .into_iter()
        .map(|s| (s, StepGraph::new(runbook, s)))
        .collect();
    let mut v = Validator {
        runbook,
        calls,
        registry,
        templates,
        graphs,
        diagnostics: Vec::new(),
    };
    v.run();
    v.diagnostics
}

impl Validator<'_> {
    fn error(&mut self, loc: Loc, width: usize, message: impl Into<String>, help: Option<String>) {
        let mut d = Diagnostic::error(message)
            .at(loc)
            .width(width)
            .in_file(&self.runbook.source);
        d.help = help;
        self.diagnostics.push(d);
    }

    /// `approvers.allowed_signers` names a file beside the runbook (its
    /// contents are parsed when a run starts: `journal/allowed_signers.rs`).
    fn allowed_signers(&mut self) {
        let rb = self.runbook;
        let Some(a) = &rb.approvers else {
            return;
        };
        let path = rb
            .source
            .path()
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(&a.allowed_signers);
        // A warning, not an error: a run resumed or taken over on another
        // machine validates its copy against the first machine's path, and
        // `--allowed-signers` may give the file instead.
        if !path.is_file() {
            let d = Diagnostic::warning(format!(
                "allowed signers file `{}` not found (`{}`, relative to this runbook)",
                a.allowed_signers,
                path.display()
            ))
            .at(a.loc)
            .width(a.allowed_signers.len())
            .in_file(&rb.source)
            .help("create the team's OpenSSH allowed_signers file there (docs/trust.md, \"Setting up allowed_signers for a team\"), or fix the path; `run` needs it unless --allowed-signers gives it");
            self.diagnostics.push(d);
        }
    }

    fn run(&mut self) {
        let rb = self.runbook;
        self.unique_ids();
        for (i, step) in rb.steps.iter().enumerate() {
            self.kind(step);
            self.needs(i, step);
        }
        self.cycles();
        self.allowed_signers();
        self.runbook_outputs();
        self.notify_urls();
        if let Some(rto) = &rb.rto {
            if let Some(stop_at) = &rto.stop_at {
                // `<call>/<step>`: a called step, checked once the tree is
                // expanded (`call_tree.rs`).
                let called = stop_at
                    .split_once(SCOPE_SEPARATOR)
                    .is_some_and(|(call, _)| self.calls.contains_key(call));
                match rb.step(stop_at) {
                    _ if called => {}
                    Some(s) if s.section == Section::Main => {}
                    Some(_) => self.error(
                        rto.stop_at_loc,
                        stop_at.len(),
                        format!("`rto.stop_at` names `{stop_at}`, which is not in `steps`"),
                        Some("the RTO clock can only stop at a main step".into()),
                    ),
                    None => {
                        let item_of = split_item_id(stop_at)
                            .map(|(id, _)| id)
                            .filter(|id| rb.step(id).is_some_and(|s| s.for_each.is_some()));
                        let (message, help) = match item_of {
                            Some(id) => (
                                format!("`rto.stop_at` names `{stop_at}`, an item of the loop `{id}`, whose items are known only when it runs"),
                                Some(format!("name the loop, `stop_at: {id}`: the clock then stops when all its items are done")),
                            ),
                            None => (
                                format!("`rto.stop_at` names `{stop_at}`, which is not a step"),
                                did_you_mean(stop_at, rb.section(Section::Main).map(|s| s.id.as_str())),
                            ),
                        };
                        self.error(rto.stop_at_loc, stop_at.len(), message, help);
                    }
                }
            }
        }
        for step in &rb.steps {
            self.secrets_in_argv(&step.id, &step.kind, &step.with, "run");
            if let Some(probe) = &step.check {
                self.secrets_in_argv(&step.id, &probe.kind, &probe.with, "check.with.run");
            }
        }
        for (i, step) in rb.steps.iter().enumerate() {
            self.node_templates(i, &step.with, Scope::Step);
            self.script_templates(&step.id, &step.kind, &step.with, "with");
            if let Some(probe) = &step.check {
                self.script_templates(&step.id, &probe.kind, &probe.with, "check.with");
            }
            if let Some(when) = &step.when {
                self.expression(i, &when.text, when.loc, Scope::Step, "`when`");
            }
            if let Some(until) = &step.until {
                self.expression(i, &until.text, until.loc, Scope::Until, "`until`");
            }
            if let Some(message) = &step.until_message {
                self.node_templates(i, message, Scope::Until);
            }
            if let Some(probe) = &step.check {
                self.node_templates(i, &probe.with, Scope::Step);
                if let Some(until) = &probe.until {
                    self.expression(
                        i,
                        &until.text,
                        until.loc,
                        Scope::CheckUntil,
                        "`check.until`",
                    );
                }
            }
            self.for_each(i, step);
            self.assertions(i, step);
            self.dry_run_outputs(step);
            self.secret_params(i, &step.kind, &step.with, "with");
            if let Some(probe) = &step.check {
                self.secret_params(i, &probe.kind, &probe.with, "check.with");
            }
        }
    }

    /// `dry_run.outputs` may only name outputs the step's kind declares:
    /// later steps read them in place of the real ones.
    fn dry_run_outputs(&mut self, s: &Step) {
        let Some(NodeValue::Map(entries)) = s.dry_run_node.as_ref().map(|n| &n.value) else {
            return;
        };
        for (key, _) in entries {
            let name = key.key_text();
            if s.for_each.is_some() {
                if !FOR_EACH_OUTPUTS.contains(&name.as_str()) {
                    self.error(
                        key.loc,
                        name.chars().count(),
                        format!("step `{}`: `dry_run.outputs` sets `{name}`, but a step with `for_each` has only the outputs `items` and `by_key`", s.id),
                        Some("set `items` (a list of `{key, status, outputs}`) and `by_key`".into()),
                    );
                }
                continue;
            }
            if let Some(help) = unknown_output_help(self.registry, &s.kind, &name) {
                self.error(
                    key.loc,
                    name.chars().count(),
                    format!(
                        "step `{}`: `dry_run.outputs` sets `{name}`, but {} step has no output `{name}`",
                        s.id,
                        a_kind(&s.kind)
                    ),
                    Some(help),
                );
            }
        }
    }

    /// `for_each`: on any kind but a human gate, over a list.
    fn for_each(&mut self, step: usize, s: &Step) {
        let Some(f) = &s.for_each else { return };
        if EngineKind::from_name(&s.kind) == Some(EngineKind::Runbook) {
            // The called steps of each item are laid out when the run
            // starts (`call_tree.rs`), from its inputs: the list cannot
            // wait for a step.
            let mut texts = Vec::new();
            collect_strings(&f.items, &mut texts);
            for (text, loc) in texts {
                let Ok(refs) = self.templates.template_references(&text) else {
                    continue;
                };
                if let Some(other) = refs.iter().find(|r| r.split('.').next() != Some("inputs")) {
                    self.error(
                        loc,
                        text.chars().count(),
                        format!(
                            "step `{}`: `for_each.items` of a `runbook` call reads `{other}`; it may read only `inputs`, because each item's called steps are laid out when the run starts",
                            s.id
                        ),
                        Some("pass the list as an input of this runbook (`inputs.nodes`), or loop inside the called runbook, where `for_each` may read its steps' outputs".into()),
                    );
                }
            }
        } else if EngineKind::from_name(&s.kind).is_some_and(EngineKind::is_human) {
            // A gate per item would need an address of its own (`gate[key]`)
            // in `approve`, `confirm`, the inbox, signatures and the console.
            self.error(
                f.loc,
                "for_each".len(),
                format!(
                    "step `{}`: `for_each` is not supported on `{}` steps: a person decides once, not once per item",
                    s.id, s.kind
                ),
                Some(format!(
                    "remove `for_each` so that `{id}` asks once, before the loop: list the items in its `{field}` (e.g. `{{{{ inputs.nodes | join(', ') }}}}`) and give the step that loops `needs: [{id}]`",
                    id = s.id,
                    field = if s.kind == "manual" { "instructions" } else { "details" },
                )),
            );
        }
        self.node_templates(step, &f.items, Scope::Items);
        if let Some(key) = &f.key {
            self.node_templates(step, key, Scope::Step);
        }
        // A whole `{{ inputs.NAME }}` is known: its declared type must be a list.
        if let NodeValue::String(text) = &f.items.value {
            let name = text
                .trim()
                .strip_prefix("{{")
                .and_then(|t| t.strip_suffix("}}"))
                .and_then(|t| t.trim().strip_prefix("inputs."));
            if let Some(input) = name.and_then(|n| self.runbook.input(n.trim())) {
                if input.ty != InputType::List {
                    self.error(
                        f.items.loc,
                        text.chars().count(),
                        format!(
                            "step `{}`: `for_each.items` reads `inputs.{}`, which is not a list",
                            s.id, input.name
                        ),
                        Some(format!(
                            "declare `{}` with `type: list`, or give `items` a list",
                            input.name
                        )),
                    );
                }
            }
        }
    }

    /// `assert.that`: each entry is an expression, checked like `when`.
    fn assertions(&mut self, step: usize, s: &Step) {
        if EngineKind::from_name(&s.kind) != Some(EngineKind::Assert) {
            return;
        }
        let Some(NodeValue::Seq(items)) = s.with.get("that").map(|n| &n.value) else {
            return;
        };
        for (n, item) in items.iter().enumerate() {
            if let NodeValue::String(text) = &item.value {
                let what = format!("`that[{n}]`");
                self.expression(step, text, item.loc, Scope::Step, &what);
            }
        }
    }

    /// A parameter that holds a secret (a kind's `secret_params`, such as
    /// `crypto.*`'s `key`) may only read secret inputs and secret outputs:
    /// anything else is written in clear to `inputs.json`, the journal or
    /// the timeline. Literal text is the kind's own check.
    fn secret_params(&mut self, step: usize, kind: &str, with: &Node, prefix: &str) {
        let Some(kind) = self.registry.get(kind) else {
            return;
        };
        let rb = self.runbook;
        let id = &rb.steps[step].id;
        for field in kind.secret_params() {
            let Some(node) = with.get(field) else {
                continue;
            };
            let NodeValue::String(text) = &node.value else {
                continue;
            };
            if !lifeboat_steps::params::is_template(text) {
                continue;
            }
            let Ok(refs) = self.templates.template_references(text) else {
                continue;
            };
            let width = rb.source.scalar_width(node.loc, text.chars().count());
            if refs.is_empty() {
                self.error(
                    node.loc,
                    width,
                    format!("step `{id}`: `{prefix}.{field}` is written into the runbook in clear"),
                    Some(format!("pass it from a secret input, e.g. `{field}: \"{{{{ inputs.backup_key }}}}\"` with `backup_key: {{ type: secret, env: LIFEBOAT_BACKUP_KEY }}`")),
                );
                continue;
            }
            for r in refs {
                if let Some(help) = self.not_secret(&r, field) {
                    self.error(
                        node.loc,
                        width,
                        format!(
                            "step `{id}`: `{prefix}.{field}` reads `{r}`, which is not a secret"
                        ),
                        Some(help),
                    );
                }
            }
        }
    }

    /// Why a reference is not a secret, as a fix; `None` when it is one, or
    /// when it does not resolve (that is reported by [`Self::references`]).
    fn not_secret(&self, reference: &str, field: &str) -> Option<String> {
        let rb = self.runbook;
        let instead = format!("pass `{field}` from a secret input, or from a secret output such as `vault.kv.get`'s `data`");
        let parts: Vec<&str> = reference.split('.').collect();
        match parts.as_slice() {
            ["inputs", name, ..] => {
                let input = rb.input(name)?;
                (!input.is_secret()).then(|| {
                    format!(
                        "declare `{name}` as `type: secret` (`{name}: {{ type: secret, env: LIFEBOAT_{} }}`, or `file:` for a key file); a `{}` input is written to `inputs.json` and the journal",
                        name.to_uppercase(),
                        input.ty.as_str()
                    )
                })
            }
            ["steps", id, "outputs", output, ..] => {
                let other = rb.step(id)?;
                let kind = self.registry.get(&other.kind);
                if kind.is_some_and(|k| k.is_secret_output(output)) {
                    return None;
                }
                // An output the kind does not have is its own error.
                if unknown_output_help(self.registry, &other.kind, output).is_some() {
                    return None;
                }
                Some(format!(
                    "`{}` does not mark its `{output}` output secret, so it is journalled in clear; {instead}",
                    other.kind
                ))
            }
            [head, ..] if CONTEXT_NAMES.contains(head) => Some(instead),
            _ => None,
        }
    }

    fn unique_ids(&mut self) {
        let mut first: HashMap<&str, Loc> = HashMap::new();
        for step in &self.runbook.steps {
            if let Some(prev) = first.get(step.id.as_str()) {
                let help = Some(format!(
                    "first defined at line {}; give each step its own id",
                    prev.line
                ));
                self.error(
                    step.loc,
                    step.id.len(),
                    format!("duplicate step id `{}`", step.id),
                    help,
                );
            } else {
                first.insert(&step.id, step.loc);
            }
        }
    }

    fn kind(&mut self, step: &Step) {
        if step.kind.is_empty() {
            return;
        }
        let with = step.with.to_json();
        let problems = if let Some(kind) = self.registry.get(&step.kind) {
            kind.check(&with)
        } else if let Some(kind) = EngineKind::from_name(&step.kind) {
            kind.check(&with)
        } else {
            let names: Vec<&str> = self
                .registry
                .names()
                .chain(EngineKind::ALL.iter().map(|(n, _)| *n))
                .collect();
            let help = did_you_mean(&step.kind, names.iter().copied())
                .unwrap_or_else(|| "`lifeboat kinds` lists every step kind".into());
            self.error(
                step.kind_loc,
                step.kind.len(),
                format!("unknown step kind `{}`", step.kind),
                Some(help),
            );
            return;
        };
        for p in problems {
            let node = unknown_key(&step.with, &p).unwrap_or_else(|| step.with.locate(&p.path));
            let width = match &node.value {
                NodeValue::String(s) if !s.contains('\n') => self
                    .runbook
                    .source
                    .scalar_width(node.loc, s.chars().count()),
                _ => 1,
            };
            let what = if p.path.is_empty() {
                format!("step `{}` ({}): {}", step.id, step.kind, p.message)
            } else {
                format!(
                    "step `{}`: `with.{}`: {}",
                    step.id,
                    p.path_string(),
                    p.message
                )
            };
            let loc = if node.loc.is_known() {
                node.loc
            } else {
                step.kind_loc
            };
            self.error(loc, width, what, unknown_field_help(&p.message));
        }
        if let Some(probe) = &step.check {
            match self.registry.get(&probe.kind) {
                None => self.error(
                    probe.kind_loc,
                    probe.kind.len(),
                    format!("unknown step kind `{}` in `check`", probe.kind),
                    None,
                ),
                Some(kind) => {
                    let with = probe.with.to_json();
                    let read_only = probe
                        .read_only
                        .unwrap_or_else(|| kind.effect(&with) == Effect::ReadOnly);
                    if !read_only {
                        self.error(probe.kind_loc, probe.kind.len(), format!("the `check` of step `{}` must be read-only, but `{}` can change things", step.id, probe.kind), Some("use a read-only probe such as `http` with GET or a `vault.*` read, or declare a probe that only reads (a `shell` test) with `read_only: true` in `check`".into()));
                    }
                    for p in kind.check(&with) {
                        let (node, width) = match unknown_key(&probe.with, &p) {
                            Some(key) => (key, key.key_text().chars().count()),
                            None => (probe.with.locate(&p.path), 1),
                        };
                        self.error(
                            node.loc,
                            width,
                            format!(
                                "step `{}`: `check.with.{}`: {}",
                                step.id,
                                p.path_string(),
                                p.message
                            ),
                            unknown_field_help(&p.message),
                        );
                    }
                }
            }
        }
    }

    fn needs(&mut self, index: usize, step: &Step) {
        let rb = self.runbook;
        for Need { id: need, loc } in &step.needs {
            if need == &step.id {
                self.error(
                    *loc,
                    need.len(),
                    format!("step `{}` needs itself", step.id),
                    Some("remove it from `needs`".into()),
                );
                continue;
            }
            match rb.step(need) {
                None => {
                    let help = did_you_mean(
                        need,
                        rb.steps
                            .iter()
                            .filter(|s| s.section == step.section)
                            .map(|s| s.id.as_str()),
                    );
                    self.error(
                        *loc,
                        need.len(),
                        format!("step `{}` needs `{need}`, which is not a step", step.id),
                        help,
                    );
                }
                Some(other) if other.section != step.section => {
                    let help = if step.section == Section::Main {
                        format!(
                            "`{need}` is in `{}`, which only runs after the main steps",
                            other.section.as_str()
                        )
                    } else {
                        format!("steps in `{}` already run after every main step; `needs` only orders steps within one section", step.section.as_str())
                    };
                    self.error(
                        *loc,
                        need.len(),
                        format!("step `{}` needs `{need}` from another section", step.id),
                        Some(help),
                    );
                }
                Some(_) => {}
            }
        }
        let _ = index;
    }

    fn cycles(&mut self) {
        let rb = self.runbook;
        let mut reports = Vec::new();
        for graph in self.graphs.values() {
            for cycle in graph.cycles() {
                // A step that needs itself is reported as such, once.
                if cycle.iter().all(|&i| i == cycle[0]) {
                    continue;
                }
                let names: Vec<&str> = cycle.iter().map(|&i| rb.steps[i].id.as_str()).collect();
                let first = &rb.steps[cycle[0]];
                // Point at the `needs` entry that closes the loop.
                let closing = &rb.steps[cycle[1.min(cycle.len() - 1)]];
                let loc = closing
                    .needs
                    .iter()
                    .find(|need| need.id == first.id)
                    .map(|need| need.loc)
                    .unwrap_or(closing.loc);
                reports.push((
                    loc,
                    first.id.len(),
                    format!("dependency cycle: {}", names.join(" -> ")),
                ));
            }
        }
        reports.sort();
        for (loc, width, msg) in reports {
            self.error(
                loc,
                width,
                msg,
                Some("a runbook is a DAG; remove one of these `needs`".into()),
            );
        }
    }

    /// Warns when a secret (a secret input, or an output its step kind
    /// declares secret, such as `vault.kv.get`'s `data`) is rendered into a
    /// `shell` `run` argv, the step's own or its `check` probe's (`field`
    /// names which): every local user can read a process's arguments
    /// (`/proc/PID/cmdline`, `ps`), while its environment is readable only by
    /// its owner.
    fn secrets_in_argv(&mut self, id: &str, kind: &str, with: &Node, field: &str) {
        if kind != "shell" {
            return;
        }
        let Some(NodeValue::Seq(argv)) = with.get("run").map(|n| &n.value) else {
            return;
        };
        for arg in argv {
            let NodeValue::String(text) = &arg.value else {
                continue;
            };
            if !text.contains("{{") && !text.contains("{%") {
                continue;
            }
            let Ok(refs) = self.templates.template_references(text) else {
                continue;
            };
            let mut seen = BTreeSet::new();
            for r in &refs {
                let Some((what, reference, var)) = self.secret_reference(r) else {
                    continue;
                };
                if !seen.insert(reference.clone()) {
                    continue;
                }
                let d = Diagnostic::warning(format!(
                    "step `{id}` passes {what} in `{field}` arguments, which every local user can read (`ps`, `/proc/PID/cmdline`)"
                ))
                .at(arg.loc)
                .width(text.len())
                .in_file(&self.runbook.source)
                .help(format!(
                    "pass it in the environment instead: `env: {{ {var}: \"{{{{ {reference} }}}}\" }}`, and have the program read `${var}` (or use `script`, which hands every value over in the environment)"
                ));
                self.diagnostics.push(d);
            }
        }
    }

    /// If `reference` reads a secret, how to name it in a message, the
    /// reference to render (`inputs.pw`, `steps.get.outputs.data`) and an
    /// environment variable name for it.
    fn secret_reference(&self, reference: &str) -> Option<(String, String, String)> {
        let parts: Vec<&str> = reference.split('.').collect();
        match parts.as_slice() {
            ["inputs", name, ..] => {
                self.runbook.input(name).filter(|i| i.is_secret())?;
                Some((
                    format!("secret input `{name}`"),
                    format!("inputs.{name}"),
                    name.to_ascii_uppercase(),
                ))
            }
            ["steps", step, "outputs", output, ..] => {
                let other = self.runbook.step(step)?;
                let kind = self.registry.get(&other.kind)?;
                if !kind.is_secret_output(output) {
                    return None;
                }
                Some((
                    format!(
                        "secret output `{output}` of step `{step}` (`{}`)",
                        other.kind
                    ),
                    reference.to_string(),
                    format!("{step}_{output}")
                        .to_ascii_uppercase()
                        .replace('-', "_"),
                ))
            }
            _ => None,
        }
    }

    fn node_templates(&mut self, step: usize, node: &Node, scope: Scope) {
        match &node.value {
            NodeValue::String(s) if s.contains("{{") || s.contains("{%") => {
                match self.templates.template_references(s) {
                    Ok(refs) => self.references(step, refs, node.loc, s.len(), scope),
                    Err(p) => {
                        let loc = self.runbook.source.offset_within(node.loc, s, p.offset);
                        self.error(
                            loc,
                            p.len,
                            format!("step `{}`: {}", self.runbook.steps[step].id, p.message),
                            None,
                        );
                    }
                }
            }
            NodeValue::Seq(items) => items
                .iter()
                .for_each(|n| self.node_templates(step, n, scope)),
            NodeValue::Map(entries) => entries
                .iter()
                .for_each(|(_, v)| self.node_templates(step, v, scope)),
            _ => {}
        }
    }

    /// How bash would read each template value of a script field of `with`
    /// (the step's own, or its `check` probe's; `prefix` names which): where
    /// it cannot expand (single quotes, a quoted heredoc) is an error, where
    /// it is evaluated as arithmetic a warning, unless the template only
    /// reads an input declared `type: integer` (rendering checks the value
    /// is an integer either way).
    fn script_templates(&mut self, id: &str, kind: &str, with: &Node, prefix: &str) {
        let Some(kind) = self.registry.get(kind) else {
            return;
        };
        let NodeValue::Map(entries) = &with.value else {
            return;
        };
        for field in kind.script_fields() {
            let Some(node) = entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(field))
                .map(|(_, v)| v)
            else {
                continue;
            };
            let NodeValue::String(text) = &node.value else {
                continue;
            };
            if !text.contains("{{") {
                continue;
            }
            for p in self.templates.script_problems(text) {
                if !p.error && self.is_integer_input(&p.expression) {
                    continue;
                }
                let loc = self.runbook.source.offset_within(node.loc, text, p.offset);
                let message = format!("step `{id}`: `{prefix}.{field}`: {}", p.message);
                let d = if p.error {
                    Diagnostic::error(message)
                } else {
                    Diagnostic::warning(message).help(format!(
                        "a value such as `a[$(cmd)]` would run `cmd` here, so the step is refused at run time unless the value is an integer; check the value before this step, e.g. with an `assert` step (`that: [\"{} is integer\"]`) or a `when`",
                        p.expression
                    ))
                };
                self.diagnostics
                    .push(d.at(loc).width(p.len).in_file(&self.runbook.source));
            }
        }
    }

    /// Whether `expression` is just `inputs.NAME` for an input declared
    /// `type: integer`, whose value is checked when the run starts.
    fn is_integer_input(&self, expression: &str) -> bool {
        expression
            .trim()
            .strip_prefix("inputs.")
            .and_then(|name| self.runbook.input(name))
            .is_some_and(|i| i.ty == InputType::Integer)
    }

    fn expression(&mut self, step: usize, text: &str, loc: Loc, scope: Scope, what: &str) {
        match self.templates.expression_references(text) {
            Ok(refs) => self.references(step, refs, loc, text.len(), scope),
            Err(p) => {
                let msg = format!(
                    "step `{}`: {what}: {}",
                    self.runbook.steps[step].id, p.message
                );
                self.error(loc, text.len(), msg, None);
            }
        }
    }

    /// A reference to output `name` of a step of `kind` (`steps.a.outputs.x`,
    /// or `outputs.x` in `until`) must name one the kind declares. What
    /// lies below the name (`outputs.json.a`) is data and is not checked.
    fn output_name(
        &mut self,
        loc: Loc,
        width: usize,
        reader: &str,
        reference: &str,
        kind: &str,
        name: &str,
    ) {
        if let Some(help) = unknown_output_help(self.registry, kind, name) {
            let shown = reference
                .split('.')
                .take(if reference.starts_with("steps.") {
                    4
                } else {
                    2
                })
                .collect::<Vec<_>>()
                .join(".");
            self.error(
                loc,
                width,
                format!(
                    "step `{reader}` reads `{shown}`, but {} step has no output `{name}`",
                    a_kind(kind)
                ),
                Some(help),
            );
        }
    }

    /// A read of output `name` of the call `id` must name one of the called
    /// runbook's `outputs:` (unknown when that file did not load: then it
    /// has its own error).
    fn call_output(&mut self, loc: Loc, width: usize, reader: &str, id: &str, name: &str) {
        self.call_item_output(loc, width, reader, id, name, name);
    }

    /// [`Self::call_output`] for a read of `steps.<id>.outputs.<read>`
    /// whose called runbook's output is `name` (an item's, in a loop of
    /// calls, is `by_key.KEY.outputs.<name>`).
    fn call_item_output(
        &mut self,
        loc: Loc,
        width: usize,
        reader: &str,
        id: &str,
        name: &str,
        read: &str,
    ) {
        let Some((file, declared)) = self.calls.get(id) else {
            return;
        };
        if name == CONFIRMED_BY_CHECK || declared.iter().any(|d| d == name) {
            return;
        }
        let list = if declared.is_empty() {
            "the called runbook declares no `outputs:`".to_string()
        } else {
            format!("the called runbook's outputs are: {}", declared.join(", "))
        };
        let help = match did_you_mean(name, declared.iter().map(String::as_str)) {
            Some(close) => format!("{close} {list}"),
            None => format!("{list}; declare it under `outputs:` of the called runbook"),
        };
        self.error(
            loc,
            width,
            format!("step `{reader}` reads `steps.{id}.outputs.{read}`, but `{file}`, which `{id}` calls, has no output `{name}`"),
            Some(help),
        );
    }

    /// `outputs:` of the runbook: each template reads declared inputs and
    /// steps of the runbook (all of them have run when it is rendered).
    fn runbook_outputs(&mut self) {
        let rb = self.runbook;
        for output in &rb.outputs {
            let mut texts = Vec::new();
            collect_strings(&output.value, &mut texts);
            for (text, loc) in texts {
                let refs = match self.templates.template_references(&text) {
                    Ok(refs) => refs,
                    Err(p) => {
                        self.error(
                            loc,
                            text.len(),
                            format!("output `{}`: {}", output.name, p.message),
                            None,
                        );
                        continue;
                    }
                };
                for r in refs {
                    let parts: Vec<&str> = r.split('.').collect();
                    let problem = match (parts[0], parts.get(1)) {
                        ("inputs", Some(name)) if rb.input(name).is_none() => Some((
                            format!(
                                "output `{}` reads `inputs.{name}`, which is not declared",
                                output.name
                            ),
                            did_you_mean(name, rb.inputs.iter().map(|i| i.name.as_str()))
                                .unwrap_or_else(|| "declare it under `inputs:`".into()),
                        )),
                        ("steps", Some(id)) if rb.step_index(id).is_none() => Some((
                            format!(
                                "output `{}` reads `steps.{id}`, which is not a step",
                                output.name
                            ),
                            did_you_mean(id, rb.steps.iter().map(|s| s.id.as_str()))
                                .unwrap_or_else(|| "name a step of this runbook".into()),
                        )),
                        ("steps", Some(id)) => {
                            let other = &rb.steps[rb.step_index(id).unwrap_or(0)];
                            match (parts.get(2), parts.get(3)) {
                                (Some(&"outputs"), Some(name)) if other.for_each.is_none() => {
                                    let kind = other.kind.clone();
                                    if EngineKind::from_name(&kind) == Some(EngineKind::Runbook) {
                                        let reader = format!("outputs.{}", output.name);
                                        self.call_output(loc, text.len(), &reader, id, name);
                                    } else if let Some(help) =
                                        unknown_output_help(self.registry, &kind, name)
                                    {
                                        self.error(loc, text.len(), format!("output `{}` reads `steps.{id}.outputs.{name}`, but {} step has no output `{name}`", output.name, a_kind(&kind)), Some(help));
                                    }
                                    None
                                }
                                _ => None,
                            }
                        }
                        ("inputs" | "steps" | "run", _) => None,
                        (head, _) => Some((
                            format!("output `{}` reads unknown variable `{head}`", output.name),
                            "an output sees `inputs` and `steps`".into(),
                        )),
                    };
                    if let Some((message, help)) = problem {
                        self.error(loc, text.len(), message, Some(help));
                    }
                }
            }
        }
    }

    /// `notify[].url`: a template that reads only declared `inputs` (it is
    /// rendered once, when the run starts), or a literal `http(s)://` URL.
    fn notify_urls(&mut self) {
        let rb = self.runbook;
        for (i, target) in rb.notify.iter().enumerate() {
            let (text, loc) = (&target.url, target.url_loc);
            let refs = match self.templates.template_references(text) {
                Ok(refs) => refs,
                Err(p) => {
                    self.error(
                        loc,
                        text.len(),
                        format!("`notify[{i}].url`: {}", p.message),
                        Some("write the URL as text with `{{ inputs.NAME }}` in it, e.g. `url: \"{{ inputs.slack_webhook }}\"`".into()),
                    );
                    continue;
                }
            };
            if refs.is_empty() && !is_http_url(text) {
                self.error(
                    loc,
                    text.len(),
                    format!("`notify[{i}].url` is not an http:// or https:// URL"),
                    Some("give the receiver's full URL, e.g. `https://hooks.slack.com/services/…`, or read it from an input: `url: \"{{ inputs.slack_webhook }}\"`".into()),
                );
            }
            for r in refs {
                let parts: Vec<&str> = r.split('.').collect();
                let problem = match (parts[0], parts.get(1)) {
                    ("inputs", Some(name)) if rb.input(name).is_none() => Some((
                        format!("`notify[{i}].url` reads `inputs.{name}`, which is not declared"),
                        did_you_mean(name, rb.inputs.iter().map(|i| i.name.as_str()))
                            .unwrap_or_else(|| "declare it under `inputs:` (a webhook URL is best a secret input: `type: secret`, `env: SLACK_WEBHOOK`)".into()),
                    )),
                    ("inputs", _) => None,
                    (head, _) => Some((
                        format!("`notify[{i}].url` reads `{head}`, but a notify URL sees only `inputs`"),
                        "the URL is rendered once, when the run starts: read it from an input, e.g. `{{ inputs.slack_webhook }}`".into(),
                    )),
                };
                if let Some((message, help)) = problem {
                    self.error(loc, text.len(), message, Some(help));
                }
            }
        }
    }

    /// Checks what a template reads against what exists and what has run by then.
    fn references(
        &mut self,
        step: usize,
        refs: BTreeSet<String>,
        loc: Loc,
        width: usize,
        scope: Scope,
    ) {
        let rb = self.runbook;
        let me = &rb.steps[step];
        for r in refs {
            let parts: Vec<&str> = r.split('.').collect();
            let head = parts[0];
            match head {
                "inputs" => {
                    if let Some(name) = parts.get(1) {
                        if rb.input(name).is_none() {
                            let help =
                                did_you_mean(name, rb.inputs.iter().map(|i| i.name.as_str()))
                                    .unwrap_or_else(|| "declare it under `inputs:`".into());
                            self.error(
                                loc,
                                width,
                                format!(
                                    "step `{}` reads `inputs.{name}`, which is not declared",
                                    me.id
                                ),
                                Some(help),
                            );
                        }
                    }
                }
                "run" => {
                    if let Some(name) = parts.get(1) {
                        if !RUN_FIELDS.contains(name) {
                            self.error(
                                loc,
                                width,
                                format!(
                                    "step `{}` reads `run.{name}`, which does not exist",
                                    me.id
                                ),
                                Some(format!("`run` has {}", RUN_FIELDS.join(", "))),
                            );
                        } else if *name == "status" && me.section == Section::Main {
                            self.error(
                                loc,
                                width,
                                format!(
                                    "step `{}` reads `run.status`, which is `running` for every main step",
                                    me.id
                                ),
                                Some("read `run.status` in `on_failure` or `finally` steps (`succeeded` or `failed`); a main step can read `steps.<id>.status`".into()),
                            );
                        }
                    }
                }
                "outputs" => {
                    let kind = match scope {
                        Scope::Step | Scope::Items => {
                            self.error(loc, width, format!("step `{}` reads `outputs` outside `until`", me.id), Some("`outputs` is the current attempt's result, readable in `until`; read another step's with `steps.<id>.outputs`".into()));
                            continue;
                        }
                        Scope::Until => &me.kind,
                        Scope::CheckUntil => match &me.check {
                            Some(probe) => &probe.kind,
                            None => continue,
                        },
                    };
                    if let Some(name) = parts.get(1) {
                        self.output_name(loc, width, &me.id, &r, kind, name);
                    }
                }
                "steps" => {
                    let Some(id) = parts.get(1) else { continue };
                    let Some(other) = rb.step_index(id) else {
                        let help = did_you_mean(id, rb.steps.iter().map(|s| s.id.as_str()));
                        self.error(
                            loc,
                            width,
                            format!("step `{}` reads `steps.{id}`, which is not a step", me.id),
                            help,
                        );
                        continue;
                    };
                    if let Some(field) = parts.get(2) {
                        if !STEP_FIELDS.contains(field) {
                            self.error(
                                loc,
                                width,
                                format!("step `{}` reads `steps.{id}.{field}`", me.id),
                                Some("a step offers `outputs` and `status`".into()),
                            );
                            continue;
                        }
                    }
                    let visible = other != step
                        && match (me.section, rb.steps[other].section) {
                            (a, b) if a == b => self.graphs[&a].is_ancestor(other, step),
                            // on_failure and finally run after the main steps.
                            (Section::OnFailure | Section::Finally, Section::Main) => true,
                            (Section::Finally, Section::OnFailure) => true,
                            _ => false,
                        };
                    if !visible {
                        let help = if other == step {
                            "a step reads its own result in `until` as `outputs`".to_string()
                        } else {
                            format!(
                                "add `{id}` to `needs` of `{}` (directly or through another step)",
                                me.id
                            )
                        };
                        self.error(loc, width, format!("step `{}` reads the outputs of `{id}`, which is not one of its dependencies", me.id), Some(help));
                    }
                    if let (Some(&"outputs"), Some(name)) = (parts.get(2), parts.get(3)) {
                        if rb.steps[other].for_each.is_some() {
                            if !FOR_EACH_OUTPUTS.contains(name) {
                                self.error(
                                    loc,
                                    width,
                                    format!("step `{}` reads `steps.{id}.outputs.{name}`, but a step with `for_each` has only the outputs `items` and `by_key`", me.id),
                                    Some(format!("read an item's outputs as `steps.{id}.outputs.by_key[KEY].outputs.{name}`, or loop over `steps.{id}.outputs.items`")),
                                );
                            }
                            // An item of a loop of calls has the called
                            // runbook's outputs: `by_key.KEY.outputs.NAME`.
                            if let (Some(&"by_key"), Some(&"outputs"), Some(output)) =
                                (parts.get(3), parts.get(5), parts.get(6))
                            {
                                if EngineKind::from_name(&rb.steps[other].kind)
                                    == Some(EngineKind::Runbook)
                                {
                                    let read = format!("by_key.{}.outputs.{output}", parts[4]);
                                    self.call_item_output(loc, width, &me.id, id, output, &read);
                                }
                            }
                            continue;
                        }
                        let kind = &rb.steps[other].kind;
                        if EngineKind::from_name(kind) == Some(EngineKind::Runbook) {
                            self.call_output(loc, width, &me.id, id, name);
                            continue;
                        }
                        self.output_name(loc, width, &me.id, &r, kind, name);
                    }
                }
                _ if me.for_each.as_ref().is_some_and(|f| f.as_name == head) => {
                    if scope == Scope::Items {
                        self.error(
                            loc,
                            width,
                            format!(
                                "step `{}`: `for_each.items` reads `{head}`, the item it is making",
                                me.id
                            ),
                            Some("`items` may read inputs and earlier steps; the item is readable in `key`, `with`, `when` and `until`".into()),
                        );
                    }
                }
                _ => {
                    let help =
                        did_you_mean(head, CONTEXT_NAMES.iter().copied()).unwrap_or_else(|| {
                            "templates see `inputs`, `steps`, `run` (and `outputs` in `until`)"
                                .into()
                        });
                    self.error(
                        loc,
                        width,
                        format!("step `{}` reads unknown variable `{head}`", me.id),
                        Some(help),
                    );
                }
            }
        }
    }
}

/// Whether `text` is an absolute `http://` or `https://` URL with a host.
pub fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.contains(char::is_whitespace)
    })
}

/// Every template string in `node`, with where it is.
fn collect_strings(node: &Node, out: &mut Vec<(String, Loc)>) {
    match &node.value {
        NodeValue::String(s) if s.contains("{{") || s.contains("{%") => {
            out.push((s.clone(), node.loc))
        }
        NodeValue::Seq(items) => items.iter().for_each(|n| collect_strings(n, out)),
        NodeValue::Map(entries) => entries.iter().for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
    }
}

/// The top-level outputs a step of `kind` can produce, or `None` for an
/// unknown kind (reported on its own). `confirmed_by_check`, which the
/// scheduler adds to a step a `check` probe confirmed, is not among them:
/// every step may have it.
fn declared_outputs(registry: &Registry, kind: &str) -> Option<&'static [OutputDecl]> {
    match registry.get(kind) {
        Some(kind) => Some(kind.outputs()),
        None => EngineKind::from_name(kind).map(EngineKind::outputs),
    }
}

/// Why a step of `kind` has no output `name`, as a fix: a close name, then
/// the list; `None` when it has it.
fn unknown_output_help(registry: &Registry, kind: &str, name: &str) -> Option<String> {
    let outputs = declared_outputs(registry, kind)?;
    if name == CONFIRMED_BY_CHECK || OutputDecl::find(outputs, name).is_some() {
        return None;
    }
    let names: Vec<&str> = outputs.iter().map(|o| o.name).collect();
    let list = if outputs.is_empty() {
        format!("{} step has no outputs", a_kind(kind))
    } else {
        format!("{} step's outputs are: {}", a_kind(kind), names.join(", "))
    };
    Some(match did_you_mean(name, names.iter().copied()) {
        Some(close) => format!("{close} {list}"),
        None => list,
    })
}

/// "a `shell`", "an `approval`": a kind with its article, for messages.
fn a_kind(kind: &str) -> String {
    // By sound: "an `http`", "an `s3.put`".
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u'])
        || kind.starts_with("http")
        || kind.starts_with("s3")
    {
        "an"
    } else {
        "a"
    };
    format!("{article} `{kind}`")
}

/// A "did you mean" for serde's `unknown field `titel`, expected one of
/// `id`, `title``, from the names the message lists.
fn unknown_field_help(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    did_you_mean(name, expected)
}

/// For serde's "unknown field" problems, the key itself rather than its
/// value, so the caret sits under the misspelt name.
fn unknown_key<'n>(with: &'n Node, problem: &ParamProblem) -> Option<&'n Node> {
    if !problem.message.starts_with("unknown field `") {
        return None;
    }
    let (PathSegment::Key(name), parent) = problem.path.split_last()? else {
        return None;
    };
    let NodeValue::Map(entries) = &with.locate(parent).value else {
        return None;
    };
    entries
        .iter()
        .find(|(key, _)| key.as_str() == Some(name))
        .map(|(key, _)| key)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runbook::checked_runbook::registry;
    use crate::runbook::loader::load;
    use crate::runbook::source_file::SourceFile;
    use crate::runbook::test_text::{assert_text, diagnostics, unindent};

    /// Validates `yaml` (which must load without a shape problem) and
    /// compares the diagnostics, one per line with its help, with `expect`.
    fn check(yaml: &str, expect: &str) {
        let (runbook, shape) = load(Arc::new(SourceFile::new("rb.yaml", unindent(yaml))));
        assert!(shape.is_empty(), "shape problems:\n{}", diagnostics(&shape));
        let runbook = runbook.expect("a runbook");
        let mut found = validate(&runbook, &registry(), &Templates::new());
        // In the order `validate` shows them.
        found.sort_by_key(|d| (d.loc.line, d.loc.col));
        assert_text(&diagnostics(&found), expect);
    }

    #[test]
    fn the_allowed_signers_file_must_exist_beside_the_runbook() {
        check(
            r#"
            version: 1
            name: rb
            approvers: { allowed_signers: no/such/file }
            steps:
              - id: a
                kind: shell
                with: { script: "true" }
            "#,
            "
            warning 3:31: allowed signers file `no/such/file` not found (`no/such/file`, relative to this runbook)
              help: create the team's OpenSSH allowed_signers file there (docs/trust.md, \"Setting up allowed_signers for a team\"), or fix the path; `run` needs it unless --allowed-signers gives it
            ",
        );
    }

    #[test]
    fn needs_name_steps_of_the_same_section() {
        check(
            r#"
            version: 1
            name: rb
            steps:
              - { id: health, kind: assert, with: { that: ["true"] } }
              - { id: restore, kind: assert, with: { that: ["true"] }, needs: [helth, restore, page] }
            on_failure:
              - { id: page, kind: assert, with: { that: ["true"] } }
            "#,
            "
            error 5:68: step `restore` needs `helth`, which is not a step
              help: did you mean `health`?
            error 5:75: step `restore` needs itself
              help: remove it from `needs`
            error 5:84: step `restore` needs `page` from another section
              help: `page` is in `on_failure`, which only runs after the main steps
            ",
        );
    }

    #[test]
    fn a_cycle_is_drawn_at_the_need_that_closes_it() {
        check(
            r#"
            version: 1
            name: rb
            steps:
              - { id: a, kind: assert, with: { that: ["true"] }, needs: [c] }
              - { id: b, kind: assert, with: { that: ["true"] }, needs: [a] }
              - { id: c, kind: assert, with: { that: ["true"] }, needs: [b] }
              - { id: d, kind: assert, with: { that: ["true"] }, needs: [c] }
            "#,
            "
            error 5:62: dependency cycle: a -> b -> c -> a
              help: a runbook is a DAG; remove one of these `needs`
            ",
        );
    }

    #[test]
    fn ids_are_unique_and_kinds_known() {
        check(
            r#"
            version: 1
            name: rb
            steps:
              - { id: a, kind: assert, with: { that: ["true"] } }
              - { id: a, kind: shel }
            "#,
            "
            error 5:11: duplicate step id `a`
              help: first defined at line 4; give each step its own id
            error 5:20: unknown step kind `shel`
              help: did you mean `shell`?
            ",
        );
    }

    #[test]
    fn the_rto_clock_stops_at_a_main_step() {
        check(
            r#"
            version: 1
            name: rb
            rto: { target: 5m, stop_at: verfy }
            steps:
              - { id: verify, kind: assert, with: { that: ["true"] } }
            "#,
            "
            error 3:29: `rto.stop_at` names `verfy`, which is not a step
              help: did you mean `verify`?
            ",
        );
        check(
            r#"
            version: 1
            name: rb
            rto: { target: 5m, stop_at: tidy }
            steps:
              - { id: verify, kind: assert, with: { that: ["true"] } }
            finally:
              - { id: tidy, kind: assert, with: { that: ["true"] } }
            "#,
            "
            error 3:29: `rto.stop_at` names `tidy`, which is not in `steps`
              help: the RTO clock can only stop at a main step
            ",
        );
        check(
            r#"
            version: 1
            name: rb
            rto: { target: 5m, stop_at: "unseal[n2]" }
            steps:
              - { id: unseal, kind: assert, for_each: { items: [n1, n2], as: n }, with: { that: ["true"] } }
            "#,
            "
            error 3:29: `rto.stop_at` names `unseal[n2]`, an item of the loop `unseal`, whose items are known only when it runs
              help: name the loop, `stop_at: unseal`: the clock then stops when all its items are done
            ",
        );
    }

    #[test]
    fn a_template_reads_only_steps_that_exist_and_ran_before_it() {
        check(
            r#"
            version: 1
            name: rb
            steps:
              - { id: fetch, kind: shell, with: { run: ["true"] } }
              - id: other
                kind: shell
                with: { run: ["true"] }
              - id: use
                kind: shell
                needs: [fetch]
                with:
                  run:
                    - "{{ steps.fetch.outputs.stdout }}"
                    - "{{ steps.fecth.outputs.stdout }}"
                    - "{{ steps.fetch.outptus.stdout }}"
                    - "{{ steps.other.outputs.stdout }}"
            "#,
            "
            error 14:11: step `use` reads `steps.fecth`, which is not a step
              help: did you mean `fetch`?
            error 15:11: step `use` reads `steps.fetch.outptus`
              help: a step offers `outputs` and `status`
            error 16:11: step `use` reads the outputs of `other`, which is not one of its dependencies
              help: add `other` to `needs` of `use` (directly or through another step)
            ",
        );
    }

    #[test]
    fn a_loop_reads_its_item_and_offers_items_and_by_key() {
        // The item is readable in `key`, `with`, `when` and `until`, not in
        // `items`; a loop's outputs are `items` and `by_key`, whatever its
        // kind, and its `until` reads its kind's outputs.
        check(
            r#"
            version: 1
            name: rb
            steps:
              - { id: a, kind: shell, for_each: { items: "{{ n }}", as: n, key: "{{ n }}" }, when: "n != 'x'", until: "outputs.stdot == n", with: { run: ["echo", "{{ n }}"] } }
              - { id: b, kind: shell, needs: [a], with: { run: ["echo", "{{ steps.a.outputs.by_key.x.outputs.stdout }}", "{{ steps.a.outputs.stdout }}", "{{ n }}"] } }
            "#,
            "
            error 4:46: step `a`: `for_each.items` reads `n`, the item it is making
              help: `items` may read inputs and earlier steps; the item is readable in `key`, `with`, `when` and `until`
            error 4:107: step `a` reads `outputs.stdot`, but a `shell` step has no output `stdot`
              help: did you mean `stdout`? a `shell` step's outputs are: exit_code, stdout, stderr, json
            error 5:110: step `b` reads `steps.a.outputs.stdout`, but a step with `for_each` has only the outputs `items` and `by_key`
              help: read an item's outputs as `steps.a.outputs.by_key[KEY].outputs.stdout`, or loop over `steps.a.outputs.items`
            error 5:142: step `b` reads unknown variable `n`
              help: templates see `inputs`, `steps`, `run` (and `outputs` in `until`)
            ",
        );
    }

    #[test]
    fn output_names_are_checked_against_the_kinds_declarations() {
        // Each kind declares its outputs, so a misspelt name is refused
        // where it is written, not when the template is rendered mid-run.
        // What lies below a declared name (`json.anything`) is data, and
        // `confirmed_by_check` is every step's. An approval's approvers
        // are `approvers`: there is no `approved_by`.
        check(
            r#"
            version: 1
            name: rb
            steps:
              - { id: a, kind: shell, with: { run: ["true"] }, until: "outputs.exit_cod == 0" }
              - { id: b, kind: shell, needs: [a], with: { run: ["echo", "{{ steps.a.outputs.stdot }}", "{{ steps.a.outputs.json.any.thing }}"] } }
              - { id: gate, kind: approval, needs: [b], with: { prompt: "go?" } }
              - { id: c, kind: shell, needs: [gate], with: { run: ["echo", "{{ steps.gate.outputs.approvers }}", "{{ steps.gate.outputs.approved_by }}", "{{ steps.a.outputs.confirmed_by_check }}"] } }
              - { id: m, kind: checkpoint, needs: [c] }
              - { id: d, kind: shell, needs: [m], with: { run: ["echo", "{{ steps.m.outputs.done }}"] }, dry_run: { outputs: { stdout: "x", stdot: "y" } } }
              - { id: key, kind: vault.kv.get, needs: [d], with: { path: backup-key } }
              - { id: e, kind: crypto.decrypt, needs: [key], with: { input: a, output: b, key: "{{ steps.key.outputs.dta.key }}" } }
            "#,
            "
            error 4:59: step `a` reads `outputs.exit_cod`, but a `shell` step has no output `exit_cod`
              help: did you mean `exit_code`? a `shell` step's outputs are: exit_code, stdout, stderr, json
            error 5:61: step `b` reads `steps.a.outputs.stdot`, but a `shell` step has no output `stdot`
              help: did you mean `stdout`? a `shell` step's outputs are: exit_code, stdout, stderr, json
            error 7:102: step `c` reads `steps.gate.outputs.approved_by`, but an `approval` step has no output `approved_by`
              help: an `approval` step's outputs are: approvers, comments, rejected_by
            error 9:61: step `d` reads `steps.m.outputs.done`, but a `checkpoint` step has no output `done`
              help: a `checkpoint` step has no outputs
            error 9:129: step `d`: `dry_run.outputs` sets `stdot`, but a `shell` step has no output `stdot`
              help: did you mean `stdout`? a `shell` step's outputs are: exit_code, stdout, stderr, json
            error 11:84: step `e` reads `steps.key.outputs.dta`, but a `vault.kv.get` step has no output `dta`
              help: did you mean `data`? a `vault.kv.get` step's outputs are: data, version, created_time, found, absent, versions
            ",
        );
    }

    #[test]
    fn templates_see_inputs_run_and_steps_only() {
        check(
            r#"
            version: 1
            name: rb
            inputs:
              region: { type: string }
            steps:
              - id: a
                kind: shell
                when: "input.region == 'eu'"
                with: { run: ["echo", "{{ inputs.regoin }}", "{{ run.status }}", "{{ outputs.stdout }}"] }
            "#,
            "
            error 8:11: step `a` reads unknown variable `input`
              help: did you mean `inputs`?
            error 9:27: step `a` reads `inputs.regoin`, which is not declared
              help: did you mean `region`?
            error 9:50: step `a` reads `run.status`, which is `running` for every main step
              help: read `run.status` in `on_failure` or `finally` steps (`succeeded` or `failed`); a main step can read `steps.<id>.status`
            error 9:70: step `a` reads `outputs` outside `until`
              help: `outputs` is the current attempt's result, readable in `until`; read another step's with `steps.<id>.outputs`
            ",
        );
    }
}
