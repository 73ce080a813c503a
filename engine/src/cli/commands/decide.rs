//! `lifeboat approve`, `reject` and `confirm`: decide a paused run's human
//! gate from any shell, while an engine drives the run or not. Each replays
//! the journal, checks the decision (the step is waiting for this kind of
//! decision, the identity is allowed, four eyes, no second decision by the
//! same person: `journal/decision.rs`) and only then records it, under the
//! run's lock or through the driving engine (`deliver.rs`). A refused
//! decision changes nothing.

use crate::cli::commands::deliver::{Delivery, OpenRun};
use crate::cli::error::{exit, CliError};
use crate::cli::{ConfirmArgs, DecideArgs};
use crate::journal::decision;
use crate::journal::gate_record::GateKind;
use crate::journal::record::{Decision, Event};
use crate::terminal_text::printable;

/// `approve` (`approve == true`) or `reject`.
pub fn approve(args: DecideArgs, approve: bool) -> Result<i32, CliError> {
    let stores = args.location.stores()?.with_holder(args.actor.trim());
    let open = OpenRun::open(stores.open(&args.run_id)?)?.with_given_signers(&args.sign);
    let run = &open.run;
    let gate =
        decision::waiting_gate(run, &args.run_id, &args.step, true).map_err(CliError::invalid)?;
    let Some(request) = &gate.request else {
        return Err(CliError::invalid("internal: gate without request"));
    };
    let decision = if approve {
        Decision::Approved
    } else {
        Decision::Rejected
    };
    let actor = args.actor.trim().to_string();
    let event = Event::Approval {
        step: args.step.clone(),
        decision,
        digest: request.digest.clone(),
        comment: args.comment.clone().filter(|c| !c.trim().is_empty()),
        timed_out: false,
    };
    let signing = open.sign_and_check(&args.run_id, &actor, &event, &args.sign)?;
    let (prompt, need) = match &request.kind {
        GateKind::Approval {
            prompt,
            min_approvals,
            ..
        } => (prompt.clone(), *min_approvals as usize),
        GateKind::Manual { .. } => (String::new(), 1),
    };
    let have = gate.approvers().len() + 1;
    let delivery = open.deliver(&actor, event, signing.signed)?;
    let run_id = &args.run_id;
    let step = &args.step;
    // The prompt was rendered from step outputs and the name was typed:
    // neither may steer the terminal.
    let prompt = printable(&prompt);
    let actor = printable(&actor);
    let by = delivery.note(run_id);
    let text = if !approve {
        let head = format!("rejected `{step}` as {actor} (\"{prompt}\")");
        match (&by, delivery) {
            (Some(by), Delivery::ByEngine) => {
                format!("{head} {by}; the step fails and on_failure runs")
            }
            (Some(by), _) => format!("{head} {by}"),
            (None, _) => {
                format!("{head}; `lifeboat resume {run_id}` fails the step and runs on_failure")
            }
        }
    } else {
        let head = format!("approved `{step}` as {actor} (\"{prompt}\"), {have} of {need}");
        let head = match &by {
            Some(by) => format!("{head} {by}"),
            None => head,
        };
        if have >= need {
            match by {
                Some(_) => head,
                None => format!("{head}; continue with: lifeboat resume {run_id}"),
            }
        } else {
            format!(
                "{head}; {} more needed from someone else: lifeboat approve {run_id} {step} --as NAME",
                need - have
            )
        }
    };
    println!("{text}");
    if let Some(line) = signing.line {
        println!("{line}");
    }
    Ok(exit::SUCCESS)
}

/// `confirm`: a manual step was carried out.
pub fn confirm(args: ConfirmArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?.with_holder(args.actor.trim());
    let open = OpenRun::open(stores.open(&args.run_id)?)?.with_given_signers(&args.sign);
    let run = &open.run;
    let gate =
        decision::waiting_gate(run, &args.run_id, &args.step, false).map_err(CliError::invalid)?;
    let Some(request) = &gate.request else {
        return Err(CliError::invalid("internal: gate without request"));
    };
    let actor = args.actor.trim().to_string();
    let checklist = match &request.kind {
        GateKind::Manual { checklist, .. } => checklist.clone(),
        GateKind::Approval { .. } => Vec::new(),
    };
    let event = Event::ManualConfirmed {
        step: args.step.clone(),
        digest: request.digest.clone(),
        note: args.note.clone().filter(|n| !n.trim().is_empty()),
        checklist: checklist.clone(),
    };
    let signing = open.sign_and_check(&args.run_id, &actor, &event, &args.sign)?;
    let delivery = open.deliver(&actor, event, signing.signed)?;
    let items = if checklist.is_empty() {
        String::new()
    } else {
        format!(" with {} checklist item(s)", checklist.len())
    };
    let head = format!("confirmed `{}` as {}{items}", args.step, printable(&actor));
    match delivery.note(&args.run_id) {
        Some(by) => println!("{head} {by}"),
        None => println!("{head}; continue with: lifeboat resume {}", args.run_id),
    }
    if let Some(line) = signing.line {
        println!("{line}");
    }
    Ok(exit::SUCCESS)
}
