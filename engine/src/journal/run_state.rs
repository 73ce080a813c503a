//! A run's state, rebuilt by replaying its journal. Resume, `status`,
//! `mark`, `runs` and the timeline all start here.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::journal::gate_record::GateRecord;
use crate::journal::record::{Event, MarkOutcome, Record, RunStatus};

/// What the journal says about one step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepRecordState {
    /// Started and never finished: it was in flight when the engine stopped.
    Interrupted {
        attempt: u32,
    },
    Succeeded {
        outputs: Map<String, Value>,
        secret_outputs: Vec<String>,
        simulated: bool,
    },
    Failed {
        error: String,
    },
    Skipped {
        reason: String,
    },
    /// Waiting for a human (see [`Event::Waiting`]).
    Waiting {
        reason: String,
        commands: Vec<String>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct RunState {
    pub run_id: String,
    pub runbook: String,
    pub title: String,
    /// SHA-256 of the runbook the run follows: `run_started`'s, replaced by
    /// each `resumed` record's (which differs after `--allow-changed`).
    pub digest: String,
    pub inputs: Map<String, Value>,
    pub secret_inputs: Vec<String>,
    pub dry_run: Option<String>,
    pub declared_at: Option<String>,
    /// Where `lifeboat run` was started (`run_started`); `None` for runs
    /// recorded before it was.
    pub launch_dir: Option<String>,
    pub started_at: String,
    pub operator: String,
    pub steps: HashMap<String, StepRecordState>,
    pub finished: Option<RunStatus>,
    pub last_seq: u64,
    pub last_ts: String,
    /// Human gates (`approval`, `manual`) and their decisions, by step.
    pub gates: HashMap<String, GateRecord>,
    /// The child process group of each step that started one and has no
    /// result: it may outlive the engine that started it.
    pub processes: HashMap<String, lifeboat_steps::process_group::ProcessGroup>,

    /// Steps whose last start has no outcome written by an engine: they were
    /// interrupted mid-step, and only a human (`lifeboat mark`) can say how
    /// they ended. The value is the latest mark, if any: marked `failed`,
    /// the step did not complete and runs again on resume; unmarked, resume
    /// asks. `mark` may be given again until the step runs again.
    pub unconfirmed: BTreeMap<String, Option<MarkOutcome>>,
}

impl RunState {
    /// Replays records. `descendants_of` answers "which steps depend on this
    /// checkpoint", for `resume --from`.
    pub fn replay(records: &[Record], descendants_of: &dyn Fn(&str) -> Vec<String>) -> Self {
        let mut state = RunState::default();
        for record in records {
            state.apply(record, descendants_of);
        }
        state
    }

    fn apply(&mut self, record: &Record, descendants_of: &dyn Fn(&str) -> Vec<String>) {
        self.last_seq = record.seq;
        self.last_ts = record.ts.clone();
        if let Some(step) = record.event.step() {
            match &record.event {
                Event::ProcessStarted {
                    pgid, start_ticks, ..
                } => {
                    self.processes.insert(
                        step.to_string(),
                        lifeboat_steps::process_group::ProcessGroup {
                            pgid: *pgid,
                            start_ticks: *start_ticks,
                        },
                    );
                }
                Event::StepSucceeded { .. }
                | Event::StepFailed { .. }
                | Event::StepSkipped { .. }
                | Event::Marked { .. } => {
                    self.processes.remove(step);
                }
                _ => {}
            }
            match &record.event {
                // A step not started because the run failed is reconsidered
                // on resume: its gate keeps the decisions given so far.
                Event::StepSkipped { reason, .. } if reason.starts_with(NOT_STARTED) => {}
                // A terminal state consumes the gate's decisions.
                Event::StepSucceeded { .. }
                | Event::StepFailed { .. }
                | Event::StepSkipped { .. }
                | Event::StepThroughSkipped { .. }
                | Event::Marked { .. } => {
                    self.gates.remove(step);
                }
                _ => {
                    if self.gates.contains_key(step) || is_gate_event(&record.event) {
                        self.gates
                            .entry(step.to_string())
                            .or_default()
                            .apply(record);
                    }
                }
            }
        }
        match &record.event {
            Event::RunStarted {
                run_id,
                runbook,
                title,
                digest,
                inputs,
                secret_inputs,
                dry_run,
                declared_at,
                launch_dir,
                ..
            } => {
                self.launch_dir = launch_dir.clone();
                self.run_id = run_id.clone();
                self.runbook = runbook.clone();
                self.title = title.clone();
                self.digest = digest.clone();
                self.inputs = inputs.clone();
                self.secret_inputs = secret_inputs.clone();
                self.dry_run = dry_run.clone();
                self.declared_at = declared_at.clone();
                self.started_at = record.ts.clone();
                self.operator = record.actor.clone();
            }
            Event::StepStarted { step, attempt, .. } => {
                self.unconfirmed.insert(step.clone(), None);
                self.steps.insert(
                    step.clone(),
                    StepRecordState::Interrupted { attempt: *attempt },
                );
            }
            Event::StepSucceeded {
                step,
                outputs,
                secret_outputs,
                simulated,
                ..
            } => {
                self.unconfirmed.remove(step);
                self.steps.insert(
                    step.clone(),
                    StepRecordState::Succeeded {
                        outputs: outputs.clone(),
                        secret_outputs: secret_outputs.clone(),
                        simulated: *simulated,
                    },
                );
            }
            Event::StepFailed { step, error, .. } => {
                self.unconfirmed.remove(step);
                self.steps.insert(
                    step.clone(),
                    StepRecordState::Failed {
                        error: error.clone(),
                    },
                );
            }
            Event::StepSkipped { step, reason } => {
                self.steps.insert(
                    step.clone(),
                    StepRecordState::Skipped {
                        reason: reason.clone(),
                    },
                );
            }
            Event::Waiting {
                step,
                reason,
                commands,
            } => {
                self.steps.insert(
                    step.clone(),
                    StepRecordState::Waiting {
                        reason: reason.clone(),
                        commands: commands.clone(),
                    },
                );
            }
            Event::Marked { step, outcome } => {
                if let Some(mark) = self.unconfirmed.get_mut(step) {
                    *mark = Some(*outcome);
                }
                let state = match outcome {
                    MarkOutcome::Done => StepRecordState::Succeeded {
                        outputs: Map::new(),
                        secret_outputs: Vec::new(),
                        simulated: false,
                    },
                    MarkOutcome::Failed => StepRecordState::Failed {
                        error: format!("marked failed by {}", record.actor),
                    },
                };
                self.steps.insert(step.clone(), state);
            }
            Event::Resumed {
                from_checkpoint,
                redo,
                digest,
                ..
            } => {
                self.finished = None;
                if let Some(d) = digest {
                    self.digest = d.clone();
                }
                // `resume --redo STEP`: run it again, whatever it did.
                for step in redo {
                    self.steps.remove(step);
                    self.gates.remove(step);
                    self.unconfirmed.remove(step);
                }
                if let Some(cp) = from_checkpoint {
                    for step in descendants_of(cp) {
                        self.steps.remove(&step);
                        self.gates.remove(&step);
                        self.unconfirmed.remove(&step);
                    }
                }
                // Steps skipped because the run failed get another chance.
                self.steps.retain(|_, s| !matches!(s, StepRecordState::Skipped { reason } if reason.starts_with(NOT_STARTED)));
            }
            Event::RunFinished { status } => self.finished = Some(*status),
            Event::StepThroughSkipped { step, reason } => {
                self.steps.insert(
                    step.clone(),
                    StepRecordState::Skipped {
                        reason: format!("{STEP_THROUGH_SKIP} {reason}"),
                    },
                );
            }
            Event::ApprovalRequested { .. }
            | Event::Approval { .. }
            | Event::ManualRequested { .. }
            | Event::ManualConfirmed { .. } => {}
            Event::AttemptFailed { .. }
            | Event::ProcessStarted { .. }
            | Event::Checkpoint { .. }
            | Event::Note { .. }
            | Event::Interrupted { .. } => {}
        }
    }
}

fn is_gate_event(event: &Event) -> bool {
    matches!(
        event,
        Event::ApprovalRequested { .. }
            | Event::Approval { .. }
            | Event::ManualRequested { .. }
            | Event::ManualConfirmed { .. }
    )
}

/// The prefix of a step's skip reason when the operator skipped it in
/// step-through mode.
pub const STEP_THROUGH_SKIP: &str = "skipped in step-through mode:";

/// The prefix of the skip reason for steps not started because the run had
/// already failed; such steps are reconsidered on resume.
pub const NOT_STARTED: &str = "not started:";
