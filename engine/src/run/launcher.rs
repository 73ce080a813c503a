//! Preparing an execution: a new run (inputs, run directory, first journal
//! record) or a resumed one (lock, replay, digest check, secrets re-read).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lifeboat_steps::{Redactor, Registry};
use tokio_util::sync::CancellationToken;

use crate::journal::allowed_signers::{self, AllowedSigners};
use crate::journal::chain::Tail;
use crate::journal::record::{Event, Record, Signed, JOURNAL_VERSION};
use crate::journal::run_state::{RunState, StepRecordState, NOT_STARTED, STEP_THROUGH_SKIP};
use crate::journal::run_store::{Driver, RunStore, StoreError, TakeOver};
use crate::journal::run_stores::RunStores;
use crate::journal::signature::NAMESPACE;
use crate::journal::signer::Signer;
use crate::journal::timestamp::now_rfc3339;
use crate::journal::Journal;
use crate::operator::console::Console;
use crate::operator::question::OperatorPrompt;
use crate::report::projection::Projection;
use crate::report::step_history::StepHistory;
use crate::run::input_values::{self, InputError, InputValues};
use crate::run::notifier::{self, Notifier, NotifyError, NotifyFeed, NotifyRun};
use crate::run::scheduler::for_each::{json_type, keyed_items};
use crate::run::scheduler::{DryRun, RunConfig, RunEnv, Scheduler};
use crate::run::sealed_outputs::Sealing;
use crate::runbook::call_tree;
use crate::runbook::call_tree::CallItems;
use crate::runbook::checked_runbook::{check_stored, load_checked, CheckedRunbook};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::engine_kind::EngineKind;
use crate::runbook::recipients;
use crate::runbook::source_file::SourceFile;
use crate::runbook::step::Section;
use crate::runbook::step_graph::StepGraph;
use crate::runbook::templates::Templates;

/// What `lifeboat run` was asked to do.
pub struct NewRun<'a> {
    pub file: &'a Path,
    pub inputs: &'a [String],
    pub inputs_file: Option<&'a Path>,
    pub config: RunConfig,
    pub declared_at: Option<String>,
    /// `--recipients FILE`: seal secret outputs to these keys (instead of
    /// the runbook's `recipients:`).
    pub recipients: Option<&'a Path>,
    /// `--notify`: a drill sends the runbook's notifications too (marked
    /// DRILL); a real run always sends them.
    pub notify: bool,
}

/// What `lifeboat resume` was asked to do.
pub struct Resume<'a> {
    pub run_id: &'a str,
    pub from: Option<&'a str>,
    pub allow_changed: bool,
    /// Steps to run again (`--redo`), and why (`--reason`).
    pub redo: &'a [String],
    pub reason: Option<&'a str>,
    /// `--yes`: redo even a completed step that is unsafe to repeat.
    pub yes: bool,
    pub max_parallel: usize,
    pub operator: String,
    /// `--wait` (see [`RunConfig::wait`]).
    pub wait: bool,
    /// `--take-over`: take the lease from a live driver on another machine
    /// (the command asked, or `--yes` was given). Without it, a live lease
    /// is waited for until it expires.
    pub take_over: bool,
    /// `--recipients FILE`: must be the set the run seals to.
    pub recipients: Option<&'a Path>,
    /// `--identity FILE` / `LIFEBOAT_IDENTITY`: opens sealed secret outputs.
    pub identity: Option<&'a Path>,
    /// `--notify`, as for [`NewRun::notify`].
    pub notify: bool,
}

/// Why a run cannot start or resume. Each message says what is wrong and
/// how to go on; none holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The runbook has errors (`diagnostics`, each rendered with its own
    /// label and location, come before this message).
    #[error("the runbook is invalid; fix it and run again (`lifeboat validate {}` shows the same)", file.display())]
    InvalidRunbook {
        file: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    #[error(
        "--declared-at `{text}` is not an RFC 3339 time such as 2026-11-21T09:40:00Z: {problem}"
    )]
    DeclaredAtNotATime { text: String, problem: String },
    #[error("--declared-at `{text}` is {ahead} in the future (now is {now}); the incident must have been declared before the run starts, with up to 5 minutes of clock skew allowed; check the time and its zone (`Z` means UTC)")]
    DeclaredAtInFuture {
        text: String,
        ahead: String,
        now: String,
    },
    /// The items of a `for_each` call cannot be laid out.
    #[error("step `{step}`: {problem}; nothing ran (fix the input the list comes from)")]
    CallItems { step: String, problem: String },
    #[error(transparent)]
    Inputs(#[from] InputError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("run `{run_id}` has no start record; its journal is empty or damaged")]
    NoStartRecord { run_id: String },
    #[error("`{step}` is not a checkpoint step; --from takes the id of a `kind: checkpoint` step")]
    NotACheckpoint { step: String },
    #[error("no checkpoint `{step}` in this runbook; checkpoints: {}", if checkpoints.is_empty() { "none".into() } else { checkpoints.join(", ") })]
    NoSuchCheckpoint {
        step: String,
        checkpoints: Vec<String>,
    },
    #[error("run `{run_id}` has not reached checkpoint `{checkpoint}`; resume without --from")]
    CheckpointNotReached { run_id: String, checkpoint: String },
    #[error("--redo needs --reason TEXT: the journal records who ran `{}` again and why", steps.join("`, `"))]
    RedoWithoutReason { steps: Vec<String> },
    /// `hint` is a "did you mean", or where to find the step ids.
    #[error("--redo `{step}`: no step `{step}` in runbook `{runbook}`; {hint}")]
    RedoUnknownStep {
        step: String,
        runbook: String,
        hint: String,
    },
    #[error("--redo `{step}`: the step was interrupted mid-step; say how it ended with `lifeboat mark {run_id} {step} done|failed --as NAME` (failed runs it again)")]
    RedoInterrupted { step: String, run_id: String },
    #[error(
        "--redo `{step}`: the step has not run yet, so resume runs it anyway; drop --redo `{step}`"
    )]
    RedoNotRun { step: String },
    #[error("--redo `{step}`: the step completed and is unsafe to repeat (`rerun: {policy}`), so running it again may repeat its effect; add --yes to run it again anyway")]
    RedoUnsafe { step: String, policy: &'static str },
    #[error("--redo `{step}`: the step is waiting for a decision; give it (`lifeboat status {run_id}` shows how), then resume")]
    RedoWaiting { step: String, run_id: String },
    #[error("the run's runbook copy is not UTF-8")]
    CopyNotUtf8,
    /// The run's copy of its runbook is not the version the journal
    /// records: what differs, where, and how to go on (built by
    /// [`changed_copy`]).
    #[error("{0}")]
    CopyNotRecorded(String),
    /// `summary` lists the steps added, removed or changed.
    #[error("`{}` changed since run `{run_id}` started:\n{summary}\nresuming with a changed runbook can repeat or skip work; restore the file, or pass --allow-changed to continue with the new version", path.display())]
    SourceChanged {
        path: PathBuf,
        run_id: String,
        summary: String,
    },
    /// The journal's checksums, sequence or hash chain do not hold
    /// (`journal/verify.rs`): `finding` and `at` are the first break, as
    /// `lifeboat verify` prints it.
    #[error("the journal of run `{run_id}` is broken, so it is not resumed: {finding} (at {at}); `lifeboat verify {run_id}` shows every break. The journal is the run's evidence: do not edit it; restore the original (from a backup, or the bucket's object versions), or start a new run")]
    JournalBroken {
        run_id: String,
        finding: String,
        at: String,
    },
    /// The runbook a resume would continue with has errors (`diagnostics`,
    /// rendered, come before this message).
    #[error("the run's runbook no longer validates")]
    CopyInvalid { diagnostics: Vec<Diagnostic> },
    /// `--recipients FILE` does not parse (`diagnostics`, rendered, come
    /// before this message).
    #[error("the recipients file `{}` is invalid; fix it and run again", file.display())]
    RecipientsInvalid {
        file: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    /// A resume's `--recipients` is not the set the run seals to.
    #[error("`--recipients {}` is not the set run `{run_id}` seals its secret outputs to (fixed when it started: {}); resume without `--recipients` to keep sealing to the run's set, or start a new run to seal to another", file.display(), if journalled.is_empty() { "none".to_string() } else { journalled.join(", ") })]
    RecipientsChanged {
        file: PathBuf,
        run_id: String,
        /// The run's recipients' fingerprints.
        journalled: Vec<String>,
    },
    /// Signing or the allowed signers file: what is wrong, and the fix.
    #[error("{0}")]
    Signing(String),
    /// A `notify:` target's URL does not render to a URL.
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// What a launch prepared: an execution, or nothing to do.
pub enum Launch {
    Ready(Box<Prepared>),
    /// A resume of a run that already succeeded, asked to re-run nothing
    /// (no `--from`, no `--redo`): not an error, the run is done.
    AlreadySucceeded {
        run_id: String,
    },
}

/// A prepared execution: run it with [`Prepared::scheduler`].
pub struct Prepared {
    pub run_id: String,
    pub scheduler: Scheduler,
    /// Holds the run's lock until the execution ends.
    pub _lock: Box<dyn Send + Sync>,
    /// The run's store, for the timeline written after the scheduler ends.
    pub store: Arc<dyn RunStore>,
    /// A drill's work directory, emptied when the execution ends.
    pub drill_work: Option<DrillWorkDir>,
    /// The run's redactor (secrets included), for what is written after
    /// the scheduler finishes: the timeline.
    pub redactor: Redactor,
    /// The run's notifications, finished when the execution ends
    /// ([`Notifier::finish`]); `None` without targets (or in a drill
    /// without `--notify`).
    pub notifier: Option<Notifier>,
}

pub struct Launcher {
    pub stores: RunStores,
    pub registry: Arc<Registry>,
    pub templates: Arc<Templates>,
    pub console: Arc<dyn Console>,
    pub cancel: CancellationToken,
    pub prompt: Option<Arc<dyn OperatorPrompt>>,
    /// Step-through mode (`--step`).
    pub step_through: bool,
    /// Cancelled by the first Ctrl-C to pause the run.
    pub pause: CancellationToken,
    /// The key the operator's decisions are signed with (the run's start,
    /// a take-over, answers at the terminal), if any.
    pub signer: Option<Arc<Signer>>,
    /// `--allowed-signers` (or `LIFEBOAT_ALLOWED_SIGNERS`).
    pub allowed_signers: Option<PathBuf>,
}

impl Launcher {
    pub fn start(&self, req: NewRun) -> Result<Prepared, LaunchError> {
        let runbook = load_checked(req.file, &self.registry, &self.templates)
            .map(|(rb, _)| rb)
            .map_err(|diags| LaunchError::InvalidRunbook {
                file: req.file.to_path_buf(),
                diagnostics: diags.into_iter().filter(Diagnostic::is_error).collect(),
            })?;
        if let Some(declared) = &req.declared_at {
            let at = declared.parse::<jiff::Timestamp>().map_err(|e| {
                LaunchError::DeclaredAtNotATime {
                    text: declared.clone(),
                    problem: e.to_string(),
                }
            })?;
            check_declared_in_past(declared, at, jiff::Timestamp::now())?;
        }
        let redactor = Redactor::new();
        let dry = req.config.dry_run != DryRun::Off;
        let console = self.console.clone();
        let inputs = input_values::resolve(
            &runbook,
            req.inputs,
            req.inputs_file,
            dry,
            &redactor,
            &|w| console.warn(None, w),
        )?;
        let recipients = match req.recipients {
            Some(file) => {
                recipients::read(file).map_err(|diagnostics| LaunchError::RecipientsInvalid {
                    file: file.to_path_buf(),
                    diagnostics,
                })?
            }
            // `load_checked` has read it already: it parses.
            None => recipients::path_of(&runbook)
                .map(|p| recipients::read(&p).unwrap_or_default())
                .unwrap_or_default(),
        };
        let launch_dir = launch_dir(None);
        let mut inputs = inputs;
        input_values::anchor_paths(&runbook, &mut inputs.all, &launch_dir);
        let runbook =
            lay_out_call_loops(runbook, &inputs.public(), &self.registry, &self.templates)?;
        let mut notes = Vec::new();
        let notifier = self.notifier(&runbook, &inputs, dry, req.notify, &mut notes)?;
        let requires_signing = requires_signing(&runbook);
        let signers = self.signers_for_start(&runbook, requires_signing && !dry)?;
        let run_id = new_run_id(&runbook.name);
        // Signed (or refused) before anything is created: a refused start
        // leaves no run behind.
        let started_event = Event::RunStarted {
            run_id: run_id.clone(),
            runbook: runbook.name.clone(),
            title: runbook.title.clone(),
            digest: runbook.digest(),
            scenario: runbook.scenario.clone(),
            inputs: inputs.public(),
            secret_inputs: inputs.secret_names.clone(),
            dry_run: req.config.dry_run.as_journal(),
            declared_at: req.declared_at.clone(),
            rto_target_ms: runbook.rto.as_ref().map(|r| r.target.as_millis() as u64),
            rto_stop_at: runbook.rto.as_ref().and_then(|r| r.stop_at.clone()),
            engine_version: env!("CARGO_PKG_VERSION").into(),
            launch_dir: Some(launch_dir.display().to_string()),
            allowed_signers: signers.as_ref().map(|(path, _)| path.display().to_string()),
            allowed_signers_sha256: signers.as_ref().map(|(_, s)| s.sha256.clone()),
            require_signed: runbook.require_signed,
            recipients: recipients.clone().into(),
        };
        let signed = self.sign_start(
            &run_id,
            &req.config.operator,
            &started_event,
            signers.as_ref().map(|(_, s)| s),
            requires_signing && !dry,
        )?;
        let store = self.stores.create(&run_id)?;
        let lock = store.lock()?;
        store.put_file("runbook.yaml", runbook.source.text.as_bytes())?;
        store_tree(store.as_ref(), &runbook, false)?;
        store.put_file(
            "runbook.sha256",
            format!("{}\n", runbook.digest()).as_bytes(),
        )?;
        store.put_file(
            "inputs.json",
            serde_json::to_string_pretty(&inputs.public())
                .unwrap_or_default()
                .as_bytes(),
        )?;
        let source_path =
            std::fs::canonicalize(req.file).unwrap_or_else(|_| req.file.to_path_buf());
        store.put_file("source_path", source_path.display().to_string().as_bytes())?;
        let initiator_principal = signed.as_ref().and_then(|s| s.principal.clone());
        let signers = signers.map(|(_, s)| Arc::new(s));
        let journal = self.journal(
            store.clone(),
            new_run_tail(),
            &redactor,
            &req.config.operator,
            signers,
            notifier.as_ref().map(|(_, feed)| feed.clone()),
        );
        let started = journal.record_signed(None, started_event, signed, None)?;
        // After the run id, which is the first line of output.
        for note in notes {
            self.console.info(&note);
        }
        let mut scheduler_env = self.env(
            Arc::new(runbook),
            journal,
            redactor.clone(),
            inputs,
            &run_id,
            store.dir(),
            launch_dir,
            None,
        );
        scheduler_env.clock_start = Some(req.declared_at.clone().unwrap_or(started.ts));
        scheduler_env.sealing = Sealing {
            recipients,
            identity: None,
        };
        scheduler_env.initiator_principal = initiator_principal;
        let scheduler = Scheduler::new(scheduler_env, req.config, None);
        let notifier = self.start_notifier(
            notifier,
            &scheduler,
            &run_id,
            &*store,
            &redactor,
            dry,
            Vec::new(),
        );
        Ok(Prepared {
            run_id,
            scheduler,
            _lock: lock,
            store: store.clone(),
            redactor,
            drill_work: dry.then(|| DrillWorkDir(store.dir().join("work"))),
            notifier,
        })
    }

    pub fn resume(&self, req: Resume) -> Result<Launch, LaunchError> {
        let store = self.stores.open(req.run_id)?;
        // Before the lock or the lease: a refused resume takes nothing
        // from a live driver.
        check_chain(&*store, req.run_id)?;
        if let Some(file) = req.recipients {
            check_recipients(&*store, req.run_id, file)?;
        }
        if req.take_over {
            // A take-over that would be refused unsigned is refused before
            // it takes the lease from anyone.
            self.check_take_over_signer(&*store, req.run_id)?;
        }
        let TakeOver {
            guard: lock,
            previous,
        } = self.take_lock(&*store, req.take_over)?;
        let mut read = store.read()?;
        for w in &read.warnings {
            self.console.warn(None, w);
        }
        let first = RunState::replay(&read.records, &|_| Vec::new());
        if first.run_id.is_empty() {
            return Err(LaunchError::NoStartRecord {
                run_id: req.run_id.to_string(),
            });
        }
        let (runbook, changed) = self.runbook_for_resume(&*store, &first, req.allow_changed)?;
        // Laid out from the inputs the run recorded: the same item calls,
        // so the journal's `<call>[<key>]/<step>` are its steps again.
        let runbook = lay_out_call_loops(runbook, &first.inputs, &self.registry, &self.templates)?;
        let graphs: Vec<StepGraph> = [Section::Main, Section::OnFailure, Section::Finally]
            .into_iter()
            .map(|s| StepGraph::new(&runbook, s))
            .collect();
        let descendants = |cp: &str| descendants(&runbook, &graphs, cp);
        if let Some(cp) = req.from {
            match runbook.step_index(cp) {
                Some(i) if runbook.kind(i).engine() == Some(EngineKind::Checkpoint) => {}
                Some(_) => {
                    return Err(LaunchError::NotACheckpoint {
                        step: cp.to_string(),
                    })
                }
                None => {
                    let cps: Vec<&str> = (0..runbook.steps.len())
                        .filter(|&i| runbook.kind(i).engine() == Some(EngineKind::Checkpoint))
                        .map(|i| runbook.steps[i].id.as_str())
                        .collect();
                    return Err(LaunchError::NoSuchCheckpoint {
                        step: cp.to_string(),
                        checkpoints: cps.into_iter().map(String::from).collect(),
                    });
                }
            }
            if !matches!(first.steps.get(cp), Some(StepRecordState::Succeeded { .. })) {
                return Err(LaunchError::CheckpointNotReached {
                    run_id: req.run_id.to_string(),
                    checkpoint: cp.to_string(),
                });
            }
        }
        check_redo(&runbook, &first, &req)?;
        if first.finished == Some(crate::journal::record::RunStatus::Succeeded)
            && req.from.is_none()
            && req.redo.is_empty()
        {
            // Not resumable: nothing is taken from the inbox. Entries
            // already journalled (an engine died between journalling and
            // removing them) are only removed; the others stay, said so.
            let done: std::collections::HashSet<&str> = read
                .records
                .iter()
                .filter_map(|r| r.inbox.as_deref())
                .collect();
            let (journalled, left): (Vec<_>, Vec<_>) = store
                .list_inbox()?
                .into_iter()
                .partition(|item| done.contains(item.name.as_str()));
            if !journalled.is_empty() {
                let names: Vec<String> = journalled.into_iter().map(|i| i.name).collect();
                store.remove_inbox(&names)?;
            }
            let left = left.len();
            if left > 0 {
                self.console.warn(
                    None,
                    &format!(
                        "the run's inbox holds {left} decision(s) that no engine took before the run succeeded; they are not journalled"
                    ),
                );
            }
            return Ok(Launch::AlreadySucceeded {
                run_id: req.run_id.to_string(),
            });
        }
        let dry_run = match first.dry_run.as_deref() {
            Some("render") => DryRun::Render,
            Some("probes") => DryRun::Probes,
            _ => DryRun::Off,
        };
        let redactor = Redactor::new();
        let launch_dir = launch_dir(first.launch_dir.as_deref());
        let console = self.console.clone();
        let inputs = input_values::resume(
            &runbook,
            &first.inputs,
            &redactor,
            dry_run != DryRun::Off,
            &launch_dir,
            &|w| console.warn(None, w),
        )?;
        // The file the run started with, needed where the runbook requires
        // signatures; otherwise, missing here, decisions go unverified.
        let signers = match allowed_signers::for_run(
            req.run_id,
            first.allowed_signers.as_deref(),
            first.allowed_signers_sha256.as_deref(),
            self.allowed_signers.as_deref(),
        ) {
            Ok(signers) => signers.map(Arc::new),
            Err(e) if requires_signing(&runbook) => {
                return Err(LaunchError::Signing(format!("{e}; nothing changed")))
            }
            Err(e) => {
                self.console.warn(
                    None,
                    &format!("{e}; decisions are not verified in this execution"),
                );
                None
            }
        };
        // Only now, the run known to be resumable by this process under its
        // lock and its secret inputs registered, are the decisions posted
        // while an earlier engine drove it (it may have died before it took
        // them) journalled, redacted; a refused resume leaves the inbox as
        // it was. The state is replayed again when one was taken.
        let first = if self.take_inbox(&store, &redactor, &req.operator, signers.clone())? {
            read = store.read()?;
            RunState::replay(&read.records, &|_| Vec::new())
        } else {
            first
        };
        let mut notes = Vec::new();
        let notifier = self.notifier(
            &runbook,
            &inputs,
            dry_run != DryRun::Off,
            req.notify,
            &mut notes,
        )?;
        for note in notes {
            self.console.info(&note);
        }
        let journal = self.journal(
            store.clone(),
            read.tail(),
            &redactor,
            &req.operator,
            signers.clone(),
            notifier.as_ref().map(|(_, feed)| feed.clone()),
        );
        // The scheduler writes `resumed` once it has read the lost secret
        // outputs again (`scheduler/secret_reread.rs`), so that every secret
        // the run knows is registered before its first record. The state is
        // replayed with that record as it will be written: reading the file
        // again would double the cost of a resume on a long journal.
        let resumed = Event::Resumed {
            from_checkpoint: req.from.map(String::from),
            allow_changed: req.allow_changed,
            digest: Some(runbook.digest()),
            redo: req.redo.to_vec(),
            reason: (!req.redo.is_empty())
                .then(|| req.reason.unwrap_or_default().trim().to_string()),
            took_over_from: previous
                .as_ref()
                .map(|d| format!("{} on {} (pid {})", d.holder, d.machine, d.pid)),
        };
        // A take-over is a decision: signed like one, and refused unsigned
        // when the runbook requires signatures.
        let signed = match &resumed {
            Event::Resumed {
                took_over_from: Some(_),
                ..
            } => self.sign_decision(
                req.run_id,
                &req.operator,
                &resumed,
                signers.as_deref(),
                first.require_signed,
                "the take-over",
            )?,
            _ => None,
        };
        let mut records = read.records;
        let prior = match notifier {
            Some(_) => records.clone(),
            None => Vec::new(),
        };
        records.push(Record {
            v: JOURNAL_VERSION,
            seq: first.last_seq + 1,
            ts: now_rfc3339(),
            actor: req.operator.clone(),
            inbox: None,
            signed: signed.clone(),
            prev: None,
            event: resumed.clone(),
        });
        let mut state = RunState::replay(&records, &descendants);
        let clock_stop = crate::report::rto_report::RtoReport::clock_stop(
            &records,
            runbook.rto.as_ref().and_then(|r| r.stop_at.as_deref()),
        );
        // Only a run that finished as failed retries its failures; a run
        // paused at a gate in `on_failure`, or interrupted there, continues
        // where it stopped.
        if first.finished == Some(crate::journal::record::RunStatus::Failed) {
            reopen_failed(&runbook, &mut state);
        }
        // `resume --step` asks again about the steps skipped in step-through
        // mode: a skip is a decision for that execution, not for good.
        if self.step_through {
            state.steps.retain(|_, s| {
                !matches!(s, StepRecordState::Skipped { reason } if reason.starts_with(STEP_THROUGH_SKIP))
            });
        }
        let config = RunConfig {
            dry_run,
            max_parallel: req.max_parallel,
            operator: req.operator.clone(),
            wait: req.wait,
        };
        // Only now, with every check passed, does the changed runbook taken
        // with --allow-changed become the run's copy: a refused resume
        // leaves the run directory as it was.
        if changed {
            let text = runbook.source.text.as_bytes();
            store.put_file("runbook.yaml", text)?;
            store_tree(store.as_ref(), &runbook, true)?;
            store.put_file(
                "runbook.sha256",
                format!("{}\n", runbook.digest()).as_bytes(),
            )?;
        }
        let runbook = Arc::new(runbook);
        let mut env = self.env(
            runbook,
            journal,
            redactor.clone(),
            inputs,
            req.run_id,
            store.dir(),
            launch_dir,
            Some(&state),
        );
        env.clock_stop = clock_stop;
        env.sealing = Sealing {
            recipients: state.recipients.clone(),
            identity: req.identity.map(Path::to_path_buf),
        };
        env.initiator_principal = first.initiator_principal.clone();
        let mut scheduler = Scheduler::new(env, config, Some(&state));
        scheduler.first_record(resumed, signed);
        let notifier = self.start_notifier(
            notifier,
            &scheduler,
            req.run_id,
            &*store,
            &redactor,
            dry_run != DryRun::Off,
            prior,
        );
        Ok(Launch::Ready(Box::new(Prepared {
            run_id: req.run_id.to_string(),
            scheduler,
            _lock: lock,
            store: store.clone(),
            redactor,
            drill_work: (dry_run != DryRun::Off).then(|| DrillWorkDir(store.dir().join("work"))),
            notifier,
        })))
    }

    /// Takes the run's lock (a lease, for a run in S3). A lease live on
    /// another machine is waited for, once a second, until it expires, or
    /// up to its expiry as first seen plus a margin if its holder keeps
    /// renewing it: then the error names the driver. With `force`
    /// (`--take-over`) the lease is taken at once.
    fn take_lock(&self, store: &dyn RunStore, force: bool) -> Result<TakeOver, StoreError> {
        let mut deadline: Option<std::time::Instant> = None;
        let mut shown: Option<Driver> = None;
        loop {
            match store.take_over(force) {
                Err(StoreError::Locked {
                    run,
                    driver: Some(driver),
                }) if !force => {
                    let left = crate::journal::timestamp::parse_ms(&driver.until)
                        .map(|until| until - jiff::Timestamp::now().as_millisecond())
                        .map_or(Duration::ZERO, |ms| Duration::from_millis(ms.max(0) as u64));
                    let deadline = *deadline.get_or_insert_with(|| {
                        std::time::Instant::now()
                            + left
                            + left.clamp(LEASE_WAIT_MARGIN / 5, LEASE_WAIT_MARGIN)
                    });
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked {
                            run,
                            driver: Some(driver),
                        });
                    }
                    if shown.as_ref() != Some(&driver) {
                        self.console.info(&format!(
                            "run `{run}` is driven by {driver}; waiting for that lease to expire (Ctrl-C stops waiting; if that engine is gone, `lifeboat resume {run} --take-over` skips the wait)"
                        ));
                        shown = Some(*driver);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    /// Journals the run's inbox (`journal/decision.rs`) with the run's
    /// redactor, saying on the console what was taken and what was
    /// refused; true when anything was journalled.
    fn take_inbox(
        &self,
        store: &Arc<dyn RunStore>,
        redactor: &Redactor,
        operator: &str,
        signers: Option<Arc<AllowedSigners>>,
    ) -> Result<bool, LaunchError> {
        let items = store.list_inbox()?;
        if items.is_empty() {
            return Ok(false);
        }
        let tail = store.read()?.tail();
        let journal =
            Journal::new(store.clone(), tail, redactor.clone(), operator).with_signers(signers);
        let taken = crate::journal::decision::ingest(&journal, items)?;
        let any = !taken.is_empty();
        for taken in taken {
            match taken {
                crate::journal::decision::Taken::Recorded(r) => self.console.info(&format!(
                    "took {} by {} from the run's inbox",
                    crate::journal::decision::describe_decision(&r.event),
                    r.actor
                )),
                crate::journal::decision::Taken::Refused(record) => {
                    if let Event::Note { text } = &record.event {
                        self.console.warn(None, text);
                    }
                }
            }
        }
        Ok(any)
    }

    /// The runbook a resume continues with: the run's own copy, unless the
    /// original file changed — then refuse, or take the new one with
    /// `--allow-changed`.
    ///
    /// The copy is trusted only if its SHA-256 is the digest the journal
    /// holds for the run (`run_started`, or the last `resumed` after an
    /// allowed change): `runbook.yaml` and `source_path` are plain files in
    /// the run directory, the journal is the record.
    ///
    /// The flag is true when the runbook is the changed original, which the
    /// resume writes as the run's copy once it goes ahead.
    fn runbook_for_resume(
        &self,
        store: &dyn RunStore,
        state: &RunState,
        allow_changed: bool,
    ) -> Result<(CheckedRunbook, bool), LaunchError> {
        let copy_path = store.dir().join("runbook.yaml");
        let copy = String::from_utf8(store.get_file("runbook.yaml")?)
            .map_err(|_| LaunchError::CopyNotUtf8)?;
        let source_path = store
            .get_file("source_path")
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(PathBuf::from);
        let current = source_path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok());
        // The called runbooks' copies, by key (`runbook/call_tree.rs`).
        let tree: BTreeMap<String, String> = match store.get_file(TREE_FILE) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| LaunchError::CopyNotUtf8)?,
            Err(_) => BTreeMap::new(),
        };
        let copy_digest = call_tree::tree_digest(&copy, &tree);
        // With --allow-changed the operator takes the original file as it
        // is now, so a changed copy no longer matters.
        if copy_digest != state.digest && !(allow_changed && current.is_some()) {
            return Err(changed_copy(ChangedCopy {
                copy_path: &copy_path,
                copy: &copy,
                copy_digest: &copy_digest,
                state,
                source_path: source_path.as_deref(),
                current: current.as_deref(),
            }));
        }
        // A called file changed on disk is a changed runbook too.
        let changed_child = source_path.as_ref().and_then(|p| {
            let dir = p.parent()?;
            tree.iter().find_map(|(key, text)| {
                let now = std::fs::read_to_string(dir.join(key)).ok()?;
                (now != *text).then(|| (dir.join(key), text.clone(), now))
            })
        });
        if let (Some((path, old, now)), false) = (&changed_child, allow_changed) {
            return Err(LaunchError::SourceChanged {
                path: path.clone(),
                run_id: state.run_id.clone(),
                summary: summarize_change(old, now),
            });
        }
        if let (true, Some(_), Some(path)) = (changed_child.is_some(), &current, &source_path) {
            return load_checked(path, &self.registry, &self.templates)
                .map(|(rb, _)| (rb, true))
                .map_err(|diagnostics| LaunchError::CopyInvalid { diagnostics });
        }
        let (text, path, changed) = match (current, &source_path) {
            (Some(cur), Some(path)) if cur != copy => {
                if !allow_changed {
                    return Err(LaunchError::SourceChanged {
                        path: path.clone(),
                        run_id: state.run_id.clone(),
                        summary: summarize_change(&copy, &cur),
                    });
                }
                (cur, path.clone(), true)
            }
            _ => (
                copy,
                source_path
                    .clone()
                    .unwrap_or_else(|| store.dir().join("runbook.yaml")),
                false,
            ),
        };
        if changed {
            return load_checked(&path, &self.registry, &self.templates)
                .map(|(rb, _)| (rb, changed))
                .map_err(|diagnostics| LaunchError::CopyInvalid { diagnostics });
        }
        check_stored(
            SourceFile::new(path, text),
            &tree,
            &self.registry,
            &self.templates,
        )
        .map(|(rb, _)| (rb, changed))
        .map_err(|diagnostics| LaunchError::CopyInvalid { diagnostics })
    }

    /// The execution's journal: every record it writes is shown on the
    /// console and, with targets, handed to the notifier.
    fn journal(
        &self,
        store: Arc<dyn RunStore>,
        tail: Tail,
        redactor: &Redactor,
        operator: &str,
        signers: Option<Arc<AllowedSigners>>,
        notify: Option<NotifyFeed>,
    ) -> Arc<Journal> {
        let console = self.console.clone();
        Arc::new(
            Journal::new(store, tail, redactor.clone(), operator)
                .with_observer(Arc::new(move |r| {
                    console.record(r);
                    if let Some(feed) = &notify {
                        feed.record(r);
                    }
                }))
                .with_signers(signers),
        )
    }

    /// The run's notifier, before anything is created: the targets' URLs
    /// rendered (a URL that is not one refuses the launch). A drill sends
    /// only with `--notify`; `None` when nothing is to be sent. What the
    /// operator should know goes to `notes`, shown once the run has its id.
    fn notifier(
        &self,
        runbook: &CheckedRunbook,
        inputs: &InputValues,
        drill: bool,
        notify: bool,
        notes: &mut Vec<String>,
    ) -> Result<Option<(Notifier, NotifyFeed)>, LaunchError> {
        if runbook.notify.is_empty() {
            if notify {
                notes.push(
                    "--notify: this runbook has no `notify:` targets; nothing is sent".into(),
                );
            }
            return Ok(None);
        }
        if drill && !notify {
            notes.push(
                "this drill sends no notifications (`--notify` sends them, marked DRILL)".into(),
            );
            return Ok(None);
        }
        let off = std::cell::RefCell::new(Vec::new());
        let targets = notifier::render_targets(runbook, &self.templates, &inputs.all, &|m| {
            off.borrow_mut().push(m.to_string())
        })?;
        notes.extend(off.into_inner());
        Ok((!targets.is_empty()).then(|| Notifier::new(targets)))
    }

    /// Starts the notifier's thread once the scheduler exists (its
    /// progress plan is the projection `rto_at_risk` watches).
    #[allow(clippy::too_many_arguments)]
    fn start_notifier(
        &self,
        notifier: Option<(Notifier, NotifyFeed)>,
        scheduler: &Scheduler,
        run_id: &str,
        store: &dyn RunStore,
        redactor: &Redactor,
        drill: bool,
        prior: Vec<Record>,
    ) -> Option<Notifier> {
        let (notifier, _feed) = notifier?;
        notifier.start(NotifyRun {
            journal: scheduler.run_journal(),
            redactor: redactor.clone(),
            runbook: scheduler.runbook(),
            console: self.console.clone(),
            run_id: run_id.to_string(),
            run_dir: store.dir().to_path_buf(),
            drill,
            plan: scheduler.progress_plan(),
            prior,
        });
        Some(notifier)
    }

    /// The allowed signers file of a new run: `--allowed-signers` (or
    /// `LIFEBOAT_ALLOWED_SIGNERS`), else the runbook's
    /// `approvers.allowed_signers` relative to the runbook's file; required
    /// when the runbook requires signed decisions.
    fn signers_for_start(
        &self,
        runbook: &CheckedRunbook,
        required: bool,
    ) -> Result<Option<(PathBuf, AllowedSigners)>, LaunchError> {
        let path = match (&self.allowed_signers, &runbook.approvers) {
            (Some(given), _) => given.clone(),
            (None, Some(a)) => runbook
                .source
                .path()
                .parent()
                .unwrap_or(Path::new("."))
                .join(&a.allowed_signers),
            (None, None) if required => {
                return Err(LaunchError::Signing(
                    "this runbook requires signed decisions (`require_signed`) but names no allowed signers file; add `approvers: { allowed_signers: PATH }` to the runbook, or give --allowed-signers FILE (or LIFEBOAT_ALLOWED_SIGNERS)".into(),
                ))
            }
            (None, None) => return Ok(None),
        };
        // A runbook's file that is missing matters only where signatures
        // are required; a file given on the command line must be there.
        if !required && self.allowed_signers.is_none() && !path.exists() {
            self.console.warn(
                None,
                &format!(
                    "the runbook's allowed signers file `{}` does not exist; decisions are not verified in this run",
                    path.display()
                ),
            );
            return Ok(None);
        }
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let signers = AllowedSigners::read(&path).map_err(LaunchError::Signing)?;
        Ok(Some((path, signers)))
    }

    /// Whether this operator can sign a take-over of a run whose runbook
    /// requires signatures: a key, and one the run's allowed signers file
    /// names. Read without the lock (like `status`).
    fn check_take_over_signer(
        &self,
        store: &dyn RunStore,
        run_id: &str,
    ) -> Result<(), LaunchError> {
        let run = RunState::replay(&store.read()?.records, &|_| Vec::new());
        if !run.require_signed {
            return Ok(());
        }
        let how = "sign it with a key of the allowed signers file: load it into ssh-agent (`ssh-add`) or give --sign-with KEYFILE";
        let Some(signer) = &self.signer else {
            return Err(LaunchError::Signing(format!(
                "run `{run_id}` requires signed decisions (`require_signed`), so the take-over must be signed; {how}; nothing changed"
            )));
        };
        let signers = allowed_signers::for_run(
            run_id,
            run.allowed_signers.as_deref(),
            run.allowed_signers_sha256.as_deref(),
            self.allowed_signers.as_deref(),
        )
        .map_err(|e| LaunchError::Signing(format!("{e}; nothing changed")))?;
        match signers.as_ref().map(|s| s.find(signer.public_key().key_data(), NAMESPACE)) {
            Some(Ok(_)) => Ok(()),
            Some(Err(reason)) => Err(LaunchError::Signing(format!(
                "run `{run_id}` requires signed decisions (`require_signed`), and the take-over would not verify: {reason}; {how}; nothing changed"
            ))),
            None => Err(LaunchError::Signing(format!(
                "run `{run_id}` requires signed decisions but has no allowed signers file; nothing changed"
            ))),
        }
    }

    /// Signs a run's start with the operator's key. When the runbook
    /// requires signatures the start must verify against the allowed
    /// signers: its principal is the initiator four eyes compares with.
    fn sign_start(
        &self,
        run_id: &str,
        operator: &str,
        event: &Event,
        signers: Option<&AllowedSigners>,
        required: bool,
    ) -> Result<Option<Signed>, LaunchError> {
        self.sign_decision(
            run_id,
            operator,
            event,
            signers,
            required,
            "the run's start",
        )
    }

    /// Signs `event` (a start or a take-over) with the operator's key and
    /// verifies it (`journal/decision.rs`): the record's signature, with
    /// the principal it verified as. Refused when `required` and it does
    /// not verify.
    fn sign_decision(
        &self,
        run_id: &str,
        operator: &str,
        event: &Event,
        signers: Option<&AllowedSigners>,
        required: bool,
        what: &str,
    ) -> Result<Option<Signed>, LaunchError> {
        crate::journal::decision::sign_checked(
            self.signer.as_deref(),
            run_id,
            operator,
            event,
            signers,
            required,
            &format!("{what} (the runbook's `require_signed`)"),
        )
        .map_err(|e| {
            LaunchError::Signing(format!(
                "{e}; nothing changed (it names who started or took over the run)"
            ))
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn env(
        &self,
        runbook: Arc<CheckedRunbook>,
        journal: Arc<Journal>,
        redactor: Redactor,
        inputs: InputValues,
        run_id: &str,
        dir: &Path,
        launch_dir: PathBuf,
        prior: Option<&RunState>,
    ) -> RunEnv {
        // Durations measured in this runbook's earlier runs, for the
        // projected finish the consoles show.
        let history = StepHistory::load(&self.stores, &runbook.name, Some(run_id));
        RunEnv {
            projection: Projection::to_clock_stop(&runbook, &history),
            clock_start: None,
            clock_stop: None,
            runbook,
            templates: self.templates.clone(),
            journal,
            console: self.console.clone(),
            redactor,
            inputs: inputs.all,
            run_id: run_id.to_string(),
            run_dir: dir.display().to_string(),
            work_dir: dir.join("work"),
            launch_dir,
            // When the run started: a resume keeps the first execution's time.
            started_at: prior
                .map(|p| p.started_at.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(now_rfc3339),
            cancel: self.cancel.clone(),
            prompt: self.prompt.clone(),
            step_through: self.step_through,
            pause: self.pause.clone(),
            sealing: Sealing::default(),
            signer: self.signer.clone(),
            initiator_principal: None,
        }
    }
}

/// `resume --recipients FILE`: the file must hold the set the run seals
/// to, journalled in `run_started` (read without the lock: only that
/// record counts, and it never changes).
fn check_recipients(store: &dyn RunStore, run_id: &str, file: &Path) -> Result<(), LaunchError> {
    let mut given =
        recipients::read(file).map_err(|diagnostics| LaunchError::RecipientsInvalid {
            file: file.to_path_buf(),
            diagnostics,
        })?;
    let journalled = store
        .read()?
        .records
        .into_iter()
        .find_map(|r| match r.event {
            Event::RunStarted { recipients, .. } => Some(recipients.into_vec()),
            _ => None,
        })
        .ok_or_else(|| LaunchError::NoStartRecord {
            run_id: run_id.to_string(),
        })?;
    let mut sorted = journalled.clone();
    given.sort();
    sorted.sort();
    if given != sorted {
        return Err(LaunchError::RecipientsChanged {
            file: file.to_path_buf(),
            run_id: run_id.to_string(),
            journalled: journalled
                .iter()
                .map(|k| recipients::fingerprint(k))
                .collect(),
        });
    }
    Ok(())
}

/// Whether a runbook requires signed decisions anywhere: top-level
/// `require_signed`, or a gate's literal `require_signed: true`.
fn requires_signing(runbook: &CheckedRunbook) -> bool {
    runbook.require_signed
        || (0..runbook.steps.len()).any(|i| {
            runbook.kind(i).engine().is_some_and(|k| k.is_human())
                && runbook.steps[i].with.to_json().get("require_signed")
                    == Some(&serde_json::Value::Bool(true))
        })
}

/// How long past a lease's expiry (as first seen) a resume keeps waiting
/// for a holder that keeps renewing it: at most this, at least a fifth of
/// it, and otherwise the lease's time left.
const LEASE_WAIT_MARGIN: Duration = Duration::from_secs(5);

/// The work directory of a drill. A drill leaves nothing behind: what its
/// read-only steps fetched into the work directory is removed when the
/// execution ends, however it ends (short of a crash; then the next
/// execution of the drill removes it).
pub struct DrillWorkDir(pub PathBuf);

impl Drop for DrillWorkDir {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// A failed run that is resumed tries its failed main steps again, and the
/// steps that could not start because of them. `on_failure` and `finally`
/// steps run again at the end, except those that completed and are unsafe
/// to repeat (`rerun: never`, explicitly or by their kind's default): a
/// completed step that is unsafe to repeat is never executed again.
fn reopen_failed(runbook: &CheckedRunbook, state: &mut RunState) {
    // A step interrupted mid-step keeps what a human said of it (`mark`):
    // marked failed, it runs again; unmarked, it is asked about again.
    let unconfirmed = &state.unconfirmed;
    state.steps.retain(|id, s| {
        let Some(step) = runbook.step(id) else {
            return true;
        };
        if unconfirmed.contains_key(id) {
            return true;
        }
        match s {
            StepRecordState::Failed { .. } => step.section != Section::Main,
            StepRecordState::Skipped { reason } => {
                !(reason.starts_with(NOT_STARTED) || reason.contains("which failed"))
            }
            _ => true,
        }
    });
    state.steps.retain(|id, s| {
        let Some(step) = runbook.step(id) else {
            return true;
        };
        if step.section == Section::Main || unconfirmed.contains_key(id) {
            return true;
        }
        matches!(s, StepRecordState::Succeeded { .. }) && unsafe_to_repeat(runbook, &step.id)
    });
}

/// A step whose `rerun` policy ([`CheckedRunbook::rerun_policy`]) is not
/// `safe`: running it again once it completed may repeat its effect.
fn unsafe_to_repeat(runbook: &CheckedRunbook, id: &str) -> bool {
    runbook
        .step_index(id)
        .is_some_and(|i| runbook.rerun_policy(i) != lifeboat_steps::Rerun::Safe)
}

/// `resume --redo STEP`: each step exists and has an outcome to redo; a
/// reason is given; a completed step unsafe to repeat needs `--yes`.
fn check_redo(runbook: &CheckedRunbook, run: &RunState, req: &Resume) -> Result<(), LaunchError> {
    if req.redo.is_empty() {
        return Ok(());
    }
    if req.reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(LaunchError::RedoWithoutReason {
            steps: req.redo.to_vec(),
        });
    }
    for id in req.redo {
        // One item of a loop (`<id>[<key>]`) is redone under its step's policy.
        let step_id = crate::runbook::step::split_item_id(id)
            .filter(|(s, _)| runbook.step(s).is_some_and(|s| s.for_each.is_some()))
            .map_or(id.as_str(), |(s, _)| s);
        let Some(_) = runbook.step(step_id) else {
            let hint = crate::runbook::diagnostic::did_you_mean(
                id,
                runbook.steps.iter().map(|s| s.id.as_str()),
            )
            .unwrap_or_else(|| "`lifeboat plan` lists its steps".into());
            return Err(LaunchError::RedoUnknownStep {
                step: id.clone(),
                runbook: runbook.name.clone(),
                hint,
            });
        };
        let run_id = &run.run_id;
        match run.steps.get(id) {
            _ if run.unconfirmed.contains_key(id) => {
                return Err(LaunchError::RedoInterrupted {
                    step: id.clone(),
                    run_id: run_id.clone(),
                })
            }
            None => return Err(LaunchError::RedoNotRun { step: id.clone() }),
            Some(StepRecordState::Succeeded { .. })
                if unsafe_to_repeat(runbook, step_id) && !req.yes =>
            {
                let policy = match runbook.step_index(step_id).map(|i| runbook.rerun_policy(i)) {
                    Some(lifeboat_steps::Rerun::Check) => "check",
                    _ => "never",
                };
                return Err(LaunchError::RedoUnsafe {
                    step: id.clone(),
                    policy,
                });
            }
            Some(
                StepRecordState::Succeeded { .. }
                | StepRecordState::Skipped { .. }
                | StepRecordState::Failed { .. },
            ) => {}
            Some(StepRecordState::Interrupted { .. } | StepRecordState::Waiting { .. }) => {
                return Err(LaunchError::RedoWaiting {
                    step: id.clone(),
                    run_id: run_id.clone(),
                })
            }
        }
    }
    Ok(())
}

/// Refuses to continue a journal whose stored bytes do not hold: the
/// checks of `lifeboat verify` (checksums, sequence, hash chain; not the
/// signatures, which a resume checks where it counts them). An unchained
/// journal (written before the chain) and a torn final line (a crash
/// mid-write) are not breaks.
fn check_chain(store: &dyn RunStore, run_id: &str) -> Result<(), LaunchError> {
    let raw = store.read_raw()?;
    let report = crate::journal::verify::verify(run_id, &raw);
    match report.first_break() {
        Some(first) => Err(LaunchError::JournalBroken {
            run_id: run_id.to_string(),
            finding: first.message.clone(),
            at: first.at.clone(),
        }),
        None => Ok(()),
    }
}

/// The runbook with its `for_each` calls laid out for the run's non-secret
/// inputs (`inputs`, anchored, as journalled): one item call and its called
/// steps per item ([`CheckedRunbook::with_call_items`]). A runbook without
/// such calls is returned as it is. `plan` lays out with the inputs given
/// and the defaults the same way.
pub fn lay_out_call_loops(
    runbook: CheckedRunbook,
    inputs: &serde_json::Map<String, serde_json::Value>,
    registry: &Registry,
    templates: &Templates,
) -> Result<CheckedRunbook, LaunchError> {
    let loops: Vec<usize> = runbook.call_loops().collect();
    if loops.is_empty() {
        return Ok(runbook);
    }
    // `validate` allows these lists to read `inputs` only.
    let ctx = minijinja::Value::from_serialize(serde_json::json!({ "inputs": inputs }));
    let mut items = CallItems::new();
    for i in loops {
        let step = &runbook.steps[i];
        let Some(f) = &step.for_each else { continue };
        let refused = |problem: String| LaunchError::CallItems {
            step: step.id.clone(),
            problem,
        };
        let values = match templates.render_value(&f.items.to_json(), &ctx) {
            Ok(serde_json::Value::Array(values)) => values,
            Ok(other) => {
                return Err(refused(format!(
                    "`for_each.items` must render a list, but it rendered {}",
                    json_type(&other)
                )))
            }
            Err(e) => return Err(refused(format!("template error in `for_each.items`: {e}"))),
        };
        let keyed = keyed_items(templates, f, &ctx, &values, &Redactor::new()).map_err(refused)?;
        items.insert(
            step.id.clone(),
            keyed.into_iter().map(|(key, _)| key).zip(values).collect(),
        );
    }
    runbook
        .with_call_items(&items, registry, templates)
        .map_err(|diagnostics| LaunchError::InvalidRunbook {
            file: runbook.source.path().to_path_buf(),
            diagnostics: diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect(),
        })
}

/// The directory a run resolves relative program paths against: the one
/// recorded when it started, else the current one (a new run, or a run
/// recorded before launch directories were).
fn launch_dir(recorded: Option<&str>) -> PathBuf {
    match recorded {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    }
}

/// Every step that depends, directly or not, on `step`.
/// The run's copies of the runbooks its runbook calls, by key, beside
/// `runbook.yaml`.
const TREE_FILE: &str = "runbook-tree.json";

/// Writes the run's copy of the called runbooks to match `runbook`: the
/// files it calls, canonically ([`CallTree::stored_json`]). A tree without
/// calls writes none, unless an earlier copy is there (`replacing`, a
/// `resume --allow-changed`): that copy is emptied, so that it can never
/// describe a tree the run no longer has.
fn store_tree(
    store: &dyn RunStore,
    runbook: &CheckedRunbook,
    replacing: bool,
) -> Result<(), StoreError> {
    let tree = runbook.tree();
    if !tree.files.is_empty() || (replacing && store.get_file(TREE_FILE).is_ok()) {
        store.put_file(TREE_FILE, &tree.stored_json())?;
    }
    Ok(())
}

fn descendants(runbook: &CheckedRunbook, graphs: &[StepGraph], step: &str) -> Vec<String> {
    let Some(start) = runbook.step_index(step) else {
        return Vec::new();
    };
    let graph = &graphs[0];
    let mut out = Vec::new();
    let mut stack = vec![start];
    let mut seen = std::collections::HashSet::new();
    while let Some(s) = stack.pop() {
        for d in graph.dependents(s) {
            if seen.insert(d) {
                out.push(runbook.steps[d].id.clone());
                stack.push(d);
            }
        }
    }
    // A called runbook's step runs again inside its call, which runs again
    // too (its inputs rendered, its outputs rendered at its end).
    let mut call = runbook.tree().scope(start);
    while let Some(c) = call {
        if seen.insert(c) {
            out.push(runbook.steps[c].id.clone());
        }
        call = runbook.tree().scope(c);
    }
    // on_failure and finally run after the main steps, so they follow too.
    out.extend(
        runbook
            .steps
            .iter()
            .filter(|s| s.section != Section::Main)
            .map(|s| s.id.clone()),
    );
    out
}

/// Which step ids were added, removed or changed between two runbook texts.
fn summarize_change(old: &str, new: &str) -> String {
    let parse = |text: &str| {
        let (rb, _) = crate::runbook::loader::load(Arc::new(SourceFile::new("x", text)));
        rb.map(|rb| {
            rb.steps
                .iter()
                .map(|s| {
                    (
                        s.id.clone(),
                        format!(
                            "{:?}|{:?}|{:?}|{:?}",
                            s.kind,
                            s.with.to_json(),
                            s.needs_ids().collect::<Vec<_>>(),
                            s.when.as_ref().map(|w| &w.text)
                        ),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        })
        .unwrap_or_default()
    };
    let (a, b) = (parse(old), parse(new));
    let mut lines = Vec::new();
    for id in a.keys().filter(|k| !b.contains_key(*k)) {
        lines.push(format!("  - removed step `{id}`"));
    }
    for id in b.keys().filter(|k| !a.contains_key(*k)) {
        lines.push(format!("  + added step `{id}`"));
    }
    for (id, v) in &a {
        if b.get(id).is_some_and(|w| w != v) {
            lines.push(format!("  ~ changed step `{id}`"));
        }
    }
    if lines.is_empty() {
        lines.push("  (no step changed; other fields differ)".into());
    }
    lines.join("\n")
}

/// A run directory whose runbook copy does not match the journal.
struct ChangedCopy<'a> {
    copy_path: &'a Path,
    copy: &'a str,
    copy_digest: &'a str,
    state: &'a RunState,
    source_path: Option<&'a Path>,
    /// The original file's text now, if it can be read.
    current: Option<&'a str>,
}

/// Refuses a resume whose runbook copy is not the recorded one: what
/// differs, where, and how to go on.
fn changed_copy(c: ChangedCopy) -> LaunchError {
    let recorded = &c.state.digest;
    let original_is_recorded = c
        .current
        .is_some_and(|cur| lifeboat_steps::checksum::sha256_hex(cur.as_bytes()) == *recorded);
    let mut message = format!(
        "the run's copy of its runbook `{}` does not match the journal of run `{}`: the journal records sha256 {recorded} (at `run_started`, or the last resume with --allow-changed), the copy's is {}; the journal is authoritative, so resume does not run this copy",
        c.copy_path.display(),
        c.state.run_id,
        c.copy_digest,
    );
    if original_is_recorded {
        if let Some(cur) = c.current {
            message.push_str(&format!(
                "\nthe copy differs from the recorded version:\n{}",
                summarize_change(cur, c.copy)
            ));
        }
    }
    let how = match (c.source_path, c.current) {
        (Some(p), Some(_)) if original_is_recorded => format!(
            "`{}` still holds the recorded version: copy it to `{}`, then resume again",
            p.display(),
            c.copy_path.display()
        ),
        (Some(p), Some(_)) => format!(
            "put the recorded version back in `{}`, or pass --allow-changed to continue with `{}` as it is now",
            c.copy_path.display(),
            p.display()
        ),
        (Some(p), None) => format!(
            "the original `{}` cannot be read either; put the recorded version back in `{}` (--allow-changed needs the original file)",
            p.display(),
            c.copy_path.display()
        ),
        (None, _) => format!(
            "put the recorded version back in `{}`",
            c.copy_path.display()
        ),
    };
    message.push('\n');
    message.push_str(&how);
    LaunchError::CopyNotRecorded(message)
}

/// `<runbook>-<UTC yyyymmdd-hhmmss>-<4 hex>`: sortable, typeable, unique.
fn new_run_id(name: &str) -> String {
    let now = jiff::Timestamp::now();
    let nanos = now.subsec_nanosecond() as u64 ^ (std::process::id() as u64).rotate_left(17);
    format!(
        "{name}-{}-{:04x}",
        now.strftime("%Y%m%d-%H%M%S"),
        (nanos ^ (nanos >> 16)) & 0xffff
    )
}

/// How far in the future `--declared-at` may be, for clocks that disagree.
pub const DECLARED_AT_SKEW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// An incident is declared before its recovery starts: a `--declared-at`
/// more than [`DECLARED_AT_SKEW`] ahead of now is a mistake (often a local
/// time written with `Z`), not something to ignore.
fn check_declared_in_past(
    text: &str,
    at: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Result<(), LaunchError> {
    let ahead_ms = at.as_millisecond() - now.as_millisecond();
    if ahead_ms <= DECLARED_AT_SKEW.as_millis() as i64 {
        return Ok(());
    }
    let now = now.strftime("%Y-%m-%dT%H:%M:%SZ");
    Err(LaunchError::DeclaredAtInFuture {
        text: text.to_string(),
        ahead: crate::report::rto_report::human_ms(ahead_ms),
        now: now.to_string(),
    })
}

/// The tail a new run's journal starts from: a chain from its first record.
///
/// `LIFEBOAT_BENCH_UNCHAINED=1` starts an unchained journal instead; it
/// exists only so `benches/overhead.rs` can measure what the chain costs in
/// the same run, and is not an operator's option. It cannot hide anything:
/// `lifeboat verify` reports such a journal as `unchained`, never intact.
fn new_run_tail() -> Tail {
    if std::env::var_os("LIFEBOAT_BENCH_UNCHAINED").is_some_and(|v| v == "1") {
        return Tail { seq: 0, link: None };
    }
    Tail::empty()
}
