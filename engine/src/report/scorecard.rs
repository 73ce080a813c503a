//! The drill scorecard: one row per runbook, from every run in the store
//! ([`RunSummary`], the rows of `lifeboat runs`). The seeds' hand-kept
//! "Recovery Time Benchmarks" table ("Last Tested / Actual Time"), kept by
//! the tool.
//!
//! - A real run's figure is the RTO it achieved; a drill's is the RTO a
//!   real run would take ([`crate::report::drill_projection`]).
//! - A runbook is *drilled* within `--max-age` when a drill started, or a
//!   real run succeeded, within it: a real recovery is the best drill.
//! - The trend compares the latest figure with the median of the ones
//!   before it, over real runs that succeeded when there are two, else
//!   over drills.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::report::run_summary::RunSummary;
use crate::report::step_spans::{format_ms, parse_ms};

/// Within 10% of the median of the earlier figures is steady.
const STEADY: f64 = 0.10;

#[derive(Debug, Clone, Serialize)]
pub struct Scorecard {
    /// When it was made (RFC 3339).
    pub generated_at: String,
    pub max_age_ms: i64,
    /// How many latest finished runs each row shows.
    pub last: usize,
    /// How many runs the store holds.
    pub runs: usize,
    pub runbooks: Vec<ScorecardRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScorecardRow {
    pub runbook: String,
    pub title: String,
    pub scenario: Option<String>,
    /// The target the latest run recorded.
    pub rto_target_ms: Option<i64>,
    pub last_real_run: Option<RunPoint>,
    pub last_drill: Option<RunPoint>,
    /// The latest finished runs, oldest first (at most `last`).
    pub recent: Vec<RunPoint>,
    /// `faster`, `slower`, `steady`, or `unknown` (fewer than two figures).
    pub trend: String,
    /// What the trend compares: `real runs`, `drills` or `nothing`.
    pub trend_basis: String,
    /// The latest drill's start or real run's success.
    pub last_drilled_at: Option<String>,
    /// Not drilled within `max_age`.
    pub stale: bool,
}

/// One run, as the scorecard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunPoint {
    pub run_id: String,
    pub started_at: String,
    /// `render` or `probes` for a drill; `None` for a real run.
    pub drill: Option<String>,
    pub status: String,
    /// Achieved (a real run) or projected (a drill).
    pub rto_ms: Option<i64>,
    pub rto_target_ms: Option<i64>,
    /// `met`, `MISSED`, `failed` (a real run that did not recover), `fits`
    /// or `EXCEEDS` (a drill's projection), or empty without a target.
    pub verdict: String,
    /// Waiting on people: measured, or the gates' share of a projection.
    pub human_ms: Option<i64>,
    pub machine_ms: Option<i64>,
}

impl RunPoint {
    fn of(s: &RunSummary) -> Self {
        let hm = s.human_machine_ms();
        RunPoint {
            run_id: s.run_id.clone(),
            started_at: s.started_at.clone().unwrap_or_default(),
            drill: s.drill.clone(),
            status: s.status.clone(),
            rto_ms: s.recovery_ms(),
            rto_target_ms: s
                .projection
                .as_ref()
                .map_or(s.rto.as_ref().and_then(|r| r.target_ms), |p| p.target_ms),
            verdict: s.verdict_word().to_string(),
            human_ms: hm.map(|h| h.0),
            machine_ms: hm.map(|h| h.1),
        }
    }
}

impl Scorecard {
    /// The scorecard of `runs` (oldest first, as [`RunSummary::list`]
    /// returns them) at `now_ms`.
    pub fn build(runs: &[RunSummary], now_ms: i64, max_age_ms: i64, last: usize) -> Self {
        let mut by_runbook: BTreeMap<&str, Vec<&RunSummary>> = BTreeMap::new();
        for r in runs {
            if let Some(name) = r.runbook.as_deref() {
                by_runbook.entry(name).or_default().push(r);
            }
        }
        let runbooks = by_runbook
            .into_iter()
            .map(|(name, runs)| row(name, &runs, now_ms, max_age_ms, last))
            .collect();
        Scorecard {
            generated_at: format_ms(now_ms),
            max_age_ms,
            last,
            runs: runs.len(),
            runbooks,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn row(
    name: &str,
    runs: &[&RunSummary],
    now_ms: i64,
    max_age_ms: i64,
    last: usize,
) -> ScorecardRow {
    let latest = runs.last().copied();
    let last_real = runs.iter().rev().find(|r| r.drill.is_none());
    let last_drill = runs.iter().rev().find(|r| r.drill.is_some());
    let finished: Vec<&RunSummary> = runs.iter().copied().filter(|r| r.finished()).collect();
    let recent: Vec<RunPoint> = finished[finished.len().saturating_sub(last)..]
        .iter()
        .map(|r| RunPoint::of(r))
        .collect();
    let figures = |drill: bool| -> Vec<i64> {
        finished
            .iter()
            .filter(|r| r.drill.is_some() == drill && r.status == "succeeded")
            .filter_map(|r| r.recovery_ms())
            .collect()
    };
    let (real, drills) = (figures(false), figures(true));
    let (basis, series) = match (real.len() >= 2, drills.len() >= 2) {
        (true, _) => ("real runs", real),
        (false, true) => ("drills", drills),
        _ => ("nothing", Vec::new()),
    };
    let drilled_at = runs
        .iter()
        .filter_map(|r| match &r.drill {
            Some(_) => r.started_at.clone(),
            None => r.succeeded_at.clone(),
        })
        .filter_map(|t| parse_ms(&t))
        .max();
    ScorecardRow {
        runbook: name.to_string(),
        title: latest.and_then(|r| r.title.clone()).unwrap_or_default(),
        scenario: latest.and_then(|r| r.scenario.clone()),
        rto_target_ms: latest
            .and_then(|r| r.rto.as_ref())
            .and_then(|r| r.target_ms),
        last_real_run: last_real.map(|r| RunPoint::of(r)),
        last_drill: last_drill.map(|r| RunPoint::of(r)),
        recent,
        trend: trend(&series).to_string(),
        trend_basis: basis.to_string(),
        last_drilled_at: drilled_at.map(format_ms),
        stale: drilled_at.is_none_or(|t| now_ms - t > max_age_ms),
    }
}

/// The latest figure against the median of the ones before it.
fn trend(figures: &[i64]) -> &'static str {
    let Some((&latest, before)) = figures.split_last() else {
        return "unknown";
    };
    if before.is_empty() {
        return "unknown";
    }
    let mut sorted = before.to_vec();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2] as f64;
    let latest = latest as f64;
    if latest < median * (1.0 - STEADY) {
        "faster"
    } else if latest > median * (1.0 + STEADY) {
        "slower"
    } else {
        "steady"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trend_compares_the_latest_with_the_median_before_it() {
        assert_eq!(trend(&[]), "unknown");
        assert_eq!(trend(&[100]), "unknown");
        assert_eq!(trend(&[100, 100, 50]), "faster");
        assert_eq!(trend(&[100, 300, 100, 120]), "slower");
        assert_eq!(trend(&[100, 105]), "steady");
    }
}
