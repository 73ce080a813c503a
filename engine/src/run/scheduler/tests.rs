//! The scheduler against a store that fails: every journal write the run
//! makes, its step tasks' included, stops the run when it fails.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lifeboat_steps::Redactor;
use serde_json::Map;
use tokio_util::sync::CancellationToken;

use super::{DryRun, RunConfig, RunEnv, RunOutcome, Scheduler};
use crate::journal::local_run_store::LocalRunStore;
use crate::journal::record::{Event, Record};
use crate::journal::run_store::{JournalRead, RunStore, StoreError};
use crate::journal::Journal;
use crate::operator::console::Console;
use crate::report::projection::Projection;
use crate::report::step_history::StepHistory;
use crate::runbook::checked_runbook::{check_text, registry};
use crate::runbook::source_file::SourceFile;
use crate::runbook::templates::Templates;

/// A local store that fails to write the first record `fails` picks, and,
/// like [`LocalRunStore`] after a failed write, refuses every append after.
struct FailingStore {
    inner: LocalRunStore,
    fails: fn(&Event) -> bool,
    failed: AtomicBool,
}

impl FailingStore {
    fn check(&self, records: &[Record]) -> Result<(), StoreError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(StoreError::Io(
                "an earlier write failed, so nothing more is appended".into(),
            ));
        }
        if records.iter().any(|r| (self.fails)(&r.event)) {
            self.failed.store(true, Ordering::SeqCst);
            return Err(StoreError::Io("No space left on device (test)".into()));
        }
        Ok(())
    }
}

impl RunStore for FailingStore {
    fn append(&self, records: &[Record]) -> Result<(), StoreError> {
        self.check(records)?;
        self.inner.append(records)
    }
    fn append_lazy(&self, records: &[Record]) -> Result<(), StoreError> {
        self.check(records)?;
        self.inner.append_lazy(records)
    }
    fn sync(&self) -> Result<(), StoreError> {
        self.inner.sync()
    }
    fn read(&self) -> Result<JournalRead, StoreError> {
        self.inner.read()
    }
    fn lock(&self) -> Result<Box<dyn Send + Sync>, StoreError> {
        self.inner.lock()
    }
    fn put_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner.put_file(name, bytes)
    }
    fn get_file(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.get_file(name)
    }
    fn dir(&self) -> &Path {
        self.inner.dir()
    }
    fn post_decision(
        &self,
        entry: &crate::journal::inbox::InboxEntry,
    ) -> Result<String, StoreError> {
        self.inner.post_decision(entry)
    }
    fn list_inbox(&self) -> Result<Vec<crate::journal::inbox::InboxItem>, StoreError> {
        self.inner.list_inbox()
    }
    fn remove_inbox(&self, names: &[String]) -> Result<(), StoreError> {
        self.inner.remove_inbox(names)
    }
}

/// Keeps the warnings a run shows.
#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);

impl Console for Warnings {
    fn record(&self, _record: &Record) {}
    fn output_line(&self, _step: &str, _line: &str) {}
    fn warn(&self, _step: Option<&str>, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
    fn describe(&self, _step: &str, _text: &str) {}
    fn info(&self, _message: &str) {}
}

/// What a run against a failing store did.
struct Ran {
    outcome: RunOutcome,
    warnings: Vec<String>,
    /// The records that reached the journal.
    written: Vec<Event>,
}

/// Runs `yaml` in `dir` with a store that fails to write the first record
/// `fails` picks.
fn run_failing(dir: &Path, yaml: &str, fails: fn(&Event) -> bool) -> Ran {
    let registry = Arc::new(registry());
    let templates = Arc::new(Templates::new());
    let (runbook, _) = check_text(
        SourceFile::new(dir.join("runbook.yaml"), yaml),
        &registry,
        &templates,
    )
    .unwrap_or_else(|d| panic!("invalid test runbook: {d:?}"));
    let runs = dir.join("runs");
    let store = Arc::new(FailingStore {
        inner: LocalRunStore::create(&runs, "r").unwrap(),
        fails,
        failed: AtomicBool::new(false),
    });
    let redactor = Redactor::new();
    let journal = Arc::new(Journal::new(
        store.clone(),
        crate::journal::chain::Tail::empty(),
        redactor.clone(),
        "tester",
    ));
    let console = Arc::new(Warnings::default());
    let run_dir = runs.join("r");
    let env = RunEnv {
        projection: Projection::to_clock_stop(&runbook, &StepHistory::default()),
        runbook: Arc::new(runbook),
        templates,
        journal,
        console: console.clone(),
        redactor,
        inputs: Map::new(),
        run_id: "r".into(),
        run_dir: run_dir.display().to_string(),
        work_dir: run_dir.join("work"),
        launch_dir: dir.to_path_buf(),
        started_at: crate::journal::timestamp::now_rfc3339(),
        cancel: CancellationToken::new(),
        prompt: None,
        step_through: false,
        pause: CancellationToken::new(),
        clock_start: None,
        clock_stop: None,
        sealing: Default::default(),
        signer: None,
        initiator_principal: None,
    };
    let config = RunConfig {
        dry_run: DryRun::Off,
        max_parallel: 4,
        operator: "tester".into(),
        wait: false,
    };
    let scheduler = Scheduler::new(env, config, None);
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(scheduler.run());
    let warnings = console.0.lock().unwrap().clone();
    let written = store
        .read()
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.event)
        .collect();
    Ran {
        outcome,
        warnings,
        written,
    }
}

fn names(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["type"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// A failed `attempt_failed` write stops the run before another attempt
/// (it was once dropped, and the step went on retrying with its side
/// effects unrecorded).
#[test]
fn a_failed_attempt_record_stops_the_run_before_the_next_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let ran = run_failing(
        dir.path(),
        r#"version: 1
name: flaky
steps:
  - id: flaky
    kind: shell
    with: { script: "echo x >> tries; exit 1" }
    retry: { attempts: 3, delay: 1ms }
  - id: after
    kind: shell
    needs: [flaky]
    with: { script: "echo ran > after" }
"#,
        |e| matches!(e, Event::AttemptFailed { .. }),
    );
    let work = dir.path().join("runs/r/work");
    let tries = std::fs::read_to_string(work.join("tries")).unwrap();
    assert_eq!(
        tries.lines().count(),
        1,
        "the step was attempted again after its failure could not be journalled"
    );
    assert_eq!(ran.outcome, RunOutcome::Interrupted);
    assert!(!work.join("after").exists());
    assert_eq!(
        ran.warnings.first().map(String::as_str),
        Some("cannot write the journal: No space left on device (test); stopping"),
        "{:?}",
        ran.warnings
    );
    assert_eq!(
        names(&ran.written),
        ["step_started", "process_started"],
        "nothing is recorded after the failed write"
    );
}

/// A failed `process_started` write stops the run, and with it the step's
/// child: a process group the journal does not know could outlive the
/// engine and run alongside a resumed copy of its step.
#[test]
fn a_failed_process_record_stops_the_run_and_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let ran = run_failing(
        dir.path(),
        r#"version: 1
name: slow
steps:
  - id: slow
    kind: shell
    with: { script: "sleep 5; echo done > finished" }
"#,
        |e| matches!(e, Event::ProcessStarted { .. }),
    );
    let work = dir.path().join("runs/r/work");
    assert!(
        !work.join("finished").exists(),
        "the step ran to its end although its process group was never journalled"
    );
    assert_eq!(ran.outcome, RunOutcome::Interrupted);
    assert_eq!(
        ran.warnings.first().map(String::as_str),
        Some("cannot write the journal: No space left on device (test); stopping"),
        "{:?}",
        ran.warnings
    );
    assert_eq!(names(&ran.written), ["step_started"]);
}
