//! What the progress display needs to know about a run before it starts:
//! the main steps (for the overall bar), the RTO target and when its clock
//! started, and the run's [`Projection`] (the projected finish, the same
//! one `lifeboat status` shows).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::report::projection::{ProjectedFinish, Projection};

#[derive(Debug, Clone, Default)]
pub struct ProgressPlan {
    pub title: String,
    pub rto_target: Option<Duration>,
    /// RFC 3339: when the incident was declared or the run started; `None`
    /// when the first journal record will say (a new run).
    pub clock_start: Option<String>,
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
        let start = self
            .clock_start
            .as_deref()
            .and_then(crate::report::step_spans::parse_ms);
        ProjectedFinish {
            remaining: self.projection.remaining(done, running),
            now_ms,
            elapsed_ms: start.map(|s| (now_ms - s).max(0)),
            target_ms: self.rto_target.map(|t| t.as_millis() as i64),
        }
    }
}
