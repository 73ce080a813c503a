//! What the progress display needs to know about a run before it starts:
//! the main steps (for the overall bar), the RTO target and when its clock
//! started, and the run's [`Projection`] (the projected finish, the same
//! one `lifeboat status` shows).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::report::projection::{ProjectedFinish, Projection, Remaining};
use crate::report::step_spans::parse_ms;

#[derive(Debug, Clone, Default)]
pub struct ProgressPlan {
    pub title: String,
    pub rto_target: Option<Duration>,
    /// RFC 3339: when the incident was declared or the run started; `None`
    /// when the first journal record will say (a new run).
    pub clock_start: Option<String>,
    /// `rto.stop_at`: the step whose first success stops the RTO clock.
    pub stop_at: Option<String>,
    /// RFC 3339: when `stop_at` first succeeded, once it has. From then on
    /// the clock stands still and nothing is left to project, as in
    /// `lifeboat status` and the RTO report.
    pub clock_stop: Option<String>,
    /// The main steps, in runbook order.
    pub steps: Vec<String>,
    /// Main steps already settled (succeeded, failed or skipped) by an
    /// earlier execution (resume), for the overall bar.
    pub settled: Vec<String>,
    /// Main steps that will not run again (succeeded or skipped), for the
    /// projection.
    pub done: Vec<String>,
    pub projection: Projection,
}

impl ProgressPlan {
    /// The projection at `now_ms`, given what is done and what runs (with
    /// how long it has run).
    pub fn projected(
        &self,
        done: &HashSet<String>,
        running: &HashMap<String, Duration>,
        now_ms: i64,
    ) -> ProjectedFinish {
        let start = self.clock_start.as_deref().and_then(parse_ms);
        let stop = self.clock_stop.as_deref().and_then(parse_ms);
        let remaining = match stop {
            Some(_) => Remaining::default(),
            None => self.projection.remaining(done, running),
        };
        let end = stop.map_or(now_ms, |s| s.min(now_ms));
        ProjectedFinish {
            remaining,
            now_ms,
            elapsed_ms: start.map(|s| (end - s).max(0)),
            target_ms: self.rto_target.map(|t| t.as_millis() as i64),
        }
    }

    /// Keeps the clock's stop up to date from the records the run writes:
    /// the first success of `stop_at` stops it.
    pub fn observe(&mut self, record: &crate::journal::record::Record) {
        if let crate::journal::record::Event::StepSucceeded { step, .. } = &record.event {
            if self.clock_stop.is_none() && self.stop_at.as_deref() == Some(step.as_str()) {
                self.clock_stop = Some(record.ts.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::{Event, Record, JOURNAL_VERSION};

    fn succeeded(step: &str, ts: &str) -> Record {
        Record {
            v: JOURNAL_VERSION,
            seq: 1,
            ts: ts.into(),
            actor: "engine".into(),
            inbox: None,
            signed: None,
            prev: None,
            event: Event::StepSucceeded {
                step: step.into(),
                outputs: Default::default(),
                secret_outputs: vec![],
                sealed_outputs: None,
                simulated: false,
                duration_ms: 1,
            },
        }
    }

    #[test]
    fn the_clock_stops_at_the_first_success_of_stop_at() {
        let mut plan = ProgressPlan {
            rto_target: Some(Duration::from_secs(600)),
            clock_start: Some("2026-12-01T10:00:00.000Z".into()),
            stop_at: Some("verify".into()),
            ..ProgressPlan::default()
        };
        plan.observe(&succeeded("restore", "2026-12-01T10:01:00.000Z"));
        assert_eq!(plan.clock_stop, None);
        plan.observe(&succeeded("verify", "2026-12-01T10:05:00.000Z"));
        plan.observe(&succeeded("verify", "2026-12-01T10:09:00.000Z"));
        assert_eq!(plan.clock_stop.as_deref(), Some("2026-12-01T10:05:00.000Z"));
        // An hour later the clock still says 5 minutes, as `status` does.
        let later = parse_ms("2026-12-01T11:05:00.000Z").unwrap();
        let p = plan.projected(&HashSet::new(), &HashMap::new(), later);
        assert_eq!(p.elapsed_ms, Some(300_000));
        assert_eq!(p.remaining_ms(), 0);
    }
}
