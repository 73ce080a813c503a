//! A human decision (an approval or rejection, a confirmation, a mark, a
//! note) checked against a run as its journal says it is now, and the
//! run's inbox taken into its journal.
//!
//! One definition for every place a decision enters a run: the decision
//! commands check with [`check`] before they journal or post, and the
//! driving engine (between steps, at a gate, and at `resume` before replay)
//! checks each inbox entry again with [`ingest`], because the run may have
//! moved on since it was posted.
//!
//! Ingestion is idempotent: a journalled entry carries the entry's name
//! ([`Record::inbox`]), an entry whose name is already journalled is only
//! removed, so a crash between journalling and removing never journals a
//! decision twice. An entry that is no longer valid is journalled as a
//! `note` by `lifeboat` saying who posted what and why it was refused, so
//! the journal shows every decision that reached the run.

use std::collections::HashSet;

use crate::journal::gate_record::{GateKind, GateRecord};
use crate::journal::inbox::InboxItem;
use crate::journal::record::{Decision, Event, Record, RunStatus};
use crate::journal::run_state::{RunState, StepRecordState};
use crate::journal::run_store::StoreError;
use crate::journal::Journal;

/// The actor of the notes the engine writes about refused entries.
pub const ENGINE_ACTOR: &str = "lifeboat";

/// Whether `actor` may record `event` in the run now; the error is the
/// message for the operator (it says what to do instead).
pub fn check(run: &RunState, run_id: &str, actor: &str, event: &Event) -> Result<(), String> {
    let refused = |e: String| format!("{e}; nothing was recorded");
    match event {
        Event::Approval {
            step,
            decision,
            digest,
            ..
        } => {
            let gate = waiting_gate(run, run_id, step, true)?;
            same_question(gate, run_id, step, digest, "approve")?;
            gate.check_decider(step, &run.operator, actor, *decision)
                .map_err(refused)
        }
        Event::ManualConfirmed { step, digest, .. } => {
            let gate = waiting_gate(run, run_id, step, false)?;
            same_question(gate, run_id, step, digest, "confirm")?;
            gate.check_decider(step, &run.operator, actor, Decision::Approved)
                .map_err(refused)
        }
        Event::Marked { step, .. } => check_mark(run, run_id, step),
        Event::Note { .. } => Ok(()),
        other => Err(format!(
            "a `{}` record is not a decision; only approvals, rejections, confirmations, marks and notes are taken from the inbox",
            other.name()
        )),
    }
}

/// The gate of `step`, if the run is waiting on it for this kind of decision.
pub fn waiting_gate<'a>(
    run: &'a RunState,
    run_id: &str,
    step: &str,
    approval: bool,
) -> Result<&'a GateRecord, String> {
    if run.run_id.is_empty() {
        return Err(format!(
            "run `{run_id}` has no start record; its journal is empty or damaged"
        ));
    }
    if let Some(status) = run.finished {
        return Err(format!(
            "run `{run_id}` has already finished ({}); there is nothing to decide",
            format!("{status:?}").to_lowercase()
        ));
    }
    let waiting: Vec<&str> = {
        let mut w: Vec<&str> = run
            .gates
            .iter()
            .filter(|(id, g)| {
                g.request.is_some()
                    && matches!(run.steps.get(*id), Some(StepRecordState::Waiting { .. }))
            })
            .map(|(id, _)| id.as_str())
            .collect();
        w.sort();
        w
    };
    let listing = if waiting.is_empty() {
        "no step of this run is waiting for a decision".to_string()
    } else {
        format!("steps waiting for a decision: {}", waiting.join(", "))
    };
    let gate = run.gates.get(step).filter(|g| g.request.is_some());
    let Some(gate) = gate.filter(|_| waiting.contains(&step)) else {
        let now = match run.steps.get(step) {
            Some(StepRecordState::Succeeded { .. }) => "it succeeded",
            Some(StepRecordState::Failed { .. }) => "it failed",
            Some(StepRecordState::Skipped { .. }) => "it was skipped",
            Some(StepRecordState::Interrupted { .. }) => "it was interrupted",
            Some(StepRecordState::Waiting { .. }) => {
                "it waits for `lifeboat mark`, not for an approval"
            }
            None => "the run has not reached it",
        };
        return Err(format!(
            "step `{step}` of run `{run_id}` is not waiting for a decision ({now}); {listing}; nothing was recorded"
        ));
    };
    let is_approval = matches!(
        gate.request.as_ref().map(|r| &r.kind),
        Some(GateKind::Approval { .. })
    );
    if approval && !is_approval {
        return Err(format!(
            "step `{step}` is a manual step, not an approval; confirm it with: lifeboat confirm {run_id} {step} --as NAME [--note TEXT]"
        ));
    }
    if !approval && is_approval {
        return Err(format!(
            "step `{step}` is an approval, not a manual step; decide it with: lifeboat approve {run_id} {step} --as NAME (or `lifeboat reject`)"
        ));
    }
    Ok(gate)
}

/// A decision answers the question it was given for: a gate that asked
/// again (its question or what it permits changed) needs a new decision.
fn same_question(
    gate: &GateRecord,
    run_id: &str,
    step: &str,
    digest: &str,
    verb: &str,
) -> Result<(), String> {
    match &gate.request {
        Some(r) if r.digest == digest => Ok(()),
        _ => Err(format!(
            "step `{step}` asked a different question since this decision was given (digest `{digest}`); nothing was recorded: read the question with `lifeboat status {run_id}` and {verb} again"
        )),
    }
}

/// Whether `step` may be marked: a step interrupted mid-step, or waiting.
pub fn check_mark(run: &RunState, run_id: &str, step: &str) -> Result<(), String> {
    if run.finished == Some(RunStatus::Succeeded) {
        // Marking asks to change a step's outcome; a succeeded run has
        // none left to change, so the request is refused (exit 2).
        return Err(format!(
            "run `{run_id}` already succeeded; there is nothing to mark (nothing changed)"
        ));
    }
    match run.steps.get(step) {
        // Interrupted mid-step, whatever happened since (a pause, an earlier
        // mark, a failed run that skipped it): a human may say, or correct,
        // how it ended until it runs again.
        Some(_) if run.unconfirmed.contains_key(step) => Ok(()),
        Some(StepRecordState::Waiting { .. } | StepRecordState::Interrupted { .. }) => Ok(()),
        Some(other) => Err(format!(
            "step `{step}` of run `{run_id}` is not waiting for a decision (it is {}); nothing changed",
            describe(other)
        )),
        None => Err(format!(
            "step `{step}` of run `{run_id}` has not started; only an interrupted step can be marked"
        )),
    }
}

fn describe(state: &StepRecordState) -> &'static str {
    match state {
        StepRecordState::Succeeded { .. } => "succeeded",
        StepRecordState::Failed { .. } => "failed",
        StepRecordState::Skipped { .. } => "skipped",
        StepRecordState::Interrupted { .. } => "interrupted",
        StepRecordState::Waiting { .. } => "waiting",
    }
}

/// What [`ingest`] did with one inbox entry.
#[derive(Debug, Clone)]
pub enum Taken {
    /// Journalled as posted, with the poster as the record's actor.
    Recorded(Record),
    /// No longer valid: journalled as a `note` by `lifeboat` saying who
    /// posted what, and why it was refused.
    Refused(Record),
}

impl Taken {
    pub fn record(&self) -> &Record {
        match self {
            Taken::Recorded(r) | Taken::Refused(r) => r,
        }
    }
}

/// Takes inbox entries into the journal, oldest first: each is checked
/// against the run as journalled (every earlier entry included), journalled
/// durably (or, refused, journalled as a note saying why), and only then
/// removed. Entries whose name is already journalled (a crash between
/// journalling and removing) are only removed.
pub fn ingest(journal: &Journal, items: Vec<InboxItem>) -> Result<Vec<Taken>, StoreError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    journal.flush()?;
    let mut records = journal.read()?.records;
    let done: HashSet<String> = records.iter().filter_map(|r| r.inbox.clone()).collect();
    let mut run = RunState::replay(&records, &|_| Vec::new());
    let run_id = run.run_id.clone();
    let mut taken = Vec::new();
    let mut names = Vec::new();
    for item in items {
        if !done.contains(&item.name) {
            let actor = item.entry.actor.trim().to_string();
            let event = item.entry.event.clone();
            let outcome = match check(&run, &run_id, &actor, &event) {
                Ok(()) => Taken::Recorded(journal.record_from_inbox(&actor, event, &item.name)?),
                Err(reason) => {
                    let text = format!(
                        "refused {} by `{actor}` (posted at {} from `{}`): {reason}",
                        describe_decision(&item.entry.event),
                        item.entry.posted_at,
                        item.entry.machine
                    );
                    let record = journal.record_from_inbox(
                        ENGINE_ACTOR,
                        Event::Note { text },
                        &item.name,
                    )?;
                    Taken::Refused(record)
                }
            };
            records.push(outcome.record().clone());
            run = RunState::replay(&records, &|_| Vec::new());
            taken.push(outcome);
        }
        names.push(item.name);
    }
    journal.remove_inbox(&names)?;
    Ok(taken)
}

/// "the approval of `gate`", for a refusal note.
pub fn describe_decision(event: &Event) -> String {
    match event {
        Event::Approval {
            step,
            decision: Decision::Approved,
            ..
        } => format!("the approval of `{step}`"),
        Event::Approval { step, .. } => format!("the rejection of `{step}`"),
        Event::ManualConfirmed { step, .. } => format!("the confirmation of `{step}`"),
        Event::Marked { step, .. } => format!("the mark of `{step}`"),
        Event::Note { .. } => "a note".to_string(),
        other => format!("a `{}` record", other.name()),
    }
}
