//! Decisions from anywhere: the run's inbox, polled by the driving engine.
//!
//! `approve`, `reject`, `confirm`, `mark` and `note` post to the inbox
//! while an engine holds the run's lock. The scheduler looks at it at most
//! every [`INBOX_POLL`]: between steps (a time check, not a look per step),
//! every [`INBOX_POLL`] while a human gate waits and steps run, and while
//! it waits at a gate with `--wait` or asks at a terminal. Each entry is
//! checked again and journalled once (`journal/decision.rs`); a decision
//! for a waiting gate sends the gate round again, so the run carries on.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Scheduler, Status};
use crate::journal::decision::{self, Taken};
use crate::journal::record::{Decision, Event};
use crate::journal::Journal;
use crate::runbook::step::Section;

/// How often the inbox is looked at, at most. A decision is noticed within
/// this (plus the time a running step's result takes to apply).
pub(super) const INBOX_POLL: Duration = Duration::from_millis(500);

impl Scheduler {
    /// Takes the inbox in if the last look is [`INBOX_POLL`] old; true when
    /// a waiting gate got a decision (it is pending again).
    pub(super) fn poll_inbox_if_due(&mut self) -> bool {
        if self.inbox_due.is_some_and(|due| Instant::now() < due) {
            return false;
        }
        self.take_inbox()
    }

    /// How long until the inbox is due.
    pub(super) fn until_inbox_due(&self) -> Duration {
        self.inbox_due.map_or(Duration::ZERO, |due| {
            due.saturating_duration_since(Instant::now())
        })
    }

    /// Journals every inbox entry (or its refusal) and applies it; true when
    /// a waiting gate got a decision and is pending again.
    pub(super) fn take_inbox(&mut self) -> bool {
        self.inbox_due = Some(Instant::now() + INBOX_POLL);
        let items = match self.env.journal.list_inbox() {
            Ok(items) => items,
            Err(e) => {
                self.env
                    .console
                    .warn(None, &format!("cannot read the run's inbox: {e}"));
                return false;
            }
        };
        if items.is_empty() {
            return false;
        }
        let taken = match decision::ingest(&self.env.journal, items) {
            Ok(taken) => taken,
            // Taking a decision in is a journal write: one that fails stops
            // the run like any other (the entries stay in the inbox for
            // the resume).
            Err(e) => {
                self.journal_failed(&e);
                return false;
            }
        };
        self.apply_taken(taken)
    }

    /// Takes journalled inbox entries into this execution's state: a
    /// decision counts for its gate, and a waiting gate it decides is
    /// pending again (true when one is). Shows each on the console.
    pub(super) fn apply_taken(&mut self, taken: Vec<Taken>) -> bool {
        let mut changed = false;
        for t in taken {
            let record = match t {
                Taken::Recorded(record) => record,
                Taken::Refused(record) => {
                    if let Event::Note { text } = &record.event {
                        self.env.console.warn(None, text);
                    }
                    continue;
                }
            };
            if !deciding(&record.event) {
                continue;
            }
            let Some(step) = record.event.step().map(str::to_string) else {
                continue;
            };
            self.gates.entry(step.clone()).or_default().apply(&record);
            self.env.console.info(&format!(
                "{} `{step}` by {} from another shell or machine",
                decided(&record.event),
                record.actor
            ));
            if let Some(i) = self.env.runbook.step_index(&step) {
                if self.gate_waits(i) {
                    self.set_status(i, Status::Pending);
                    self.gate_deadlines.remove(&i);
                    changed = true;
                }
            }
        }
        changed
    }

    /// Whether the section should wait for a decision from anywhere rather
    /// than end paused: `--wait`, nothing else to do, a human gate waiting.
    pub(super) fn waits_for_decision(&self, section: Section, indices: &[usize]) -> bool {
        self.config.wait && !self.stopping(section) && indices.iter().any(|&i| self.gate_waits(i))
    }

    /// Whether some human gate waits (the inbox is then looked at every
    /// [`INBOX_POLL`] even while steps run).
    pub(super) fn any_gate_waits(&self) -> bool {
        self.waiting.iter().any(|&i| self.gate_waits(i))
    }

    fn gate_waits(&self, i: usize) -> bool {
        self.status[i] == Status::Waiting && self.env.runbook.kind(i).is_human()
    }

    /// `--wait`: sleeps until the inbox is due, a gate's timeout ends, or
    /// the run is stopped; then looks at the inbox and sends any gate whose
    /// timeout has ended round again (it then takes its `on_timeout`).
    pub(super) async fn wait_for_decision(&mut self) {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let mut sleep = self.until_inbox_due();
        if let Some(next) = self.gate_deadlines.values().min() {
            sleep = sleep.min(Duration::from_millis((next - now_ms).max(0) as u64));
        }
        let cancel = self.env.cancel.clone();
        let pause = self.env.pause.clone();
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = cancel.cancelled() => return,
            () = pause.cancelled() => return,
        }
        self.take_inbox();
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let expired: Vec<usize> = self
            .gate_deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now_ms)
            .map(|(i, _)| *i)
            .collect();
        for i in expired {
            self.gate_deadlines.remove(&i);
            if self.status[i] == Status::Waiting {
                self.set_status(i, Status::Pending);
            }
        }
    }
}

/// Whether a record decides a gate (rather than noting or marking).
fn deciding(event: &Event) -> bool {
    matches!(
        event,
        Event::Approval { .. } | Event::ManualConfirmed { .. }
    )
}

/// "approved", "rejected" or "confirmed".
fn decided(event: &Event) -> &'static str {
    match event {
        Event::Approval {
            decision: Decision::Rejected,
            ..
        } => "rejected",
        Event::ManualConfirmed { .. } => "confirmed",
        _ => "approved",
    }
}

/// The question's `closed` callback for gate `step`: the run is stopping,
/// or (looked at most every [`INBOX_POLL`]) an inbox entry decides it.
/// Other entries (notes, marks, other gates' decisions) are journalled
/// meanwhile and kept in `taken`, for the scheduler to apply once the
/// question ends (`Scheduler::apply_taken`): the console holds their lines
/// while the question is on screen.
pub(super) fn question_closer(
    journal: Arc<Journal>,
    cancel: tokio_util::sync::CancellationToken,
    step: String,
    taken: Rc<RefCell<Vec<Taken>>>,
) -> impl Fn() -> Option<String> {
    let last: Cell<Option<Instant>> = Cell::new(None);
    move || {
        if cancel.is_cancelled() {
            return Some(String::new());
        }
        if last.get().is_some_and(|t| t.elapsed() < INBOX_POLL) {
            return None;
        }
        last.set(Some(Instant::now()));
        // Only a decision that was checked and journalled closes the
        // question: a refused entry (four eyes, a stale question) does not.
        let items = journal.list_inbox().ok().filter(|i| !i.is_empty())?;
        let more = match decision::ingest(&journal, items) {
            Ok(more) => more,
            // A journal write failed: the run stops, and the entries stay
            // in the inbox for the resume.
            Err(e) => {
                cancel.cancel();
                return Some(format!("cannot write the journal: {e}; stopping"));
            }
        };
        // One posted for this gate just now was taken with the others.
        let mine = more.iter().find_map(|t| match t {
            Taken::Recorded(r) if r.event.step() == Some(step.as_str()) && deciding(&r.event) => {
                Some(format!(
                    "{} by {} from another shell; the question is closed",
                    decided(&r.event),
                    r.actor
                ))
            }
            _ => None,
        });
        taken.borrow_mut().extend(more);
        mine
    }
}
