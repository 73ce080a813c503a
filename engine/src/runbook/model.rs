//! The runbook model: [`Runbook`] and its run-wide settings (`rto`,
//! `defaults`, retry). Steps are in `step.rs`, inputs in `input_decl.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::runbook::input_decl::InputDecl;
use crate::runbook::node::Loc;
use crate::runbook::notify_target::NotifyTarget;
use crate::runbook::source_file::SourceFile;
use crate::runbook::step::{Section, Step};

/// A loaded runbook (format version 1). Built by the loader from YAML; every
/// field has been checked for shape, and `validate` checks the rest.
#[derive(Debug, Clone)]
pub struct Runbook {
    pub source: Arc<SourceFile>,
    pub version: u32,
    /// A slug, `[a-z0-9-]+`, used in run ids.
    pub name: String,
    pub title: String,
    pub description: String,
    pub scenario: Option<String>,
    pub rto: Option<RtoSpec>,
    /// Informational: the recovery point objective.
    pub rpo: Option<Duration>,
    /// `approvers: { allowed_signers: PATH }`: who may sign decisions.
    pub approvers: Option<Approvers>,
    /// `require_signed: true`: every decision of a run must be signed by a
    /// key of the allowed signers file (docs/trust.md).
    pub require_signed: bool,
    pub inputs: Vec<InputDecl>,
    pub defaults: Defaults,
    /// `recipients:`: the file (relative to the runbook) of the public keys
    /// secret outputs are sealed to, and where the field is.
    pub recipients: Option<(String, Loc)>,
    /// `outputs:`: what a call of this runbook (`kind: runbook`) returns,
    /// rendered in its scope once its steps are done.
    pub outputs: Vec<RunbookOutput>,
    /// `notify:`: who hears about the run as it goes (docs/war-room.md).
    pub notify: Vec<NotifyTarget>,
    /// Every step in every section, main steps first, then `on_failure`,
    /// then `finally`. [`Step::section`] tells them apart.
    pub steps: Vec<Step>,
    /// Step id to its first index in `steps`, for constant-time lookups.
    pub index: HashMap<String, usize>,
}

/// One entry of a runbook's `outputs:`: `name: "{{ template }}"`, or
/// `name: { value: "{{ template }}", secret: true }`.
#[derive(Debug, Clone)]
pub struct RunbookOutput {
    pub name: String,
    /// Where the name is written.
    pub loc: Loc,
    /// The template (or literal), rendered in the runbook's scope.
    pub value: crate::runbook::node::Node,
    /// Declared secret: registered with the redactor, journalled as
    /// `«redacted»`, sealed to the run's recipients.
    pub secret: bool,
}

/// The runbook's `approvers`.
#[derive(Debug, Clone)]
pub struct Approvers {
    /// The OpenSSH allowed_signers file, relative to the runbook's file.
    pub allowed_signers: String,
    pub loc: Loc,
}

/// The recovery time objective.
#[derive(Debug, Clone)]
pub struct RtoSpec {
    pub target: Duration,
    /// The clock stops when this step succeeds; default: the end of the run.
    pub stop_at: Option<String>,
    pub stop_at_loc: Loc,
}

/// Settings every step inherits unless it says otherwise.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub timeout: Option<Duration>,
    pub retry: Retry,
}

/// How often and how patiently a step is attempted.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// Wait before the second attempt.
    pub delay: Duration,
    /// Each later wait is the previous one times this factor.
    pub backoff: f64,
    /// Upper bound for a single wait.
    pub max_delay: Option<Duration>,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 1,
            delay: Duration::from_secs(1),
            backoff: 1.0,
            max_delay: None,
        }
    }
}

impl Retry {
    /// The wait after attempt `n` (1-based) fails.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = self.backoff.max(1.0).powi(attempt.saturating_sub(1) as i32);
        let d = self.delay.mul_f64(factor.min(1e6));
        match self.max_delay {
            Some(max) => d.min(max),
            None => d,
        }
    }
}

impl Runbook {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.step_index(id).map(|i| &self.steps[i])
    }

    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Builds the id index; the loader calls it once.
    pub fn index_steps(steps: &[Step]) -> HashMap<String, usize> {
        let mut index = HashMap::with_capacity(steps.len());
        for (i, s) in steps.iter().enumerate() {
            index.entry(s.id.clone()).or_insert(i);
        }
        index
    }

    pub fn input(&self, name: &str) -> Option<&InputDecl> {
        self.inputs.iter().find(|i| i.name == name)
    }

    pub fn section(&self, section: Section) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.section == section)
    }

    /// SHA-256 of the runbook's text: a resumed run refuses a changed file.
    pub fn digest(&self) -> String {
        lifeboat_steps::checksum::sha256_hex(self.source.text.as_bytes())
    }
}
