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

use crate::journal::allowed_signers::AllowedSigners;
use crate::journal::gate_record::{GateKind, GateRecord};
use crate::journal::inbox::InboxItem;
use crate::journal::record::{Decision, Event, Record, RunStatus, Signed};
use crate::journal::run_state::{RunState, StepRecordState};
use crate::journal::run_store::StoreError;
use crate::journal::signature::{verify_event, Verdict};
use crate::journal::signer::Signer;
use crate::journal::Journal;

/// The actor of the notes the engine writes about refused entries.
pub const ENGINE_ACTOR: &str = "lifeboat";

/// Who gives a decision: the typed name and the signature, if any.
#[derive(Debug, Clone, Copy)]
pub struct Decider<'a> {
    pub actor: &'a str,
    pub signed: Option<&'a Signed>,
}

impl<'a> Decider<'a> {
    pub fn new(actor: &'a str, signed: Option<&'a Signed>) -> Self {
        Self { actor, signed }
    }
}

/// Whether `decider` may record `event` in the run now; the error is the
/// message for the operator (it says what to do instead). `driven`: an
/// engine drives the run (the decision goes through its inbox), so a mark
/// may only answer a step the engine asked about: a step that replays as
/// interrupted may be one it is running. `signers`: the run's allowed
/// signers file, which a signature is verified against. `Ok` carries the
/// principal the signature was verified as, to journal with it.
pub fn check(
    run: &RunState,
    run_id: &str,
    decider: &Decider,
    event: &Event,
    driven: bool,
    signers: Option<&AllowedSigners>,
) -> Result<Option<String>, String> {
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
            check_gate(gate, run, run_id, decider, event, signers, *decision)
        }
        Event::ManualConfirmed { step, digest, .. } => {
            let gate = waiting_gate(run, run_id, step, false)?;
            same_question(gate, run_id, step, digest, "confirm")?;
            check_gate(gate, run, run_id, decider, event, signers, Decision::Approved)
        }
        Event::Marked { step, .. } => {
            if driven {
                check_mark_while_driven(run, run_id, step)?;
            } else {
                check_mark(run, run_id, step)?;
            }
            let what = format!("run `{run_id}` (its runbook's `require_signed`)");
            verified(run_id, decider, event, signers, run.require_signed, &what)
                .map_err(refused)
        }
        Event::Note { .. } => Ok(None),
        other => Err(format!(
            "a `{}` record is not a decision; only approvals, rejections, confirmations, marks and notes are taken from the inbox",
            other.name()
        )),
    }
}

/// The decision rules of one gate (`check_decider`) applied to whoever
/// counts for it: the verified principal on a gate that requires
/// signatures, the typed name otherwise; the initiator is the run's (the
/// scheduler's terminal question calls [`check_gate_for`]).
pub fn check_gate(
    gate: &GateRecord,
    run: &RunState,
    run_id: &str,
    decider: &Decider,
    event: &Event,
    signers: Option<&AllowedSigners>,
    decision: Decision,
) -> Result<Option<String>, String> {
    check_gate_for(
        gate,
        &Initiator {
            name: &run.operator,
            principal: run.initiator_principal.as_deref(),
        },
        run_id,
        decider,
        event,
        signers,
        decision,
    )
}

/// Who started a run: the typed name, and the principal its start was
/// signed as.
#[derive(Debug, Clone, Copy)]
pub struct Initiator<'a> {
    pub name: &'a str,
    pub principal: Option<&'a str>,
}

/// [`check_gate`] with the initiator given (the engine knows it without a
/// replay).
pub fn check_gate_for(
    gate: &GateRecord,
    initiator: &Initiator,
    run_id: &str,
    decider: &Decider,
    event: &Event,
    signers: Option<&AllowedSigners>,
    decision: Decision,
) -> Result<Option<String>, String> {
    let step = event.step().unwrap_or_default();
    let required = gate.require_signed();
    let what = format!("step `{step}` (`require_signed`)");
    let principal = verified(run_id, decider, event, signers, required, &what)
        .map_err(|e| format!("{e}; nothing was recorded"))?;
    if !required {
        gate.check_decider(step, initiator.name, decider.actor, decision)
            .map_err(|e| format!("{e}; nothing was recorded"))?;
        return Ok(principal);
    }
    let who = principal.clone().unwrap_or_default();
    let distinct = matches!(
        gate.request.as_ref().map(|r| &r.kind),
        Some(GateKind::Approval {
            distinct_from_initiator: true,
            ..
        })
    );
    let initiator = match initiator.principal {
        Some(p) => p,
        None if distinct && decision == Decision::Approved => {
            return Err(format!(
                "run `{run_id}` was started without a verified signature, so who started it is not known and four eyes (distinct_from_initiator) cannot be checked for `{step}`; nothing was recorded: start the run signed (an SSH key in ssh-agent, or --sign-with KEYFILE) by a key in the allowed signers file"
            ))
        }
        None => "",
    };
    gate.check_decider(step, initiator, &who, decision)
        .map_err(|e| {
            format!("{e} (decisions on `{step}` count by the principal of their signing key); nothing was recorded")
        })?;
    Ok(principal)
}

/// Signs `event` by `actor` with `signer` (if any) and verifies it
/// against `signers`: the signature to journal, with the principal it
/// verified as. An error when `required` (by `what`: "the take-over", "the
/// run's start") and it is not signed by a key the file lists. For the
/// records that are not a gate's decision: a run's start, a take-over, a
/// mark answered at a terminal.
pub fn sign_checked(
    signer: Option<&Signer>,
    run_id: &str,
    actor: &str,
    event: &Event,
    signers: Option<&AllowedSigners>,
    required: bool,
    what: &str,
) -> Result<Option<Signed>, String> {
    let mut signed = signer
        .map(|s| s.sign_event(run_id, actor, event))
        .transpose()?;
    let principal = verified(
        run_id,
        &Decider::new(actor, signed.as_ref()),
        event,
        signers,
        required,
        what,
    )?;
    if let Some(s) = signed.as_mut() {
        s.principal = principal;
    }
    Ok(signed)
}

/// The principal `decider`'s signature verifies as, if it does; an error
/// when `required` (by `what`) and it does not.
fn verified(
    run_id: &str,
    decider: &Decider,
    event: &Event,
    signers: Option<&AllowedSigners>,
    required: bool,
    what: &str,
) -> Result<Option<String>, String> {
    let verdict = match (decider.signed, signers) {
        (None, _) => Verdict::Unsigned,
        (Some(_), None) => {
            if required {
                return Err(format!(
                    "{what} requires a signed decision, but run `{run_id}` has no allowed signers file to check signatures against"
                ));
            }
            return Ok(None);
        }
        (Some(signed), Some(signers)) => {
            verify_event(run_id, decider.actor, event, Some(signed), signers)
        }
    };
    match verdict {
        Verdict::Verified { principal, .. } => Ok(Some(principal)),
        _ if !required => Ok(None),
        Verdict::Unsigned => Err(format!(
            "{what} requires a decision signed with an SSH key of the allowed signers file, and this one is not signed: load your key into ssh-agent (`ssh-add`) or pass --sign-with KEYFILE (not --no-sign)"
        )),
        Verdict::Unverified { reason, .. } => Err(format!(
            "the signature of this decision is not accepted: {reason}; {what} requires a decision signed by a key of the allowed signers file"
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

/// While an engine drives the run, only a step it waits on `lifeboat mark`
/// for may be marked: a step it is running replays as interrupted, and a
/// human gate is decided by `approve`/`reject` or `confirm`.
fn check_mark_while_driven(run: &RunState, run_id: &str, step: &str) -> Result<(), String> {
    check_mark(run, run_id, step)?;
    if run.gates.contains_key(step) {
        return Err(format!(
            "step `{step}` of run `{run_id}` is a human gate: decide it with `lifeboat approve`/`reject` or `lifeboat confirm`, not `mark`; nothing changed"
        ));
    }
    match run.steps.get(step) {
        Some(StepRecordState::Waiting { .. }) => Ok(()),
        _ => Err(format!(
            "step `{step}` of run `{run_id}` is not waiting for `lifeboat mark`: an engine drives the run and may still be running it; nothing changed (mark it once the run waits for it; `lifeboat status {run_id}` shows what the run waits for)"
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
            let outcome = match &item.entry {
                Ok(entry) => {
                    let actor = entry.actor.trim().to_string();
                    let event = entry.event.clone();
                    let decider = Decider::new(&actor, entry.signed.as_ref());
                    match check(&run, &run_id, &decider, &event, true, journal.signers()) {
                        Ok(principal) => {
                            // The signature is journalled as posted; only
                            // the principal it was verified as is ours.
                            let signed = entry.signed.clone().map(|mut s| {
                                s.principal = principal;
                                s
                            });
                            Taken::Recorded(journal.record_signed(
                                Some(&actor),
                                event,
                                signed,
                                Some(&item.name),
                            )?)
                        }
                        Err(reason) => {
                            let text = format!(
                                "refused {} by `{actor}` (posted at {} from `{}`): {reason}",
                                describe_decision(&entry.event),
                                entry.posted_at,
                                entry.machine
                            );
                            Taken::Refused(journal.record_from_inbox(
                                ENGINE_ACTOR,
                                Event::Note { text },
                                &item.name,
                            )?)
                        }
                    }
                }
                // One unreadable entry never holds up the others: it is
                // journalled as refused, then removed like any other.
                Err(problem) => {
                    let text = format!(
                        "refused the inbox entry `{}`: {problem}; it was removed and nothing was recorded from it: post the decision again with `lifeboat approve`, `reject`, `confirm`, `mark` or `note`",
                        item.name
                    );
                    Taken::Refused(journal.record_from_inbox(
                        ENGINE_ACTOR,
                        Event::Note { text },
                        &item.name,
                    )?)
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

/// Whether a decision carries text someone typed (a comment, a note): the
/// only part of it that could hold a pasted secret. Only an engine that
/// knows the run's secrets journals such a decision (`docs/shared-runs.md`).
pub fn has_free_text(event: &Event) -> bool {
    match event {
        Event::Approval { comment, .. } => comment.as_ref().is_some_and(|c| !c.trim().is_empty()),
        Event::ManualConfirmed { note, .. } => note.as_ref().is_some_and(|n| !n.trim().is_empty()),
        Event::Note { .. } => true,
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::journal::inbox::InboxEntry;
    use crate::journal::local_run_store::LocalRunStore;
    use crate::journal::run_store::RunStore;
    use crate::journal::test_records::records;

    /// A run waiting at a 1-of-1 gate `g` (digest `q1`), in a local store.
    fn waiting_run(dir: &std::path::Path) -> (Arc<LocalRunStore>, Journal) {
        let store = Arc::new(LocalRunStore::create(dir, "r1").unwrap());
        let recs = records(
            "00:00 run_started
             00:01 approval_requested g q1
             00:01 waiting g waiting for approval",
        );
        store.append(&recs).unwrap();
        let journal = Journal::new(
            store.clone(),
            store.read().unwrap().tail(),
            lifeboat_steps::Redactor::new(),
            "alice",
        );
        (store, journal)
    }

    fn approval(digest: &str) -> Event {
        Event::Approval {
            step: "g".into(),
            decision: Decision::Approved,
            digest: digest.into(),
            comment: None,
            timed_out: false,
        }
    }

    #[test]
    fn an_entry_is_journalled_once_and_a_stale_one_is_refused_in_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let (store, journal) = waiting_run(dir.path());
        store
            .post_decision(&InboxEntry::new("bob", approval("q1")))
            .unwrap();
        store
            .post_decision(&InboxEntry::new("carol", approval("q1")))
            .unwrap();
        store
            .post_decision(&InboxEntry::new("dave", approval("q0")))
            .unwrap();
        let items = store.list_inbox().unwrap();
        let again = items.clone();
        let taken = ingest(&journal, items).unwrap();
        assert_eq!(taken.len(), 3);
        assert!(matches!(&taken[0], Taken::Recorded(r) if r.actor == "bob"));
        for refused in &taken[1..] {
            let Taken::Refused(r) = refused else {
                panic!("not refused: {refused:?}")
            };
            assert_eq!(r.actor, ENGINE_ACTOR);
            assert!(r.inbox.is_some());
        }
        let Event::Note { text } = &taken[1].record().event else {
            panic!()
        };
        assert!(
            text.contains("already has the 1 approval(s) it needs (bob)"),
            "{text}"
        );
        assert!(store.list_inbox().unwrap().is_empty());
        // Delivered again (a crash before the removal): nothing more.
        for item in &again {
            store.post_decision(item.entry.as_ref().unwrap()).unwrap();
        }
        let renamed = store.list_inbox().unwrap();
        let same_names: Vec<InboxItem> = again
            .into_iter()
            .zip(renamed)
            .map(|(old, new)| {
                std::fs::rename(
                    dir.path().join("r1/inbox").join(&new.name),
                    dir.path().join("r1/inbox").join(&old.name),
                )
                .unwrap();
                old
            })
            .collect();
        assert!(ingest(&journal, same_names).unwrap().is_empty());
        assert_eq!(store.read().unwrap().records.len(), 6);
        assert!(store.list_inbox().unwrap().is_empty());
    }

    #[test]
    fn an_unreadable_entry_is_refused_in_a_note_and_the_others_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let (store, journal) = waiting_run(dir.path());
        let inbox = dir.path().join("r1/inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        // Sorts first: the oldest entry, and not a decision.
        let bad = "00000000T000000.000000000Z-0000000000000000.json";
        std::fs::write(inbox.join(bad), b"{\"v\": \"hunter2-hunter2\"").unwrap();
        store
            .post_decision(&InboxEntry::new("bob", approval("q1")))
            .unwrap();
        let items = store.list_inbox().unwrap();
        assert_eq!(items.len(), 2);
        assert!(items[0].entry.is_err());
        let taken = ingest(&journal, items).unwrap();
        let Taken::Refused(refusal) = &taken[0] else {
            panic!("not refused: {taken:?}")
        };
        assert_eq!(refusal.actor, ENGINE_ACTOR);
        assert_eq!(refusal.inbox.as_deref(), Some(bad));
        let Event::Note { text } = &refusal.event else {
            panic!()
        };
        assert!(
            text.starts_with(&format!("refused the inbox entry `{bad}`: ")),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(matches!(&taken[1], Taken::Recorded(r) if r.actor == "bob"));
        assert!(store.list_inbox().unwrap().is_empty());
    }

    #[test]
    fn an_entry_is_journalled_redacted_with_the_runs_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = waiting_run(dir.path());
        let redactor = lifeboat_steps::Redactor::new();
        redactor.add("tok-8d1fQz7Wv3pXk2Lm");
        let journal = Journal::new(
            store.clone(),
            store.read().unwrap().tail(),
            redactor,
            "alice",
        );
        store
            .post_decision(&InboxEntry::new(
                "bob",
                Event::Note {
                    text: "the token is tok-8d1fQz7Wv3pXk2Lm".into(),
                },
            ))
            .unwrap();
        ingest(&journal, store.list_inbox().unwrap()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("r1/journal.jsonl")).unwrap();
        assert!(!text.contains("tok-8d1fQz7Wv3pXk2Lm"), "{text}");
        assert!(text.contains("the token is «redacted»"), "{text}");
        assert!(store.list_inbox().unwrap().is_empty());
    }
}
