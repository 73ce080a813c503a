//! The status pages' HTML: the list of runs and one run's page. Each page
//! is a shell around one fragment (`<div id="live">`), and the event
//! stream sends that same fragment again whenever it changes, so the page
//! with JavaScript and the page without it (refreshed by the browser) show
//! the same thing, rendered once, here.
//!
//! Everything shown comes from the journal, which is redacted before it is
//! written, through the timeline and `status` (the same text), and every
//! piece of text is HTML-escaped ([`esc`]).

use std::fmt::Write;

use crate::journal::run_store::StoreError;
use crate::journal::run_stores::RunStores;
use crate::report::run_snapshot::RunSnapshot;
use crate::report::run_status::RunStatusView;
use crate::report::run_summary::RunSummary;
use crate::report::step_history::StepHistory;
use crate::report::timeline::Timeline;
use crate::report::timeline_html::{self, esc};
use crate::terminal_text::printable;

/// How often a page without JavaScript reloads itself, in seconds.
pub const NOSCRIPT_REFRESH_SECS: u64 = 5;

/// The stylesheet: the timeline's, then the pages' own.
pub fn stylesheet() -> String {
    format!("{}{}", timeline_html::CSS, include_str!("assets/serve.css"))
}

/// The script that swaps in each fragment the event stream sends.
pub const SCRIPT: &str = include_str!("assets/live.js");

/// A whole page around `fragment`, updated live from `events`.
pub fn page(title: &str, events: &str, fragment: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title>\
<link rel=\"stylesheet\" href=\"/assets/serve.css\">\
<noscript><meta http-equiv=\"refresh\" content=\"{NOSCRIPT_REFRESH_SECS}\"></noscript>\
<script src=\"/assets/live.js\" defer></script></head>\n\
<body data-events=\"{events}\">\n\
<nav><a href=\"/\">All runs</a> · lifeboat serve (read-only)</nav>\n\
<p id=\"connection\">this page reloads itself every {NOSCRIPT_REFRESH_SECS}s</p>\n\
<div id=\"live\">\n{fragment}</div>\n</body></html>\n",
        title = esc(title),
        events = esc(events),
    )
}

/// An error page: what went wrong and where to go from here.
pub fn error_page(title: &str, message: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<link rel=\"stylesheet\" href=\"/assets/serve.css\"></head>\n<body>\n\
<nav><a href=\"/\">All runs</a> · lifeboat serve (read-only)</nav>\n\
<h1>{title}</h1>\n<p id=\"error\">{message}</p>\n</body></html>\n",
        title = esc(title),
        message = esc(&printable(message)),
    )
}

/// The list of runs, newest first: each with its status and RTO against
/// the target, as `lifeboat runs` shows them ([`RunSummary`]).
pub fn runs_fragment(stores: &RunStores) -> Result<String, StoreError> {
    let rows = RunSummary::list(stores)?;
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<h1>Runs</h1>\n<p>in <code>{}</code></p>",
        esc(&stores.describe())
    );
    if rows.is_empty() {
        h.push_str("<p id=\"no-runs\">no runs yet: this list fills in as runs start</p>\n");
        return Ok(h);
    }
    h.push_str("<table class=\"runs\" id=\"runs\"><tr><th>Run</th><th>Runbook</th><th>Status</th><th>Started (UTC)</th><th>RTO / target</th><th></th></tr>\n");
    for row in rows.iter().rev() {
        let _ = writeln!(
            h,
            "<tr data-run=\"{id}\" data-status=\"{status}\"><td><a href=\"/runs/{id}\"><code>{id}</code></a></td><td><code>{runbook}</code></td><td class=\"state {status}\">{status}</td><td>{started}</td><td>{rto}</td><td>{drill}</td></tr>",
            id = esc(&row.run_id),
            runbook = esc(&printable(row.runbook())),
            status = esc(&row.status),
            started = esc(row.started()),
            rto = esc(&row.rto_cell()),
            drill = if row.drill.is_some() { "DRILL" } else { "" },
        );
    }
    h.push_str("</table>\n");
    Ok(h)
}

/// Why a run's page cannot be shown.
#[derive(Debug)]
pub enum RunPageError {
    Store(StoreError),
    /// The journal has no start record.
    NoStart,
}

/// One run's page: its title (for `<title>`) and its live fragment.
pub struct RunFragment {
    pub title: String,
    pub html: String,
}

/// A run as it is now: the RTO clock, what runs and what waits (the lines
/// `lifeboat status` prints, with the commands that resolve each gate),
/// every step's state, the timeline's Gantt chart and its events.
pub fn run_fragment(
    stores: &RunStores,
    run_id: &str,
    history: &StepHistory,
) -> Result<RunFragment, RunPageError> {
    let snap = RunSnapshot::open(stores, run_id).map_err(RunPageError::Store)?;
    let view = RunStatusView::build(&snap, history).map_err(|_| RunPageError::NoStart)?;
    let timeline = Timeline::build(
        &snap.records,
        snap.head.as_deref(),
        snap.runbook.as_ref(),
        Some(snap.now),
        Some(history),
    )
    .ok_or(RunPageError::NoStart)?;
    let title = format!(
        "{}{} — {}",
        if timeline.drill.is_some() {
            "DRILL — "
        } else {
            ""
        },
        timeline.title,
        view.status
    );

    let mut h = String::new();
    if let Some(mode) = &timeline.drill {
        let _ = writeln!(
            h,
            "<div class=\"drill-banner\" id=\"drill\">DRILL (dry-run={}): nothing is changed; times show the drill, not a recovery.</div>",
            esc(mode)
        );
    }
    let _ = writeln!(
        h,
        "<h1 data-run=\"{}\" data-status=\"{}\">{}</h1>",
        esc(&view.run.run_id),
        esc(&view.status),
        esc(&printable(&timeline.title))
    );
    let _ = writeln!(
        h,
        "<p class=\"clock\">RTO clock <strong id=\"clock\">{}</strong> · <span class=\"state {status}\" id=\"run-status\">{status}</span></p>",
        esc(&crate::report::rto_report::human_ms(view.report.achieved_ms)),
        status = esc(&view.status),
    );
    if !view.waiting.is_empty() {
        h.push_str("<h2>Waiting on a human</h2>\n<ul class=\"gates\" id=\"waiting\">\n");
        for w in &view.waiting {
            let _ = write!(
                h,
                "<li data-step=\"{}\"><strong><code>{}</code></strong>: {}",
                esc(&w.step),
                esc(&w.step),
                esc(&printable(&w.reason))
            );
            for cmd in &w.commands {
                let _ = write!(
                    h,
                    "<br><code class=\"command\">{}</code>",
                    esc(&printable(cmd))
                );
            }
            h.push_str("</li>\n");
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<h2>Now (as <code>lifeboat status</code> prints it)</h2>\n<pre class=\"status\" id=\"status-text\">");
    for line in view.text_lines() {
        let _ = writeln!(h, "{}", esc(&printable(&line)));
    }
    h.push_str("</pre>\n<h2>Steps</h2>\n<table class=\"steps\" id=\"steps\"><tr><th>Step</th><th>Title</th><th>State</th></tr>\n");
    for s in &timeline.steps {
        let _ = writeln!(
            h,
            "<tr data-step=\"{id}\" data-outcome=\"{outcome}\"><td><code>{id}</code></td><td>{title}</td><td class=\"state {outcome}\">{outcome}</td></tr>",
            id = esc(&s.id),
            title = esc(&printable(&s.title)),
            outcome = esc(&s.outcome),
        );
    }
    h.push_str("</table>\n<h2>Summary</h2>\n");
    timeline_html::header(&mut h, &timeline);
    h.push_str("<h2>Gantt chart</h2>\n");
    timeline_html::legend(&mut h);
    timeline_html::gantt(&mut h, &timeline);
    timeline_html::events(&mut h, &timeline);
    Ok(RunFragment { title, html: h })
}
