//! How long steps took in earlier runs of the same runbook, for `status`'s
//! projected finish and `plan`'s estimate: measured durations beat the
//! author's guesses once drills have produced some.

use std::collections::HashMap;
use std::time::Duration;

use crate::journal_record::{Event, RunStatus};
use crate::local_run_store::LocalRunStore;
use crate::run_store::RunStore;
use crate::state_dir::StateDir;

/// Only the most recent runs count: infrastructure and data sizes change.
const RECENT_RUNS: usize = 20;

#[derive(Debug, Default, Clone)]
pub struct StepHistory {
    /// How many earlier runs contributed.
    pub runs: usize,
    medians: HashMap<String, Duration>,
}

impl StepHistory {
    /// Reads the succeeded runs of `runbook` in the state directory, newest
    /// first, skipping `exclude` (the run being reported on). A step's
    /// duration is the median of its real (not simulated, not confirmed by a
    /// check) successful executions.
    pub fn load(state: &StateDir, runbook: &str, exclude: Option<&str>) -> Self {
        let mut samples: HashMap<String, Vec<u64>> = HashMap::new();
        let mut runs = 0;
        for id in state.run_ids().into_iter().rev() {
            if runs >= RECENT_RUNS {
                break;
            }
            if Some(id.as_str()) == exclude || !id.starts_with(runbook) {
                continue;
            }
            let Ok(store) = LocalRunStore::open(&state.runs(), &id) else {
                continue;
            };
            let Ok(read) = store.read() else { continue };
            // A render-only drill runs nothing for real; a probes drill
            // runs its read-only steps for real and counts.
            let same = matches!(
                read.records.first().map(|r| &r.event),
                Some(Event::RunStarted { runbook: name, dry_run, .. })
                    if name == runbook && dry_run.as_deref() != Some("render")
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
            for r in &read.records {
                if let Event::StepSucceeded {
                    step,
                    simulated: false,
                    duration_ms,
                    outputs,
                    ..
                } = &r.event
                {
                    if outputs.contains_key("confirmed_by_check") {
                        continue;
                    }
                    samples.entry(step.clone()).or_default().push(*duration_ms);
                }
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
    pub fn expected(&self, step: &crate::step::Step) -> (Duration, &'static str) {
        match (self.duration(&step.id), step.estimate) {
            (Some(d), _) => (d, "history"),
            (None, Some(e)) => (e, "estimate"),
            (None, None) => (Duration::ZERO, "none"),
        }
    }
}
