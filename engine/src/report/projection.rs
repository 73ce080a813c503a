//! The projected finish of a run. One definition, used by the terminal
//! header and the plain and JSON consoles (through the scheduler's
//! [`crate::operator::progress_plan::ProgressPlan`]), by `lifeboat status` and by
//! `lifeboat plan`, so they cannot disagree:
//!
//! - the *remaining critical path* is the longest chain of main steps not
//!   yet done (succeeded or skipped), up to the `rto.stop_at` step when the
//!   runbook sets one (what comes after the clock stops does not count);
//! - each step counts for its expected duration ([`StepHistory::expected`]:
//!   the median of clean earlier executions, else its `estimate`, else 0),
//!   a running step for what remains of it;
//! - projected finish = now + remaining; projected RTO = elapsed on the
//!   RTO clock + remaining.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::report::rto_report::{human_ms, Verdict};
use crate::report::step_history::StepHistory;
use crate::report::step_spans::format_ms;
use crate::runbook::step::Section;
use crate::runbook::step_graph::StepGraph;
use crate::runbook::Runbook;

/// The steps a projection counts, with their expected durations.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    steps: Vec<Node>,
}

#[derive(Debug, Clone)]
struct Node {
    id: String,
    expected: Duration,
    source: &'static str,
    /// Positions in `Projection::steps`.
    needs: Vec<usize>,
}

/// One step of the remaining critical path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemainingStep {
    pub step: String,
    pub expected_ms: i64,
    /// `history`, `estimate` or `none`.
    pub source: &'static str,
    pub running: bool,
}

/// The work still to do along the critical path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remaining {
    pub path: Vec<RemainingStep>,
    pub total: Duration,
}

impl Projection {
    /// Main steps up to where the RTO clock stops (`rto.stop_at` and what it
    /// depends on), else every main step.
    pub fn to_clock_stop(runbook: &Runbook, history: &StepHistory) -> Self {
        let stop = runbook.rto.as_ref().and_then(|r| r.stop_at.clone());
        Self::build(runbook, history, stop)
    }

    /// What a run not yet started would take up to where its RTO clock
    /// stops: `plan`'s estimate, and what a drill projects for a real run.
    pub fn of_a_new_run(runbook: &Runbook, history: &StepHistory) -> Remaining {
        Self::to_clock_stop(runbook, history).remaining(&HashSet::new(), &HashMap::new())
    }

    /// Every main step, whatever `rto.stop_at` says.
    pub fn whole_run(runbook: &Runbook, history: &StepHistory) -> Self {
        Self::build(runbook, history, None)
    }

    fn build(runbook: &Runbook, history: &StepHistory, stop_at: Option<String>) -> Self {
        let graph = StepGraph::new(runbook, Section::Main);
        let stop = stop_at.as_deref().and_then(|s| runbook.step_index(s));
        let counted: Vec<usize> = (0..runbook.steps.len())
            .filter(|&i| runbook.steps[i].section == Section::Main)
            .filter(|&i| stop.is_none_or(|j| i == j || graph.is_ancestor(i, j)))
            .collect();
        let position: HashMap<&str, usize> = counted
            .iter()
            .enumerate()
            .map(|(k, &i)| (runbook.steps[i].id.as_str(), k))
            .collect();
        let steps = counted
            .iter()
            .map(|&i| {
                let step = &runbook.steps[i];
                let crate::report::step_history::Expected {
                    duration: expected,
                    source,
                } = history.expected(step);
                Node {
                    id: step.id.clone(),
                    expected,
                    source,
                    needs: step
                        .needs_ids()
                        .filter_map(|n| position.get(n).copied())
                        .collect(),
                }
            })
            .collect();
        Self { steps }
    }

    /// The longest chain of steps not in `done`; a step in `running` counts
    /// for its expected duration less the time it has run. Ties go to the
    /// step written first, as in [`StepGraph::critical_path`].
    pub fn remaining(
        &self,
        done: &HashSet<String>,
        running: &HashMap<String, Duration>,
    ) -> Remaining {
        let own = |k: usize| -> Option<Duration> {
            let s = &self.steps[k];
            if done.contains(&s.id) {
                return None;
            }
            let ran = running.get(&s.id).copied().unwrap_or_default();
            Some(s.expected.saturating_sub(ran))
        };
        let mut memo: Vec<Option<(Duration, Option<usize>)>> = vec![None; self.steps.len()];
        for k in 0..self.steps.len() {
            self.finish(k, &own, &mut memo, 0);
        }
        let Some((end, total)) = memo
            .iter()
            .enumerate()
            .filter_map(|(k, f)| f.map(|(d, _)| (k, d)))
            .max_by_key(|(k, d)| (*d, std::cmp::Reverse(*k)))
        else {
            return Remaining::default();
        };
        let mut chain = vec![end];
        while let Some(prev) = memo[*chain.last().unwrap_or(&end)].and_then(|f| f.1) {
            if chain.len() > self.steps.len() {
                break;
            }
            chain.push(prev);
        }
        chain.reverse();
        let path = chain
            .into_iter()
            .filter_map(|k| {
                own(k).map(|d| RemainingStep {
                    step: self.steps[k].id.clone(),
                    expected_ms: d.as_millis() as i64,
                    source: self.steps[k].source,
                    running: running.contains_key(&self.steps[k].id),
                })
            })
            .collect();
        Remaining { path, total }
    }

    /// When step `k` would finish, counted from now, and through which of
    /// its needs. Depth-bounded: validated runbooks are acyclic, but a
    /// display must never hang.
    fn finish(
        &self,
        k: usize,
        own: &dyn Fn(usize) -> Option<Duration>,
        memo: &mut Vec<Option<(Duration, Option<usize>)>>,
        depth: usize,
    ) -> Duration {
        if let Some((d, _)) = memo[k] {
            return d;
        }
        if depth > 10_000 {
            return Duration::ZERO;
        }
        let mut best: Option<(Duration, usize)> = None;
        for &p in &self.steps[k].needs {
            let d = self.finish(p, own, memo, depth + 1);
            let better = match best {
                None => true,
                Some((bd, bp)) => (d, std::cmp::Reverse(p)) > (bd, std::cmp::Reverse(bp)),
            };
            if better {
                best = Some((d, p));
            }
        }
        let start = best.map(|b| b.0).unwrap_or_default();
        let total = start + own(k).unwrap_or_default();
        memo[k] = Some((total, best.map(|b| b.1)));
        total
    }
}

/// A projection at one moment: what remains, and what it means for the
/// finish time and the RTO.
#[derive(Debug, Clone)]
pub struct ProjectedFinish {
    pub remaining: Remaining,
    /// When it was made (ms since the epoch).
    pub now_ms: i64,
    /// Time on the RTO clock so far, when the clock's start is known.
    pub elapsed_ms: Option<i64>,
    pub target_ms: Option<i64>,
}

impl ProjectedFinish {
    pub fn remaining_ms(&self) -> i64 {
        self.remaining.total.as_millis() as i64
    }

    pub fn finish_ms(&self) -> i64 {
        self.now_ms + self.remaining_ms()
    }

    pub fn rto_ms(&self) -> Option<i64> {
        self.elapsed_ms.map(|e| e + self.remaining_ms())
    }

    pub fn verdict(&self) -> Option<Verdict> {
        let (rto, target) = (self.rto_ms()?, self.target_ms?);
        Some(if rto <= target {
            Verdict::Met
        } else {
            Verdict::Missed
        })
    }

    /// `a (10.0s) -> b (2.0s, measured)`, or `nothing left`.
    pub fn path_text(&self) -> String {
        if self.remaining.path.is_empty() {
            return "nothing left".into();
        }
        self.remaining
            .path
            .iter()
            .map(|r| {
                let note = match r.source {
                    "none" => ", no estimate",
                    "history" => ", measured",
                    _ => "",
                };
                format!("{} ({}{note})", r.step, human_ms(r.expected_ms))
            })
            .collect::<Vec<_>>()
            .join(" -> ")
    }

    /// `2026-11-21T10:15:02.123Z UTC, RTO 4m00s against a target of 5m00s:
    /// would meet it, 1m00s to spare`.
    pub fn finish_text(&self) -> String {
        let mut s = format!("{} UTC", format_ms(self.finish_ms()));
        let Some(rto) = self.rto_ms() else {
            return s;
        };
        s.push_str(&format!(", RTO {}", human_ms(rto)));
        match (self.target_ms, self.verdict()) {
            (Some(t), Some(Verdict::Met)) => s.push_str(&format!(
                " against a target of {}: would meet it, {} to spare",
                human_ms(t),
                human_ms(t - rto)
            )),
            (Some(t), _) => s.push_str(&format!(
                " against a target of {}: would MISS it by {}",
                human_ms(t),
                human_ms(rto - t)
            )),
            (None, _) => s.push_str(" (no RTO target set)"),
        }
        s
    }

    /// The fields `status --output json` and the JSON console share.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "remaining_path": self.remaining.path,
            "remaining_ms": self.remaining_ms(),
            "projected_finish": format_ms(self.finish_ms()),
            "projected_rto_ms": self.rto_ms(),
            "rto_target_ms": self.target_ms,
            "projected_verdict": self.verdict(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projection(steps: &[(&str, u64, &[usize])]) -> Projection {
        Projection {
            steps: steps
                .iter()
                .map(|(id, secs, needs)| Node {
                    id: id.to_string(),
                    expected: Duration::from_secs(*secs),
                    source: "estimate",
                    needs: needs.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn remaining_is_the_longest_chain_not_done() {
        let p = projection(&[
            ("a", 10, &[]),
            ("b", 30, &[0]),
            ("c", 5, &[0]),
            ("d", 1, &[1, 2]),
        ]);
        let all = p.remaining(&HashSet::new(), &HashMap::new());
        assert_eq!(all.total, Duration::from_secs(41));
        let ids: Vec<&str> = all.path.iter().map(|r| r.step.as_str()).collect();
        assert_eq!(ids, ["a", "b", "d"]);
        let done: HashSet<String> = ["a".to_string(), "b".to_string()].into();
        let running: HashMap<String, Duration> =
            [("d".to_string(), Duration::from_millis(400))].into();
        let rest = p.remaining(&done, &running);
        assert_eq!(rest.total, Duration::from_millis(5_600));
        let ids: Vec<&str> = rest.path.iter().map(|r| r.step.as_str()).collect();
        assert_eq!(ids, ["c", "d"]);
        assert!(rest.path[1].running);
    }
}
