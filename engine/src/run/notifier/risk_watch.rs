//! Whether the projected RTO exceeds the target, with the one projection
//! the consoles and `status` use ([`ProgressPlan::projected`]), kept up to
//! date from the records the run writes, on the notifier's thread.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::journal::record::{Event, Record};
use crate::operator::progress_plan::ProgressPlan;
use crate::report::projection::ProjectedFinish;
use crate::report::rto_report::Verdict;
use crate::report::step_spans::parse_ms;

/// The projection is looked at no more often than this on records (and
/// once a second besides): a long runbook's steps cost no more for it.
const MIN_INTERVAL: Duration = Duration::from_millis(250);

pub(super) struct RiskWatch {
    plan: ProgressPlan,
    /// Steps that will not run again.
    done: HashSet<String>,
    /// Running steps and when they started (ms since the epoch).
    running: HashMap<String, i64>,
    last_look: Option<Instant>,
}

impl RiskWatch {
    /// `None` when the runbook has no RTO target: nothing can be at risk.
    pub(super) fn new(plan: ProgressPlan) -> Option<Self> {
        plan.rto_target?;
        Some(Self {
            done: plan.done.iter().cloned().collect(),
            plan,
            running: HashMap::new(),
            last_look: None,
        })
    }

    pub(super) fn observe(&mut self, record: &Record) {
        self.plan.observe(record);
        let at = parse_ms(&record.ts).unwrap_or_default();
        match &record.event {
            Event::RunStarted { .. } if self.plan.clock_start.is_none() => {
                self.plan.clock_start = Some(record.ts.clone());
            }
            Event::StepStarted { step, .. } => {
                self.running.insert(step.clone(), at);
            }
            Event::StepSucceeded { step, .. } | Event::StepSkipped { step, .. } => {
                self.running.remove(step);
                self.done.insert(step.clone());
            }
            Event::StepFailed { step, .. } => {
                self.running.remove(step);
            }
            _ => {}
        }
    }

    /// Whether enough time passed since the last look.
    pub(super) fn due(&self) -> bool {
        self.last_look.is_none_or(|t| t.elapsed() >= MIN_INTERVAL)
    }

    /// The projection, when it would miss the target.
    pub(super) fn at_risk(&mut self) -> Option<ProjectedFinish> {
        self.last_look = Some(Instant::now());
        let now = jiff::Timestamp::now().as_millisecond();
        let running = self
            .running
            .iter()
            .map(|(step, at)| {
                (
                    step.clone(),
                    Duration::from_millis((now - at).max(0) as u64),
                )
            })
            .collect();
        let projected = self.plan.projected(&self.done, &running, now);
        (projected.verdict() == Some(Verdict::Missed)).then_some(projected)
    }
}
