//! Executes a runbook's step graph.
//!
//! The scheduler starts every step whose `needs` are met, up to
//! `max_parallel` at once, on tokio. Every state change goes to the journal
//! before it takes effect: "step started" is written before the step's side
//! effect, "step succeeded" before any dependent starts. The scheduler never
//! touches storage except through [`Journal`], and never talks to the
//! network itself; only step kinds do.
//!
//! Rules (documented in docs/runbook-format.md):
//! - A step whose `when` is false is skipped. A skipped dependency counts as
//!   met; its outputs are empty and its `status` is `skipped`.
//! - A failed step fails the run unless it has `continue_on_failure`. Then no
//!   new main step starts, running ones finish, steps that needed the failed
//!   one are skipped, and `on_failure` runs, then `finally`.
//! - `timeout` bounds the whole step, every attempt and wait included.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use lifeboat_steps::{Redactor, Registry, Rerun, StepContext, StepError, StepKind, StepOutput};
use minijinja::value::Object;
use minijinja::{context, Value};
use serde_json::Map;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::journal::gate_record::GateRecord;
use crate::journal::record::{Event, MarkOutcome, RunStatus};
use crate::journal::run_state::{RunState, StepRecordState, NOT_STARTED};
use crate::journal::Journal;
use crate::operator::console::{Console, ConsoleProgress};
use crate::operator::question::{
    ApprovalQuestion, ManualQuestion, OperatorPrompt, StepThroughChoice,
};
use crate::runbook::engine_kind::EngineKind;
use crate::runbook::step::{Section, Step};
use crate::runbook::templates::{Placeholder, Templates};
use crate::runbook::Runbook;

mod human_gates;
mod secret_reread;
mod step_processes;
mod step_through;

/// How a run treats steps that could change things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRun {
    /// Run everything.
    Off,
    /// Run nothing; render every step's command or request.
    Render,
    /// Run read-only steps for real; simulate the rest.
    Probes,
}

impl DryRun {
    pub fn as_journal(self) -> Option<String> {
        match self {
            DryRun::Off => None,
            DryRun::Render => Some("render".into()),
            DryRun::Probes => Some("probes".into()),
        }
    }
}

/// How a run ended (`cli/error.rs` gives each its exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded,
    Failed,
    /// Waiting for a human; resumable.
    Paused,
    /// Stopped by Ctrl-C or a signal; resumable.
    Interrupted,
}

/// Settings of one execution (a run or a resume).
#[derive(Clone)]
pub struct RunConfig {
    pub dry_run: DryRun,
    pub max_parallel: usize,
    pub operator: String,
}

/// Everything a scheduler needs, prepared by [`crate::run::launcher`].
pub struct RunEnv {
    pub runbook: Arc<Runbook>,
    pub registry: Arc<Registry>,
    pub templates: Arc<Templates>,
    pub journal: Arc<Journal>,
    pub console: Arc<dyn Console>,
    pub redactor: Redactor,
    /// Every input value, secrets included; kept in memory only.
    pub inputs: Map<String, serde_json::Value>,
    pub run_id: String,
    pub run_dir: String,
    pub work_dir: std::path::PathBuf,
    /// Where `lifeboat run` was started; see [`StepContext::launch_dir`].
    pub launch_dir: std::path::PathBuf,
    pub started_at: String,
    pub cancel: CancellationToken,
    pub prompt: Option<Arc<dyn OperatorPrompt>>,
    /// Step-through mode (`--step`): ask before each step.
    pub step_through: bool,
    /// Cancelled to pause: start nothing new, let running steps finish.
    pub pause: CancellationToken,
    /// The run's projected finish (expected durations, up to `rto.stop_at`).
    pub projection: crate::report::projection::Projection,
    /// When the RTO clock started (RFC 3339), if known.
    pub clock_start: Option<String>,
}

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

/// The `steps` variable of templates: looked up lazily so that building a
/// context costs the same whatever the number of steps.
#[derive(Debug)]
struct StepsView(Arc<RwLock<HashMap<String, Value>>>);

impl Object for StepsView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(key.as_str()?).cloned()
    }
}

/// What a step task hands back.
struct Finished {
    index: usize,
    result: Result<StepOutput, StepError>,
    duration: Duration,
}

pub struct Scheduler {
    env: RunEnv,
    config: RunConfig,
    status: Vec<Status>,
    views: Arc<RwLock<HashMap<String, Value>>>,
    inputs_value: Value,
    /// Dry-run placeholders that templates have read.
    touched: Arc<Mutex<BTreeSet<String>>>,
    /// The first step that failed the run, and its error.
    failure: Option<(String, String)>,
    /// Steps whose secret outputs were lost with the engine that ran them.
    lost_secrets: Vec<String>,
    /// Completed steps with secret outputs (and their names), to read again
    /// before a resumed run starts anything (`secret_reread.rs`).
    secret_steps: Vec<(usize, Vec<String>)>,
    /// The record that opens this execution (`resumed`), written once those
    /// secrets are registered.
    opening: Option<Event>,
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
    leftover_processes: Vec<(String, lifeboat_steps::process_group::ProcessGroup)>,
    /// When the RTO clock started, for a resumed run (progress display).
    clock_start: Option<String>,
    /// Steps a drill simulated because they could change things: what they
    /// would have made does not exist.
    simulated: Vec<bool>,
    /// Every main step has finished: `run.status` is no longer `running`.
    main_done: bool,
}

impl Scheduler {
    pub fn new(env: RunEnv, config: RunConfig, prior: Option<&RunState>) -> Self {
        let n = env.runbook.steps.len();
        let mut views = HashMap::with_capacity(n);
        for step in &env.runbook.steps {
            views.insert(step.id.clone(), view("pending", Map::new()));
        }
        let inputs_value = Value::from_serialize(&env.inputs);
        let mut s = Self {
            status: vec![Status::Pending; n],
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
            simulated: vec![false; n],
            main_done: false,
            env,
            config,
        };
        if let Some(prior) = prior {
            s.restore(prior);
        }
        s
    }

    /// Takes over what an earlier execution of this run achieved.
    fn restore(&mut self, prior: &RunState) {
        self.gates = prior.gates.clone();
        self.leftover_processes = prior
            .processes
            .iter()
            .map(|(step, group)| (step.clone(), *group))
            .collect();
        self.leftover_processes.sort_by(|a, b| a.0.cmp(&b.0));
        if !prior.operator.is_empty() {
            self.initiator = prior.operator.clone();
        }
        self.clock_start = prior
            .declared_at
            .clone()
            .or_else(|| Some(prior.started_at.clone()).filter(|s| !s.is_empty()));
        let mut lost = Vec::new();
        for (i, step) in self.env.runbook.steps.iter().enumerate() {
            // Interrupted mid-step: what a human said of it decides,
            // whatever happened since (a failed run skips it, a resume of
            // a failed run reopens it).
            match prior.unconfirmed.get(&step.id) {
                // It did not complete: run it again.
                Some(Some(MarkOutcome::Failed)) => continue,
                Some(None) => {
                    self.status[i] = Status::Interrupted;
                    continue;
                }
                _ => {}
            }
            let Some(state) = prior.steps.get(&step.id) else {
                continue;
            };
            self.status[i] = match state {
                StepRecordState::Succeeded {
                    outputs,
                    simulated,
                    secret_outputs,
                } => {
                    self.simulated[i] = *simulated && EngineKind::from_name(&step.kind).is_none();
                    if *simulated && step.dry_run_outputs.is_none() {
                        self.set_placeholder_view(step);
                    } else {
                        // Secret outputs were journalled as a placeholder and
                        // lived in memory only: leave them undefined, so a
                        // template that reads one fails and says why, rather
                        // than passing «redacted» on as a token.
                        let mut outputs = outputs.clone();
                        for name in secret_outputs {
                            outputs.remove(name);
                        }
                        if !secret_outputs.is_empty() {
                            lost.push((i, secret_outputs.clone()));
                        }
                        self.set_view(&step.id, "succeeded", outputs);
                    }
                    Status::Succeeded
                }
                StepRecordState::Failed { error } => {
                    self.set_view(&step.id, "failed", Map::new());
                    if !step.continue_on_failure
                        && step.section == Section::Main
                        && self.failure.is_none()
                    {
                        self.failure = Some((step.id.clone(), error.clone()));
                    }
                    Status::Failed
                }
                StepRecordState::Skipped { .. } => {
                    self.set_view(&step.id, "skipped", Map::new());
                    Status::Skipped
                }
                StepRecordState::Interrupted { .. } => Status::Interrupted,
                // A human gate asks again (or counts the decisions given
                // meanwhile); anything else waited on `lifeboat mark`.
                StepRecordState::Waiting { .. }
                    if EngineKind::from_name(&step.kind).is_some_and(|k| k.is_human()) =>
                {
                    Status::Pending
                }
                StepRecordState::Waiting { .. } => Status::Interrupted,
            };
        }
        for (i, names) in lost {
            self.reload_secret_outputs(i, &names);
        }
    }

    /// Gives a completed step back the secret outputs the engine that ran
    /// it kept in memory only, when its kind saved them durably (e.g.
    /// `vault.init`'s `output_file`). Otherwise they stay undefined and a
    /// template that reads one says why.
    fn reload_secret_outputs(&mut self, i: usize, names: &[String]) {
        let step = &self.env.runbook.steps[i];
        let reloaded = self.env.registry.get(&step.kind).and_then(|kind| {
            let with = self
                .env
                .templates
                .render_value(&step.with.to_json(), &self.template_context());
            let ctx = self.step_context(step, Vec::new(), false, self.env.cancel.child_token());
            match with {
                Ok(with) => kind.reload_secret_outputs(&ctx, &with),
                Err(e) => Some(Err(StepError::new(e))),
            }
        });
        match reloaded {
            Some(Ok(out)) => {
                let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
                let mut outputs = views
                    .get(&step.id)
                    .and_then(|v| v.get_attr("outputs").ok())
                    .and_then(|o| serde_json::to_value(&o).ok())
                    .and_then(|o| o.as_object().cloned())
                    .unwrap_or_default();
                let mut missing = Vec::new();
                for name in names {
                    match out.outputs.get(name) {
                        Some(v) => {
                            self.env.redactor.add_value(v);
                            outputs.insert(name.clone(), v.clone());
                        }
                        None => missing.push(name.as_str()),
                    }
                }
                views.insert(step.id.clone(), view("succeeded", outputs));
                drop(views);
                if !missing.is_empty() {
                    self.lost_secrets
                        .push(format!("`{}` ({})", step.id, missing.join(", ")));
                }
            }
            // The kind keeps nothing durable: a read-only step is read
            // again before the resume's first record (`secret_reread.rs`).
            None => self.secret_steps.push((i, names.to_vec())),
            other => {
                if let Some(Err(e)) = other {
                    self.env.console.warn(
                        Some(&step.id),
                        &format!(
                            "cannot reload its secret outputs: {}",
                            self.env.redactor.redact(&e.message)
                        ),
                    );
                }
                self.lost_secrets
                    .push(format!("`{}` ({})", step.id, names.join(", ")));
            }
        }
    }

    /// Runs to the end, a pause or an interruption.
    pub async fn run(mut self) -> RunOutcome {
        let journal = self.env.journal.clone();
        let outcome = self.run_to_end().await;
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
        if let Some(event) = self.opening.take() {
            self.journal(event);
        }
        self.announce_projection();
        let outcome = self.run_sections().await;
        if matches!(outcome, RunOutcome::Paused | RunOutcome::Interrupted) {
            self.announce_projection();
        }
        outcome
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

    async fn run_sections(&mut self) -> RunOutcome {
        if let Err(outcome) = self.resolve_interrupted().await {
            return outcome;
        }
        self.run_section(Section::Main).await;
        if self.env.cancel.is_cancelled() {
            return self.interrupted();
        }
        if let Some(outcome) = self.held() {
            return outcome;
        }
        self.main_done = true;
        if self.failure.is_some() {
            self.run_section(Section::OnFailure).await;
        }
        if !self.env.cancel.is_cancelled() && !self.holding() {
            self.run_section(Section::Finally).await;
        }
        if self.env.cancel.is_cancelled() {
            return self.interrupted();
        }
        if let Some(outcome) = self.held() {
            return outcome;
        }
        let status = if self.failure.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        self.journal(Event::RunFinished { status });
        match status {
            RunStatus::Succeeded => RunOutcome::Succeeded,
            RunStatus::Failed => RunOutcome::Failed,
        }
    }

    fn interrupted(&self) -> RunOutcome {
        self.journal(Event::Interrupted {
            reason: "stopped by the operator (Ctrl-C or signal)".into(),
        });
        RunOutcome::Interrupted
    }

    /// Applies each interrupted step's `rerun` policy before anything new starts.
    async fn resolve_interrupted(&mut self) -> Result<(), RunOutcome> {
        self.stop_leftover_processes().await;
        let runbook = self.env.runbook.clone();
        let mut waiting = Vec::new();
        for (i, step) in runbook.steps.iter().enumerate() {
            if self.status[i] != Status::Interrupted {
                continue;
            }
            match self.rerun_policy(step) {
                Rerun::Safe => self.status[i] = Status::Pending,
                Rerun::Check => {
                    if self.run_check(step).await {
                        let mut outputs = Map::new();
                        outputs.insert("confirmed_by_check".into(), true.into());
                        self.journal(Event::StepSucceeded {
                            step: step.id.clone(),
                            outputs: outputs.clone(),
                            secret_outputs: Vec::new(),
                            simulated: false,
                            duration_ms: 0,
                        });
                        self.set_view(&step.id, "succeeded", outputs);
                        self.status[i] = Status::Succeeded;
                    } else {
                        self.env.console.info(&format!(
                            "step `{}` was interrupted and its check did not pass; running it again",
                            step.id
                        ));
                        self.status[i] = Status::Pending;
                    }
                }
                Rerun::Never => {
                    let answer = self
                        .env
                        .prompt
                        .as_ref()
                        .and_then(|p| p.interrupted_step(step, step.title()));
                    match answer {
                        Some(outcome) => {
                            self.journal(Event::Marked {
                                step: step.id.clone(),
                                outcome,
                            });
                            self.status[i] = match outcome {
                                MarkOutcome::Done => {
                                    self.set_view(&step.id, "succeeded", Map::new());
                                    Status::Succeeded
                                }
                                // It did not complete: run it again.
                                MarkOutcome::Failed => Status::Pending,
                            };
                        }
                        None => waiting.push(i),
                    }
                }
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        for i in waiting {
            let id = runbook.steps[i].id.clone();
            let run = &self.env.run_id;
            self.journal(Event::Waiting {
                step: id.clone(),
                reason: format!(
                    "`{id}` was interrupted mid-step and is unsafe to repeat (rerun: never); a human must say whether it completed"
                ),
                commands: vec![
                    format!("lifeboat mark {run} {id} done --as NAME"),
                    format!("lifeboat mark {run} {id} failed --as NAME"),
                    format!("lifeboat resume {run}"),
                ],
            });
            self.status[i] = Status::Waiting;
        }
        Err(RunOutcome::Paused)
    }

    fn rerun_policy(&self, step: &Step) -> Rerun {
        step.rerun_policy(&self.env.registry)
    }

    /// Runs a step's read-only probe; true when it passes.
    async fn run_check(&self, step: &Step) -> bool {
        let Some(probe) = &step.check else {
            return false;
        };
        let Some(kind) = self.env.registry.get(&probe.kind).cloned() else {
            return false;
        };
        let ctx = self.template_context();
        // Rendered like a step, so a `shell` probe's script gets its values
        // through the environment, never pasted into its text.
        let Ok((with, env, _)) = self.render(kind.as_ref(), &probe.with.to_json(), &ctx) else {
            return false;
        };
        let step_ctx = self.step_context(step, env, false, self.env.cancel.child_token());
        match kind.run(&step_ctx, with).await {
            Ok(out) => match &probe.until {
                Some(until) => {
                    let ctx = context! { outputs => Value::from_serialize(&out.outputs), ..ctx };
                    self.env
                        .templates
                        .eval_bool(&until.text, &ctx)
                        .unwrap_or(false)
                }
                None => true,
            },
            Err(_) => false,
        }
    }

    async fn run_section(&mut self, section: Section) {
        let indices: Vec<usize> = (0..self.env.runbook.steps.len())
            .filter(|&i| self.env.runbook.steps[i].section == section)
            .collect();
        let mut running: JoinSet<Finished> = JoinSet::new();
        loop {
            let changed = if self.stopping(section) {
                false
            } else {
                self.launch_ready(&indices, &mut running)
            };
            if changed {
                continue;
            }
            self.note_closed_output();
            // Nothing may wait in memory while the engine sleeps: make the
            // results written so far durable before waiting.
            if let Err(e) = self.env.journal.flush() {
                self.env
                    .console
                    .warn(None, &format!("cannot write the journal: {e}; stopping"));
                self.env.cancel.cancel();
            }
            match running.join_next().await {
                Some(Ok(finished)) => self.finish(finished),
                Some(Err(join_error)) => {
                    // A step task panicked: a bug in a step kind. Fail the run
                    // loudly rather than hang.
                    self.env.console.warn(None, &format!("internal error: a step task failed: {join_error}; this is a bug in Lifeboat"));
                    self.failure
                        .get_or_insert(("<internal>".into(), join_error.to_string()));
                }
                None => break,
            }
        }
        if self.env.cancel.is_cancelled() || self.holding_section(section, &indices) {
            return;
        }
        if section == Section::Main && self.failure.is_some() {
            self.settle_decided_gates(&indices);
        }
        // Whatever could not start: say why.
        for &i in &indices {
            if matches!(self.status[i], Status::Pending | Status::Waiting) {
                let failed_need = self.env.runbook.steps[i].needs_ids().find(|n| {
                    self.env.runbook.step_index(n).is_some_and(|j| {
                        self.status[j] == Status::Failed
                            && !self.env.runbook.steps[j].continue_on_failure
                    })
                });
                if let Some(need) = failed_need {
                    let reason = format!("needs `{need}`, which failed");
                    self.skip(i, reason);
                    continue;
                }
                let reason = match &self.failure {
                    Some((id, _)) if section == Section::Main => {
                        format!("{NOT_STARTED} the run failed at `{id}`")
                    }
                    _ => format!("{NOT_STARTED} a dependency did not run"),
                };
                self.skip(i, reason);
            }
        }
    }

    fn stopping(&self, section: Section) -> bool {
        self.env.cancel.is_cancelled()
            || self.quit
            || self.env.pause.is_cancelled()
            || (section == Section::Main && self.failure.is_some())
    }

    /// Starts every ready step; returns true if any status changed.
    fn launch_ready(&mut self, indices: &[usize], running: &mut JoinSet<Finished>) -> bool {
        let mut changed = false;
        for &i in indices {
            if running.len() >= self.config.max_parallel {
                break;
            }
            if self.status[i] != Status::Pending {
                continue;
            }
            let step = &self.env.runbook.steps[i];
            let mut ready = true;
            let mut blocked_by = None;
            for need in step.needs_ids() {
                let Some(j) = self.env.runbook.step_index(need) else {
                    continue;
                };
                match self.status[j] {
                    Status::Succeeded | Status::Skipped => {}
                    Status::Failed if self.env.runbook.steps[j].continue_on_failure => {}
                    Status::Failed => blocked_by = Some(need.to_string()),
                    _ => ready = false,
                }
            }
            if let Some(need) = blocked_by {
                self.skip(i, format!("needs `{need}`, which failed"));
                changed = true;
                continue;
            }
            if ready {
                self.start(i, running);
                changed = true;
                if self.stopping(step_section(&self.env.runbook, i)) {
                    break;
                }
            }
        }
        changed
    }

    fn template_context(&self) -> Value {
        let (failed_step, error) = match &self.failure {
            Some((s, e)) => (Some(s.clone()), Some(e.clone())),
            None => (None, None),
        };
        context! {
            inputs => self.inputs_value.clone(),
            steps => Value::from_object(StepsView(self.views.clone())),
            run => context! {
                id => self.env.run_id.clone(),
                dir => self.env.run_dir.clone(),
                dry_run => self.config.dry_run != DryRun::Off,
                operator => self.config.operator.clone(),
                runbook => self.env.runbook.name.clone(),
                started_at => self.env.started_at.clone(),
                failed_step => failed_step,
                error => error,
                status => self.run_status(),
            },
        }
    }

    /// `run.status`: `running` while main steps run, then `failed` (in
    /// `on_failure` and `finally` of a failed run) or `succeeded` (in
    /// `finally` of a run whose main steps all succeeded).
    fn run_status(&self) -> &'static str {
        if self.failure.is_some() {
            "failed"
        } else if self.main_done {
            "succeeded"
        } else {
            "running"
        }
    }

    fn start(&mut self, i: usize, running: &mut JoinSet<Finished>) {
        let runbook = self.env.runbook.clone();
        let step = &runbook.steps[i];
        let ctx = self.template_context();
        let dry = self.config.dry_run != DryRun::Off;

        if let Some(when) = &step.when {
            let before = self.touched_count();
            match self.env.templates.eval_bool(&when.text, &ctx) {
                Ok(true) => {}
                Ok(false)
                    if dry
                        && (self.touched_count() > before
                            || self.simulated_read_by(&when.text).is_some()) =>
                {
                    self.env.console.warn(
                        Some(&step.id),
                        &format!(
                            "`when: {}` depends on simulated outputs; assumed true for this drill",
                            when.text
                        ),
                    );
                }
                Ok(false) => {
                    self.skip(i, format!("`when: {}` is false", when.text));
                    return;
                }
                Err(e) => {
                    self.fail_now(i, format!("cannot evaluate `when: {}`: {e}", when.text));
                    return;
                }
            }
        }

        if let Some(engine_kind) = EngineKind::from_name(&step.kind) {
            if !self.step_through_allows(i, &format!("{} step `{}`", step.kind, step.id)) {
                return;
            }
            if engine_kind.is_human() {
                self.run_human_gate(i, engine_kind, &ctx);
            } else {
                self.run_engine_kind(i, engine_kind, &ctx);
            }
            return;
        }
        let Some(kind) = self.env.registry.get(&step.kind).cloned() else {
            self.fail_now(i, format!("unknown step kind `{}`", step.kind));
            return;
        };

        let raw = step.with.to_json();
        let before = self.touched_count();
        let rendered = match self.render(kind.as_ref(), &raw, &ctx) {
            Ok(r) => r,
            Err(e) => {
                let hint = if self.lost_secrets.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; note: the secret outputs of {} are kept in memory only and were lost when the engine stopped — read them from where that step saved them (e.g. its `output_file`), or resume --from a checkpoint before it",
                        self.lost_secrets.join(", ")
                    )
                };
                self.fail_now(i, format!("template error in `with`: {e}{hint}"));
                return;
            }
        };
        let (with, script_env, display) = rendered;
        let description = self.env.redactor.redact(&kind.describe(&display));
        if !self.step_through_allows(i, &description) {
            return;
        }
        if dry && self.touched_count() > before {
            let touched: Vec<String> = self
                .touched
                .lock()
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            self.env.console.warn(Some(&step.id), &format!(
                "renders simulated values ({}); give the producing step `dry_run: {{ outputs: ... }}` to drill with realistic values",
                touched.join(", ")
            ));
        }

        let read_only = step.is_read_only(kind.as_ref());
        let simulate = match self.config.dry_run {
            DryRun::Off => false,
            DryRun::Render => true,
            DryRun::Probes if !(read_only || kind.plans_in_dry_run()) => true,
            DryRun::Probes => match self.fed_by_simulation(i) {
                // Never run a probe on something the drill did not make.
                Some(producer) => {
                    self.env.console.warn(
                        Some(&step.id),
                        &format!(
                            "read-only, but simulated: it depends on `{producer}`, which this drill simulated, so what it would read does not exist"
                        ),
                    );
                    true
                }
                None => false,
            },
        };
        if simulate {
            self.simulated[i] = true;
            self.env.console.describe(&step.id, &description);
            let outputs = step
                .dry_run_outputs
                .as_ref()
                .and_then(|o| o.as_object().cloned());
            self.journal(Event::StepSucceeded {
                step: step.id.clone(),
                outputs: outputs.clone().unwrap_or_default(),
                secret_outputs: Vec::new(),
                simulated: true,
                duration_ms: 0,
            });
            match outputs {
                Some(o) => self.set_view(&step.id, "succeeded", o),
                None => self.set_placeholder_view(step),
            }
            self.status[i] = Status::Succeeded;
            return;
        }

        // Write-ahead: the start, and every record before it (the
        // dependencies' results), are on disk before the side effect. One
        // fsync covers them all (group commit).
        let started = Event::StepStarted {
            step: step.id.clone(),
            attempt: 1,
            description,
        };
        let written = self
            .env
            .journal
            .record_lazy(started)
            .and_then(|_| self.env.journal.flush());
        if let Err(e) = written {
            self.fail_now(i, format!("cannot write the journal: {e}"));
            return;
        }
        self.status[i] = Status::Running;

        let plan_only = dry && kind.plans_in_dry_run() && !read_only;
        let cancel = self.env.cancel.child_token();
        let step_ctx = self.step_context(step, script_env, plan_only, cancel);
        let task = StepTask {
            index: i,
            kind,
            with,
            ctx: step_ctx,
            step: step.clone(),
            templates: self.env.templates.clone(),
            base_context: ctx,
            journal: self.env.journal.clone(),
        };
        running.spawn(task.run());
    }

    /// In a probes drill, the simulated step whose product step `i` would
    /// read: one it `needs` (directly; simulation passes down the chain), or
    /// one whose outputs its `with` templates read.
    fn fed_by_simulation(&self, i: usize) -> Option<String> {
        let rb = &self.env.runbook;
        let step = &rb.steps[i];
        let simulated = |id: &str| rb.step_index(id).is_some_and(|j| self.is_simulated(j, 0));
        if let Some(need) = step.needs_ids().find(|n| simulated(n)) {
            return Some(need.to_string());
        }
        let mut read = BTreeSet::new();
        steps_read(&self.env.templates, &step.with, &mut read);
        read.into_iter().find(|id| simulated(id))
    }

    /// Whether what step `j` produced is the drill's, not the world's: it
    /// was simulated, or it is a step the engine runs itself (an assertion,
    /// a checkpoint, a gate) after one that was.
    fn is_simulated(&self, j: usize, depth: usize) -> bool {
        if self.simulated[j] {
            return true;
        }
        let step = &self.env.runbook.steps[j];
        depth < 10_000
            && EngineKind::from_name(&step.kind).is_some()
            && step.needs_ids().any(|n| {
                self.env
                    .runbook
                    .step_index(n)
                    .is_some_and(|k| self.is_simulated(k, depth + 1))
            })
    }

    /// A simulated step whose outputs expression `expr` reads, if any: its
    /// outputs are the drill's (`dry_run.outputs` or placeholders), so the
    /// expression cannot be judged.
    fn simulated_read_by(&self, expr: &str) -> Option<String> {
        let rb = &self.env.runbook;
        referenced_steps(
            self.env
                .templates
                .expression_references(expr)
                .unwrap_or_default(),
        )
        .find(|id| rb.step_index(id).is_some_and(|j| self.is_simulated(j, 0)))
    }

    fn step_context(
        &self,
        step: &Step,
        env: Vec<(String, String)>,
        dry_run: bool,
        cancel: CancellationToken,
    ) -> StepContext {
        StepContext {
            step_id: step.id.clone(),
            work_dir: self.env.work_dir.clone(),
            dry_run,
            cancel,
            progress: Arc::new(step_processes::JournalledProgress {
                console: ConsoleProgress(self.env.console.clone()),
                journal: self.env.journal.clone(),
            }),
            redactor: self.env.redactor.clone(),
            env,
            launch_dir: self.env.launch_dir.clone(),
        }
    }

    /// Renders parameters three ways: for running (script fields as
    /// variable references), the script environment, and for display.
    #[allow(clippy::type_complexity)]
    fn render(
        &self,
        kind: &dyn StepKind,
        raw: &serde_json::Value,
        ctx: &Value,
    ) -> Result<(serde_json::Value, Vec<(String, String)>, serde_json::Value), String> {
        let script_fields = kind.script_fields();
        // Script fields are rendered separately below; skip them here.
        let mut plain = raw.clone();
        if let Some(map) = plain.as_object_mut() {
            for field in script_fields {
                map.remove(*field);
            }
        }
        let (mut with, values) = self.env.templates.render_value_and_values(&plain, ctx)?;
        // A piece of a secret (`{{ inputs.token[:12] }}`, alone or inside a
        // longer string) is a secret too; the runbook's literal text is not.
        for value in &values {
            self.env.redactor.add_derived(value);
        }
        // Secrets are replaced in the raw values, before `describe` quotes
        // or escapes them into a form the redactor would not recognise.
        let mut display = self.env.redactor.redact_value(&with);
        let mut env = Vec::new();
        if script_fields.len() > 1 {
            return Err("internal: a kind may declare at most one script field".into());
        }
        for field in script_fields {
            if let Some(serde_json::Value::String(src)) = raw.get(*field) {
                let (text, vars) = self.env.templates.render_script(field, src, ctx)?;
                for (_, value) in &vars {
                    self.env.redactor.add_derived(value);
                }
                let shown =
                    self.env
                        .templates
                        .render_display(field, src, ctx, &self.env.redactor)?;
                with[*field] = serde_json::Value::String(text);
                display[*field] = serde_json::Value::String(shown);
                env = vars;
            } else if let Some(v) = raw.get(*field) {
                with[*field] = v.clone();
                display[*field] = v.clone();
            }
        }
        Ok((with, env, display))
    }

    fn run_engine_kind(&mut self, i: usize, kind: EngineKind, ctx: &Value) {
        let runbook = self.env.runbook.clone();
        let step = &runbook.steps[i];
        let with = step.with.to_json();
        match kind {
            EngineKind::Checkpoint => {
                let description = with
                    .get("description")
                    .and_then(|d| d.as_str())
                    .map(String::from);
                self.journal(Event::Checkpoint {
                    step: step.id.clone(),
                    description,
                });
                self.succeed(i, StepOutput::new(), Duration::ZERO);
            }
            EngineKind::Approval | EngineKind::Manual => self.run_human_gate(i, kind, ctx),
            EngineKind::Assert => {
                let exprs: Vec<String> = with
                    .get("that")
                    .and_then(|t| t.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let before = self.touched_count();
                let mut failed = Vec::new();
                for expr in &exprs {
                    match self.env.templates.eval_bool(expr, ctx) {
                        Ok(true) => {}
                        Ok(false) => failed.push(format!("`{expr}` is false")),
                        Err(e) => failed.push(format!("`{expr}`: {e}")),
                    }
                }
                let simulated_input = exprs.iter().find_map(|e| self.simulated_read_by(e));
                if self.config.dry_run != DryRun::Off
                    && (self.touched_count() > before || simulated_input.is_some())
                {
                    self.env.console.warn(
                        Some(&step.id),
                        "assertions read simulated outputs; not checked in this drill",
                    );
                    failed.clear();
                }
                if failed.is_empty() {
                    self.succeed(
                        i,
                        StepOutput::new().with("checked", exprs.len() as u64),
                        Duration::ZERO,
                    );
                } else {
                    let message = with
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(|m| format!("{m}: "))
                        .unwrap_or_default();
                    self.fail_now(i, format!("{message}{}", failed.join("; ")));
                }
            }
        }
    }

    fn finish(&mut self, f: Finished) {
        match f.result {
            Ok(output) => self.succeed(f.index, output, f.duration),
            Err(e) if e.cancelled && self.env.cancel.is_cancelled() => {
                // Interrupted mid-step: no terminal record, so resume applies
                // the step's rerun policy.
                self.status[f.index] = Status::Interrupted;
            }
            Err(e) => {
                let step = &self.env.runbook.steps[f.index];
                let error = self.env.redactor.redact(&e.message);
                let outputs = redact_map(&self.env.redactor, &e.outputs);
                self.journal_lazy(Event::StepFailed {
                    step: step.id.clone(),
                    error: error.clone(),
                    outputs: outputs.clone(),
                    duration_ms: f.duration.as_millis() as u64,
                });
                self.set_view(&step.id.clone(), "failed", e.outputs);
                self.mark_failed(f.index, error);
            }
        }
    }

    fn succeed(&mut self, i: usize, output: StepOutput, duration: Duration) {
        let id = self.env.runbook.steps[i].id.clone();
        // Validation trusts a kind's `secret_outputs`; a kind that marks
        // other outputs secret at run time has drifted from its list.
        debug_assert!(
            self.env
                .registry
                .get(&self.env.runbook.steps[i].kind)
                .is_none_or(|k| output
                    .secret
                    .iter()
                    .all(|s| k.secret_outputs().contains(&s.as_str()))),
            "step kind `{}` marks outputs {:?} secret but lists {:?} in `secret_outputs`",
            self.env.runbook.steps[i].kind,
            output.secret,
            self.env
                .registry
                .get(&self.env.runbook.steps[i].kind)
                .map(|k| k.secret_outputs()),
        );
        for name in &output.secret {
            if let Some(v) = output.outputs.get(name) {
                self.env.redactor.add_value(v);
            }
        }
        let mut journaled = redact_map(&self.env.redactor, &output.outputs);
        for name in &output.secret {
            journaled.insert(
                name.clone(),
                serde_json::Value::String(lifeboat_steps::REDACTED.into()),
            );
        }
        self.journal_lazy(Event::StepSucceeded {
            step: id.clone(),
            outputs: journaled,
            secret_outputs: output.secret.iter().cloned().collect(),
            simulated: false,
            duration_ms: duration.as_millis() as u64,
        });
        self.set_view(&id, "succeeded", output.outputs);
        self.status[i] = Status::Succeeded;
    }

    /// Fails a step that never started (bad template, false assertion).
    fn fail_now(&mut self, i: usize, error: String) {
        let id = self.env.runbook.steps[i].id.clone();
        let error = self.env.redactor.redact(&error);
        self.journal_lazy(Event::StepFailed {
            step: id.clone(),
            error: error.clone(),
            outputs: Map::new(),
            duration_ms: 0,
        });
        self.set_view(&id, "failed", Map::new());
        self.mark_failed(i, error);
    }

    fn mark_failed(&mut self, i: usize, error: String) {
        self.status[i] = Status::Failed;
        let step = &self.env.runbook.steps[i];
        if !step.continue_on_failure && self.failure.is_none() {
            self.failure = Some((step.id.clone(), error));
        }
    }

    fn skip(&mut self, i: usize, reason: String) {
        let id = self.env.runbook.steps[i].id.clone();
        self.journal_lazy(Event::StepSkipped {
            step: id.clone(),
            reason,
        });
        self.set_view(&id, "skipped", Map::new());
        self.status[i] = Status::Skipped;
    }

    fn set_view(&self, id: &str, status: &str, outputs: Map<String, serde_json::Value>) {
        let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
        views.insert(id.to_string(), view(status, outputs));
    }

    fn set_placeholder_view(&self, step: &Step) {
        let placeholder = Value::from_object(Placeholder {
            path: format!("steps.{}.outputs", step.id),
            touched: self.touched.clone(),
        });
        let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
        views.insert(
            step.id.clone(),
            context! { status => "succeeded", outputs => placeholder },
        );
    }

    fn touched_count(&self) -> usize {
        self.touched.lock().map(|t| t.len()).unwrap_or(0)
    }

    /// Writes a record; a journal that cannot be written stops the run, since
    /// continuing would break the write-ahead promise.
    /// Writes a result record that the next fsync makes durable: before any
    /// step's side effect begins and before the scheduler waits, so a
    /// dependent never starts on a result that is not on disk.
    fn journal_lazy(&self, event: Event) {
        if let Err(e) = self.env.journal.record_lazy(event) {
            self.env
                .console
                .warn(None, &format!("cannot write the journal: {e}; stopping"));
            self.env.cancel.cancel();
        }
    }

    /// A recovery never dies because a pipe closed: when stdout's reader
    /// went away, the run carries on and the journal says so, once.
    fn note_closed_output(&mut self) {
        if self.output_closed_noted || !self.env.console.output_closed() {
            return;
        }
        self.output_closed_noted = true;
        self.journal_lazy(Event::Note {
            text: "stdout was closed by its reader; the run carries on without printing, and the journal and the timeline keep the full record".into(),
        });
    }

    fn journal(&self, event: Event) {
        if let Err(e) = self.env.journal.record(event) {
            self.env
                .console
                .warn(None, &format!("cannot write the journal: {e}; stopping"));
            self.env.cancel.cancel();
        }
    }
}

/// The ids of the steps whose outputs or status templates under `node` read.
fn steps_read(
    templates: &Templates,
    node: &crate::runbook::node::Node,
    out: &mut BTreeSet<String>,
) {
    use crate::runbook::node::NodeValue;
    match &node.value {
        NodeValue::String(s) if s.contains("{{") || s.contains("{%") => {
            out.extend(referenced_steps(
                templates.template_references(s).unwrap_or_default(),
            ));
        }
        NodeValue::Seq(items) => items.iter().for_each(|n| steps_read(templates, n, out)),
        NodeValue::Map(entries) => entries
            .iter()
            .for_each(|(_, v)| steps_read(templates, v, out)),
        _ => {}
    }
}

/// The step ids among dotted references (`steps.<id>.outputs.x`).
fn referenced_steps(refs: BTreeSet<String>) -> impl Iterator<Item = String> {
    refs.into_iter().filter_map(|r| {
        let mut parts = r.split('.');
        match (parts.next(), parts.next()) {
            (Some("steps"), Some(id)) => Some(id.to_string()),
            _ => None,
        }
    })
}

fn step_section(runbook: &Runbook, i: usize) -> Section {
    runbook.steps[i].section
}

fn view(status: &str, outputs: Map<String, serde_json::Value>) -> Value {
    context! { status => status, outputs => Value::from_serialize(&outputs) }
}

fn redact_map(
    redactor: &Redactor,
    map: &Map<String, serde_json::Value>,
) -> Map<String, serde_json::Value> {
    if redactor.is_empty() {
        return map.clone();
    }
    match redactor.redact_value(&serde_json::Value::Object(map.clone())) {
        serde_json::Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One step's execution: attempts, `until`, retries and the timeout.
struct StepTask {
    index: usize,
    kind: Arc<dyn StepKind>,
    with: serde_json::Value,
    ctx: StepContext,
    step: Step,
    templates: Arc<Templates>,
    base_context: Value,
    journal: Arc<Journal>,
}

impl StepTask {
    /// Why `until` does not hold: the author's `until.message` (a template
    /// over this attempt's `outputs`), else the expression.
    fn until_failed(&self, expr: &str, ctx: &Value) -> String {
        let Some(message) = &self.step.until_message else {
            return format!("`until: {expr}` is not yet true");
        };
        match self.templates.render_value(&message.to_json(), ctx) {
            Ok(serde_json::Value::String(text)) => text,
            Ok(other) => other.to_string(),
            Err(e) => {
                format!("`until: {expr}` is not yet true (cannot render `until.message`: {e})")
            }
        }
    }

    async fn run(self) -> Finished {
        let started = Instant::now();
        let deadline = self.step.timeout.map(|t| started + t);
        let attempts = self.step.retry.attempts.max(1);
        let mut last_error = StepError::new("the step did not run");
        for attempt in 1..=attempts {
            let attempt_cancel = self.ctx.cancel.child_token();
            let mut ctx = self.ctx.clone();
            ctx.cancel = attempt_cancel.clone();
            let result = {
                let fut = self.kind.run(&ctx, self.with.clone());
                tokio::pin!(fut);
                match deadline {
                    None => fut.await,
                    Some(deadline) => {
                        tokio::select! {
                            r = &mut fut => r,
                            _ = tokio::time::sleep_until(deadline.into()) => {
                                attempt_cancel.cancel();
                                // Give the kind a moment to stop its child cleanly.
                                let _ = tokio::time::timeout(Duration::from_secs(5), &mut fut).await;
                                Err(StepError::new(format!(
                                    "timed out after {} (the step's `timeout`)",
                                    lifeboat_steps::duration::format(self.step.timeout.unwrap_or_default())
                                )))
                            }
                        }
                    }
                }
            };
            let result = match result {
                Ok(out) => match &self.step.until {
                    None => Ok(out),
                    Some(until) => {
                        let ctx = context! { outputs => Value::from_serialize(&out.outputs), ..self.base_context.clone() };
                        match self.templates.eval_bool(&until.text, &ctx) {
                            Ok(true) => Ok(out),
                            Ok(false) => Err(StepError::new(self.until_failed(&until.text, &ctx))
                                .with_outputs(out.outputs)),
                            Err(e) => Err(StepError::new(format!(
                                "cannot evaluate `until: {}`: {e}",
                                until.text
                            ))),
                        }
                    }
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(out) => {
                    return Finished {
                        index: self.index,
                        result: Ok(out),
                        duration: started.elapsed(),
                    }
                }
                Err(e) if e.cancelled && self.ctx.cancel.is_cancelled() => {
                    return Finished {
                        index: self.index,
                        result: Err(e),
                        duration: started.elapsed(),
                    }
                }
                Err(e) => last_error = e,
            }
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            if attempt == attempts || timed_out {
                break;
            }
            let mut delay = self.step.retry.delay_after(attempt);
            if let Some(d) = deadline {
                delay = delay.min(d.saturating_duration_since(Instant::now()));
            }
            let _ = self.journal.record(Event::AttemptFailed {
                step: self.step.id.clone(),
                attempt,
                error: self.ctx.redactor.redact(&last_error.message),
                retry_in_ms: delay.as_millis() as u64,
            });
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.ctx.cancel.cancelled() => {
                    return Finished {
                        index: self.index,
                        result: Err(StepError::cancelled("cancelled while waiting to retry")),
                        duration: started.elapsed(),
                    }
                }
            }
        }
        if attempts > 1 {
            last_error.message = format!("{} (after {attempts} attempts)", last_error.message);
        }
        Finished {
            index: self.index,
            result: Err(last_error),
            duration: started.elapsed(),
        }
    }
}
