//! [`Journal`], the one writer of a run's records: it numbers, timestamps
//! and redacts each record, group-commits them to the [`RunStore`], and
//! tells observers (the console) what was written.

use std::sync::{Arc, Mutex};

use lifeboat_steps::Redactor;

use crate::journal::record::{Event, Record, JOURNAL_VERSION};
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
    "simulated",
    "timed_out",
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
    /// The last sequence number written; held while a record is written so
    /// numbers and file order agree.
    seq: Mutex<u64>,
    redactor: Redactor,
    /// The default actor: the operator driving this engine.
    actor: String,
    /// Called with every record after it is written.
    observer: Option<Observer>,
}

impl Journal {
    pub fn new(store: Arc<dyn RunStore>, last_seq: u64, redactor: Redactor, actor: &str) -> Self {
        Self {
            store,
            seq: Mutex::new(last_seq),
            redactor,
            actor: actor.to_string(),
            observer: None,
        }
    }

    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Writes a record and waits until it is durable.
    pub fn record(&self, event: Event) -> Result<Record, StoreError> {
        self.write(&self.actor.clone(), event, true)
    }

    /// Writes a record as someone other than the operator (an approver).
    pub fn record_as(&self, actor: &str, event: Event) -> Result<Record, StoreError> {
        self.write(actor, event, true)
    }

    /// Writes a record that the next durable write will carry to disk; for
    /// records whose loss is harmless (see [`RunStore::append_lazy`]).
    pub fn record_lazy(&self, event: Event) -> Result<Record, StoreError> {
        self.write(&self.actor.clone(), event, false)
    }

    /// Makes every record written so far durable (one fsync for all).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.sync()
    }

    fn write(&self, actor: &str, event: Event, durable: bool) -> Result<Record, StoreError> {
        let mut seq = self.seq.lock().unwrap_or_else(|e| e.into_inner());
        let mut record = Record {
            v: JOURNAL_VERSION,
            seq: *seq + 1,
            ts: now_rfc3339(),
            actor: actor.to_string(),
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
        if durable {
            self.store.append(std::slice::from_ref(&record))?;
        } else {
            self.store.append_lazy(std::slice::from_ref(&record))?;
        }
        *seq += 1;
        drop(seq);
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
        let journal = Journal::new(store.clone(), 0, redactor, "alice").with_observer(Arc::new(
            move |r: &Record| seen.lock().unwrap().push(serde_json::to_value(r).unwrap()),
        ));
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

    #[test]
    fn secrets_are_redacted_but_structure_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalRunStore::create(dir.path(), "r").unwrap());
        let redactor = Redactor::new();
        redactor.add("postgres");
        let journal = Journal::new(store.clone(), 0, redactor, "alice");
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
}
