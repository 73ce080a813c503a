//! How a decision command (`approve`, `reject`, `confirm`, `mark`, `note`)
//! gets its record into a run, with or without the run's lock.
//!
//! When no engine drives the run, the command takes the lock and appends
//! the record itself. When one does (the lock is held), the command checks
//! the decision against the journal as it is now, with the same rules and
//! messages, posts it to the run's inbox and waits, up to
//! [`ENGINE_BOUND`], for the driving engine to journal it, reading only the
//! journal's tail. An engine that has not taken it by then will: the
//! decision is queued, and the driver or the next `resume` records it. A
//! decision is never lost, and an inbox entry is journalled once
//! (`journal/decision.rs`).
//!
//! Typed text (a comment, a note) may hold a pasted secret. An engine
//! journals it redacted with the run's secrets; this shell does not hold
//! the run's secret inputs, so for a run that has some, such a decision is
//! only ever journalled by an engine: without one driving, it is left in
//! the inbox for the next `resume`, and the command says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::error::CliError;
use crate::cli::SignArgs;
use crate::journal::allowed_signers;
use crate::journal::chain::Tail;
use crate::journal::decision::{self, ENGINE_ACTOR};
use crate::journal::inbox::InboxEntry;
use crate::journal::record::{Event, Signed};
use crate::journal::run_state::RunState;
use crate::journal::run_store::{RunStore, StoreError};
use crate::journal::Journal;
use crate::terminal_text::printable;

/// How long a command waits for the driving engine to journal a decision.
pub const ENGINE_BOUND: Duration = Duration::from_secs(10);

/// How often it looks at the journal meanwhile: first after this, then
/// half as often again each time, up to [`LOOK_AT_MOST`]. Each look reads
/// only the journal's tail (`RunStore::read_after`).
const LOOK_FIRST: Duration = Duration::from_millis(100);
const LOOK_AT_MOST: Duration = Duration::from_millis(1000);

/// A run opened by a decision command: its state as journalled now, and
/// the lock when no engine holds it.
pub struct OpenRun {
    store: Arc<dyn RunStore>,
    lock: Option<Box<dyn Send + Sync>>,
    pub run: RunState,
    /// Where the journal ended when it was read.
    tail: Tail,
    /// `--allowed-signers`, for taking the inbox in under the lock.
    given_signers: Option<std::path::PathBuf>,
}

/// A decision's signature, checked, and the line saying how it was signed.
pub struct Signing {
    pub signed: Option<Signed>,
    pub line: Option<String>,
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
    /// Not yet: it (or an entry before it) has text typed by someone and
    /// the run has secret inputs, which this shell does not hold, so only
    /// an engine (the next `resume`) may journal it, redacted. It waits in
    /// the inbox as posted.
    ForResume,
}

impl Delivery {
    /// What to add to the command's line, when the engine recorded it or
    /// will (`None` when the command journalled it itself).
    pub fn note(self, run_id: &str) -> Option<String> {
        match self {
            Delivery::Journalled => None,
            Delivery::ByEngine => Some("(recorded by the engine driving the run)".to_string()),
            Delivery::Queued => Some(format!(
                "(queued: the engine driving the run did not record it within {}s; it records it when it next looks, or the next `lifeboat resume {run_id}` does; until then the entry waits in the run's inbox as posted)",
                ENGINE_BOUND.as_secs()
            )),
            Delivery::ForResume => Some(format!(
                "(queued for the next `lifeboat resume {run_id}`: the run has secret inputs and its inbox holds typed text, which only an engine that holds them may journal, redacted; until then that text is kept in the run's inbox as typed, for as long as no engine takes it)"
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
            given_signers: None,
        })
    }

    /// With the `--allowed-signers` the command was given.
    pub fn with_given_signers(mut self, sign: &SignArgs) -> Self {
        self.given_signers = sign.allowed_signers.clone();
        self
    }

    /// Whether an engine drives the run (it holds the lock): the decision
    /// then goes through its inbox.
    pub fn engine_drives(&self) -> bool {
        self.lock.is_none()
    }

    /// Whether only an engine may journal `event`: it carries typed text
    /// (`decision::has_free_text`) and the run has secret inputs, which an
    /// engine registers with its redactor and this shell does not hold.
    fn needs_an_engine(&self, event: &Event) -> bool {
        !self.run.secret_inputs.is_empty() && decision::has_free_text(event)
    }

    /// Signs `event` by `actor` as `sign` says (the agent's key, a key
    /// file, or nothing), checks it against the run as journalled now
    /// ([`decision::check`], with the allowed signers file the run started
    /// with) and returns what to deliver: a refused decision is an error
    /// and changes nothing.
    pub fn sign_and_check(
        &self,
        run_id: &str,
        actor: &str,
        event: &Event,
        sign: &SignArgs,
    ) -> Result<Signing, CliError> {
        let signer = sign.signer().map_err(CliError::invalid)?;
        // The run's file is needed where this decision must be signed;
        // elsewhere a missing or different file only leaves it unverified.
        let required = match event.step().and_then(|step| self.run.gates.get(step)) {
            Some(gate) => gate.require_signed(),
            None => self.run.require_signed,
        };
        let signers = match allowed_signers::for_run(
            run_id,
            self.run.allowed_signers.as_deref(),
            self.run.allowed_signers_sha256.as_deref(),
            sign.allowed_signers.as_deref(),
        ) {
            Ok(signers) => signers,
            Err(e) if required => {
                return Err(CliError::invalid(format!("{e}; nothing was recorded")))
            }
            Err(e) => {
                eprintln!(
                    "warning: {}; the decision is not verified now",
                    printable(&e)
                );
                None
            }
        };
        let mut signed = signer
            .as_ref()
            .map(|s| s.sign_event(run_id, actor, event))
            .transpose()
            .map_err(|e| CliError::failed(format!("{e}; nothing was recorded")))?;
        let decider = decision::Decider::new(actor, signed.as_ref());
        let principal = decision::check(
            &self.run,
            run_id,
            &decider,
            event,
            self.engine_drives(),
            signers.as_ref(),
        )
        .map_err(CliError::invalid)?;
        let line = signer.map(|s| match &principal {
            Some(p) => format!(
                "signed with {}, verified as `{}`",
                s.describe(),
                printable(p)
            ),
            None if signers.is_none() => format!(
                "signed with {} (not verified now: run `{run_id}` has no allowed signers file)",
                s.describe()
            ),
            None => format!(
                "signed with {} (not verified: the key is not in the run's allowed signers file)",
                s.describe()
            ),
        });
        if let Some(s) = signed.as_mut() {
            s.principal = principal;
        }
        Ok(Signing { signed, line })
    }

    /// Records `event` by `actor` with its signature: appended now under
    /// the lock, or posted for the driving engine (which checks it again).
    /// [`OpenRun::sign_and_check`] has already passed.
    pub fn deliver(
        self,
        actor: &str,
        event: Event,
        signed: Option<Signed>,
    ) -> Result<Delivery, CliError> {
        let for_an_engine = self.needs_an_engine(&event);
        if self.lock.is_some() {
            if for_an_engine {
                self.store
                    .post_decision(&InboxEntry::new(actor, event).signed(signed))?;
                return Ok(Delivery::ForResume);
            }
            // Journalled here: it carries no typed text, or the run has no
            // secret inputs (the secrets an engine would redact with).
            let journal = Journal::new(
                self.store.clone(),
                self.tail.clone(),
                lifeboat_steps::Redactor::new(),
                actor,
            );
            journal.record_signed(None, event, signed, None)?;
            return Ok(Delivery::Journalled);
        }
        // A refused entry is journalled as a note by `lifeboat`.
        let posted_note = matches!(event, Event::Note { .. });
        let name = self
            .store
            .post_decision(&InboxEntry::new(actor, event).signed(signed))?;
        // Everything up to here was read when the run was opened: only the
        // records after it are read while waiting.
        let mut seen = self.run.last_seq;
        let mut pause = LOOK_FIRST;
        let started = Instant::now();
        while started.elapsed() < ENGINE_BOUND {
            std::thread::sleep(pause.min(ENGINE_BOUND.saturating_sub(started.elapsed())));
            pause = (pause * 3 / 2).min(LOOK_AT_MOST);
            let tail = self.store.read_after(seen)?;
            seen = tail.last().map_or(seen, |r| r.seq);
            if let Some(record) = tail
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
            // the inbox in under the lock, as a resume would, unless only an
            // engine may (the run has secret inputs: the next resume does).
            if let Ok(lock) = self.store.lock() {
                let items = self.store.list_inbox()?;
                let typed = items.iter().any(|i| {
                    i.entry
                        .as_ref()
                        .is_ok_and(|e| self.needs_an_engine(&e.event))
                });
                if typed {
                    return Ok(Delivery::ForResume);
                }
                let read = self.store.read()?;
                let run = RunState::replay(&read.records, &|_| Vec::new());
                // Checked against the file the run started with; one that
                // is not here refuses the entry with the reason.
                let signers = allowed_signers::for_run(
                    &run.run_id,
                    run.allowed_signers.as_deref(),
                    run.allowed_signers_sha256.as_deref(),
                    self.given_signers.as_deref(),
                )
                .ok()
                .flatten()
                .map(Arc::new);
                let journal = Journal::new(
                    self.store.clone(),
                    read.tail(),
                    lifeboat_steps::Redactor::new(),
                    actor,
                )
                .with_signers(signers);
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
