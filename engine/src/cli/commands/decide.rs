//! `lifeboat approve`, `reject` and `confirm`: decide a paused run's human
//! gate from any shell. Each takes the run's lock, replays the journal,
//! checks the decision (the step is waiting for this kind of decision, the
//! identity is allowed, four eyes, no second decision by the same person)
//! and only then appends one record. A refused decision changes nothing.

use crate::cli::error::{exit, CliError};
use crate::cli::{ConfirmArgs, DecideArgs};
use crate::journal::gate_record::{GateKind, GateRecord};
use crate::journal::record::{Decision, Event};
use crate::journal::run_state::{RunState, StepRecordState};
use crate::journal::run_stores::RunStores;
use crate::journal::Journal;
use crate::terminal_text::printable;

/// `approve` (`approve == true`) or `reject`.
pub fn approve(args: DecideArgs, approve: bool) -> Result<i32, CliError> {
    let stores = RunStores::resolve(args.store.as_deref(), args.state_dir.as_deref())?
        .with_holder(args.actor.trim());
    let store = stores.open(&args.run_id)?;
    let _lock = store.lock()?;
    let read = store.read()?;
    let run = RunState::replay(&read.records, &|_| Vec::new());
    let gate = waiting_gate(&run, &args.run_id, &args.step, true)?;
    let Some(request) = &gate.request else {
        return Err(CliError::invalid("internal: gate without request"));
    };
    let decision = if approve {
        Decision::Approved
    } else {
        Decision::Rejected
    };
    let actor = args.actor.trim().to_string();
    gate.check_decider(&args.step, &run.operator, &actor, decision)
        .map_err(|e| CliError::invalid(format!("{e}; nothing was recorded")))?;
    let journal = Journal::new(store, run.last_seq, lifeboat_steps::Redactor::new(), &actor);
    journal.record(Event::Approval {
        step: args.step.clone(),
        decision,
        digest: request.digest.clone(),
        comment: args.comment.clone().filter(|c| !c.trim().is_empty()),
        timed_out: false,
    })?;
    let (prompt, need) = match &request.kind {
        GateKind::Approval {
            prompt,
            min_approvals,
            ..
        } => (prompt.clone(), *min_approvals as usize),
        GateKind::Manual { .. } => (String::new(), 1),
    };
    let run_id = &args.run_id;
    let step = &args.step;
    // The prompt was rendered from step outputs and the name was typed:
    // neither may steer the terminal.
    let prompt = printable(&prompt);
    let actor = printable(&actor);
    let text = if !approve {
        format!(
            "rejected `{step}` as {actor} (\"{prompt}\"); `lifeboat resume {run_id}` fails the step and runs on_failure"
        )
    } else {
        let have = gate.approvers().len() + 1;
        if have >= need {
            format!(
                "approved `{step}` as {actor} (\"{prompt}\"), {have} of {need}; continue with: lifeboat resume {run_id}"
            )
        } else {
            format!(
                "approved `{step}` as {actor} (\"{prompt}\"), {have} of {need}; {} more needed from someone else: lifeboat approve {run_id} {step} --as NAME",
                need - have
            )
        }
    };
    println!("{text}");
    Ok(exit::SUCCESS)
}

/// `confirm`: a manual step was carried out.
pub fn confirm(args: ConfirmArgs) -> Result<i32, CliError> {
    let stores = RunStores::resolve(args.store.as_deref(), args.state_dir.as_deref())?
        .with_holder(args.actor.trim());
    let store = stores.open(&args.run_id)?;
    let _lock = store.lock()?;
    let read = store.read()?;
    let run = RunState::replay(&read.records, &|_| Vec::new());
    let gate = waiting_gate(&run, &args.run_id, &args.step, false)?;
    let Some(request) = &gate.request else {
        return Err(CliError::invalid("internal: gate without request"));
    };
    let actor = args.actor.trim().to_string();
    gate.check_decider(&args.step, &run.operator, &actor, Decision::Approved)
        .map_err(|e| CliError::invalid(format!("{e}; nothing was recorded")))?;
    let checklist = match &request.kind {
        GateKind::Manual { checklist, .. } => checklist.clone(),
        GateKind::Approval { .. } => Vec::new(),
    };
    let journal = Journal::new(store, run.last_seq, lifeboat_steps::Redactor::new(), &actor);
    journal.record(Event::ManualConfirmed {
        step: args.step.clone(),
        digest: request.digest.clone(),
        note: args.note.clone().filter(|n| !n.trim().is_empty()),
        checklist: checklist.clone(),
    })?;
    let items = if checklist.is_empty() {
        String::new()
    } else {
        format!(" with {} checklist item(s)", checklist.len())
    };
    println!(
        "confirmed `{}` as {}{items}; continue with: lifeboat resume {}",
        args.step,
        printable(&actor),
        args.run_id
    );
    Ok(exit::SUCCESS)
}

/// The gate of `step`, if the run is waiting on it for this kind of decision.
fn waiting_gate<'a>(
    run: &'a RunState,
    run_id: &str,
    step: &str,
    approval: bool,
) -> Result<&'a GateRecord, CliError> {
    if run.run_id.is_empty() {
        return Err(CliError::invalid(format!(
            "run `{run_id}` has no start record; its journal is empty or damaged"
        )));
    }
    if let Some(status) = run.finished {
        return Err(CliError::invalid(format!(
            "run `{run_id}` has already finished ({}); there is nothing to decide",
            format!("{status:?}").to_lowercase()
        )));
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
        return Err(CliError::invalid(format!(
            "step `{step}` of run `{run_id}` is not waiting for a decision ({now}); {listing}; nothing was recorded"
        )));
    };
    let is_approval = matches!(
        gate.request.as_ref().map(|r| &r.kind),
        Some(GateKind::Approval { .. })
    );
    if approval && !is_approval {
        return Err(CliError::invalid(format!(
            "step `{step}` is a manual step, not an approval; confirm it with: lifeboat confirm {run_id} {step} --as NAME [--note TEXT]"
        )));
    }
    if !approval && is_approval {
        return Err(CliError::invalid(format!(
            "step `{step}` is an approval, not a manual step; decide it with: lifeboat approve {run_id} {step} --as NAME (or `lifeboat reject`)"
        )));
    }
    Ok(gate)
}
