//! The public run types: how a run treats side effects ([`DryRun`]), how
//! it ended ([`RunOutcome`]), its settings ([`RunConfig`]) and everything
//! the launcher prepares for the scheduler ([`RunEnv`]).
//!
//! Plain data: nothing here runs a step or writes the journal.

use std::sync::Arc;

use lifeboat_steps::Redactor;
use serde_json::Map;
use tokio_util::sync::CancellationToken;

use crate::journal::Journal;
use crate::operator::console::Console;
use crate::operator::question::OperatorPrompt;
use crate::runbook::checked_runbook::CheckedRunbook;
use crate::runbook::templates::Templates;
#[cfg(doc)]
use lifeboat_steps::StepContext;

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
    /// `--wait`: at a human gate with nothing else to do, wait for a
    /// decision from anywhere (up to the gate's `timeout`) instead of
    /// pausing.
    pub wait: bool,
}

/// Everything a scheduler needs, prepared by [`crate::run::launcher`].
pub struct RunEnv {
    pub runbook: Arc<CheckedRunbook>,
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
    /// When `rto.stop_at` first succeeded in an earlier execution, if it
    /// did (RFC 3339): the RTO clock stopped then.
    pub clock_stop: Option<String>,
    /// Sealing secret outputs to the run's recipients, and opening them.
    pub sealing: crate::run::sealed_outputs::Sealing,
    /// The key answers at this terminal are signed with, if any.
    pub signer: Option<Arc<crate::journal::signer::Signer>>,
    /// The principal the run's start was signed as, when verified.
    pub initiator_principal: Option<String>,
}
