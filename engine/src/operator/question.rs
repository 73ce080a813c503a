//! The questions a run asks a human at a terminal, and their answers. The
//! scheduler builds the questions and checks the answers; an
//! [`OperatorPrompt`] only asks.

use crate::journal::record::MarkOutcome;
use crate::runbook::step::Step;

/// An `approval` step's question.
#[derive(Debug, Clone)]
pub struct ApprovalQuestion {
    pub step: String,
    pub title: String,
    /// Rendered and redacted.
    pub prompt: String,
    pub details: Option<String>,
    /// Who approved so far, and how many approvals are needed in all.
    pub approved_by: Vec<String>,
    pub min_approvals: u32,
    /// The identity offered by default (the operator).
    pub default_identity: String,
    /// The commands that decide it from another shell or machine.
    pub elsewhere: Vec<String>,
    /// The key the answer is signed with, e.g. `SHA256:… (ED25519, from
    /// ssh-agent)`, said before asking.
    pub signing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalAnswer {
    pub approved: bool,
    pub identity: String,
    pub comment: Option<String>,
}

/// A `manual` step's instructions.
#[derive(Debug, Clone)]
pub struct ManualQuestion {
    pub step: String,
    pub title: String,
    /// Rendered Markdown.
    pub instructions: String,
    pub checklist: Vec<String>,
    pub default_identity: String,
    /// The commands that settle it from another shell or machine.
    pub elsewhere: Vec<String>,
    /// As for an approval.
    pub signing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualAnswer {
    pub identity: String,
    pub note: Option<String>,
    /// The checklist items confirmed (all of them).
    pub checklist: Vec<String>,
}

/// What to do with the next step in step-through mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepThroughChoice {
    Run,
    Skip {
        reason: String,
    },
    /// Print the rendered command, then ask again.
    Show,
    /// Stop here; the run is resumable.
    Quit,
}

/// The operator's answer to the first Ctrl-C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptChoice {
    /// Start nothing new, let running steps finish, exit 130.
    Pause,
    /// Stop running steps now, exit 130.
    Abort,
    /// Carry on as if nothing happened.
    Continue,
}

/// Answers the questions a run may have to ask a human at a terminal.
/// `None` for no terminal: the run then pauses with exit 3.
pub trait OperatorPrompt: Send + Sync {
    /// A `rerun: never` step was interrupted: did it complete?
    fn interrupted_step(&self, step: &Step, description: &str) -> Option<MarkOutcome>;

    /// An approval gate: approve or reject, as whom, with what comment.
    /// `check` vets an identity (allow-list, four eyes, no double
    /// approval); a refused identity is asked for again. `closed` is asked
    /// while the question waits for the operator: `Some(line)` closes it
    /// (the decision came from elsewhere) and shows `line`. `None`: decide
    /// later, or closed (the scheduler then looks at what was decided).
    fn approval(
        &self,
        _question: &ApprovalQuestion,
        _check: &dyn Fn(&str, bool) -> Result<(), String>,
        _closed: &dyn Fn() -> Option<String>,
    ) -> Option<ApprovalAnswer> {
        None
    }

    /// A manual step: show the instructions, confirm each checklist item.
    /// `closed` as for [`OperatorPrompt::approval`]. `None`: not done yet
    /// (the run pauses), or closed.
    fn manual(
        &self,
        _question: &ManualQuestion,
        _closed: &dyn Fn() -> Option<String>,
    ) -> Option<ManualAnswer> {
        None
    }

    /// Step-through mode: what to do with the next step.
    fn step_through(&self, _step: &Step) -> StepThroughChoice {
        StepThroughChoice::Run
    }

    /// The first Ctrl-C: pause or abort?
    fn interruption(&self) -> InterruptChoice {
        InterruptChoice::Pause
    }

    /// `resume --take-over` of a run whose lease `driver` holds: take it?
    fn take_over(&self, _run_id: &str, _driver: &str) -> bool {
        false
    }
}
