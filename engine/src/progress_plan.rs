//! What the progress display needs to know about a run before it starts:
//! the main steps with their estimates and dependencies (for the overall
//! bar and the projected finish), the RTO target and when its clock started.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct ProgressPlan {
    pub title: String,
    pub rto_target: Option<Duration>,
    /// RFC 3339: when the incident was declared or the run started; `None`
    /// when the first journal record will say (a new run).
    pub clock_start: Option<String>,
    /// The main steps, in runbook order.
    pub steps: Vec<PlanStep>,
    /// Main steps already settled by an earlier execution (resume).
    pub settled: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PlanStep {
    pub id: String,
    pub estimate: Duration,
    pub needs: Vec<String>,
}

impl ProgressPlan {
    /// The longest chain of estimates among steps not yet settled: how much
    /// longer the run should take if estimates hold.
    pub fn remaining(&self, settled: &HashSet<String>) -> Duration {
        let by_id: HashMap<&str, &PlanStep> =
            self.steps.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut memo: HashMap<&str, Duration> = HashMap::new();
        let mut best = Duration::ZERO;
        for s in &self.steps {
            best = best.max(finish(s, &by_id, settled, &mut memo, 0));
        }
        best
    }
}

/// Estimated finish of `s` counted from now: its own estimate (zero when
/// settled) after the latest of its needs. Depth-bounded: validated
/// runbooks are acyclic, but a display must never hang.
fn finish<'a>(
    s: &'a PlanStep,
    by_id: &HashMap<&str, &'a PlanStep>,
    settled: &HashSet<String>,
    memo: &mut HashMap<&'a str, Duration>,
    depth: usize,
) -> Duration {
    if let Some(d) = memo.get(s.id.as_str()) {
        return *d;
    }
    if depth > 10_000 {
        return Duration::ZERO;
    }
    let mut start = Duration::ZERO;
    for n in &s.needs {
        if let Some(dep) = by_id.get(n.as_str()) {
            start = start.max(finish(dep, by_id, settled, memo, depth + 1));
        }
    }
    let own = if settled.contains(&s.id) {
        Duration::ZERO
    } else {
        s.estimate
    };
    let total = start + own;
    memo.insert(s.id.as_str(), total);
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, secs: u64, needs: &[&str]) -> PlanStep {
        PlanStep {
            id: id.into(),
            estimate: Duration::from_secs(secs),
            needs: needs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn remaining_is_the_longest_unsettled_chain() {
        let plan = ProgressPlan {
            steps: vec![
                step("a", 10, &[]),
                step("b", 30, &["a"]),
                step("c", 5, &["a"]),
                step("d", 1, &["b", "c"]),
            ],
            ..Default::default()
        };
        assert_eq!(plan.remaining(&HashSet::new()), Duration::from_secs(41));
        let settled: HashSet<String> = ["a".to_string(), "b".to_string()].into();
        assert_eq!(plan.remaining(&settled), Duration::from_secs(6));
    }
}
