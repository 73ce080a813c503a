//! The scorecard as one self-contained HTML page: the table, and for each
//! runbook its RTO history plotted against the target as inline SVG. No
//! scripts and no external assets; a point's details are in its `<title>`,
//! which browsers show on hover.

use std::fmt::Write;

use crate::report::rto_report::human_ms;
use crate::report::scorecard::{RunPoint, Scorecard, ScorecardRow};
use crate::report::scorecard_markdown::{
    age_text, history_cell, point_text, split_cell, trend_cell,
};
use crate::report::timeline_html::{esc, CSS};

const W: f64 = 480.0;
const H: f64 = 140.0;
/// Room for the axis labels on the left and at the bottom.
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 10.0;

const EXTRA_CSS: &str = "
.stale{color:#cf222e;font-weight:700}
svg.rto{border:1px solid #d0d7de;background:#fff;margin:4px 0 16px}
.rto .target{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:6 4}
.rto .line{fill:none;stroke:#8c959f;stroke-width:1}
.rto .real.met,.rto .real.fits{fill:#1a7f37}.rto .real{fill:#cf222e}
.rto .drill{fill:#fff;stroke:#0969da;stroke-width:2}.rto .drill.EXCEEDS{stroke:#cf222e}
.rto .axis{stroke:#d0d7de}.rto .label{font:11px sans-serif;fill:#57606a}
";

pub fn render(s: &Scorecard) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Drill scorecard</title><style>{CSS}{EXTRA_CSS}</style></head><body>\n<h1>Drill scorecard</h1>\n"
    );
    let _ = writeln!(
        h,
        "<p>Generated {} from {} run(s). A drill's RTO is the one projected for a real run (hollow points); runbooks not drilled within {} are flagged.</p>",
        esc(&s.generated_at),
        s.runs,
        esc(&age_text(s.max_age_ms))
    );
    if s.runbooks.is_empty() {
        h.push_str("<p>No runs yet: drill a runbook with <code>lifeboat run FILE --dry-run</code>.</p>\n</body></html>\n");
        return h;
    }
    h.push_str(
        "<table id=\"scorecard\">\n<tr><th>Runbook</th><th>Last real run</th><th>Last drill</th>",
    );
    let _ = write!(h, "<th>Last {} RTOs vs target</th>", s.last);
    h.push_str("<th>Human / machine</th><th>Trend</th><th>Drilled</th></tr>\n");
    for r in &s.runbooks {
        let _ = writeln!(
            h,
            "<tr id=\"row-{id}\"><td><a href=\"#chart-{id}\"><code>{id}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            last_cell(r.last_real_run.as_ref()),
            last_cell(r.last_drill.as_ref()),
            esc(&history_cell(&r.recent)),
            esc(&split_cell(r)),
            esc(&trend_cell(r)),
            drilled_cell(r),
            id = esc(&r.runbook),
        );
    }
    h.push_str("</table>\n");
    for r in &s.runbooks {
        let _ = writeln!(
            h,
            "<h2 id=\"chart-{}\"><code>{}</code> — {}</h2>",
            esc(&r.runbook),
            esc(&r.runbook),
            esc(&r.title)
        );
        chart(&mut h, r);
    }
    h.push_str("</body></html>\n");
    h
}

fn last_cell(p: Option<&RunPoint>) -> String {
    match p {
        Some(p) => format!(
            "{} {}",
            esc(p.started_at.get(..10).unwrap_or(&p.started_at)),
            esc(&p.status)
        ),
        None => "never".to_string(),
    }
}

fn drilled_cell(r: &ScorecardRow) -> String {
    let day = |t: &str| esc(t.get(..10).unwrap_or(t));
    match (&r.last_drilled_at, r.stale) {
        (Some(t), false) => day(t),
        (Some(t), true) => format!("<span class=\"stale\">STALE: last {}</span>", day(t)),
        (None, _) => "<span class=\"stale\">STALE: never</span>".to_string(),
    }
}

/// The RTO of each recent run (filled: real, hollow: a drill's projection)
/// against the target (dashed).
fn chart(h: &mut String, r: &ScorecardRow) {
    let points: Vec<(usize, &RunPoint, i64)> = r
        .recent
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, p, p.rto_ms?)))
        .collect();
    if points.is_empty() {
        h.push_str("<p>No finished run with an RTO yet.</p>\n");
        return;
    }
    let target = r.rto_target_ms;
    let top = points
        .iter()
        .map(|p| p.2)
        .chain(target)
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.15;
    let plot_w = W - LEFT - 12.0;
    let plot_h = H - TOP - BOTTOM;
    let n = r.recent.len().max(1);
    let x = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / n as f64;
    let y = |ms: i64| TOP + plot_h * (1.0 - ms as f64 / top);
    let _ = writeln!(
        h,
        "<svg class=\"rto\" id=\"svg-{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"RTO history of {}\">",
        esc(&r.runbook),
        esc(&r.runbook)
    );
    let _ = writeln!(
        h,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
        TOP + plot_h,
        W - 12.0,
        TOP + plot_h
    );
    let _ = writeln!(
        h,
        "<text class=\"label\" x=\"4\" y=\"{:.1}\">0</text>",
        TOP + plot_h
    );
    if let Some(t) = target {
        let _ = writeln!(
            h,
            "<line class=\"target\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"><title>target {}</title></line>\n<text class=\"label\" x=\"4\" y=\"{:.1}\">{}</text>",
            W - 12.0,
            esc(&human_ms(t)),
            y(t) + 4.0,
            esc(&human_ms(t)),
            y = y(t)
        );
    }
    let line: Vec<String> = points
        .iter()
        .map(|(i, _, ms)| format!("{:.1},{:.1}", x(*i), y(*ms)))
        .collect();
    let _ = writeln!(
        h,
        "<polyline class=\"line\" points=\"{}\"/>",
        line.join(" ")
    );
    for (i, p, ms) in &points {
        let class = if p.drill.is_some() { "drill" } else { "real" };
        let _ = writeln!(
            h,
            "<circle class=\"point {class} {}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\"><title>{} {}: {}</title></circle>",
            esc(&p.verdict),
            x(*i),
            y(*ms),
            esc(&p.run_id),
            esc(p.started_at.get(..16).unwrap_or(&p.started_at)),
            esc(&point_text(p))
        );
        let _ = writeln!(
            h,
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(*i),
            H - 5.0,
            esc(p.started_at.get(5..10).unwrap_or(""))
        );
    }
    h.push_str("</svg>\n");
}
