//! What a drill simulated, and what therefore cannot be judged: a probe fed
//! by a simulated step is simulated too, and a `when` or an assertion that
//! reads simulated outputs is not checked.
//!
//! Read-only questions about the run's state; it simulates nothing itself
//! (`start.rs` does).

use std::collections::BTreeSet;

use super::Scheduler;
use crate::runbook::templates::Templates;

impl Scheduler {
    /// In a probes drill, the simulated step whose product step `i` would
    /// read: one it `needs` (directly; simulation passes down the chain), or
    /// one whose outputs its `with` templates read.
    pub(super) fn fed_by_simulation(&self, i: usize) -> Option<String> {
        let rb = &self.env.runbook;
        let step = &rb.steps[i];
        let simulated = |id: &str| rb.step_index(id).is_some_and(|j| self.is_simulated(j, 0));
        if let Some(need) = step.needs_ids().find(|n| simulated(n)) {
            return Some(need.to_string());
        }
        let mut read = BTreeSet::new();
        steps_read(&self.env.templates, &step.with, &mut read);
        read.into_iter().find(|id| simulated(id))
    }

    /// Whether what step `j` produced is the drill's, not the world's: it
    /// was simulated, or it is a step the engine runs itself (an assertion,
    /// a checkpoint, a gate) after one that was.
    pub(super) fn is_simulated(&self, j: usize, depth: usize) -> bool {
        if self.simulated[j] {
            return true;
        }
        let step = &self.env.runbook.steps[j];
        depth < 10_000
            && self.env.runbook.kind(j).engine().is_some()
            && step.needs_ids().any(|n| {
                self.env
                    .runbook
                    .step_index(n)
                    .is_some_and(|k| self.is_simulated(k, depth + 1))
            })
    }

    /// A simulated step whose outputs expression `expr` reads, if any: its
    /// outputs are the drill's (`dry_run.outputs` or placeholders), so the
    /// expression cannot be judged.
    pub(super) fn simulated_read_by(&self, expr: &str) -> Option<String> {
        let rb = &self.env.runbook;
        referenced_steps(
            self.env
                .templates
                .expression_references(expr)
                .unwrap_or_default(),
        )
        .find(|id| rb.step_index(id).is_some_and(|j| self.is_simulated(j, 0)))
    }
}

/// The ids of the steps whose outputs or status templates under `node` read.
fn steps_read(
    templates: &Templates,
    node: &crate::runbook::node::Node,
    out: &mut BTreeSet<String>,
) {
    use crate::runbook::node::NodeValue;
    match &node.value {
        NodeValue::String(s) if s.contains("{{") || s.contains("{%") => {
            out.extend(referenced_steps(
                templates.template_references(s).unwrap_or_default(),
            ));
        }
        NodeValue::Seq(items) => items.iter().for_each(|n| steps_read(templates, n, out)),
        NodeValue::Map(entries) => entries
            .iter()
            .for_each(|(_, v)| steps_read(templates, v, out)),
        _ => {}
    }
}

/// The step ids among dotted references (`steps.<id>.outputs.x`).
fn referenced_steps(refs: BTreeSet<String>) -> impl Iterator<Item = String> {
    refs.into_iter().filter_map(|r| {
        let mut parts = r.split('.');
        match (parts.next(), parts.next()) {
            (Some("steps"), Some(id)) => Some(id.to_string()),
            _ => None,
        }
    })
}
