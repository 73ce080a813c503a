//! [`Journal`], the one writer of a run's records: it numbers, timestamps
//! and redacts each record, group-commits them to the [`RunStore`], and
//! tells observers (the console) what was written.

use std::sync::{Arc, Mutex};

use lifeboat_steps::Redactor;

use crate::journal::allowed_signers::AllowedSigners;
use crate::journal::chain::{self, Tail};
use crate::journal::record::{Event, Record, Signed, JOURNAL_VERSION};
use crate::journal::run_store::{RunStore, StoreError};
use crate::journal::timestamp::now_rfc3339;

/// Record fields that are never redacted: ids, tags, times, digests and
/// enumerations. Everything else (descriptions, errors, outputs, prompts,
/// comments, notes, inputs) goes through the redactor.
const STRUCTURAL_FIELDS: &[&str] = &[
    "v",
    "seq",
    "ts",
    "actor",
    "type",
    "step",
    "run_id",
    "runbook",
    "digest",
    "outcome",
    "decision",
    "status",
    "attempt",
    "secret_outputs",
    "sealed_outputs",
    "recipients",
    "simulated",
    "timed_out",
    "secret_inputs",
    "dry_run",
    "rto_stop_at",
    "from_checkpoint",
    "redo",
    "inbox",
    "signed",
    "require_signed",
    "allowed_signers_sha256",
    "prev",
    "target",
    "event",
    "about_seq",
    "attempts",
    "http_status",
];

/// Record fields written exactly as they are but redacted when shown: the
/// non-secret inputs of `run_started`. They are public by declaration, and a
/// resume replays them, so a secret that happens to occur inside one (`root`
/// in `/data/rootdir`) must not change them; the launcher warns about it.
const EXACT_FIELDS: &[&str] = &["inputs"];

/// Called with every record after it is written.
pub type Observer = Arc<dyn Fn(&Record) + Send + Sync>;

/// Appends numbered, timestamped, redacted records to a run's store, and
/// shows each one on the console as it becomes durable.
pub struct Journal {
    store: Arc<dyn RunStore>,
    /// The last sequence number written and the link to that record (the
    /// next record's `prev`); held while a record is written so numbers,
    /// links and file order agree.
    tail: Mutex<Tail>,
    redactor: Redactor,
    /// The default actor: the operator driving this engine.
    actor: String,
    /// Called with every record after it is written.
    observer: Option<Observer>,
    /// The run's allowed signers, when it has a file: decisions taken
    /// from the inbox are checked against it (`journal/decision.rs`).
    signers: Option<Arc<AllowedSigners>>,
}

impl Journal {
    /// A writer that continues the journal after `tail`: [`Tail::empty`]
    /// for a new run, [`crate::journal::run_store::JournalRead::tail`] for
    /// one read back (a resume, a takeover, a decision).
    pub fn new(store: Arc<dyn RunStore>, tail: Tail, redactor: Redactor, actor: &str) -> Self {
        Self {
            store,
            tail: Mutex::new(tail),
            redactor,
            actor: actor.to_string(),
            observer: None,
            signers: None,
        }
    }

    /// The allowed signers decisions entering this journal are checked
    /// against (the file the run started with).
    pub fn with_signers(mut self, signers: Option<Arc<AllowedSigners>>) -> Self {
        self.signers = signers;
        self
    }

    pub fn signers(&self) -> Option<&AllowedSigners> {
        self.signers.as_deref()
    }

    /// Writes a signed record durably, as `actor` (`None`: the operator),
    /// from inbox entry `inbox` if it came from one.
    pub fn record_signed(
        &self,
        actor: Option<&str>,
        event: Event,
        signed: Option<Signed>,
        inbox: Option<&str>,
    ) -> Result<Record, StoreError> {
        let actor = actor.map_or_else(|| self.actor.clone(), str::to_string);
        self.write_signed(&actor, event, inbox.map(str::to_string), signed, true)
    }

    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Writes a record and waits until it is durable.
    pub fn record(&self, event: Event) -> Result<Record, StoreError> {
        self.write(&self.actor.clone(), event, None, true)
    }

    /// Writes, durably and as `actor`, a record taken from the inbox entry
    /// `entry`: the record carries the entry's name, so it is never taken
    /// twice (`journal/decision.rs`).
    pub fn record_from_inbox(
        &self,
        actor: &str,
        event: Event,
        entry: &str,
    ) -> Result<Record, StoreError> {
        self.write(actor, event, Some(entry.to_string()), true)
    }

    /// Writes a record that the next durable write will carry to disk; for
    /// records whose loss is harmless (see [`RunStore::append_lazy`]).
    pub fn record_lazy(&self, event: Event) -> Result<Record, StoreError> {
        self.write(&self.actor.clone(), event, None, false)
    }

    /// What fires when the store learns that another engine drives the
    /// run now ([`RunStore::lost_lease`]).
    pub fn lost_lease(&self) -> Option<crate::journal::run_store::LostLease> {
        self.store.lost_lease()
    }

    /// Reads the whole journal back from the store (after [`Journal::flush`],
    /// it holds every record written).
    pub fn read(&self) -> Result<crate::journal::run_store::JournalRead, StoreError> {
        self.store.read()
    }

    /// The decisions posted to the run's inbox, oldest first.
    pub fn list_inbox(&self) -> Result<Vec<crate::journal::inbox::InboxItem>, StoreError> {
        self.store.list_inbox()
    }

    /// Removes inbox entries once their records are durable.
    pub fn remove_inbox(&self, names: &[String]) -> Result<(), StoreError> {
        self.store.remove_inbox(names)
    }

    /// Whether a lazily written record survives a SIGKILL of this engine
    /// ([`RunStore::lazy_appends_survive_a_kill`]).
    pub fn lazy_survives_a_kill(&self) -> bool {
        self.store.lazy_appends_survive_a_kill()
    }

    /// Makes every record written so far durable (one fsync for all).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.sync()
    }

    fn write(
        &self,
        actor: &str,
        event: Event,
        inbox: Option<String>,
        durable: bool,
    ) -> Result<Record, StoreError> {
        self.write_signed(actor, event, inbox, None, durable)
    }

    fn write_signed(
        &self,
        actor: &str,
        event: Event,
        inbox: Option<String>,
        signed: Option<Signed>,
        durable: bool,
    ) -> Result<Record, StoreError> {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let mut record = Record {
            v: JOURNAL_VERSION,
            seq: tail.seq + 1,
            ts: now_rfc3339(),
            actor: actor.to_string(),
            inbox,
            signed,
            prev: tail.link.clone(),
            event,
        };
        // What the console shows, when it differs from what is written.
        let mut shown = None;
        if !self.redactor.is_empty() {
            let value = serde_json::to_value(&record).map_err(|e| StoreError::Io(e.to_string()))?;
            let mut redacted = self.redactor.redact_value(&value);
            // Identifiers, tags and times are structure, not content: a
            // secret that happens to equal a word in a step id must not
            // rename the step (resume would then not recognise it).
            if let (Some(out), Some(orig)) = (redacted.as_object_mut(), value.as_object()) {
                for key in STRUCTURAL_FIELDS {
                    if let Some(v) = orig.get(*key) {
                        out.insert((*key).to_string(), v.clone());
                    }
                }
            }
            let parse = |v: serde_json::Value| {
                serde_json::from_value::<Record>(v).map_err(|e| StoreError::Io(e.to_string()))
            };
            let exact: Vec<(&str, &serde_json::Value)> = EXACT_FIELDS
                .iter()
                .filter_map(|key| Some((*key, value.as_object()?.get(*key)?)))
                .filter(|(key, v)| redacted.get(*key) != Some(*v))
                .collect();
            if !exact.is_empty() {
                shown = Some(parse(redacted.clone())?);
                if let Some(out) = redacted.as_object_mut() {
                    for (key, v) in exact {
                        out.insert(key.to_string(), v.clone());
                    }
                }
            }
            record = parse(redacted)?;
        }
        // The chain links what is stored: the record as redacted, in the
        // one serialisation both stores keep (`chain::record_bytes`).
        let link = match tail.link {
            Some(_) => Some(chain::link(chain::record_bytes(&record)?.as_bytes())),
            None => None,
        };
        if durable {
            self.store.append(std::slice::from_ref(&record))?;
        } else {
            self.store.append_lazy(std::slice::from_ref(&record))?;
        }
        *tail = Tail {
            seq: record.seq,
            link,
        };
        drop(tail);
        if let Some(observer) = &self.observer {
            observer(shown.as_ref().unwrap_or(&record));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::local_run_store::LocalRunStore;

    #[test]
    fn inputs_are_written_exactly_and_shown_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalRunStore::create(dir.path(), "r").unwrap());
        let redactor = Redactor::new();
        redactor.add("root");
        let shown = Arc::new(Mutex::new(Vec::new()));
        let seen = shown.clone();
        let journal = Journal::new(store.clone(), Tail::empty(), redactor, "alice").with_observer(
            Arc::new(move |r: &Record| seen.lock().unwrap().push(serde_json::to_value(r).unwrap())),
        );
        let mut inputs = serde_json::Map::new();
        inputs.insert("dir".into(), "/data/rootdir".into());
        journal
            .record(Event::RunStarted {
                run_id: "r".into(),
                runbook: "rb".into(),
                title: "t".into(),
                digest: "d".into(),
                scenario: None,
                inputs,
                secret_inputs: vec!["pw".into()],
                dry_run: None,
                declared_at: None,
                rto_target_ms: None,
                rto_stop_at: None,
                engine_version: "0".into(),
                launch_dir: None,
                recipients: Box::default(),
                allowed_signers: None,
                allowed_signers_sha256: None,
                require_signed: false,
            })
            .unwrap();
        let read = store.read().unwrap();
        match &read.records[0].event {
            Event::RunStarted { inputs, .. } => assert_eq!(inputs["dir"], "/data/rootdir"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            shown.lock().unwrap()[0]["inputs"]["dir"],
            "/data/«redacted»dir"
        );
    }

    /// Each record's `prev` is the hash of the bytes the store keeps for
    /// the record before it, redacted, and a journal continued from its
    /// read-back tail (a resume) goes on with the same chain.
    #[test]
    fn records_chain_over_their_stored_bytes_across_writers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalRunStore::create(dir.path(), "r").unwrap());
        let redactor = Redactor::new();
        redactor.add("hunter2-secret");
        let journal = Journal::new(store.clone(), Tail::empty(), redactor, "alice");
        for text in ["one", "two hunter2-secret"] {
            journal.record(Event::Note { text: text.into() }).unwrap();
        }
        let tail = store.read().unwrap().tail();
        Journal::new(store.clone(), tail, Redactor::new(), "bob")
            .record_lazy(Event::Note {
                text: "three".into(),
            })
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join("r/journal.jsonl")).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        let recs: Vec<&str> = text
            .lines()
            .map(|l| &l[l.find("\"rec\":").unwrap() + 6..l.len() - 1])
            .collect();
        let read = store.read().unwrap();
        assert_eq!(read.records[0].prev.as_deref(), Some(chain::GENESIS));
        for k in 1..3 {
            assert_eq!(
                read.records[k].prev,
                Some(chain::link(recs[k - 1].as_bytes())),
                "record {k}"
            );
        }
        assert_eq!(read.head, Some(chain::link(recs[2].as_bytes())));
    }

    #[test]
    fn secrets_are_redacted_but_structure_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalRunStore::create(dir.path(), "r").unwrap());
        let redactor = Redactor::new();
        redactor.add("postgres");
        let journal = Journal::new(store.clone(), Tail::empty(), redactor, "alice");
        journal
            .record(Event::StepFailed {
                step: "restore_postgres".into(),
                error: "cannot connect to postgres".into(),
                outputs: Default::default(),
                duration_ms: 1,
            })
            .unwrap();
        let read = store.read().unwrap();
        match &read.records[0].event {
            Event::StepFailed { step, error, .. } => {
                assert_eq!(step, "restore_postgres");
                assert_eq!(error, "cannot connect to «redacted»");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Every identifier field of every record, by variant. The match is
    /// exhaustive, so a new event does not compile until its identifier
    /// fields are listed here, and the test below then checks that
    /// `STRUCTURAL_FIELDS` has them.
    fn identifier_fields(event: &Event) -> &'static [&'static str] {
        match event {
            Event::RunStarted { .. } => &[
                "run_id",
                "runbook",
                "digest",
                "secret_inputs",
                "dry_run",
                "rto_stop_at",
                "recipients",
                "allowed_signers_sha256",
                "require_signed",
            ],
            Event::StepStarted { .. } => &["step", "attempt"],
            Event::ProcessStarted { .. } => &["step"],
            Event::AttemptFailed { .. } => &["step", "attempt"],
            Event::StepSucceeded { .. } => {
                &["step", "secret_outputs", "sealed_outputs", "simulated"]
            }
            Event::StepFailed { .. } => &["step"],
            Event::StepSkipped { .. } => &["step"],
            Event::Checkpoint { .. } => &["step"],
            Event::Waiting { .. } => &["step"],
            Event::Marked { .. } => &["step", "outcome"],
            Event::Note { .. } => &[],
            Event::Interrupted { .. } => &[],
            Event::Resumed { .. } => &["from_checkpoint", "digest", "redo"],
            Event::RunFinished { .. } => &["status"],
            Event::ApprovalRequested { .. } => &["step", "digest", "require_signed"],
            Event::Approval { .. } => &["step", "decision", "digest", "timed_out"],
            Event::ManualRequested { .. } => &["step", "digest", "require_signed"],
            Event::ManualConfirmed { .. } => &["step", "digest"],
            Event::StepThroughSkipped { .. } => &["step"],
            Event::Notified { .. } => &["target", "event", "about_seq", "attempts", "http_status"],
            Event::NotifyFailed { .. } => {
                &["target", "event", "about_seq", "attempts", "http_status"]
            }
        }
    }

    /// One record of every kind.
    fn every_event() -> Vec<Event> {
        use crate::journal::record::{Decision, MarkOutcome, RunStatus};
        let step = || "s".to_string();
        vec![
            Event::RunStarted {
                run_id: "r".into(),
                runbook: "rb".into(),
                title: "t".into(),
                digest: "d".into(),
                scenario: None,
                inputs: Default::default(),
                secret_inputs: vec![],
                dry_run: None,
                declared_at: None,
                rto_target_ms: None,
                rto_stop_at: None,
                engine_version: "0".into(),
                launch_dir: None,
                recipients: Box::default(),
                allowed_signers: None,
                allowed_signers_sha256: None,
                require_signed: false,
            },
            Event::StepStarted {
                step: step(),
                attempt: 1,
                description: "d".into(),
            },
            Event::ProcessStarted {
                step: step(),
                pgid: 1,
                start_ticks: None,
            },
            Event::AttemptFailed {
                step: step(),
                attempt: 1,
                error: "e".into(),
                retry_in_ms: 1,
            },
            Event::StepSucceeded {
                step: step(),
                outputs: Default::default(),
                secret_outputs: vec![],
                sealed_outputs: None,
                simulated: false,
                duration_ms: 1,
            },
            Event::StepFailed {
                step: step(),
                error: "e".into(),
                outputs: Default::default(),
                duration_ms: 1,
            },
            Event::StepSkipped {
                step: step(),
                reason: "r".into(),
            },
            Event::Checkpoint {
                step: step(),
                description: None,
            },
            Event::Waiting {
                step: step(),
                reason: "r".into(),
                commands: vec![],
            },
            Event::Marked {
                step: step(),
                outcome: MarkOutcome::Done,
            },
            Event::Note { text: "n".into() },
            Event::Interrupted { reason: "r".into() },
            Event::Resumed {
                from_checkpoint: None,
                allow_changed: false,
                digest: None,
                redo: vec![],
                reason: None,
                took_over_from: None,
            },
            Event::RunFinished {
                status: RunStatus::Succeeded,
            },
            Event::ApprovalRequested {
                step: step(),
                digest: "d".into(),
                prompt: "p".into(),
                details: None,
                min_approvals: 1,
                approvers: None,
                distinct_from_initiator: false,
                require_signed: false,
            },
            Event::Approval {
                step: step(),
                decision: Decision::Approved,
                digest: "d".into(),
                comment: None,
                timed_out: false,
            },
            Event::ManualRequested {
                step: step(),
                digest: "d".into(),
                instructions: "i".into(),
                checklist: vec![],
                require_signed: false,
            },
            Event::ManualConfirmed {
                step: step(),
                digest: "d".into(),
                note: None,
                checklist: vec![],
            },
            Event::StepThroughSkipped {
                step: step(),
                reason: "r".into(),
            },
            Event::Notified {
                target: 0,
                event: "waiting".into(),
                about_seq: Some(3),
                attempts: 1,
                http_status: 200,
            },
            Event::NotifyFailed {
                target: 0,
                event: "waiting".into(),
                about_seq: None,
                attempts: 4,
                http_status: Some(500),
                error: "e".into(),
            },
        ]
    }

    #[test]
    fn a_signature_is_never_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalRunStore::create(dir.path(), "r").unwrap());
        let redactor = Redactor::new();
        // A secret that happens to occur in the armored signature and in
        // the principal's name.
        redactor.add("SIGNATUREBYTES");
        redactor.add("alice");
        let journal = Journal::new(store.clone(), Tail::empty(), redactor, "alice");
        let signed = Signed {
            signature:
                "-----BEGIN SSH SIGNATURE-----\nSIGNATUREBYTES\n-----END SSH SIGNATURE-----\n"
                    .into(),
            signed_at: "2026-01-01T00:00:00.000Z".into(),
            key: "SHA256:abc".into(),
            principal: Some("alice".into()),
        };
        journal
            .record_signed(
                None,
                Event::Note { text: "x".into() },
                Some(signed.clone()),
                None,
            )
            .unwrap();
        assert_eq!(store.read().unwrap().records[0].signed, Some(signed));
    }

    #[test]
    fn structural_fields_list_every_identifier_field() {
        let mut missing = Vec::new();
        for event in every_event() {
            for field in identifier_fields(&event) {
                if !STRUCTURAL_FIELDS.contains(field) {
                    missing.push(format!("{field} (of {event:?})"));
                }
            }
        }
        assert!(missing.is_empty(), "not in STRUCTURAL_FIELDS: {missing:?}");
    }

    #[test]
    fn a_secret_inside_a_step_id_renames_nothing_the_reports_and_resume_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalRunStore::create(dir.path(), "r").unwrap());
        let redactor = Redactor::new();
        redactor.add("restore");
        let journal = Journal::new(store.clone(), Tail::empty(), redactor, "alice");
        journal
            .record(Event::RunStarted {
                run_id: "r".into(),
                runbook: "rb".into(),
                title: "t".into(),
                digest: "d".into(),
                scenario: None,
                inputs: Default::default(),
                secret_inputs: vec!["restore_key".into()],
                dry_run: None,
                declared_at: None,
                rto_target_ms: Some(1000),
                rto_stop_at: Some("restore_done".into()),
                engine_version: "0".into(),
                launch_dir: None,
                recipients: Box::default(),
                allowed_signers: None,
                allowed_signers_sha256: None,
                require_signed: false,
            })
            .unwrap();
        journal
            .record(Event::Resumed {
                from_checkpoint: Some("restore_done".into()),
                allow_changed: false,
                digest: None,
                redo: vec!["restore_data".into()],
                reason: Some("restore again".into()),
                took_over_from: None,
            })
            .unwrap();
        let read = store.read().unwrap();
        match &read.records[0].event {
            Event::RunStarted {
                rto_stop_at,
                secret_inputs,
                ..
            } => {
                assert_eq!(rto_stop_at.as_deref(), Some("restore_done"));
                assert_eq!(secret_inputs, &["restore_key"]);
            }
            other => panic!("{other:?}"),
        }
        match &read.records[1].event {
            Event::Resumed {
                from_checkpoint,
                redo,
                reason,
                ..
            } => {
                assert_eq!(from_checkpoint.as_deref(), Some("restore_done"));
                assert_eq!(redo, &["restore_data"]);
                // Free text is content: redacted.
                assert_eq!(reason.as_deref(), Some("«redacted» again"));
            }
            other => panic!("{other:?}"),
        }
    }
}
