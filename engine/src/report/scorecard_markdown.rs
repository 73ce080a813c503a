//! The scorecard as a Markdown table: the "Recovery Time Benchmarks" page
//! of a wiki, regenerated instead of edited.

use std::fmt::Write;

use crate::report::rto_report::human_ms;
use crate::report::scorecard::{RunPoint, Scorecard, ScorecardRow};
use crate::report::timeline_markdown::cell;

pub fn render(s: &Scorecard) -> String {
    let mut md = String::new();
    md.push_str("# Drill scorecard\n\n");
    let _ = writeln!(
        md,
        "Generated {} from {} run(s). A drill's RTO is the one projected for a real run; runbooks not drilled within {} are flagged.\n",
        s.generated_at,
        s.runs,
        age_text(s.max_age_ms)
    );
    if s.runbooks.is_empty() {
        md.push_str("No runs yet: drill a runbook with `lifeboat run FILE --dry-run`.\n");
        return md;
    }
    let _ = writeln!(
        md,
        "| Runbook | Last real run | Last drill | Last {} RTOs vs target | Human / machine | Trend | Drilled |",
        s.last
    );
    md.push_str("|---|---|---|---|---|---|---|\n");
    for r in &s.runbooks {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            cell(&r.runbook),
            last_cell(r.last_real_run.as_ref()),
            last_cell(r.last_drill.as_ref()),
            cell(&history_cell(&r.recent)),
            split_cell(r),
            trend_cell(r),
            drilled_cell(r),
        );
    }
    md
}

/// `2026-11-30 succeeded`, or `never`.
fn last_cell(p: Option<&RunPoint>) -> String {
    match p {
        Some(p) => format!("{} {}", day(&p.started_at), cell(&p.status)),
        None => "never".to_string(),
    }
}

/// `4m12s met, projected 10m26s fits` (oldest first), against the target.
pub fn history_cell(points: &[RunPoint]) -> String {
    if points.is_empty() {
        return "—".to_string();
    }
    let target = points.iter().rev().find_map(|p| p.rto_target_ms);
    let figures: Vec<String> = points.iter().map(point_text).collect();
    match target {
        Some(t) => format!("{} (target {})", figures.join(", "), human_ms(t)),
        None => figures.join(", "),
    }
}

/// `4m12s met`, `drill: projected 10m26s fits`.
pub fn point_text(p: &RunPoint) -> String {
    let figure = p.rto_ms.map(human_ms).unwrap_or_else(|| "?".into());
    let text = match &p.drill {
        Some(_) => format!("drill: projected {figure} {}", p.verdict),
        None => format!("{figure} {}", p.verdict),
    };
    text.trim_end().to_string()
}

/// The latest run's split: `5m00s / 2m10s`.
pub fn split_cell(r: &ScorecardRow) -> String {
    match r
        .recent
        .last()
        .and_then(|p| Some((p.human_ms?, p.machine_ms?)))
    {
        Some((h, m)) => format!("{} / {}", human_ms(h), human_ms(m)),
        None => "—".to_string(),
    }
}

/// `steady (real runs)`, `unknown`.
pub fn trend_cell(r: &ScorecardRow) -> String {
    match r.trend_basis.as_str() {
        "nothing" => r.trend.clone(),
        basis => format!("{} ({basis})", r.trend),
    }
}

/// `2026-11-30`, or `**STALE**: last 2026-06-01`, or `**STALE**: never`.
pub fn drilled_cell(r: &ScorecardRow) -> String {
    match (&r.last_drilled_at, r.stale) {
        (Some(t), false) => day(t).to_string(),
        (Some(t), true) => format!("**STALE**: last {}", day(t)),
        (None, _) => "**STALE**: never".to_string(),
    }
}

/// `90d` for whole days (as `--max-age` is written), else `36h00m`.
pub fn age_text(ms: i64) -> String {
    const DAY: i64 = 86_400_000;
    if ms > 0 && ms % DAY == 0 {
        format!("{}d", ms / DAY)
    } else {
        human_ms(ms)
    }
}

/// The date of an RFC 3339 time.
fn day(t: &str) -> &str {
    t.get(..10).unwrap_or(t)
}
