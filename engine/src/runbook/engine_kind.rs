//! Step kinds the engine runs itself, because they are about the run rather
//! than the world: `assert` evaluates expressions over earlier outputs, and
//! `checkpoint` marks a milestone in the journal, the timeline and the RTO.
//! `approval` and `manual` wait for humans (see docs/operator-console.md).

use lifeboat_steps::params::{self, ParamProblem, PathSegment};
use lifeboat_steps::OutputDecl;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Assert,
    Checkpoint,
    Approval,
    Manual,
    /// `kind: runbook`: another runbook's steps, run inside this run
    /// (`runbook/call_tree.rs`).
    Runbook,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AssertParams {
    /// Expressions that must all be true.
    pub that: Vec<String>,
    /// Shown when one is false.
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CheckpointParams {
    /// What the milestone means, for the timeline.
    #[serde(default)]
    pub description: Option<String>,
}

/// `kind: approval`: a question one or more people must approve.
#[derive(Deserialize, Debug, Clone, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalParams {
    /// The question, rendered; approvals bind to its digest.
    pub prompt: String,
    /// What the approver should know, rendered; part of the digest.
    #[serde(default)]
    pub details: Option<String>,
    /// Distinct identities that must approve.
    #[serde(default = "one")]
    pub min_approvals: u32,
    /// Only these identities may decide.
    #[serde(default)]
    pub approvers: Option<Vec<String>>,
    /// Four eyes: whoever started the run cannot approve it.
    #[serde(default)]
    pub distinct_from_initiator: bool,
    /// Decisions count only when signed by a key of the allowed signers
    /// file, under its principal (`approvers` then names principals).
    #[serde(default)]
    pub require_signed: bool,
    /// How long to wait for a decision, counted from the first request.
    #[serde(default)]
    pub timeout: Option<String>,
    /// What a timeout decides.
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

/// What an approval's `timeout` decides.
#[derive(Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    #[default]
    Reject,
    Approve,
}

/// `kind: manual`: instructions a human carries out and confirms.
#[derive(Deserialize, Debug, Clone, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualParams {
    /// Markdown, rendered.
    pub instructions: String,
    /// Items the operator confirms one by one.
    #[serde(default)]
    pub checklist: Vec<String>,
    /// How long to wait for the confirmation; then the step fails.
    #[serde(default)]
    pub timeout: Option<String>,
    /// The confirmation counts only when signed by an allowed key.
    #[serde(default)]
    pub require_signed: bool,
}

/// `kind: runbook`: call another runbook; its outputs are the called
/// runbook's `outputs:`.
#[derive(Deserialize, Debug, Clone, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RunbookParams {
    /// The runbook to run, relative to the calling runbook's file.
    pub file: String,
    /// The called runbook's inputs, rendered in the caller's scope when
    /// the call starts.
    #[serde(default)]
    pub inputs: Option<serde_json::Map<String, Value>>,
}

fn one() -> u32 {
    1
}

impl EngineKind {
    pub const ALL: &'static [(&'static str, &'static str)] = &[
        ("assert", "check that expressions over earlier outputs hold"),
        (
            "checkpoint",
            "mark a milestone: splits the RTO into phases; resume --from restarts after it",
        ),
        (
            "approval",
            "wait for one or more people to approve; `lifeboat approve` decides without a terminal",
        ),
        (
            "manual",
            "show instructions and a checklist for a human; `lifeboat confirm` completes it",
        ),
        (
            "runbook",
            "run another runbook's steps inside this run, as `<id>/<step>`; its outputs are the called runbook's `outputs:`",
        ),
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "assert" => Some(Self::Assert),
            "checkpoint" => Some(Self::Checkpoint),
            "approval" => Some(Self::Approval),
            "manual" => Some(Self::Manual),
            "runbook" => Some(Self::Runbook),
            _ => None,
        }
    }

    /// The JSON Schema of `with:`, from the structs [`EngineKind::check`]
    /// uses, like [`lifeboat_steps::StepKind::parameters`].
    pub fn parameters(self) -> Value {
        match self {
            Self::Assert => params::schema::<AssertParams>(),
            Self::Checkpoint => params::schema::<CheckpointParams>(),
            Self::Approval => params::schema::<ApprovalParams>(),
            Self::Manual => params::schema::<ManualParams>(),
            Self::Runbook => params::schema::<RunbookParams>(),
        }
    }

    pub fn check(self, with: &Value) -> Vec<ParamProblem> {
        match self {
            Self::Assert => {
                let mut p = params::check::<AssertParams>(with);
                if let Some(Value::String(_)) = with.get("that") {
                    p.retain(|p| p.path_string() != "that");
                    p.push(ParamProblem::new(
                        vec![PathSegment::Key("that".into())],
                        "`that` is a list of expressions; write `that: [\"...\"]`",
                    ));
                }
                p
            }
            Self::Checkpoint => params::check::<CheckpointParams>(with),
            Self::Approval => {
                let mut p = params::check::<ApprovalParams>(with);
                if let Some(n) = with.get("min_approvals").and_then(Value::as_u64) {
                    if n == 0 {
                        p.push(ParamProblem::field(
                            "min_approvals",
                            "`min_approvals` must be at least 1",
                        ));
                    }
                    if let Some(list) = with.get("approvers").and_then(Value::as_array) {
                        if (list.len() as u64) < n {
                            p.push(ParamProblem::field(
                                "approvers",
                                format!("only {} approver(s) listed but `min_approvals` is {n}; list more approvers or lower `min_approvals`", list.len()),
                            ));
                        }
                    }
                }
                check_duration(with, &mut p);
                p
            }
            Self::Manual => {
                let mut p = params::check::<ManualParams>(with);
                check_duration(with, &mut p);
                p
            }
            Self::Runbook => {
                let mut p = params::check::<RunbookParams>(with);
                if let Some(Value::String(file)) = with.get("file") {
                    if params::is_template(file) {
                        p.push(ParamProblem::field(
                            "file",
                            "`file` is read when the runbook is validated, so it cannot be a template; write the path, relative to this runbook",
                        ));
                    }
                }
                p
            }
        }
    }

    /// Every top-level output a step of this kind can produce, like
    /// [`lifeboat_steps::StepKind::outputs`]: `assert` counts what it
    /// checked (`run/scheduler/engine_steps.rs`); an approval gives
    /// `journal::gate_record::approval_outputs`, and `rejected_by` when it
    /// fails; a manual step what `run/scheduler/human_gates.rs` records of
    /// the confirmation. A checkpoint has none; a `runbook` call has the
    /// called runbook's `outputs:`, which validation reads from that file.
    pub fn outputs(self) -> &'static [OutputDecl] {
        const ASSERT: &[OutputDecl] =
            &[OutputDecl::integer("checked", "how many expressions held")];
        const APPROVAL: &[OutputDecl] = &[
            OutputDecl::list("approvers", "who approved, in order"),
            OutputDecl::list("comments", "each approver's comment, in the same order"),
            OutputDecl::string("rejected_by", "who rejected (when the step failed)"),
        ];
        const MANUAL: &[OutputDecl] = &[
            OutputDecl::string("confirmed_by", "who confirmed"),
            OutputDecl::string("note", "the confirmer's note"),
            OutputDecl::list("checklist", "the checklist items confirmed"),
        ];
        match self {
            Self::Assert => ASSERT,
            Self::Checkpoint => &[],
            Self::Approval => APPROVAL,
            Self::Manual => MANUAL,
            Self::Runbook => &[],
        }
    }

    /// True for kinds that wait for a human.
    pub fn is_human(self) -> bool {
        matches!(self, Self::Approval | Self::Manual)
    }
}

/// A literal `timeout` must parse as a duration.
fn check_duration(with: &Value, problems: &mut Vec<ParamProblem>) {
    if let Some(Value::String(t)) = with.get("timeout") {
        if !params::is_template(t) {
            if let Err(e) = lifeboat_steps::duration::parse(t) {
                problems.push(ParamProblem::field("timeout", e));
            }
        }
    }
}
