//! The timeline as one self-contained HTML file: inline CSS and an inline
//! SVG Gantt chart, no scripts and no external assets, so it can be
//! attached to a ticket or opened from a laptop with no network.

use std::fmt::Write;

use crate::report::rto_report::{human_ms, TimeSplit};
use crate::report::step_spans::{format_ms, SpanEnd, SpanKind};
use crate::report::timeline::Timeline;
use crate::report::timeline_markdown::stop_text;

const LABEL_W: f64 = 240.0;
const CHART_W: f64 = 900.0;
const ROW_H: f64 = 22.0;
const AXIS_H: f64 = 24.0;

/// The timeline's stylesheet, shared with the status pages (`lifeboat
/// serve`) and the scorecard (`scorecard_html.rs`).
pub const CSS: &str = "
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:24px 0 8px}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,monospace}
.drill-banner{background:#fff3cd;border:2px solid #b58900;color:#7a5a00;font-weight:700;padding:8px 12px;margin-bottom:12px;letter-spacing:.05em}
.met{color:#1a7f37;font-weight:700}.missed{color:#cf222e;font-weight:700}.on_track{color:#0969da;font-weight:700}
.legend span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}
svg.gantt{border:1px solid #d0d7de;background:#fff}
.gantt .row-label{font:12px ui-monospace,monospace;fill:#1b1f24}
.gantt .row-label.critical{fill:#8250df;font-weight:700}
.gantt .row-bg{fill:#f6f8fa}.gantt .row-bg.critical{fill:#fbefff}
.gantt .bar.executing{fill:#0969da}.gantt .bar.waiting{fill:#d4a72c}
.gantt .bar.failed{fill:#cf222e}.gantt .bar.interrupted{fill:#8c959f}
.gantt .bar.critical{stroke:#8250df;stroke-width:2}
.gantt .before{fill:#bf8700;opacity:.08}
.gantt .down{fill:#8c959f;opacity:.18}.gantt .stop{stroke:#1a7f37;stroke-width:2;stroke-dasharray:4 3}
.gantt .tick{stroke:#d0d7de}.gantt .tick-label{font:11px sans-serif;fill:#57606a}
";

pub fn render(t: &Timeline) -> String {
    let mut h = String::new();
    let title = format!(
        "{}Incident timeline: {}",
        if t.drill.is_some() { "DRILL — " } else { "" },
        t.title
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    );
    if let Some(mode) = &t.drill {
        let _ = writeln!(
            h,
            "<div class=\"drill-banner\" id=\"drill\">DRILL (dry-run={}): nothing was changed; times show the drill, not a recovery.</div>",
            esc(mode)
        );
    }
    let _ = writeln!(h, "<h1>{}</h1>", esc(&title));
    header(&mut h, t);
    h.push_str("<h2>Gantt chart</h2>\n");
    legend(&mut h);
    gantt(&mut h, t);
    h.push_str("<h2>Where the time went</h2>\n");
    split_table(&mut h, &t.rto.split);
    phases(&mut h, t);
    critical_path(&mut h, t);
    events(&mut h, t);
    h.push_str("</body></html>\n");
    h
}

pub fn header(h: &mut String, t: &Timeline) {
    let rto = &t.rto;
    let verdict_class = rto
        .verdict
        .map(|v| {
            serde_json::to_value(v)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let counts: Vec<String> = t.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let inputs: Vec<String> = t
        .inputs
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("<code>{}</code>: {}", esc(k), esc(&shown))
        })
        .collect();
    let rows = [
        ("Run", format!("<code>{}</code>", esc(&t.run_id))),
        ("Runbook", format!("<code>{}</code>", esc(&t.runbook))),
        ("Scenario", esc(t.scenario.as_deref().unwrap_or("—"))),
        (
            "Status",
            format!("<strong id=\"status\">{}</strong>", esc(&t.status)),
        ),
        ("Operator", esc(&t.operator)),
        (
            "Inputs",
            if inputs.is_empty() {
                "none".into()
            } else {
                inputs.join("<br>")
            },
        ),
        ("Clock started", esc(&rto.clock_start)),
        (
            "Clock stopped",
            format!("{} ({})", esc(&rto.clock_stop), esc(&stop_text(&rto.stop))),
        ),
        (
            "RTO target",
            rto.target_ms.map(human_ms).unwrap_or_else(|| "none".into()),
        ),
        (
            if t.drill.is_some() {
                "Drill took"
            } else {
                "RTO actual"
            },
            human_ms(rto.achieved_ms),
        ),
        (
            "Verdict",
            format!(
                "<span id=\"verdict\" class=\"{verdict_class}\">{}</span>",
                esc(&rto.verdict_line())
            ),
        ),
        ("Steps", esc(&counts.join(", "))),
        (
            "Journal",
            format!("<code id=\"journal\">{}</code>", esc(&t.journal.line())),
        ),
    ];
    let mut rows = rows.to_vec();
    if let Some(p) = &t.drill_projection {
        rows.push((
            "A real run",
            format!(
                "<span id=\"projected\">{}</span><br><span id=\"gates\">{}</span>",
                esc(&p.line()),
                esc(&p.gates_line())
            ),
        ));
    }
    h.push_str("<table class=\"header\">\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    h.push_str("</table>\n");
}

pub fn legend(h: &mut String) {
    h.push_str("<p class=\"legend\">");
    for (color, text) in [
        ("#0969da", "executing"),
        ("#d4a72c", "waiting on a human"),
        ("#cf222e", "failed"),
        ("#8c959f", "interrupted / no engine running"),
    ] {
        let _ = write!(
            h,
            "<span><i class=\"sw\" style=\"background:{color}\"></i>{text}</span>"
        );
    }
    h.push_str(
        "<span><i class=\"sw\" style=\"border:2px solid #8250df\"></i>critical path</span></p>\n",
    );
}

pub fn gantt(h: &mut String, t: &Timeline) {
    let span = (t.end_ms - t.origin_ms).max(1) as f64;
    let x = |ms: i64| LABEL_W + ((ms - t.origin_ms) as f64 / span * CHART_W).clamp(0.0, CHART_W);
    let rows = t.steps.len() as f64;
    let height = AXIS_H + rows * ROW_H + 4.0;
    let width = LABEL_W + CHART_W + 40.0;
    let _ = writeln!(
        h,
        "<svg class=\"gantt\" id=\"gantt\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Gantt chart of the run's steps\">"
    );
    // Axis: five ticks, times relative to the clock's start.
    for i in 0..=5 {
        let ms = t.origin_ms + (span as i64) * i / 5;
        let xi = x(ms);
        let _ = writeln!(
            h,
            "<line class=\"tick\" x1=\"{xi:.1}\" y1=\"{AXIS_H}\" x2=\"{xi:.1}\" y2=\"{height}\"/><text class=\"tick-label\" x=\"{xi:.1}\" y=\"14\" text-anchor=\"middle\">+{}</text>",
            human_ms(ms - t.origin_ms)
        );
    }
    for (row, step) in t.steps.iter().enumerate() {
        let y = AXIS_H + row as f64 * ROW_H;
        let crit = if step.critical { " critical" } else { "" };
        let _ = writeln!(
            h,
            "<g class=\"row{crit}\" data-step=\"{id}\" data-outcome=\"{outcome}\"><rect class=\"row-bg{crit}\" x=\"0\" y=\"{y:.1}\" width=\"{width}\" height=\"{}\" opacity=\"{}\"/><text class=\"row-label{crit}\" x=\"6\" y=\"{:.1}\">{id}</text>",
            ROW_H - 2.0,
            if row % 2 == 0 || step.critical { 1 } else { 0 },
            y + 15.0,
            id = esc(&step.id),
            outcome = esc(&step.outcome),
        );
        for s in &step.spans {
            let x0 = x(s.start_ms);
            let w = (x(s.end_ms) - x0).max(2.0);
            let kind = match (s.kind, s.end) {
                (SpanKind::Waiting, _) => "waiting",
                (SpanKind::Executing, SpanEnd::Failed) => "executing failed",
                (SpanKind::Executing, SpanEnd::Interrupted) => "executing interrupted",
                (SpanKind::Executing, _) => "executing",
            };
            let what = match s.kind {
                SpanKind::Waiting => "waiting on a human",
                SpanKind::Executing => "executing",
            };
            let _ = writeln!(
                h,
                "<rect class=\"bar {kind}{crit}\" data-step=\"{id}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{}\" rx=\"2\"><title>{id}: {what} {} → {} ({}), {:?}</title></rect>",
                y + 4.0,
                ROW_H - 10.0,
                esc(&format_ms(s.start_ms)),
                esc(&format_ms(s.end_ms)),
                human_ms(s.end_ms - s.start_ms),
                s.end,
                id = esc(&step.id),
            );
        }
        h.push_str("</g>\n");
    }
    if let Some(start) = crate::report::step_spans::parse_ms(&t.rto.run_started) {
        if start > t.origin_ms {
            let _ = writeln!(
                h,
                "<rect class=\"before\" x=\"{LABEL_W}\" y=\"{AXIS_H}\" width=\"{:.1}\" height=\"{}\"><title>declared {} — the run started {}</title></rect>",
                x(start) - LABEL_W,
                rows * ROW_H,
                esc(&t.rto.clock_start),
                esc(&t.rto.run_started)
            );
        }
    }
    for &(a, b) in &t.down {
        let _ = writeln!(
            h,
            "<rect class=\"down\" x=\"{:.1}\" y=\"{AXIS_H}\" width=\"{:.1}\" height=\"{}\"><title>no engine running {} → {}</title></rect>",
            x(a),
            (x(b) - x(a)).max(1.0),
            rows * ROW_H,
            esc(&format_ms(a)),
            esc(&format_ms(b))
        );
    }
    if let Some(stop) = crate::report::step_spans::parse_ms(&t.rto.clock_stop) {
        let xs = x(stop);
        let _ = writeln!(
            h,
            "<line class=\"stop\" x1=\"{xs:.1}\" y1=\"{AXIS_H}\" x2=\"{xs:.1}\" y2=\"{height}\"><title>RTO clock stopped {}</title></line>",
            esc(&t.rto.clock_stop)
        );
    }
    h.push_str("</svg>\n");
}

fn split_table(h: &mut String, s: &TimeSplit) {
    h.push_str("<table class=\"split\"><tr><th>Category</th><th>Time</th></tr>\n");
    let mut rows = Vec::new();
    if s.before_start_ms > 0 {
        rows.push((
            "Before the run started (declaration to start)",
            s.before_start_ms,
        ));
    }
    rows.extend([
        ("Machine execution", s.machine_ms),
        ("Waiting on humans", s.human_ms),
        ("Interrupted (no engine running)", s.interrupted_ms),
        ("Total", s.total()),
    ]);
    for (k, v) in rows {
        let _ = writeln!(
            h,
            "<tr><td>{k}</td><td class=\"num\">{}</td></tr>",
            human_ms(v)
        );
    }
    h.push_str("</table>\n");
}

fn phases(h: &mut String, t: &Timeline) {
    if t.rto.phases.is_empty() {
        return;
    }
    h.push_str("<h2>Phases (between checkpoints)</h2>\n<table class=\"phases\"><tr><th>From</th><th>To</th><th>Duration</th><th>Machine</th><th>Human</th><th>Interrupted</th></tr>\n");
    for p in &t.rto.phases {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&p.from),
            esc(&p.to),
            human_ms(p.duration_ms),
            human_ms(p.split.machine_ms + p.split.before_start_ms),
            human_ms(p.split.human_ms),
            human_ms(p.split.interrupted_ms)
        );
    }
    h.push_str("</table>\n");
}

fn critical_path(h: &mut String, t: &Timeline) {
    h.push_str("<h2>Critical path (as it ran)</h2>\n");
    if t.rto.critical_path.is_empty() {
        h.push_str("<p>no step completed</p>\n");
        return;
    }
    h.push_str("<table class=\"critical-path\"><tr><th>Step</th><th>Started</th><th>Finished</th><th>Duration</th><th>Gap before</th></tr>\n");
    for p in &t.rto.critical_path {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&p.step),
            esc(&p.started_at),
            esc(&p.finished_at),
            human_ms(p.duration_ms),
            human_ms(p.gap_before_ms)
        );
    }
    h.push_str("</table>\n");
}

pub fn events(h: &mut String, t: &Timeline) {
    h.push_str("<h2>Events (UTC)</h2>\n<table class=\"events\" id=\"events\"><tr><th>Time</th><th>Actor</th><th>Step</th><th>Outcome</th><th>Summary</th></tr>\n");
    for e in &t.events {
        let _ = writeln!(
            h,
            "<tr data-event=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.event),
            esc(&e.ts),
            esc(&crate::report::timeline_markdown::actor_cell(e)),
            e.step
                .as_deref()
                .map(|s| format!("<code>{}</code>", esc(s)))
                .unwrap_or_default(),
            esc(&e.outcome),
            esc(&e.summary)
        );
    }
    h.push_str("</table>\n");
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
