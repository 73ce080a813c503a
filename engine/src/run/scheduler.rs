//! Executes a runbook's step graph.
//!
//! The scheduler starts every step whose `needs` are met, up to
//! `max_parallel` at once, on tokio. Every state change goes to the journal
//! before it takes effect: "step started" is written before the step's side
//! effect, "step succeeded" before any dependent starts. The scheduler never
//! touches storage except through [`Journal`](crate::journal::Journal), and
//! never talks to the network itself; only step kinds do.
//!
//! Rules (documented in docs/runbook-format.md):
//! - A step whose `when` is false is skipped. A skipped dependency counts as
//!   met; its outputs are empty and its `status` is `skipped`.
//! - A failed step fails the run unless it has `continue_on_failure`. Then no
//!   new main step starts, running ones finish, steps that needed the failed
//!   one are skipped, and `on_failure` runs, then `finally`.
//! - `timeout` bounds the whole step, every attempt and wait included.
//!
//! This file holds the [`Scheduler`] and its top-level [`Scheduler::run`];
//! each job it does has its own file under `scheduler/`:
//!
//! - `run_types.rs`: the public run types ([`DryRun`], [`RunOutcome`],
//!   [`RunConfig`], [`RunEnv`]).
//! - `takeover.rs`: taking over an earlier execution's state on resume, and
//!   each interrupted step's `rerun` policy.
//! - `secret_reread.rs`: secret outputs read again before a resume starts.
//! - `step_processes.rs`: step children's process groups, journalled and
//!   stopped when an earlier engine left them running.
//! - `sections.rs`: the section loop (`main`, `on_failure`, `finally`):
//!   which step is ready, waiting for results, what could not start.
//! - `start.rs`: starting one step: `when`, rendering, simulation in a
//!   drill, the write-ahead `step_started`, spawning its task.
//! - `step_task.rs`: one step's attempts, `until`, retries and timeout.
//! - `results.rs`: recording how a step ended.
//! - `for_each.rs`: a step with `for_each`: its items, each journalled as
//!   `<id>[<key>]`, up to `for_each.max_parallel` at once; on resume only
//!   the items not done run.
//! - `calls.rs`: `kind: runbook`: a call's start (its inputs), its steps'
//!   scope, its end (the called runbook's `outputs:`).
//! - `engine_steps.rs`: the kinds the engine runs itself (`assert`,
//!   `checkpoint`; `approval` and `manual` in `human_gates.rs`).
//! - `render.rs`: what templates and step kinds see of the run.
//! - `drill.rs`: what a drill simulated, and what therefore reads its output.
//! - `step_through.rs`: `--step`, and the ways a run is held.
//! - `journal_writes.rs`: writing the journal; a write that fails stops the
//!   run.
//! - `inbox.rs`: decisions posted from other shells and machines, taken in
//!   between steps, at a waiting gate and with `--wait`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use minijinja::Value;
use serde_json::Map;

use crate::journal::gate_record::GateRecord;
use crate::journal::record::Event;
use crate::journal::run_state::RunState;

mod calls;
mod drill;
mod engine_steps;
pub(super) mod for_each;
mod human_gates;
mod inbox;
mod journal_writes;
mod render;
mod results;
mod run_types;
mod secret_reread;
mod sections;
mod start;
mod step_processes;
mod step_task;
mod step_through;
mod takeover;
#[cfg(test)]
mod tests;

pub use run_types::{DryRun, RunConfig, RunEnv, RunOutcome};

use render::view;
use secret_reread::LostSecretOutputs;
use step_processes::LeftoverProcess;

/// Where a step is, as this execution sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Waiting,
    /// Was running when the engine was interrupted.
    Interrupted,
}

/// The first step that failed the run.
#[derive(Debug, Clone)]
struct Failure {
    /// Its id (`<internal>` when a step task panicked).
    step: String,
    /// Its error, as shown (`run.error` in templates).
    error: String,
}

/// Drives one execution (a run or a resume) of a runbook to its end.
///
/// Ownership: the scheduler owns every step's [`Status`] and the run's
/// state below, and changes them only on its own task, between awaits. A
/// running step owns nothing of it: its task (`step_task.rs`) gets clones
/// of what it reads and hands back a `Finished`, which the section loop
/// applies. What is shared is shared explicitly: `views` and `touched` with
/// the templates a step renders, the [`Journal`](crate::journal::Journal)
/// with every step task.
///
/// Cancellation flows down from [`RunEnv::cancel`] (an abort by Ctrl-C or a
/// signal, or a journal that cannot be written): each step gets a child
/// token, each attempt a child of that, so cancelling the run stops every
/// step and nothing new starts. [`RunEnv::pause`] (a pause asked at the
/// first Ctrl-C) only stops new starts; running steps finish.
pub struct Scheduler {
    /// What the launcher prepared: the runbook, journal, console, tokens.
    env: RunEnv,
    /// Settings of this execution (dry run, parallelism, operator).
    config: RunConfig,
    /// Each step's status, by index in `env.runbook.steps`. Changed through
    /// [`Scheduler::set_status`] once a section runs, which keeps
    /// `candidates` and `waiting` up to date.
    status: Vec<Status>,
    /// Each step's dependents (the steps whose `needs` name it, and those
    /// that wait for it as a rerun ancestor), by index.
    dependents: Vec<Vec<usize>>,
    /// On resume, the steps still to run above a pending step through
    /// completed ones (a `resume --redo` of an ancestor): the pending step
    /// waits for them too (`takeover.rs`, `wait_for_ancestors_to_run`).
    rerun_ancestors: HashMap<usize, Vec<usize>>,
    /// Steps whose start must be looked at again: a step whose status
    /// changed, and its dependents. The section loop looks only at these,
    /// so a step costs the same whatever the number of steps still to come
    /// (a scan of every pending step per start made a chain quadratic).
    candidates: BTreeSet<usize>,
    /// Steps in [`Status::Waiting`], so asking whether a gate waits does
    /// not scan every step.
    waiting: BTreeSet<usize>,
    /// The `steps` variable of templates (status and outputs by id);
    /// written by the scheduler, read by templates through `StepsView`.
    views: Arc<RwLock<HashMap<String, Value>>>,
    /// The `inputs` variable of templates, built once.
    inputs_value: Value,
    /// Dry-run placeholders that templates have read.
    touched: Arc<Mutex<BTreeSet<String>>>,
    /// The first step that failed the run.
    failure: Option<Failure>,
    /// Steps whose secret outputs were lost with the engine that ran them.
    lost_secrets: Vec<LostSecretOutputs>,
    /// Completed steps with secret outputs (and their names), to read again
    /// before a resumed run starts anything (`secret_reread.rs`).
    secret_steps: Vec<LostSecretOutputs>,
    /// The record that opens this execution (`resumed`), written once those
    /// secrets are registered.
    opening: Option<(Event, Option<crate::journal::record::Signed>)>,
    /// Human gates and their decisions so far, by step.
    gates: HashMap<String, GateRecord>,
    /// Who started the run (four eyes compares approvers with this).
    initiator: String,
    /// The operator quit in step-through mode.
    quit: bool,
    /// Gates are being settled after a failure: count decisions, ask nothing.
    settling: bool,
    /// The journal says that stdout was closed (it says so once).
    output_closed_noted: bool,
    /// Process groups that steps of an earlier engine started and that may
    /// still run; stopped before anything runs again.
    leftover_processes: Vec<LeftoverProcess>,
    /// When the RTO clock started, for a resumed run (progress display).
    clock_start: Option<String>,
    /// When it stopped: the first success of `rto.stop_at` (progress
    /// display; `results.rs` sets it).
    clock_stop: Option<String>,
    /// Steps a drill simulated because they could change things: what they
    /// would have made does not exist.
    simulated: Vec<bool>,
    /// Every main step has finished: `run.status` is no longer `running`.
    main_done: bool,
    /// When the inbox is next looked at (`inbox.rs`); `None`: now.
    inbox_due: Option<std::time::Instant>,
    /// Waiting gates with a `timeout`: when it ends (ms since the epoch),
    /// for `--wait`.
    gate_deadlines: HashMap<usize, i64>,
    /// What an earlier execution journalled of `for_each` items, by
    /// execution id (`<id>[<key>]`), and the marks of those interrupted.
    prior_items: for_each::PriorItems,
    /// Steps skipped because they could not start (the run failed, a
    /// dependency did not run): a call with one of them did not complete.
    not_started: BTreeSet<usize>,
    /// Each started call's rendered `with.inputs` (its steps' `inputs`),
    /// by the call step's index (`calls.rs`).
    scope_inputs: HashMap<usize, Value>,
    /// When each running call started, for its duration.
    call_started: HashMap<usize, std::time::Instant>,
    /// Running calls one of whose steps ended: each may be done.
    calls_to_settle: BTreeSet<usize>,
    /// The run's `--max-parallel`, as permits: every step task holds one
    /// while it runs, and a loop's task one per running item, so steps and
    /// items together never pass the bound (`sections.rs`, `for_each.rs`).
    slots: Arc<tokio::sync::Semaphore>,
    /// A permit the section loop waited for (a loop's item freed it) and
    /// holds for its next start; given back when nothing started.
    spare_slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The last search for ready steps stopped for want of a permit.
    slot_wanted: bool,
}

impl Scheduler {
    pub fn new(env: RunEnv, config: RunConfig, prior: Option<&RunState>) -> Self {
        let n = env.runbook.steps.len();
        let mut views = HashMap::with_capacity(n);
        for step in &env.runbook.steps {
            views.insert(step.id.clone(), view("pending", Map::new()));
        }
        let inputs_value = Value::from_serialize(&env.inputs);
        let mut dependents = vec![Vec::new(); n];
        for (i, step) in env.runbook.steps.iter().enumerate() {
            for need in step.needs_ids() {
                if let Some(j) = env.runbook.step_index(need) {
                    dependents[j].push(i);
                }
            }
        }
        let mut s = Self {
            status: vec![Status::Pending; n],
            dependents,
            rerun_ancestors: HashMap::new(),
            candidates: BTreeSet::new(),
            waiting: BTreeSet::new(),
            views: Arc::new(RwLock::new(views)),
            inputs_value,
            touched: Arc::new(Mutex::new(BTreeSet::new())),
            failure: None,
            lost_secrets: Vec::new(),
            secret_steps: Vec::new(),
            opening: None,
            gates: HashMap::new(),
            initiator: config.operator.clone(),
            quit: false,
            settling: false,
            output_closed_noted: false,
            leftover_processes: Vec::new(),
            clock_start: env.clock_start.clone(),
            clock_stop: env.clock_stop.clone(),
            simulated: vec![false; n],
            main_done: false,
            inbox_due: None,
            gate_deadlines: HashMap::new(),
            prior_items: Default::default(),
            not_started: BTreeSet::new(),
            scope_inputs: HashMap::new(),
            call_started: HashMap::new(),
            calls_to_settle: BTreeSet::new(),
            slots: Arc::new(tokio::sync::Semaphore::new(config.max_parallel.max(1))),
            spare_slot: None,
            slot_wanted: false,
            env,
            config,
        };
        if let Some(prior) = prior {
            s.restore(prior);
        }
        s
    }

    /// The journal this execution writes.
    pub fn run_journal(&self) -> Arc<crate::journal::Journal> {
        self.env.journal.clone()
    }

    /// The runbook this execution runs.
    pub fn runbook(&self) -> Arc<crate::runbook::checked_runbook::CheckedRunbook> {
        self.env.runbook.clone()
    }

    /// Runs to the end, a pause or an interruption.
    pub async fn run(mut self) -> RunOutcome {
        let journal = self.env.journal.clone();
        // A lease lost while the engine waits stops it at once, not at its
        // next write.
        let fence = journal.lost_lease().map(|lost| {
            tokio::spawn(journal_writes::stop_when_lease_lost(
                lost,
                self.env.console.clone(),
                self.env.cancel.clone(),
            ))
        });
        let outcome = self.run_to_end().await;
        if let Some(fence) = fence {
            fence.abort();
        }
        self.note_closed_output();
        // Whatever ended the run, nothing it wrote stays only in memory.
        if let Err(e) = journal.flush() {
            self.env
                .console
                .warn(None, &format!("cannot write the journal: {e}"));
        }
        outcome
    }

    async fn run_to_end(&mut self) -> RunOutcome {
        self.reread_secret_outputs().await;
        if let Some((event, signed)) = self.opening.take() {
            if let Err(e) = self.env.journal.record_signed(None, event, signed, None) {
                self.journal_failed(&e);
            }
        }
        self.announce_projection();
        let outcome = self.run_sections().await;
        if matches!(outcome, RunOutcome::Paused | RunOutcome::Interrupted) {
            self.announce_projection();
        }
        outcome
    }

    /// Sets step `i`'s status: it and its dependents are looked at again
    /// by the next search for ready steps.
    fn set_status(&mut self, i: usize, status: Status) {
        if self.status[i] == Status::Waiting {
            self.waiting.remove(&i);
        }
        self.status[i] = status;
        if status == Status::Waiting {
            self.waiting.insert(i);
        }
        self.candidates.insert(i);
        for &d in &self.dependents[i] {
            self.candidates.insert(d);
        }
        if matches!(status, Status::Succeeded | Status::Failed | Status::Skipped) {
            if let Some(call) = self.env.runbook.tree().scope(i) {
                self.calls_to_settle.insert(call);
            }
        }
    }

    /// Shows the projected finish (plain and JSON consoles; the terminal
    /// header keeps its own up to date from the same projection).
    fn announce_projection(&self) {
        let plan = self.progress_plan();
        let done = plan.done.iter().cloned().collect();
        let projected = plan.projected(
            &done,
            &HashMap::new(),
            jiff::Timestamp::now().as_millisecond(),
        );
        self.env.console.projection(&projected);
    }
}
