//! What each step was doing when, read back from a run's journal: the spans
//! in which it executed or waited for a human, the gaps in which no engine
//! was running, and each step's final start and finish.
//!
//! The RTO report and the timeline's Gantt chart are both built on this, so
//! that the two can never disagree about where the time went. It reads only
//! records (already redacted) and never the clock: callers that want "now"
//! pass it in, which keeps the arithmetic testable with hand-written times.

use std::collections::HashMap;

use serde::Serialize;

use crate::journal::record::{Event, MarkOutcome, Record, RunStatus};

pub use crate::journal::timestamp::{format_ms, parse_ms};

/// The present, for a run that may still be going.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub at_ms: i64,
    /// Whether an engine holds the run's lock right now. If not, the time
    /// since the last engine record is time with no engine running.
    pub engine_running: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// The step's side effect was in progress.
    Executing,
    /// The step waited for a human (an interrupted `rerun: never` step, an
    /// approval, a manual step).
    Waiting,
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanEnd {
    Succeeded,
    Failed,
    Skipped,
    /// The engine stopped (Ctrl-C, kill, crash) while it was open.
    Interrupted,
    /// A wait ended because the run was resumed after a human acted.
    Resumed,
    /// Still open at the end of the records (or at "now").
    Open,
}

#[derive(Debug, Clone, Serialize)]
pub struct Span {
    pub step: String,
    pub kind: SpanKind,
    pub start_ms: i64,
    pub end_ms: i64,
    pub end: SpanEnd,
}

/// A step's final state, for the critical path.
#[derive(Debug, Clone, Serialize)]
pub struct StepFinish {
    /// The start of the execution that produced the outcome; equal to
    /// `finished_ms` for steps that take no time (checkpoints, asserts,
    /// simulated steps).
    pub started_ms: i64,
    pub finished_ms: i64,
    pub succeeded: bool,
}

#[derive(Debug, Clone, Default)]
pub struct StepSpans {
    pub spans: Vec<Span>,
    /// Intervals in which no engine was running the run.
    pub down: Vec<(i64, i64)>,
    /// The first terminal outcome of each step (a success, or a failure that
    /// was never followed by a success).
    pub finished: HashMap<String, StepFinish>,
    /// `(step, time)` of every checkpoint reached, in order, first time only.
    pub checkpoints: Vec<(String, i64)>,
    /// When the run started (its `run_started` record).
    pub started_ms: i64,
    /// When the run ended: its first successful `run_finished`, or a failed
    /// one that was not resumed. `None` while it can still continue.
    pub ended: Option<(i64, RunStatus)>,
    /// The time of the last record.
    pub last_ms: i64,
}

/// Records only the engine writes while it drives the run. Notes, marks and
/// anything unknown may come from another process while no engine runs, so
/// they say nothing about whether one was alive.
fn engine_written(event: &Event) -> bool {
    matches!(
        event,
        Event::RunStarted { .. }
            | Event::StepStarted { .. }
            | Event::ProcessStarted { .. }
            | Event::AttemptFailed { .. }
            | Event::StepSucceeded { .. }
            | Event::StepFailed { .. }
            | Event::StepSkipped { .. }
            | Event::Checkpoint { .. }
            | Event::Waiting { .. }
            | Event::Interrupted { .. }
            | Event::Resumed { .. }
            | Event::RunFinished { .. }
    )
}

impl StepSpans {
    /// Replays records. With `now`, spans still open are drawn up to it, and
    /// if no engine is running, the time since the last engine record counts
    /// as down time.
    pub fn from_records(records: &[Record], now: Option<Now>) -> Self {
        let mut out = StepSpans::default();
        // Open executing spans: step -> start.
        let mut executing: HashMap<String, i64> = HashMap::new();
        // Open waits: step -> start.
        let mut waiting: HashMap<String, i64> = HashMap::new();
        // The last step_started time of each step.
        let mut last_start: HashMap<String, i64> = HashMap::new();
        let mut last_engine_ms: Option<i64> = None;
        let mut stopped = false;
        for record in records {
            let Some(t) = parse_ms(&record.ts) else {
                continue;
            };
            out.last_ms = t;
            match &record.event {
                Event::RunStarted { .. } => out.started_ms = t,
                Event::StepStarted { step, .. } => {
                    if let Some(s) = executing.remove(step) {
                        // A retry of an open span (should not happen): close it.
                        out.close(step, SpanKind::Executing, s, t, SpanEnd::Interrupted);
                    }
                    executing.insert(step.clone(), t);
                    last_start.insert(step.clone(), t);
                }
                Event::StepSucceeded { step, .. } => {
                    out.terminal(step, t, SpanEnd::Succeeded, &mut executing, &mut waiting);
                    out.finish(step, last_start.get(step).copied(), t, true);
                }
                Event::StepFailed { step, .. } => {
                    out.terminal(step, t, SpanEnd::Failed, &mut executing, &mut waiting);
                    out.finish(step, last_start.get(step).copied(), t, false);
                }
                Event::StepSkipped { step, .. } => {
                    out.terminal(step, t, SpanEnd::Skipped, &mut executing, &mut waiting);
                }
                Event::Marked { step, outcome } => {
                    // The decision settles the step, but the run still waits
                    // for someone to resume it: the wait stays open.
                    if let Some(s) = executing.remove(step) {
                        out.close(step, SpanKind::Executing, s, t, SpanEnd::Interrupted);
                    }
                    out.finish(
                        step,
                        last_start.get(step).copied(),
                        t,
                        *outcome == MarkOutcome::Done,
                    );
                }
                Event::Checkpoint { step, .. }
                    if !out.checkpoints.iter().any(|(s, _)| s == step) =>
                {
                    out.checkpoints.push((step.clone(), t));
                }
                Event::Waiting { step, .. } => {
                    waiting.entry(step.clone()).or_insert(t);
                }
                Event::Interrupted { .. } => {
                    out.close_all_executing(&mut executing, t);
                    stopped = true;
                }
                Event::Resumed { .. } => {
                    let crash = last_engine_ms.unwrap_or(t);
                    if !stopped {
                        // Killed: whatever ran stopped with the last record.
                        out.close_all_executing(&mut executing, crash);
                    }
                    out.down.push((crash, t));
                    for (step, s) in waiting.drain() {
                        out.close(&step, SpanKind::Waiting, s, t, SpanEnd::Resumed);
                    }
                    if matches!(out.ended, Some((_, RunStatus::Failed))) {
                        out.ended = None;
                    }
                    stopped = false;
                }
                Event::RunFinished { status } => {
                    out.close_all_executing(&mut executing, t);
                    if !matches!(out.ended, Some((_, RunStatus::Succeeded))) {
                        out.ended = Some((t, *status));
                    }
                    stopped = true;
                }
                _ => {}
            }
            if engine_written(&record.event) {
                last_engine_ms = Some(t);
            }
        }
        // Whatever is still open runs to the end of what we know.
        let end = match now {
            Some(n) => n.at_ms.max(out.last_ms),
            None => out.last_ms,
        };
        let engine_alive = now.is_some_and(|n| n.engine_running) && out.ended.is_none();
        if !engine_alive {
            let last = last_engine_ms.unwrap_or(end);
            if !stopped {
                out.close_all_executing(&mut executing, last);
            }
            if end > last && out.ended.is_none() {
                out.down.push((last, end));
            }
        }
        for (step, s) in executing.drain() {
            out.close(&step, SpanKind::Executing, s, end, SpanEnd::Open);
        }
        for (step, s) in waiting.drain() {
            out.close(&step, SpanKind::Waiting, s, end, SpanEnd::Open);
        }
        out.spans
            .sort_by(|a, b| (a.start_ms, &a.step).cmp(&(b.start_ms, &b.step)));
        out
    }

    fn close(&mut self, step: &str, kind: SpanKind, start: i64, end: i64, how: SpanEnd) {
        self.spans.push(Span {
            step: step.to_string(),
            kind,
            start_ms: start,
            end_ms: end.max(start),
            end: how,
        });
    }

    fn terminal(
        &mut self,
        step: &str,
        t: i64,
        how: SpanEnd,
        executing: &mut HashMap<String, i64>,
        waiting: &mut HashMap<String, i64>,
    ) {
        match executing.remove(step) {
            Some(s) => self.close(step, SpanKind::Executing, s, t, how),
            // Steps that take no time (checkpoints, asserts, simulated
            // steps) still get a mark on the chart.
            None if how != SpanEnd::Skipped => self.close(step, SpanKind::Executing, t, t, how),
            None => {}
        }
        if let Some(s) = waiting.remove(step) {
            self.close(step, SpanKind::Waiting, s, t, how);
        }
    }

    fn close_all_executing(&mut self, executing: &mut HashMap<String, i64>, t: i64) {
        let mut open: Vec<(String, i64)> = executing.drain().collect();
        open.sort();
        for (step, s) in open {
            self.close(&step, SpanKind::Executing, s, t, SpanEnd::Interrupted);
        }
    }

    fn finish(&mut self, step: &str, started: Option<i64>, t: i64, succeeded: bool) {
        // A success is final; a failure is replaced by a later success (a
        // resumed run retries failed steps).
        if self.finished.get(step).is_some_and(|f| f.succeeded) {
            return;
        }
        let started_ms = started.filter(|s| *s <= t).unwrap_or(t);
        self.finished.insert(
            step.to_string(),
            StepFinish {
                started_ms,
                finished_ms: t,
                succeeded,
            },
        );
    }

    /// Intervals in which some step waited for a human.
    pub fn human(&self) -> Vec<(i64, i64)> {
        self.spans
            .iter()
            .filter(|s| s.kind == SpanKind::Waiting)
            .map(|s| (s.start_ms, s.end_ms))
            .collect()
    }
}
