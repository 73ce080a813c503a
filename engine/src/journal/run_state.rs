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
        /// Their values, sealed to the run's recipients (armoured age).
        sealed_outputs: Option<String>,
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
    /// The public keys secret outputs are sealed to (`run_started`).
    pub recipients: Vec<String>,
    pub started_at: String,
    pub operator: String,
    /// The principal the run's start was signed as (verified when it was
    /// journalled): four eyes compares it on gates that require signatures.
    pub initiator_principal: Option<String>,
    /// The allowed signers file the run checks decisions against, and the
    /// SHA-256 it had at the start.
    pub allowed_signers: Option<String>,
    pub allowed_signers_sha256: Option<String>,
    /// The runbook's top-level `require_signed`.
    pub require_signed: bool,
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
                recipients,
                allowed_signers,
                allowed_signers_sha256,
                require_signed,
                ..
            } => {
                self.initiator_principal = record.signed.as_ref().and_then(|s| s.principal.clone());
                self.allowed_signers = allowed_signers.clone();
                self.allowed_signers_sha256 = allowed_signers_sha256.clone();
                self.require_signed = *require_signed;
                self.launch_dir = launch_dir.clone();
                self.recipients = recipients.to_vec();
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
                sealed_outputs,
                simulated,
                ..
            } => {
                self.unconfirmed.remove(step);
                self.steps.insert(
                    step.clone(),
                    StepRecordState::Succeeded {
                        outputs: outputs.clone(),
                        secret_outputs: secret_outputs.clone(),
                        sealed_outputs: sealed_outputs.clone(),
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
                        sealed_outputs: None,
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
                    self.forget(step);
                }
                if let Some(cp) = from_checkpoint {
                    for step in descendants_of(cp) {
                        self.forget(&step);
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
            | Event::Interrupted { .. }
            | Event::Notified { .. }
            | Event::NotifyFailed { .. } => {}
        }
    }
}

impl RunState {
    /// Forgets what step `step` did, so that it runs again: with a loop's
    /// items (`<step>[<key>]`, which no step id can be), and for one item,
    /// with its loop, which then runs that item again and takes the others
    /// over.
    fn forget(&mut self, step: &str) {
        let mut forgotten = vec![step.to_string()];
        let prefix = format!("{step}[");
        forgotten.extend(
            self.steps
                .keys()
                .chain(self.unconfirmed.keys())
                .filter(|id| id.starts_with(&prefix))
                .cloned(),
        );
        if let Some((parent, _)) = step.strip_suffix(']').and_then(|s| s.split_once('[')) {
            forgotten.push(parent.to_string());
        }
        for id in forgotten {
            self.steps.remove(&id);
            self.gates.remove(&id);
            self.unconfirmed.remove(&id);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::gate_record::GateKind;
    use crate::journal::test_records::{clock_of, records};

    /// Replays `script` (see [`crate::journal::test_records`]) and compares
    /// the state, written out one fact per line, with `expect`. `resume
    /// --from` treats every step named `after_*` as the checkpoint's
    /// descendant.
    fn check(script: &str, expect: &str) {
        let descendants = |_: &str| -> Vec<String> {
            records(script)
                .iter()
                .filter_map(|r| r.event.step().map(str::to_string))
                .filter(|s| s.starts_with("after_"))
                .collect()
        };
        let state = RunState::replay(&records(script), &descendants);
        let actual = dump(&state);
        assert_eq!(
            actual.trim(),
            expect.trim(),
            "\n--- actual ---\n{actual}\n--- expected ---\n{expect}"
        );
    }

    fn dump(s: &RunState) -> String {
        let mut out = format!(
            "run {} of {} by {} at {}, digest {}\n",
            s.run_id,
            s.runbook,
            s.operator,
            clock_of(&s.started_at),
            s.digest
        );
        let mut steps: Vec<_> = s.steps.iter().collect();
        steps.sort_by_key(|(id, _)| id.as_str());
        for (id, state) in steps {
            let text = match state {
                StepRecordState::Interrupted { attempt } => {
                    format!("interrupted (attempt {attempt})")
                }
                StepRecordState::Succeeded {
                    outputs, simulated, ..
                } => format!(
                    "succeeded {}{}",
                    Value::Object(outputs.clone()),
                    if *simulated { " (simulated)" } else { "" }
                ),
                StepRecordState::Failed { error } => format!("failed: {error}"),
                StepRecordState::Skipped { reason } => format!("skipped: {reason}"),
                StepRecordState::Waiting { reason, .. } => format!("waiting: {reason}"),
            };
            out.push_str(&format!("step {id}: {text}\n"));
        }
        for (id, mark) in &s.unconfirmed {
            let mark = match mark {
                None => "not marked".to_string(),
                Some(m) => format!("marked {m:?}").to_lowercase(),
            };
            out.push_str(&format!("unconfirmed {id}: {mark}\n"));
        }
        let mut gates: Vec<_> = s.gates.iter().collect();
        gates.sort_by_key(|(id, _)| id.as_str());
        for (id, gate) in gates {
            let asked = match &gate.request {
                Some(r) => {
                    let kind = match r.kind {
                        GateKind::Approval { .. } => "approval",
                        GateKind::Manual { .. } => "manual",
                    };
                    format!("{kind} {} since {}", r.digest, clock_of(&r.since))
                }
                None => "not asked".into(),
            };
            let decisions: Vec<String> = gate
                .decisions
                .iter()
                .map(|d| format!("{:?} by {} ({})", d.decision, d.actor, d.digest).to_lowercase())
                .collect();
            out.push_str(&format!("gate {id}: {asked}; [{}]\n", decisions.join(", ")));
        }
        let mut processes: Vec<_> = s.processes.iter().collect();
        processes.sort_by_key(|(id, _)| id.as_str());
        for (id, p) in processes {
            out.push_str(&format!("process {id}: {}\n", p.pgid));
        }
        let finished = match s.finished {
            Some(status) => format!("{status:?}").to_lowercase(),
            None => "no".into(),
        };
        out.push_str(&format!("finished: {finished}\n"));
        out.push_str(&format!(
            "last: #{} at {}\n",
            s.last_seq,
            clock_of(&s.last_ts)
        ));
        out
    }

    #[test]
    fn a_clean_run() {
        check(
            "
            00:00 run_started
            00:01 step_started fetch
            00:02 process_started fetch 4242
            00:11 step_succeeded fetch path=/tmp/x size=12
            00:12 step_started restore
            00:30 step_succeeded restore
            00:31 run_finished succeeded
            ",
            r#"
run r1 of rb by alice at 00:00.000, digest d0
step fetch: succeeded {"path":"/tmp/x","size":12}
step restore: succeeded {}
finished: succeeded
last: #7 at 00:31.000
            "#,
        );
    }

    #[test]
    fn a_step_started_and_never_finished_is_interrupted_and_unconfirmed() {
        check(
            "
            00:00 run_started
            00:01 step_started restore 1
            00:02 process_started restore 4242
            ",
            "
run r1 of rb by alice at 00:00.000, digest d0
step restore: interrupted (attempt 1)
unconfirmed restore: not marked
process restore: 4242
finished: no
last: #3 at 00:02.000
            ",
        );
    }

    #[test]
    fn a_failed_attempt_then_a_success_is_a_success() {
        check(
            "
            00:00 run_started
            00:01 step_started health
            00:02 attempt_failed health 1 connection refused
            00:04 attempt_failed health 2 connection refused
            00:08 step_succeeded health status=200
            ",
            r#"
run r1 of rb by alice at 00:00.000, digest d0
step health: succeeded {"status":200}
finished: no
last: #5 at 00:08.000
            "#,
        );
    }

    #[test]
    fn a_mark_settles_an_interrupted_step_until_it_runs_again() {
        check(
            "
            00:00 run_started
            00:01 step_started promote
            00:02 process_started promote 77
            00:05 step_started drop_old
            01:00 @bob marked promote done
            01:10 @bob marked drop_old failed
            ",
            "
run r1 of rb by alice at 00:00.000, digest d0
step drop_old: failed: marked failed by bob
step promote: succeeded {}
unconfirmed drop_old: marked failed
unconfirmed promote: marked done
finished: no
last: #6 at 01:10.000
            ",
        );
        // Once the step starts again, the mark no longer stands.
        check(
            "
            00:00 run_started
            00:01 step_started drop_old
            01:10 @bob marked drop_old failed
            02:00 resumed
            02:01 step_started drop_old
            02:03 step_succeeded drop_old
            ",
            "
run r1 of rb by alice at 00:00.000, digest d0
step drop_old: succeeded {}
finished: no
last: #6 at 02:03.000
            ",
        );
    }

    #[test]
    fn a_resume_reopens_a_failed_run_and_retries_steps_not_started() {
        check(
            "
            00:00 run_started
            00:01 step_started restore
            00:02 step_failed restore exit status 1
            00:02 step_skipped verify not started: `restore` failed
            00:02 step_skipped optional `when` was false
            00:03 run_finished failed
            05:00 resumed digest=d1
            ",
            "
run r1 of rb by alice at 00:00.000, digest d1
step optional: skipped: `when` was false
step restore: failed: exit status 1
finished: no
last: #7 at 05:00.000
            ",
        );
    }

    #[test]
    fn a_resume_with_redo_or_from_a_checkpoint_forgets_those_steps() {
        check(
            "
            00:00 run_started
            00:01 step_succeeded cp
            00:02 step_started after_cp
            00:03 step_succeeded after_cp
            00:04 step_started other
            00:05 step_succeeded other
            00:06 run_finished succeeded
            01:00 resumed from=cp
            ",
            "
run r1 of rb by alice at 00:00.000, digest d0
step cp: succeeded {}
step other: succeeded {}
finished: no
last: #8 at 01:00.000
            ",
        );
        check(
            "
            00:00 run_started
            00:01 step_started a
            00:02 step_succeeded a
            00:03 step_started b
            00:04 step_succeeded b
            00:05 run_finished succeeded
            01:00 resumed redo=a
            ",
            "
run r1 of rb by alice at 00:00.000, digest d0
step b: succeeded {}
finished: no
last: #7 at 01:00.000
            ",
        );
    }

    #[test]
    fn a_paused_gate_keeps_its_question_and_decisions_until_it_ends() {
        let paused = "
            00:00 run_started
            00:01 approval_requested go q1
            00:01 waiting go waiting for approval: 0 of 1 so far
            00:02 interrupted paused
            03:00 @bob approval go approved q1
            ";
        check(
            paused,
            "
run r1 of rb by alice at 00:00.000, digest d0
step go: waiting: waiting for approval: 0 of 1 so far
gate go: approval q1 since 00:01.000; [approved by bob (q1)]
finished: no
last: #5 at 03:00.000
            ",
        );
        // The resumed engine counts the decision and the gate succeeds:
        // its record is consumed.
        check(
            &format!("{paused}\n04:00 resumed\n04:00 step_succeeded go approvers=[\"bob\"]"),
            r#"
run r1 of rb by alice at 00:00.000, digest d0
step go: succeeded {"approvers":["bob"]}
finished: no
last: #7 at 04:00.000
            "#,
        );
    }

    #[test]
    fn a_gate_asked_again_with_another_question_keeps_old_decisions_apart() {
        check(
            "
            00:00 run_started
            00:01 manual_requested dns m1
            00:02 @bob manual_confirmed dns m1
            00:03 manual_requested dns m2
            ",
            "
run r1 of rb by alice at 00:00.000, digest d0
gate dns: manual m2 since 00:03.000; [approved by bob (m1)]
finished: no
last: #4 at 00:03.000
            ",
        );
    }

    #[test]
    fn run_finished_gives_the_status_and_a_later_resume_clears_it() {
        check(
            "
            00:00 run_started
            00:01 step_started a
            00:02 step_failed a boom
            00:03 run_finished failed
            ",
            "
run r1 of rb by alice at 00:00.000, digest d0
step a: failed: boom
finished: failed
last: #4 at 00:03.000
            ",
        );
    }

    #[test]
    fn a_step_skipped_in_step_through_mode_says_so() {
        check(
            "
            00:00 run_started
            00:01 step_through_skipped wipe operator said no
            ",
            "
run r1 of rb by alice at 00:00.000, digest d0
step wipe: skipped: skipped in step-through mode: operator said no
finished: no
last: #2 at 00:01.000
            ",
        );
    }
}
