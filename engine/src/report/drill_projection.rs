//! What a drill says about recovery. A `render` or `probes` drill simulates
//! the steps that matter and the human gates, so the time it took (a few
//! milliseconds) is no recovery time. What it does tell is what a real run
//! of the same runbook would take: the projection `plan` makes (history of
//! real runs, else each step's `estimate`, [`Projection::of_a_new_run`]),
//! and the human gates such a run would wait on. The timeline, `status`,
//! `runs`, the scorecard and the metrics report a drill this way and never
//! with a "met" verdict.

use serde::Serialize;

use crate::journal::record::{Event, Record};
use crate::journal::run_stores::RunStores;

use crate::report::projection::Projection;
use crate::report::rto_report::human_ms;
use crate::report::step_history::StepHistory;
use crate::runbook::engine_kind::EngineKind;
use crate::runbook::step::Section;
use crate::runbook::Runbook;

/// A drill's projection of a real run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillProjection {
    /// `render` or `probes`.
    pub mode: String,
    /// The projected RTO of a real run (to `rto.stop_at` when set).
    pub projected_rto_ms: i64,
    pub target_ms: Option<i64>,
    /// Projected RTO within the target; `None` without a target.
    pub fits: Option<bool>,
    /// Of the projection, the time on human gates on its critical path.
    pub human_ms: i64,
    /// The rest of the projection: machine steps.
    pub machine_ms: i64,
    /// How many earlier real runs measured durations (0: estimates only).
    pub history_runs: usize,
    /// Main steps with neither history nor `estimate` (they count as 0).
    pub unestimated_steps: Vec<String>,
    /// Every approval and manual step a real run would wait on, in order.
    pub human_gates: Vec<HumanGate>,
}

/// One human gate a real run would stop at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HumanGate {
    pub step: String,
    /// `approval` or `manual`.
    pub kind: String,
    /// `steps`, `on_failure` or `finally`.
    pub section: String,
    /// What the projection counts for it (history, else `estimate`).
    pub expected_ms: i64,
}

impl DrillProjection {
    /// The projection of a real run of `runbook` (the drill's own copy),
    /// with `history` from the real runs in the store. `target_ms` is the
    /// target the drill recorded (`run_started`), else the runbook's.
    pub fn of(
        mode: &str,
        runbook: &Runbook,
        history: &StepHistory,
        target_ms: Option<i64>,
    ) -> Self {
        let remaining = Projection::of_a_new_run(runbook, history);
        let is_gate = |kind: &str| {
            matches!(
                EngineKind::from_name(kind),
                Some(EngineKind::Approval | EngineKind::Manual)
            )
        };
        let human_ms = remaining
            .path
            .iter()
            .filter(|r| {
                runbook
                    .step_index(&r.step)
                    .is_some_and(|i| is_gate(&runbook.steps[i].kind))
            })
            .map(|r| r.expected_ms)
            .sum();
        let projected = remaining.total.as_millis() as i64;
        let target_ms = target_ms.or(runbook.rto.as_ref().map(|r| r.target.as_millis() as i64));
        DrillProjection {
            mode: mode.to_string(),
            projected_rto_ms: projected,
            target_ms,
            fits: target_ms.map(|t| projected <= t),
            human_ms,
            machine_ms: projected - human_ms,
            history_runs: history.runs,
            unestimated_steps: runbook
                .section(Section::Main)
                .filter(|s| history.expected(s).source == "none")
                .map(|s| s.id.clone())
                .collect(),
            human_gates: runbook
                .steps
                .iter()
                .filter(|s| is_gate(&s.kind))
                .map(|s| HumanGate {
                    step: s.id.clone(),
                    kind: s.kind.clone(),
                    section: s.section.as_str().to_string(),
                    expected_ms: history.expected(s).duration.as_millis() as i64,
                })
                .collect(),
        }
    }

    /// `projected 10m26s against a target of 30m00s: fits`, or `…: EXCEEDS
    /// it by 2m00s`, with where the durations came from.
    pub fn line(&self) -> String {
        let projected = human_ms(self.projected_rto_ms);
        let verdict = match self.target_ms {
            Some(t) if self.projected_rto_ms <= t => {
                format!(" against a target of {}: fits", human_ms(t))
            }
            Some(t) => format!(
                " against a target of {}: EXCEEDS it by {}",
                human_ms(t),
                human_ms(self.projected_rto_ms - t)
            ),
            None => " (no RTO target set)".to_string(),
        };
        let source = match self.history_runs {
            0 => "from estimates".to_string(),
            n => format!("from {n} earlier run(s) and estimates"),
        };
        let unestimated = match self.unestimated_steps.len() {
            0 => String::new(),
            n => format!("; {n} step(s) without an estimate count as 0"),
        };
        format!("projected {projected}{verdict} ({source}{unestimated})")
    }

    /// `a real run waits on 2 human gates: approve (approval, 5m00s),
    /// restore_dns (manual, 2m00s)`, or `a real run waits on no human gate`.
    pub fn gates_line(&self) -> String {
        if self.human_gates.is_empty() {
            return "a real run waits on no human gate".to_string();
        }
        let gates: Vec<String> = self
            .human_gates
            .iter()
            .map(|g| {
                let section = if g.section == Section::Main.as_str() {
                    String::new()
                } else {
                    format!(", in {}", g.section)
                };
                format!(
                    "{} ({}, {}{section})",
                    g.step,
                    g.kind,
                    human_ms(g.expected_ms)
                )
            })
            .collect();
        let n = self.human_gates.len();
        let noun = if n == 1 { "gate" } else { "gates" };
        format!("a real run waits on {n} human {noun}: {}", gates.join(", "))
    }
}

/// The history a drill's projection reads: the real runs of the drill's
/// runbook in `stores`. `None` for a real run, which needs none (so a real
/// run's end does not pay for reading every earlier run).
pub fn history_for_drill(stores: &RunStores, records: &[Record]) -> Option<StepHistory> {
    match records.first().map(|r| &r.event) {
        Some(Event::RunStarted {
            runbook,
            run_id,
            dry_run: Some(_),
            ..
        }) => Some(StepHistory::load(stores, runbook, Some(run_id))),
        _ => None,
    }
}
