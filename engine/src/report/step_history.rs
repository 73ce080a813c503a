//! How long steps took in earlier runs of the same runbook, for `status`'s
//! projected finish and `plan`'s estimate: measured durations beat the
//! author's guesses once drills have produced some.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::journal::record::{Event, Record, RunStatus};
use crate::journal::run_stores::RunStores;

/// Only the most recent runs count: infrastructure and data sizes change.
const RECENT_RUNS: usize = 20;

/// How long a step is expected to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub duration: Duration,
    /// `history` (the median of earlier clean runs), `estimate` (the
    /// step's own) or `none`.
    pub source: &'static str,
}

#[derive(Debug, Default, Clone)]
pub struct StepHistory {
    /// How many earlier runs contributed.
    pub runs: usize,
    medians: HashMap<String, Duration>,
}

impl StepHistory {
    /// Reads the succeeded runs of `runbook` in the state directory, newest
    /// first, skipping `exclude` (the run being reported on) and drills. A
    /// step's duration is the median of its clean successful executions
    /// (see [`clean_durations`]).
    pub fn load(stores: &RunStores, runbook: &str, exclude: Option<&str>) -> Self {
        let mut samples: HashMap<String, Vec<u64>> = HashMap::new();
        let mut runs = 0;
        for id in stores.list().unwrap_or_default() {
            if runs >= RECENT_RUNS {
                break;
            }
            if Some(id.as_str()) == exclude || !id.starts_with(runbook) {
                continue;
            }
            let Ok(store) = stores.open(&id) else {
                continue;
            };
            let Ok(read) = store.read() else { continue };
            // Drills do not count: they simulate what matters, and they
            // measure human gates at rehearsal speed.
            let same = matches!(
                read.records.first().map(|r| &r.event),
                Some(Event::RunStarted { runbook: name, dry_run: None, .. }) if name == runbook
            );
            let succeeded = read.records.iter().any(|r| {
                matches!(
                    r.event,
                    Event::RunFinished {
                        status: RunStatus::Succeeded
                    }
                )
            });
            if !same || !succeeded {
                continue;
            }
            runs += 1;
            for (step, ms) in clean_durations(&read.records) {
                samples.entry(step).or_default().push(ms);
            }
        }
        let medians = samples
            .into_iter()
            .map(|(step, mut v)| {
                v.sort_unstable();
                (step, Duration::from_millis(v[v.len() / 2]))
            })
            .collect();
        Self { runs, medians }
    }

    /// The median measured duration of a step, if any run measured it.
    pub fn duration(&self, step: &str) -> Option<Duration> {
        self.medians.get(step).copied()
    }

    /// From history, else the `estimate`, and which of the two it was.
    pub fn expected(&self, step: &crate::runbook::step::Step) -> Expected {
        let (duration, source) = match (self.duration(&step.id), step.estimate) {
            (Some(d), _) => (d, "history"),
            (None, Some(e)) => (e, "estimate"),
            (None, None) => (Duration::ZERO, "none"),
        };
        Expected { duration, source }
    }
}

/// The successful executions of one run that measure a step honestly, as
/// (step, duration in ms). Left out: simulated steps, steps confirmed by a
/// `check` probe, an execution during which the engine was interrupted or
/// resumed, a start that followed an unfinished one (the step was resumed
/// mid-step, so it may have found its work half done), and machine steps
/// that waited on a human (a `rerun: never` decision). Human gates
/// (`approval`, `manual`) count for the time until the decision: in a real
/// run that is what they take.
pub fn clean_durations(records: &[Record]) -> Vec<(String, u64)> {
    // Per step with a start and no outcome yet: is that execution clean?
    let mut open: HashMap<&str, bool> = HashMap::new();
    let mut waited: HashSet<&str> = HashSet::new();
    let mut gates: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for r in records {
        match &r.event {
            Event::StepStarted { step, .. } => {
                let resumed_mid_step = open.contains_key(step.as_str());
                open.insert(step, !resumed_mid_step);
            }
            Event::Interrupted { .. } | Event::Resumed { .. } => {
                open.values_mut().for_each(|clean| *clean = false);
            }
            Event::Waiting { step, .. } => {
                waited.insert(step);
            }
            Event::ApprovalRequested { step, .. } | Event::ManualRequested { step, .. } => {
                gates.insert(step);
            }
            Event::StepFailed { step, .. } => {
                open.remove(step.as_str());
            }
            Event::StepSucceeded {
                step,
                simulated,
                duration_ms,
                outputs,
                ..
            } => {
                let clean = match open.remove(step.as_str()) {
                    Some(clean) => clean && !waited.contains(step.as_str()),
                    // No start: a kind the engine runs itself (a gate, a
                    // checkpoint, an assertion).
                    None => !waited.contains(step.as_str()) || gates.contains(step.as_str()),
                };
                if clean
                    && !*simulated
                    && !outputs.contains_key(crate::runbook::template_context::CONFIRMED_BY_CHECK)
                {
                    out.push((step.clone(), *duration_ms));
                }
            }
            _ => {}
        }
    }
    out
}
