//! How a decision command (`approve`, `reject`, `confirm`, `mark`, `note`)
//! gets its record into a run, with or without the run's lock.
//!
//! When no engine drives the run, the command takes the lock and appends
//! the record itself. When one does (the lock is held), the command checks
//! the decision against the journal as it is now, with the same rules and
//! messages, posts it to the run's inbox and waits, up to
//! [`ENGINE_BOUND`], for the driving engine to journal it. An engine that
//! has not taken it by then will: the decision is queued, and the driver or
//! the next `resume` records it. A decision is never lost, and an inbox
//! entry is journalled once (`journal/decision.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::error::CliError;
use crate::journal::chain::Tail;
use crate::journal::decision::{self, ENGINE_ACTOR};
use crate::journal::inbox::InboxEntry;
use crate::journal::record::Event;
use crate::journal::run_state::RunState;
use crate::journal::run_store::{RunStore, StoreError};
use crate::journal::Journal;

/// How long a command waits for the driving engine to journal a decision.
pub const ENGINE_BOUND: Duration = Duration::from_secs(10);

/// How often it looks at the journal meanwhile.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// A run opened by a decision command: its state as journalled now, and
/// the lock when no engine holds it.
pub struct OpenRun {
    store: Arc<dyn RunStore>,
    lock: Option<Box<dyn Send + Sync>>,
    pub run: RunState,
    /// Where the journal ended when it was read.
    tail: Tail,
}

/// Who recorded a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// This command, under the run's lock.
    Journalled,
    /// The engine driving the run, from the inbox.
    ByEngine,
    /// Not yet: it waits in the inbox for the driver or the next `resume`.
    Queued,
}

impl Delivery {
    /// What to add to the command's line, when the engine recorded it or
    /// will (`None` when the command journalled it itself).
    pub fn note(self, run_id: &str) -> Option<String> {
        match self {
            Delivery::Journalled => None,
            Delivery::ByEngine => Some("(recorded by the engine driving the run)".to_string()),
            Delivery::Queued => Some(format!(
                "(queued: the engine driving the run did not record it within {}s; it records it when it next looks, or the next `lifeboat resume {run_id}` does)",
                ENGINE_BOUND.as_secs()
            )),
        }
    }
}

impl OpenRun {
    /// Takes the lock if it is free, then reads the journal.
    pub fn open(store: Arc<dyn RunStore>) -> Result<Self, CliError> {
        let lock = match store.lock() {
            Ok(guard) => Some(guard),
            Err(StoreError::Locked { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let read = store.read()?;
        let run = RunState::replay(&read.records, &|_| Vec::new());
        Ok(Self {
            store,
            lock,
            run,
            tail: read.tail(),
        })
    }

    /// Whether an engine drives the run (it holds the lock): the decision
    /// then goes through its inbox.
    pub fn engine_drives(&self) -> bool {
        self.lock.is_none()
    }

    /// Records `event` by `actor`: appended now under the lock, or posted
    /// for the driving engine. `check` has already passed.
    pub fn deliver(self, actor: &str, event: Event) -> Result<Delivery, CliError> {
        if self.lock.is_some() {
            let journal = Journal::new(
                self.store.clone(),
                self.tail.clone(),
                lifeboat_steps::Redactor::new(),
                actor,
            );
            journal.record(event)?;
            return Ok(Delivery::Journalled);
        }
        // A refused entry is journalled as a note by `lifeboat`.
        let posted_note = matches!(event, Event::Note { .. });
        let name = self.store.post_decision(&InboxEntry::new(actor, event))?;
        let started = Instant::now();
        while started.elapsed() < ENGINE_BOUND {
            std::thread::sleep(LOOK_EVERY);
            if let Some(record) = self
                .store
                .read()?
                .records
                .into_iter()
                .find(|r| r.inbox.as_deref() == Some(name.as_str()))
            {
                return match record.event {
                    Event::Note { text } if record.actor == ENGINE_ACTOR && !posted_note => {
                        Err(CliError::invalid(text))
                    }
                    _ => Ok(Delivery::ByEngine),
                };
            }
            // The engine ended without taking it (it paused, or died): take
            // the inbox in under the lock, as a resume would.
            if let Ok(lock) = self.store.lock() {
                let read = self.store.read()?;
                let journal = Journal::new(
                    self.store.clone(),
                    read.tail(),
                    lifeboat_steps::Redactor::new(),
                    actor,
                );
                let items = self.store.list_inbox()?;
                let taken = decision::ingest(&journal, items)?;
                drop(lock);
                let mine = taken
                    .iter()
                    .find(|t| t.record().inbox.as_deref() == Some(name.as_str()));
                return match mine {
                    Some(decision::Taken::Refused(record)) => match &record.event {
                        Event::Note { text } => Err(CliError::invalid(text.clone())),
                        _ => Ok(Delivery::Journalled),
                    },
                    // Taken (by us, or by the engine just before it ended).
                    _ => Ok(Delivery::Journalled),
                };
            }
        }
        Ok(Delivery::Queued)
    }
}
