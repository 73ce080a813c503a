//! The journal's record types: the on-disk format of a run, version 1.
//!
//! These types are a boundary. They are not the scheduler's internals, and
//! a change to them is a format change: add optional fields freely, bump
//! [`JOURNAL_VERSION`] for anything else and keep reading the old version.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const JOURNAL_VERSION: u32 = 1;

/// One line of `journal.jsonl`, before its checksum envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Format version of this record.
    pub v: u32,
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    /// UTC, RFC 3339 with milliseconds.
    pub ts: String,
    /// Who caused it: the operator, an approver, or `lifeboat` itself.
    pub actor: String,
    /// The inbox entry this record was taken from, for a decision posted
    /// while an engine drove the run (`journal/decision.rs`): an entry whose
    /// name is journalled is never journalled again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox: Option<String>,
    /// The decider's SSH signature over the decision's canonical message
    /// (`journal/signature.rs`), for decisions, take-overs and a run's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<Signed>,
    /// The hash chain (`journal/chain.rs`): `sha256:<hex>` of the stored
    /// bytes of the record before this one, or [`crate::journal::chain::GENESIS`]
    /// on the first. `None` in journals written before the chain existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(flatten)]
    pub event: Event,
}

/// An `sshsig` signature (namespace `lifeboat`) over a record's canonical
/// message, which is rebuilt from the record and `signed_at`
/// (`journal/signature.rs`), so anyone can verify it later.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signed {
    /// The armored signature (`-----BEGIN SSH SIGNATURE-----`); it holds
    /// the signer's public key.
    pub signature: String,
    /// When it was signed (UTC, RFC 3339): part of the signed message.
    pub signed_at: String,
    /// The signing key's fingerprint, `SHA256:…`.
    pub key: String,
    /// The principal the run's allowed signers file names for the key,
    /// written by whoever checked the signature before journalling the
    /// record (never taken from the signer); `None` when not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

/// What happened.
// `run_started` is the largest record and is written once per run; boxing
// it would only complicate every match on it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        title: String,
        digest: String,
        #[serde(default)]
        scenario: Option<String>,
        /// Non-secret inputs; secret inputs appear by name only.
        inputs: Map<String, Value>,
        secret_inputs: Vec<String>,
        /// `None` for a real run; `render` or `probes` for a drill.
        #[serde(default)]
        dry_run: Option<String>,
        /// When the incident was declared, if before the run started.
        #[serde(default)]
        declared_at: Option<String>,
        #[serde(default)]
        rto_target_ms: Option<u64>,
        #[serde(default)]
        rto_stop_at: Option<String>,
        engine_version: String,
        /// The directory `lifeboat run` was started from: relative program
        /// paths and `path`/`program` inputs resolve against it, on resume too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        launch_dir: Option<String>,
        /// The public keys secret outputs are sealed to (`recipients:` or
        /// `--recipients`), normalised: every engine that drives the run
        /// seals to this set. Empty: secret outputs are not sealed. (A
        /// boxed slice: every record in memory is as large as this one.)
        #[serde(default, skip_serializing_if = "<[String]>::is_empty")]
        recipients: Box<[String]>,
        /// The allowed signers file decisions are checked against (as
        /// given at the start), and the SHA-256 of its bytes: every machine
        /// must check against the same file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allowed_signers: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allowed_signers_sha256: Option<String>,
        /// The runbook's top-level `require_signed`: every decision (marks
        /// and take-overs too) must be signed by an allowed key.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        require_signed: bool,
    },
    StepStarted {
        step: String,
        attempt: u32,
        /// The rendered command or request, redacted.
        description: String,
    },
    /// A step's child process group started (written right after the
    /// spawn, so a resume after a killed engine can stop what still runs).
    ProcessStarted {
        step: String,
        pgid: u32,
        /// The group leader's start time in clock ticks since boot.
        #[serde(default)]
        start_ticks: Option<u64>,
    },
    AttemptFailed {
        step: String,
        attempt: u32,
        error: String,
        retry_in_ms: u64,
    },
    StepSucceeded {
        step: String,
        /// Outputs with secret values replaced by a placeholder.
        outputs: Map<String, Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secret_outputs: Vec<String>,
        /// The secret outputs' values as one JSON object, age-encrypted to
        /// the run's `recipients` and ASCII-armoured; absent without them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed_outputs: Option<String>,
        /// True when a dry run simulated the step instead of running it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        simulated: bool,
        duration_ms: u64,
    },
    StepFailed {
        step: String,
        error: String,
        #[serde(default)]
        outputs: Map<String, Value>,
        duration_ms: u64,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    /// A `checkpoint` step was reached.
    Checkpoint {
        step: String,
        #[serde(default)]
        description: Option<String>,
    },
    /// The run stopped for a human: an interrupted `rerun: never` step, an
    /// approval or a manual step.
    Waiting {
        step: String,
        reason: String,
        /// The exact commands that resolve the wait.
        commands: Vec<String>,
    },
    /// `lifeboat mark`: a human says whether an interrupted step completed.
    Marked {
        step: String,
        outcome: MarkOutcome,
    },
    /// `lifeboat note`.
    Note {
        text: String,
    },
    Interrupted {
        reason: String,
    },
    Resumed {
        #[serde(default)]
        from_checkpoint: Option<String>,
        #[serde(default)]
        allow_changed: bool,
        #[serde(default)]
        digest: Option<String>,
        /// Steps the operator asked to run again (`resume --redo`), though
        /// they completed or were skipped.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        redo: Vec<String>,
        /// Why (`--reason`), with `redo`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// `resume --take-over`: the live driver whose lease this engine
        /// took, e.g. `alice on host-a (pid 123)`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        took_over_from: Option<String>,
    },
    RunFinished {
        status: RunStatus,
    },
    /// An `approval` step showed its rendered question; decisions bind to
    /// `digest`, so a question that renders differently is asked again.
    ApprovalRequested {
        step: String,
        /// SHA-256 of the rendered prompt and details.
        digest: String,
        prompt: String,
        #[serde(default)]
        details: Option<String>,
        /// The rendered policy, so `lifeboat approve` can check a decision
        /// without re-rendering the runbook.
        min_approvals: u32,
        #[serde(default)]
        approvers: Option<Vec<String>>,
        #[serde(default)]
        distinct_from_initiator: bool,
        /// `require_signed` (the gate's or the runbook's): decisions count
        /// only when signed by a key of the allowed signers file, under
        /// its principal.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        require_signed: bool,
    },
    /// One approver's decision; the approver is the record's `actor`.
    Approval {
        step: String,
        decision: Decision,
        /// The digest of the question this decision answers.
        digest: String,
        #[serde(default)]
        comment: Option<String>,
        /// True when no human decided in time and `on_timeout` did.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        timed_out: bool,
    },
    /// A `manual` step showed its rendered instructions.
    ManualRequested {
        step: String,
        /// SHA-256 of the rendered instructions and checklist.
        digest: String,
        instructions: String,
        #[serde(default)]
        checklist: Vec<String>,
        /// As for an approval.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        require_signed: bool,
    },
    /// A human confirmed a `manual` step; the confirmer is the `actor`.
    ManualConfirmed {
        step: String,
        digest: String,
        /// Evidence, e.g. "changed the A record at 14:02".
        #[serde(default)]
        note: Option<String>,
        /// The checklist items confirmed.
        #[serde(default)]
        checklist: Vec<String>,
    },
    /// The operator skipped a step in step-through mode (`run --step`).
    StepThroughSkipped {
        step: String,
        reason: String,
    },
    /// A `notify:` target accepted a message (a 2xx answer).
    Notified {
        /// The target's index in the runbook's `notify:`; its URL is never
        /// journalled (it may hold a secret).
        target: u32,
        /// `run_started`, `waiting`, `step_failed`, `checkpoint`,
        /// `rto_at_risk` or `finished`.
        event: String,
        /// The seq of the record the message told of, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        about_seq: Option<u64>,
        /// Requests made, this one included.
        attempts: u32,
        http_status: u16,
    },
    /// A `notify:` target did not get a message: every attempt failed, or
    /// the run ended while it was still being delivered.
    NotifyFailed {
        target: u32,
        event: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        about_seq: Option<u64>,
        attempts: u32,
        /// The last answer's status, when the receiver answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http_status: Option<u16>,
        /// Why, without the URL or the body.
        error: String,
    },
}

/// An approver's answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MarkOutcome {
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
}

impl Event {
    /// The step a record is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepStarted { step, .. }
            | Event::ProcessStarted { step, .. }
            | Event::AttemptFailed { step, .. }
            | Event::StepSucceeded { step, .. }
            | Event::StepFailed { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::Checkpoint { step, .. }
            | Event::Waiting { step, .. }
            | Event::Marked { step, .. }
            | Event::ApprovalRequested { step, .. }
            | Event::Approval { step, .. }
            | Event::ManualRequested { step, .. }
            | Event::ManualConfirmed { step, .. }
            | Event::StepThroughSkipped { step, .. } => Some(step),
            _ => None,
        }
    }

    /// A delivery outcome of a `notify:` target (`notified`,
    /// `notify_failed`): about the run, not part of it, so replay, spans
    /// and the RTO clock pass over them.
    pub fn is_notification(&self) -> bool {
        matches!(self, Event::Notified { .. } | Event::NotifyFailed { .. })
    }

    /// The snake_case name of the record type.
    pub fn name(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::StepStarted { .. } => "step_started",
            Event::ProcessStarted { .. } => "process_started",
            Event::AttemptFailed { .. } => "attempt_failed",
            Event::StepSucceeded { .. } => "step_succeeded",
            Event::StepFailed { .. } => "step_failed",
            Event::StepSkipped { .. } => "step_skipped",
            Event::Checkpoint { .. } => "checkpoint",
            Event::Waiting { .. } => "waiting",
            Event::Marked { .. } => "marked",
            Event::Note { .. } => "note",
            Event::Interrupted { .. } => "interrupted",
            Event::Resumed { .. } => "resumed",
            Event::RunFinished { .. } => "run_finished",
            Event::ApprovalRequested { .. } => "approval_requested",
            Event::Approval { .. } => "approval",
            Event::ManualRequested { .. } => "manual_requested",
            Event::ManualConfirmed { .. } => "manual_confirmed",
            Event::StepThroughSkipped { .. } => "step_through_skipped",
            Event::Notified { .. } => "notified",
            Event::NotifyFailed { .. } => "notify_failed",
        }
    }
}
