//! The timeline as Markdown: for the incident ticket and the post-mortem.

use std::fmt::Write;

use crate::report::rto_report::{human_ms, StopReason, TimeSplit};
use crate::report::timeline::Timeline;

pub fn render(t: &Timeline) -> String {
    let mut md = String::new();
    let drill = if t.drill.is_some() { "DRILL — " } else { "" };
    let _ = writeln!(md, "# {drill}Incident timeline: {}\n", cell(&t.title));
    if let Some(mode) = &t.drill {
        let _ = writeln!(
            md,
            "> **DRILL** (dry-run={mode}): nothing was changed; times show the drill, not a recovery.\n"
        );
    }
    let rto = &t.rto;
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| Run | `{}` |", t.run_id);
    let _ = writeln!(md, "| Runbook | `{}` |", t.runbook);
    let _ = writeln!(
        md,
        "| Scenario | {} |",
        cell(t.scenario.as_deref().unwrap_or("—"))
    );
    let _ = writeln!(md, "| Status | **{}** |", t.status);
    let _ = writeln!(md, "| Operator | {} |", cell(&t.operator));
    let _ = writeln!(md, "| Clock started | {} |", rto.clock_start);
    let _ = writeln!(
        md,
        "| Clock stopped | {} ({}) |",
        rto.clock_stop,
        stop_text(&rto.stop)
    );
    let _ = writeln!(
        md,
        "| RTO target | {} |",
        rto.target_ms.map(human_ms).unwrap_or_else(|| "none".into())
    );
    let actual = if t.drill.is_some() {
        "Drill took"
    } else {
        "RTO actual"
    };
    let _ = writeln!(md, "| {actual} | {} |", human_ms(rto.achieved_ms));
    let _ = writeln!(md, "| Verdict | **{}** |", cell(&rto.verdict_line()));
    if let Some(p) = &t.drill_projection {
        let _ = writeln!(md, "| A real run | {} |", cell(&p.line()));
        let _ = writeln!(md, "| Human gates | {} |", cell(&p.gates_line()));
    }
    let counts: Vec<String> = t.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let _ = writeln!(md, "| Steps | {} |", counts.join(", "));
    let _ = writeln!(md, "| Journal | {} |", cell(&t.journal.line()));
    let n = &t.notifications;
    if n.delivered + n.failed > 0 {
        let _ = writeln!(md, "| Notifications | {} |", n.line());
    }
    md.push('\n');
    if !n.failures.is_empty() {
        md.push_str("## Notifications not delivered\n\n");
        for f in &n.failures {
            let _ = writeln!(md, "- {}", cell(f));
        }
        md.push('\n');
    }

    md.push_str("## Inputs\n\n");
    if t.inputs.is_empty() {
        md.push_str("none\n");
    }
    for (k, v) in &t.inputs {
        let shown = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = writeln!(md, "- `{k}`: {}", cell(&shown));
    }
    md.push('\n');

    md.push_str("## Where the time went\n\n");
    split_table(&mut md, &rto.split);
    md.push('\n');

    if !rto.phases.is_empty() {
        md.push_str("## Phases (between checkpoints)\n\n");
        md.push_str("| From | To | Duration | Machine | Human | Interrupted |\n|---|---|---:|---:|---:|---:|\n");
        for p in &rto.phases {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                p.from,
                p.to,
                human_ms(p.duration_ms),
                human_ms(p.split.machine_ms + p.split.before_start_ms),
                human_ms(p.split.human_ms),
                human_ms(p.split.interrupted_ms)
            );
        }
        md.push('\n');
    }

    md.push_str("## Critical path (as it ran)\n\n");
    if rto.critical_path.is_empty() {
        md.push_str("no step completed\n");
    } else {
        md.push_str(
            "| Step | Started | Finished | Duration | Gap before |\n|---|---|---|---:|---:|\n",
        );
        for p in &rto.critical_path {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} | {} |",
                p.step,
                p.started_at,
                p.finished_at,
                human_ms(p.duration_ms),
                human_ms(p.gap_before_ms)
            );
        }
    }
    md.push('\n');

    md.push_str("## Steps\n\n| Step | Section | Outcome | Critical |\n|---|---|---|---|\n");
    for s in &t.steps {
        let _ = writeln!(
            md,
            "| `{}` {} | {} | {} | {} |",
            s.id,
            if s.title != s.id {
                cell(&s.title)
            } else {
                String::new()
            },
            s.section,
            s.outcome,
            if s.critical { "yes" } else { "" }
        );
    }
    md.push('\n');

    md.push_str(
        "## Events (UTC)\n\n| Time | Actor | Step | Outcome | Summary |\n|---|---|---|---|---|\n",
    );
    for e in &t.events {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            e.ts,
            cell(&actor_cell(e)),
            e.step
                .as_deref()
                .map(|s| format!("`{s}`"))
                .unwrap_or_default(),
            cell(&e.outcome),
            cell(&e.summary)
        );
    }
    md
}

fn split_table(md: &mut String, s: &TimeSplit) {
    md.push_str("| Category | Time |\n|---|---:|\n");
    if s.before_start_ms > 0 {
        let _ = writeln!(
            md,
            "| Before the run started (declaration to start) | {} |",
            human_ms(s.before_start_ms)
        );
    }
    let _ = writeln!(md, "| Machine execution | {} |", human_ms(s.machine_ms));
    let _ = writeln!(md, "| Waiting on humans | {} |", human_ms(s.human_ms));
    let _ = writeln!(
        md,
        "| Interrupted (no engine running) | {} |",
        human_ms(s.interrupted_ms)
    );
    let _ = writeln!(md, "| **Total** | **{}** |", human_ms(s.total()));
}

pub(crate) fn stop_text(stop: &StopReason) -> String {
    match stop {
        StopReason::StopAt { step } => format!("`{step}` succeeded"),
        StopReason::RunEnded { status } => format!("run ended, {status:?}").to_lowercase(),
        StopReason::Running => "still running".into(),
    }
}

/// Text safe inside a Markdown table cell.
/// Text for one table cell or line: pipes escaped, line breaks flattened and
/// control characters written out ([`crate::terminal_text`]), since
/// `timeline.md` is read with `cat` as often as in a renderer.
pub fn cell(s: &str) -> String {
    let flat = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    crate::terminal_text::printable(&flat).into_owned()
}

/// The actor, and how their decision was signed.
pub fn actor_cell(e: &crate::report::timeline::TimelineEvent) -> String {
    match &e.signature {
        Some(sig) => format!("{} [{sig}]", e.actor),
        None => e.actor.clone(),
    }
}
