//! The incident timeline: what happened in a run, when, by whom, with what
//! result, and how long recovery took. Written at the end of every run
//! (`timeline.md`, `timeline.json`, `timeline.html` in the run directory)
//! and on demand with `lifeboat timeline RUN_ID`.
//!
//! It is built from the journal only, and the journal is redacted before it
//! is written, so no secret can reach a timeline that never reached the
//! journal. The renderers also take a [`Redactor`] as a second line of
//! defence for the copy written at the end of a run, while the secrets are
//! still in memory.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::journal::record::{Event, MarkOutcome, Record, RunStatus};
use crate::journal::run_state::{RunState, StepRecordState};
use crate::report::drill_projection::DrillProjection;
use crate::report::rto_report::{RtoReport, StepShape};
use crate::report::step_history::StepHistory;
use crate::report::step_spans::{parse_ms, Now, Span, StepSpans};
use crate::runbook::step::split_item_id;
use crate::runbook::Runbook;

/// Longest summary kept per event: a timeline is read, not searched.
const SUMMARY_MAX: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub run_id: String,
    pub runbook: String,
    pub title: String,
    pub scenario: Option<String>,
    /// `render` or `probes` for a drill (a dry run); `None` for a real run.
    pub drill: Option<String>,
    /// `succeeded`, `failed`, `waiting`, `interrupted` or `running`.
    pub status: String,
    /// Who started the run.
    pub operator: String,
    /// Input values; secret inputs appear by name with a redacted value.
    pub inputs: Map<String, Value>,
    pub rto: RtoReport,
    /// For a drill: the RTO a real run would take and the human gates it
    /// would wait on (`drill_projection.rs`); `None` for a real run or
    /// when the run's copy of its runbook is unreadable.
    pub drill_projection: Option<DrillProjection>,
    /// Steps by outcome: `succeeded`, `failed`, `skipped`, `simulated`,
    /// `running`, `interrupted`, `waiting`, `not_run`.
    pub counts: BTreeMap<String, usize>,
    pub steps: Vec<TimelineStep>,
    pub events: Vec<TimelineEvent>,
    /// The clock's start, in ms since the epoch; the Gantt chart's origin.
    pub origin_ms: i64,
    /// The end of the chart, in ms since the epoch.
    pub end_ms: i64,
    /// Intervals with no engine running, in ms since the epoch.
    pub down: Vec<(i64, i64)>,
    /// What a postmortem quotes so the journal can be checked later.
    pub journal: JournalSeal,
    /// How the `notify:` targets' deliveries went.
    pub notifications: Notifications,
}

/// The outcomes of the run's notifications (`notified`, `notify_failed`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Notifications {
    pub delivered: usize,
    pub failed: usize,
    /// Each message not delivered: `notify[0] finished (about seq 12): why`.
    pub failures: Vec<String>,
}

impl Notifications {
    fn from_records(records: &[Record]) -> Self {
        let mut out = Self::default();
        for r in records {
            match &r.event {
                Event::Notified { .. } => out.delivered += 1,
                Event::NotifyFailed {
                    target,
                    event,
                    about_seq,
                    attempts,
                    error,
                    ..
                } => {
                    out.failed += 1;
                    let about = about_seq
                        .map(|s| format!(" (about seq {s})"))
                        .unwrap_or_default();
                    out.failures.push(format!(
                        "notify[{target}] {event}{about}, {attempts} attempt(s): {error}"
                    ));
                }
                _ => {}
            }
        }
        out
    }

    /// `12 delivered, 1 failed`.
    pub fn line(&self) -> String {
        format!("{} delivered, {} failed", self.delivered, self.failed)
    }
}

/// The journal a timeline was built from: its record count and chain head
/// (`lifeboat verify` prints the same head for an intact journal).
#[derive(Debug, Clone, Serialize)]
pub struct JournalSeal {
    pub records: u64,
    /// `sha256:<hex>` of the last record's stored bytes; `None` for a
    /// journal written without a chain.
    pub head: Option<String>,
}

impl JournalSeal {
    /// `12 records, chain head sha256:…`, or `12 records, unchained`.
    pub fn line(&self) -> String {
        let records = if self.records == 1 {
            "1 record".to_string()
        } else {
            format!("{} records", self.records)
        };
        match &self.head {
            Some(head) => format!("{records}, chain head {head}"),
            None => format!("{records}, unchained"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineStep {
    pub id: String,
    pub title: String,
    /// `steps`, `on_failure` or `finally` (empty if the runbook is unknown).
    pub section: String,
    pub outcome: String,
    pub critical: bool,
    /// What the step did when: executing and waiting spans.
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    pub seq: u64,
    /// UTC, RFC 3339.
    pub ts: String,
    pub actor: String,
    pub step: Option<String>,
    /// The record type (`step_succeeded`, `note`, …).
    pub event: String,
    pub outcome: String,
    /// A short, redacted summary: the command, the outputs, the error, the
    /// note's text, the approver's comment.
    pub summary: String,
    /// For a human decision (and a signed start): who signed it, as
    /// verified (`verified: alice (SHA256:…)`), or `unsigned`, or
    /// `unverified (SHA256:…)…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Timeline {
    /// Builds the timeline. `runbook` (the run's own copy) supplies titles,
    /// step order and `needs`; without it the journal alone is used. `now`
    /// is for runs still going. `head` is the journal's chain head
    /// ([`crate::journal::run_store::JournalRead::head`]). `history` (of
    /// the real runs, [`crate::report::drill_projection::history_for_drill`])
    /// is what a drill's projection reads; without it, estimates only.
    pub fn build(
        records: &[Record],
        head: Option<&str>,
        runbook: Option<&Runbook>,
        now: Option<Now>,
        history: Option<&StepHistory>,
    ) -> Option<Self> {
        let Event::RunStarted {
            run_id,
            runbook: runbook_name,
            title,
            scenario,
            inputs,
            secret_inputs,
            dry_run,
            declared_at,
            rto_target_ms,
            rto_stop_at,
            ..
        } = &records.first()?.event
        else {
            return None;
        };
        let shape = runbook.map(StepShape::of).unwrap_or_default();
        let spans = StepSpans::from_records(records, now);
        let rto = RtoReport::from_spans(
            &spans,
            &shape,
            now,
            declared_at.as_deref(),
            rto_target_ms.map(|t| t as i64),
            rto_stop_at.as_deref(),
            dry_run.as_deref(),
        );
        let state = RunState::replay(records, &|_| Vec::new());

        let mut all_inputs = inputs.clone();
        for name in secret_inputs {
            all_inputs.insert(name.clone(), Value::String(lifeboat_steps::REDACTED.into()));
        }

        // Steps in runbook order, then any the journal knows and the runbook
        // does not (a runbook changed with --allow-changed).
        let mut order: Vec<(String, String, String)> = runbook
            .map(|rb| {
                rb.steps
                    .iter()
                    .map(|s| {
                        (
                            s.id.clone(),
                            s.title().to_string(),
                            s.section.as_str().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // A loop item (`<id>[<key>]`) goes under its step, after the items
        // before it, a called step under its call; anything else the
        // runbook lacks goes at the end.
        let mut known: HashSet<String> = order.iter().map(|(id, _, _)| id.clone()).collect();
        let position: HashMap<String, usize> = order
            .iter()
            .enumerate()
            .map(|(i, (id, _, _))| (id.clone(), i))
            .collect();
        let mut items: HashMap<usize, Vec<(String, String, String)>> = HashMap::new();
        let mut others = Vec::new();
        for r in records {
            let Some(step) = r.event.step() else {
                continue;
            };
            if !known.insert(step.to_string()) {
                continue;
            }
            match split_item_id(step).and_then(|(id, key)| Some((position.get(id)?, key))) {
                Some((&p, key)) => {
                    let (parent_id, parent_title, section) = &order[p];
                    // A titled loop's items are titled after it.
                    let title = if parent_title == parent_id {
                        step.to_string()
                    } else {
                        format!("{parent_title} [{key}]")
                    };
                    let row = (step.to_string(), title, section.clone());
                    items.entry(p).or_default().push(row);
                }
                // A called runbook's step (`<call>/<step>`, a recorded
                // runbook's copy names only the call) goes under its call.
                None => match step
                    .split_once('/')
                    .and_then(|(call, _)| position.get(call))
                {
                    Some(&p) => {
                        let section = order[p].2.clone();
                        let row = (step.to_string(), step.to_string(), section);
                        items.entry(p).or_default().push(row);
                    }
                    None => others.push((step.to_string(), step.to_string(), String::new())),
                },
            }
        }
        if !items.is_empty() {
            let mut grouped = Vec::with_capacity(order.len() + known.len());
            for (p, row) in order.into_iter().enumerate() {
                grouped.push(row);
                grouped.extend(items.remove(&p).unwrap_or_default());
            }
            order = grouped;
        }
        order.extend(others);
        let critical: HashSet<&str> = rto.critical_path.iter().map(|p| p.step.as_str()).collect();
        // Each step's spans, in the order `StepSpans` sorted them.
        let mut spans_of: HashMap<&str, Vec<Span>> = HashMap::new();
        for s in &spans.spans {
            spans_of.entry(s.step.as_str()).or_default().push(s.clone());
        }
        let mut counts = BTreeMap::new();
        let steps: Vec<TimelineStep> = order
            .into_iter()
            .map(|(id, title, section)| {
                let outcome =
                    outcome_of(state.steps.get(&id), now.is_some_and(|n| n.engine_running));
                *counts.entry(outcome.clone()).or_insert(0) += 1;
                TimelineStep {
                    critical: critical.contains(id.as_str()),
                    spans: spans_of.get(id.as_str()).cloned().unwrap_or_default(),
                    id,
                    title,
                    section,
                    outcome,
                }
            })
            .collect();

        let status = match state.finished {
            Some(RunStatus::Succeeded) => "succeeded",
            Some(RunStatus::Failed) => "failed",
            None if state
                .steps
                .values()
                .any(|s| matches!(s, StepRecordState::Waiting { .. })) =>
            {
                "waiting"
            }
            None if matches!(
                records
                    .iter()
                    .rev()
                    .find(|r| !r.event.is_notification())
                    .map(|r| &r.event),
                Some(Event::Interrupted { .. })
            ) =>
            {
                "interrupted"
            }
            None if now.is_some_and(|n| !n.engine_running) => "interrupted",
            None => "running",
        }
        .to_string();

        let origin_ms = parse_ms(&rto.clock_start).unwrap_or(spans.started_ms);
        let end_ms = spans
            .spans
            .iter()
            .map(|s| s.end_ms)
            .chain([spans.last_ms, parse_ms(&rto.clock_stop).unwrap_or(0)])
            .max()
            .unwrap_or(origin_ms);
        Some(Timeline {
            run_id: run_id.clone(),
            runbook: runbook_name.clone(),
            title: title.clone(),
            scenario: scenario.clone(),
            drill: dry_run.clone(),
            drill_projection: match (dry_run, runbook) {
                (Some(mode), Some(rb)) => Some(DrillProjection::of(
                    mode,
                    rb,
                    history.unwrap_or(&StepHistory::default()),
                    rto_target_ms.map(|t| t as i64),
                )),
                _ => None,
            },
            status,
            operator: records[0].actor.clone(),
            inputs: all_inputs,
            rto,
            counts,
            steps,
            // A child's process group is bookkeeping for resume, not an event.
            events: records
                .iter()
                .filter(|r| !matches!(r.event, Event::ProcessStarted { .. }))
                .map(event_of)
                .collect(),
            origin_ms,
            end_ms,
            down: spans.down.clone(),
            journal: JournalSeal {
                records: records.len() as u64,
                head: head.map(String::from),
            },
            notifications: Notifications::from_records(records),
        })
    }

    /// Renders as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A step's outcome word. A step started with no outcome is `running`
/// while an engine drives the run, else `interrupted`.
fn outcome_of(state: Option<&StepRecordState>, engine_running: bool) -> String {
    match state {
        Some(StepRecordState::Succeeded {
            simulated: true, ..
        }) => "simulated",
        Some(StepRecordState::Succeeded { .. }) => "succeeded",
        Some(StepRecordState::Failed { .. }) => "failed",
        Some(StepRecordState::Skipped { .. }) => "skipped",
        Some(StepRecordState::Interrupted { .. }) if engine_running => "running",
        Some(StepRecordState::Interrupted { .. }) => "interrupted",
        Some(StepRecordState::Waiting { .. }) => "waiting",
        None => "not_run",
    }
    .to_string()
}

fn event_of(record: &Record) -> TimelineEvent {
    let (outcome, summary) = describe(&record.event);
    TimelineEvent {
        seq: record.seq,
        ts: record.ts.clone(),
        actor: record.actor.clone(),
        step: record.event.step().map(String::from),
        event: record.event.name().to_string(),
        outcome,
        summary: shorten(&summary),
        signature: signature_of(record),
    }
}

impl Timeline {
    /// Verifies each decision's signature again against `signers` (the
    /// allowed signers file the run started with), replacing what was
    /// recorded when it was journalled with today's verdict and its reason.
    pub fn verify_signatures(
        &mut self,
        records: &[Record],
        signers: &crate::journal::allowed_signers::AllowedSigners,
    ) {
        for (event, record) in self.events.iter_mut().zip(
            records
                .iter()
                .filter(|r| !matches!(r.event, Event::ProcessStarted { .. })),
        ) {
            if event.signature.is_some() && record.signed.is_some() {
                let verdict = crate::journal::signature::verify(record, &self.run_id, signers);
                event.signature = Some(shorten(&verdict.describe()));
            }
        }
    }
}

/// How a decision was signed, as journalled: the principal its signature
/// was verified as when it entered the run, or unsigned/unverified.
fn signature_of(record: &Record) -> Option<String> {
    let decision = match &record.event {
        Event::Approval { timed_out, .. } => !timed_out,
        Event::ManualConfirmed { .. } | Event::Marked { .. } => true,
        Event::Resumed { took_over_from, .. } => took_over_from.is_some(),
        Event::RunStarted { .. } => record.signed.is_some(),
        _ => false,
    };
    if !decision {
        return None;
    }
    Some(match &record.signed {
        None => "unsigned".to_string(),
        Some(s) => match &s.principal {
            Some(p) => format!("verified: {p} ({})", s.key),
            None => format!(
                "unverified ({}): not checked against an allowed signers file that has the key",
                s.key
            ),
        },
    })
}

/// The outcome word and a one-line summary of a record.
fn describe(event: &Event) -> (String, String) {
    let ms = |d: u64| lifeboat_steps::duration::format(std::time::Duration::from_millis(d));
    match event {
        Event::RunStarted {
            title,
            dry_run,
            scenario,
            ..
        } => {
            let mut s = title.clone();
            if let Some(sc) = scenario {
                s.push_str(&format!("; scenario {sc}"));
            }
            if let Some(mode) = dry_run {
                s.push_str(&format!("; DRILL (dry-run={mode})"));
            }
            ("started".into(), s)
        }
        Event::StepStarted {
            attempt,
            description,
            ..
        } => {
            // A script's first line is only the interpreter; show the
            // first lines together.
            let first = description
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(3)
                .collect::<Vec<_>>()
                .join("; ");
            let o = if *attempt > 1 {
                format!("started (attempt {attempt})")
            } else {
                "started".into()
            };
            (o, first.to_string())
        }
        Event::AttemptFailed {
            attempt,
            error,
            retry_in_ms,
            ..
        } => (
            format!("attempt {attempt} failed"),
            format!("{error}; next attempt in {}", ms(*retry_in_ms)),
        ),
        Event::StepSucceeded {
            outputs,
            simulated,
            duration_ms,
            ..
        } => {
            let o = if *simulated { "simulated" } else { "succeeded" };
            let out = outputs_summary(outputs);
            let s = if out.is_empty() {
                format!("in {}", ms(*duration_ms))
            } else {
                format!("in {}: {out}", ms(*duration_ms))
            };
            (o.into(), s)
        }
        Event::StepFailed {
            error,
            outputs,
            duration_ms,
            ..
        } => {
            let out = outputs_summary(outputs);
            let mut s = format!("{error} (after {})", ms(*duration_ms));
            if !out.is_empty() {
                s.push_str(&format!("; {out}"));
            }
            ("failed".into(), s)
        }
        Event::StepSkipped { reason, .. } => ("skipped".into(), reason.clone()),
        Event::Checkpoint { description, .. } => (
            "checkpoint reached".into(),
            description.clone().unwrap_or_default(),
        ),
        Event::Waiting { reason, .. } => ("waiting for a human".into(), reason.clone()),
        Event::Marked { outcome, .. } => match outcome {
            MarkOutcome::Done => (
                "marked done".into(),
                "a human confirmed it completed".into(),
            ),
            MarkOutcome::Failed => (
                "marked failed".into(),
                "a human said it did not complete".into(),
            ),
        },
        Event::Note { text } => ("note".into(), text.clone()),
        Event::Interrupted { reason } => ("interrupted".into(), reason.clone()),
        Event::Resumed {
            from_checkpoint,
            allow_changed,
            redo,
            reason,
            took_over_from,
            ..
        } => {
            let mut parts = Vec::new();
            if let Some(from) = took_over_from {
                parts.push(format!("took over from {from}"));
            }
            if let Some(cp) = from_checkpoint {
                parts.push(format!("from checkpoint {cp}"));
            }
            if !redo.is_empty() {
                parts.push(format!(
                    "running again: {} ({})",
                    redo.join(", "),
                    reason.as_deref().unwrap_or("no reason given")
                ));
            }
            if *allow_changed {
                parts.push("with a changed runbook (--allow-changed)".into());
            }
            ("resumed".into(), parts.join("; "))
        }
        Event::RunFinished { status } => (
            match status {
                RunStatus::Succeeded => "run succeeded",
                RunStatus::Failed => "run failed",
            }
            .into(),
            String::new(),
        ),
        #[allow(unreachable_patterns)]
        other => {
            // Records added later (approvals, manual steps): show their
            // fields as they are, minus the ones shown in other columns.
            let mut fields = match serde_json::to_value(other) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            fields.remove("type");
            fields.remove("step");
            (other.name().replace('_', " "), outputs_summary(&fields))
        }
    }
}

/// `name=value` pairs, short, one line.
fn outputs_summary(outputs: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    for (k, v) in outputs {
        let shown = match v {
            Value::String(s) if s.is_empty() => continue,
            Value::String(s) => format!("{k}={:?}", clip_raw(s, 60)),
            Value::Null => continue,
            other => format!("{k}={}", clip(&other.to_string(), 60)),
        };
        parts.push(shown);
    }
    parts.join(", ")
}

/// One line of at most `max` characters, control characters escaped (see
/// [`crate::terminal_text`]).
fn clip(s: &str, max: usize) -> String {
    crate::terminal_text::printable(&clip_raw(s, max)).into_owned()
}

/// One line of at most `max` characters, for `{:?}`, which escapes itself.
fn clip_raw(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if one_line.chars().count() > max {
        format!("{}…", one_line.chars().take(max).collect::<String>())
    } else {
        one_line
    }
}

fn shorten(s: &str) -> String {
    clip(s.trim(), SUMMARY_MAX)
}

/// The three files written at the end of a run, by name.
pub fn render_all(
    timeline: &Timeline,
    redactor: &lifeboat_steps::Redactor,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "timeline.md",
            redactor.redact(&crate::report::timeline_markdown::render(timeline)),
        ),
        ("timeline.json", redactor.redact(&timeline.to_json())),
        (
            "timeline.html",
            redactor.redact(&crate::report::timeline_html::render(timeline)),
        ),
    ]
}
