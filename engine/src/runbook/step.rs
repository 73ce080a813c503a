//! [`Step`], one step of a runbook as written: its kind's name, raw `with:`
//! and the rest of its fields, with locations. What the kind means is
//! resolved by validation ([`crate::runbook::checked_runbook`]).

use std::time::Duration;

use lifeboat_steps::{Effect, Rerun, StepKind};
use serde_json::Value;

use crate::runbook::node::{Loc, Node};
use crate::runbook::Retry;

/// One step of a runbook.
#[derive(Debug, Clone)]
pub struct Step {
    /// `[a-z][a-z0-9_]*`, unique across all sections.
    pub id: String,
    pub loc: Loc,
    pub title: Option<String>,
    pub kind: String,
    pub kind_loc: Loc,
    /// The raw `with:` mapping, templates unrendered, locations kept.
    pub with: Node,
    pub needs: Vec<Need>,
    /// Run only when this expression is true; otherwise the step is skipped.
    pub when: Option<Expr>,
    /// Retry until this expression over `outputs` is true.
    pub until: Option<Expr>,
    /// `until.message`: the error, a template, when `until` never holds.
    pub until_message: Option<Node>,
    pub retry: Retry,
    pub timeout: Option<Duration>,
    /// Expected duration, for `plan` and projections.
    pub estimate: Option<Duration>,
    /// What resume does if the step was interrupted; `None` means the kind's default.
    pub rerun: Option<Rerun>,
    /// A read-only probe for `rerun: check`.
    pub check: Option<Probe>,
    pub continue_on_failure: bool,
    /// Overrides the kind's own answer to "is this read-only?".
    pub read_only: Option<bool>,
    /// Outputs a dry run pretends the step produced.
    pub dry_run_outputs: Option<Value>,
    /// `dry_run.outputs` as written, so the validator can point at a key.
    pub dry_run_node: Option<Node>,
    pub section: Section,
    /// `for_each`: run the step once per item of a list.
    pub for_each: Option<ForEach>,
}

/// A step's `for_each`: each item of `items` is its own execution,
/// journalled as `<id>[<key>]`, with the item readable as `as`.
#[derive(Debug, Clone)]
pub struct ForEach {
    /// Where `for_each` is written.
    pub loc: Loc,
    /// A literal list, or a template that renders one.
    pub items: Node,
    /// The name templates read the item by (`node` in `{{ node }}`).
    pub as_name: String,
    pub as_loc: Loc,
    /// A template rendering each item's key; `None`: the item itself when
    /// it is a string or a number, else its position.
    pub key: Option<Node>,
    /// Items run at once, at least 1; `None`: one at a time.
    pub max_parallel: Option<u32>,
    /// A failed item does not fail the step.
    pub continue_on_failure: bool,
}

impl ForEach {
    /// The loop in a few words, for `plan` and `graph`: ``for each `node`
    /// in {{ inputs.nodes }}, 3 at once``.
    pub fn describe(&self) -> String {
        let items = match &self.items.value {
            crate::runbook::node::NodeValue::Seq(list) => format!("{} items", list.len()),
            crate::runbook::node::NodeValue::String(text) => text.trim().to_string(),
            _ => "?".into(),
        };
        format!(
            "for each `{}` in {items}, {} at once",
            self.as_name,
            self.parallelism()
        )
    }

    /// Items that may run at once.
    pub fn parallelism(&self) -> usize {
        self.max_parallel.unwrap_or(1).max(1) as usize
    }
}

/// The execution id of item `key` of step `id`: `id[key]`.
pub fn item_id(id: &str, key: &str) -> String {
    format!("{id}[{key}]")
}

/// Splits an execution id `id[key]` into the step id and the key.
pub fn split_item_id(execution: &str) -> Option<(&str, &str)> {
    let (id, rest) = execution.split_once('[')?;
    Some((id, rest.strip_suffix(']')?))
}

/// One entry of a step's `needs`.
#[derive(Debug, Clone)]
pub struct Need {
    /// The id of the step needed.
    pub id: String,
    /// Where the entry is written.
    pub loc: Loc,
}

/// Which list a step came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Main,
    OnFailure,
    Finally,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Main => "steps",
            Section::OnFailure => "on_failure",
            Section::Finally => "finally",
        }
    }
}

/// A minijinja expression and where it was written.
#[derive(Debug, Clone)]
pub struct Expr {
    pub text: String,
    pub loc: Loc,
}

/// A read-only probe run on resume for `rerun: check`: a step kind and its
/// parameters, and an optional `until` expression over its outputs.
#[derive(Debug, Clone)]
pub struct Probe {
    pub kind: String,
    pub kind_loc: Loc,
    pub with: Node,
    pub until: Option<Expr>,
    /// `read_only: true` declares a probe of a kind that could change
    /// things (a `shell` test) as one that only reads.
    pub read_only: Option<bool>,
}

impl Step {
    /// What the step does, without locations, titles or estimates: an
    /// approval binds to the definitions of the steps it guards, so that a
    /// changed command asks again while a moved line does not.
    pub fn definition(&self) -> Value {
        let mut definition = serde_json::json!({
            "id": self.id,
            "kind": self.kind,
            "with": self.with.to_json(),
            "needs": self.needs_ids().collect::<Vec<_>>(),
            "when": self.when.as_ref().map(|e| &e.text),
            "until": self.until.as_ref().map(|e| &e.text),
            "retry": format!("{:?}", self.retry),
            "timeout": self.timeout.map(|t| t.as_millis() as u64),
            "rerun": self.rerun.map(|r| format!("{r:?}")),
            "check": self.check.as_ref().map(|c| serde_json::json!({
                "kind": c.kind,
                "with": c.with.to_json(),
                "until": c.until.as_ref().map(|e| &e.text),
            })),
            "continue_on_failure": self.continue_on_failure,
            "read_only": self.read_only,
            "section": self.section.as_str(),
        });
        // Only when present, so that the definitions (and approval
        // digests) of steps without it are what they were.
        if let Some(f) = &self.for_each {
            definition["for_each"] = serde_json::json!({
                "items": f.items.to_json(),
                "as": f.as_name,
                "key": f.key.as_ref().map(Node::to_json),
                "max_parallel": f.max_parallel,
                "continue_on_failure": f.continue_on_failure,
            });
        }
        definition
    }

    /// Whether the step only reads: its own `read_only`, else its kind's
    /// answer for its unrendered parameters (an `http` GET).
    pub fn is_read_only(&self, kind: &dyn StepKind) -> bool {
        self.read_only
            .unwrap_or_else(|| kind.effect(&self.with.to_json()) == Effect::ReadOnly)
    }

    pub fn title(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.id)
    }

    pub fn needs_ids(&self) -> impl Iterator<Item = &str> {
        self.needs.iter().map(|need| need.id.as_str())
    }
}
