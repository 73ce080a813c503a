//! Secret outputs after a resume.
//!
//! A secret output is journalled as `«redacted»` and lives in memory only, so
//! the engine that resumes a run knows the names of the secret outputs of
//! earlier steps (`secret_outputs` in the journal) but not their values. Its
//! redactor would then let the value through if a later step obtained it by
//! itself (`bao kv get`, a file), and templates that read it would fail.
//!
//! Before the resumed run writes its first record (`resumed`) or starts any
//! step, every completed read-only step with secret outputs is read again:
//! its values are registered with the redactor and its outputs are available
//! to templates once more. A step that is not read-only is never executed
//! again; its secret outputs stay undefined and a template that reads them
//! says why.
//!
//! Then the resume says, once per step, which secret outputs it could not
//! get back, why, and whether a step left to run reads them; a step that
//! does fails when it starts, naming the output and what the operator does.

use std::collections::BTreeSet;
use std::time::Duration;

use super::render::RenderedParams;
use super::{Scheduler, Status};
use crate::journal::record::Event;
use crate::runbook::call_tree::SCOPE_SEPARATOR;
use crate::runbook::checked_runbook::ResolvedKind;
use crate::runbook::engine_kind::EngineKind;
use crate::runbook::step::Step;
use crate::runbook::templates::Templates;

/// A completed step whose secret outputs this engine does not have: the
/// engine that ran it kept them in memory only.
#[derive(Debug, Clone)]
pub(super) struct LostSecretOutputs {
    /// The step, by index in the runbook's steps.
    pub index: usize,
    /// For a loop's item, its execution id (`<id>[<key>]`), whose outputs
    /// are `steps.<id>.outputs.by_key.<key>.outputs` (and in `items`).
    pub item: Option<String>,
    /// The names of its secret outputs.
    pub names: Vec<String>,
    /// Why they could not be had back, once every way was tried (redacted).
    pub why: Option<String>,
}

/// A step that could not be read again in one pass, and why (`None`: it is
/// not read-only, so it is never run again).
struct FailedReread {
    lost: LostSecretOutputs,
    why: Option<String>,
}

/// How long reading a step's secret outputs again may take when the step
/// sets no `timeout`.
const REREAD_TIMEOUT: Duration = Duration::from_secs(60);

impl Scheduler {
    /// Sets the record that opens this execution (`resumed`): it is written
    /// after the secret outputs are read again, before anything else.
    pub fn first_record(&mut self, event: Event, signed: Option<crate::journal::record::Signed>) {
        self.opening = Some((event, signed));
    }

    /// Reads again the secret outputs of completed read-only steps, in as
    /// many passes as dependencies between them need.
    pub(super) async fn reread_secret_outputs(&mut self) {
        let mut pending = std::mem::take(&mut self.secret_steps);
        loop {
            let mut failed = Vec::new();
            let before = pending.len();
            for lost in pending {
                if let Err(why) = self.reread(lost.index).await {
                    failed.push(FailedReread { lost, why });
                }
            }
            let progress = failed.len() < before;
            pending = failed.iter().map(|f| f.lost.clone()).collect();
            if pending.is_empty() || !progress {
                for FailedReread { mut lost, why } in failed {
                    let why = match (lost.why.take(), why) {
                        // Sealed, and this identity cannot open them: that
                        // is what the operator can fix.
                        (Some(sealed), _) => sealed,
                        (None, Some(why)) => format!("reading them again failed: {why}"),
                        (None, None) => {
                            "the engine that ran it kept them in memory only".to_string()
                        }
                    };
                    self.lost_secrets.push(LostSecretOutputs {
                        why: Some(why),
                        ..lost
                    });
                }
                self.announce_lost_secret_outputs();
                return;
            }
        }
    }

    /// Runs step `i` again for its outputs. `Err(None)`: the step is not
    /// read-only, so it is not run; `Err(Some(why))`: it failed.
    async fn reread(&mut self, i: usize) -> Result<(), Option<String>> {
        let step = self.env.runbook.steps[i].clone();
        let ResolvedKind::Step(kind) = self.env.runbook.kind(i).clone() else {
            return Err(None);
        };
        let raw = step.with.to_json();
        if !self.env.runbook.is_read_only(i) {
            return Err(None);
        }
        let ctx = self.context_for(i);
        let RenderedParams {
            with, script_env, ..
        } = self.render(kind.as_ref(), &raw, &ctx).map_err(|e| {
            Some(
                self.env
                    .redactor
                    .redact(&format!("template error in `with`: {e}")),
            )
        })?;
        let step_ctx = self.step_context(&step, script_env, false, self.env.cancel.child_token());
        // Bounded like the step itself, and by default as long as the
        // slowest read of a secret should take.
        let limit = step.timeout.unwrap_or(REREAD_TIMEOUT);
        let output = match tokio::time::timeout(limit, kind.run(&step_ctx, with)).await {
            Ok(result) => result.map_err(|e| Some(self.env.redactor.redact(&e.message)))?,
            Err(_) => {
                step_ctx.cancel.cancel();
                return Err(Some(format!(
                    "no answer within {}",
                    lifeboat_steps::duration::format(limit)
                )));
            }
        };
        for name in &output.secret {
            if let Some(v) = output.outputs.get(name) {
                self.env.redactor.add_value(v);
            }
        }
        self.env.console.info(&format!(
            "read the secret outputs of `{}` again ({})",
            step.id,
            output.secret.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        self.set_view(&step.id, "succeeded", output.outputs);
        Ok(())
    }
}

impl Scheduler {
    /// One line per step whose secret outputs this engine does not have:
    /// which, why, and the steps left to run that read them (those fail
    /// when they start, see [`Scheduler::lost_secret_hint`]).
    fn announce_lost_secret_outputs(&self) {
        for lost in &self.lost_secrets {
            let id = lost
                .item
                .as_ref()
                .unwrap_or(&self.env.runbook.steps[lost.index].id);
            let readers: Vec<String> = (0..self.env.runbook.steps.len())
                .filter(|&j| !matches!(self.status[j], Status::Succeeded | Status::Skipped))
                .filter(|&j| !self.lost_read_by(j, lost).is_empty())
                .map(|j| format!("`{}`", self.env.runbook.steps[j].id))
                .collect();
            let outcome = match readers.len() {
                0 => "no step left to run reads them".to_string(),
                n => format!(
                    "{} {} them and will fail when {}: {}",
                    readers.join(", "),
                    if n == 1 { "reads" } else { "read" },
                    if n == 1 { "it starts" } else { "they start" },
                    self.give_back(id)
                ),
            };
            // A warning either way: the redactor does not know these
            // values either (docs/security.md).
            self.env.console.warn(
                Some(id),
                &format!(
                    "this engine does not have its secret outputs ({}): {}; {outcome}",
                    lost.names.join(", "),
                    lost.why
                        .as_deref()
                        .unwrap_or("they were kept in memory only")
                ),
            );
        }
    }

    /// What a step's template error adds when the step reads secret
    /// outputs this engine does not have: which, why, and what to do.
    pub(super) fn lost_secret_hint(&self, i: usize) -> String {
        let mut hint = String::new();
        for lost in &self.lost_secrets {
            let read = self.lost_read_by(i, lost);
            if read.is_empty() {
                continue;
            }
            let step_id = &self.env.runbook.steps[lost.index].id;
            // As step `i`'s templates name it (inside a call, without the
            // call's prefix).
            let local = self.local_id(i, lost.index).unwrap_or(step_id);
            let outputs = lost_outputs(local, lost);
            let id = lost.item.as_ref().unwrap_or(step_id);
            let names: Vec<String> = read.iter().map(|n| format!("`{outputs}.{n}`")).collect();
            hint.push_str(&format!(
                "; {} {} a secret output this engine does not have ({}): {}",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                lost.why.as_deref().unwrap_or("it was kept in memory only"),
                self.give_back(id)
            ));
        }
        hint
    }

    /// What the operator does to give step `id`'s secret outputs back.
    fn give_back(&self, id: &str) -> String {
        let run = &self.env.run_id;
        format!(
            "put what `{id}` saved (e.g. its `output_file`) back in `{}` and `lifeboat resume {run}`, or run `{id}` again with `lifeboat resume {run} --redo {id} --reason TEXT` if that is safe",
            self.env.work_dir.display()
        )
    }

    /// The names among `lost` that step `i`'s templates and expressions
    /// read (its `with`, an `assert`'s `that`, `when`, `until` and `check`
    /// probe).
    fn lost_read_by(&self, i: usize, lost: &LostSecretOutputs) -> Vec<String> {
        // Templates read a step of their own scope only, by its id there.
        let Some(id) = self.local_id(i, lost.index) else {
            return Vec::new();
        };
        let assert = matches!(
            self.env.runbook.kind(i),
            ResolvedKind::Engine(EngineKind::Assert)
        );
        let refs = references(&self.env.templates, &self.env.runbook.steps[i], assert);
        let step_outputs = format!("steps.{id}.outputs");
        let outputs = lost_outputs(id, lost);
        // A loop's item: reading the whole list or mapping, or the item's
        // entry, reads them too (a subscript ends a path: `items[0]`).
        let mut wholes = vec![format!("steps.{id}"), step_outputs.clone()];
        if lost.item.is_some() {
            let entry = outputs.trim_end_matches(".outputs");
            wholes.extend([
                format!("{step_outputs}.items"),
                format!("{step_outputs}.by_key"),
                entry.to_string(),
                outputs.clone(),
            ]);
        }
        lost.names
            .iter()
            .filter(|name| {
                let output = format!("{outputs}.{name}");
                refs.iter().any(|r| {
                    wholes.contains(r) || r == &output || r.starts_with(&format!("{output}."))
                })
            })
            .cloned()
            .collect()
    }
}

/// Where templates read `lost`'s outputs: `steps.<id>.outputs`, or for a
/// loop's item `steps.<id>.outputs.by_key.<key>.outputs`.
fn lost_outputs(id: &str, lost: &LostSecretOutputs) -> String {
    match lost
        .item
        .as_deref()
        .and_then(crate::runbook::step::split_item_id)
    {
        Some((_, key)) => format!("steps.{id}.outputs.by_key.{key}.outputs"),
        None => format!("steps.{id}.outputs"),
    }
}

impl Scheduler {
    /// The id step `i`'s templates read step `j` by (`steps.<id>`): `j`'s
    /// id without the prefix of `i`'s call (`restore/init_first` is
    /// `init_first` inside the call `restore`); `None` when `j` is not in
    /// `i`'s scope.
    fn local_id(&self, i: usize, j: usize) -> Option<&str> {
        let runbook = &self.env.runbook;
        let id = runbook.steps[j].id.as_str();
        let local = match runbook.tree().scope(i) {
            Some(call) => id
                .strip_prefix(runbook.steps[call].id.as_str())?
                .strip_prefix(SCOPE_SEPARATOR)?,
            None => id,
        };
        (!local.contains(SCOPE_SEPARATOR)).then_some(local)
    }
}

/// Every variable `step`'s templates and expressions read, as dotted paths
/// (with `assert`, each entry of its `that` is an expression).
fn references(templates: &Templates, step: &Step, assert: bool) -> BTreeSet<String> {
    fn strings(value: &serde_json::Value, templates: &Templates, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::String(s) if s.contains("{{") || s.contains("{%") => {
                out.extend(templates.template_references(s).unwrap_or_default());
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    strings(item, templates, out);
                }
            }
            serde_json::Value::Object(map) => {
                for item in map.values() {
                    strings(item, templates, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    let with = step.with.to_json();
    strings(&with, templates, &mut out);
    let that = with
        .get("that")
        .and_then(|t| t.as_array())
        .filter(|_| assert);
    for expr in that.into_iter().flatten().filter_map(|e| e.as_str()) {
        out.extend(templates.expression_references(expr).unwrap_or_default());
    }
    let probe = step.check.as_ref();
    if let Some(probe) = probe {
        strings(&probe.with.to_json(), templates, &mut out);
    }
    for expr in [
        &step.when,
        &step.until,
        &probe.and_then(|p| p.until.clone()),
    ]
    .into_iter()
    .flatten()
    {
        out.extend(
            templates
                .expression_references(&expr.text)
                .unwrap_or_default(),
        );
    }
    out
}
