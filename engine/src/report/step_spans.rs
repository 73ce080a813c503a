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
            // A delivery's outcome, journalled as late as the end of the
            // run, moves no clock.
            if record.event.is_notification() {
                continue;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::test_records::{clock, ms, records};

    /// Reads `script` (see [`crate::journal::test_records`]) into spans and
    /// compares them, written out one per line, with `expect`. A last line
    /// `now MM:SS engine` (or `now MM:SS no-engine`) is the present.
    fn check(script: &str, expect: &str) {
        let (script, now) = match script.trim_end().rsplit_once('\n') {
            Some((head, last)) if last.trim().starts_with("now ") => {
                let words: Vec<&str> = last.split_whitespace().collect();
                let now = Now {
                    at_ms: ms(words[1]),
                    engine_running: match words[2] {
                        "engine" => true,
                        "no-engine" => false,
                        other => panic!("`now` is `engine` or `no-engine`, not `{other}`"),
                    },
                };
                (head, Some(now))
            }
            _ => (script, None),
        };
        let spans = StepSpans::from_records(&records(script), now);
        let actual = dump(&spans);
        assert_eq!(
            actual.trim(),
            expect.trim(),
            "\n--- actual ---\n{actual}\n--- expected ---\n{expect}"
        );
    }

    fn dump(s: &StepSpans) -> String {
        let mut out = String::new();
        for span in &s.spans {
            out.push_str(&format!(
                "{} {} {}..{} {}\n",
                span.step,
                word(&span.kind),
                clock(span.start_ms),
                clock(span.end_ms),
                word(&span.end)
            ));
        }
        for (from, to) in &s.down {
            out.push_str(&format!("no engine {}..{}\n", clock(*from), clock(*to)));
        }
        let mut finished: Vec<_> = s.finished.iter().collect();
        finished.sort_by_key(|(id, _)| id.as_str());
        for (id, f) in finished {
            let how = if f.succeeded { "succeeded" } else { "failed" };
            out.push_str(&format!(
                "finished {id} {}..{} {how}\n",
                clock(f.started_ms),
                clock(f.finished_ms)
            ));
        }
        for (id, t) in &s.checkpoints {
            out.push_str(&format!("checkpoint {id} {}\n", clock(*t)));
        }
        let ended = match s.ended {
            Some((t, status)) => format!("{} {}", clock(t), format!("{status:?}").to_lowercase()),
            None => "no".into(),
        };
        out.push_str(&format!(
            "started {}, ended {ended}, last {}\n",
            clock(s.started_ms),
            clock(s.last_ms)
        ));
        out
    }

    /// The snake_case name a span's kind or end serialises to.
    fn word(value: &impl Serialize) -> String {
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    #[test]
    fn steps_execute_from_their_start_to_their_outcome() {
        check(
            "
            00:00 run_started
            00:01 step_started a
            00:11 step_succeeded a
            00:11 checkpoint restored
            00:11 checkpoint restored
            00:12 step_started b
            00:15 step_failed b exit status 2
            00:15 step_skipped c not started: `b` failed
            00:16 run_finished failed
            ",
            "
a executing 00:01.000..00:11.000 succeeded
b executing 00:12.000..00:15.000 failed
finished a 00:01.000..00:11.000 succeeded
finished b 00:12.000..00:15.000 failed
checkpoint restored 00:11.000
started 00:00.000, ended 00:16.000 failed, last 00:16.000
            ",
        );
    }

    #[test]
    fn a_step_that_takes_no_time_still_gets_a_mark() {
        check(
            "
            00:00 run_started
            00:05 step_succeeded check_inputs
            00:06 run_finished succeeded
            ",
            "
check_inputs executing 00:05.000..00:05.000 succeeded
finished check_inputs 00:05.000..00:05.000 succeeded
started 00:00.000, ended 00:06.000 succeeded, last 00:06.000
            ",
        );
    }

    #[test]
    fn a_killed_engine_leaves_a_gap_until_resumed() {
        // Killed after 00:05 (its last record); a note from another process
        // does not show an engine alive. The step starts again on resume.
        check(
            "
            00:00 run_started
            00:01 step_started a
            00:05 step_started b
            00:30 note looking into it
            01:00 resumed
            01:01 step_started a
            01:04 step_succeeded a
            ",
            "
a executing 00:01.000..00:05.000 interrupted
b executing 00:05.000..00:05.000 interrupted
a executing 01:01.000..01:04.000 succeeded
no engine 00:05.000..01:00.000
finished a 01:01.000..01:04.000 succeeded
started 00:00.000, ended no, last 01:04.000
            ",
        );
    }

    #[test]
    fn an_interruption_closes_what_ran_at_its_own_time() {
        check(
            "
            00:00 run_started
            00:01 step_started a
            00:09 interrupted ctrl-c
            00:40 resumed
            ",
            "
a executing 00:01.000..00:09.000 interrupted
no engine 00:09.000..00:40.000
started 00:00.000, ended no, last 00:40.000
            ",
        );
    }

    #[test]
    fn now_with_an_engine_running_draws_open_spans_to_now() {
        check(
            "
            00:00 run_started
            00:01 step_started a
            now 00:20 engine
            ",
            "
a executing 00:01.000..00:20.000 open
started 00:00.000, ended no, last 00:01.000
            ",
        );
    }

    #[test]
    fn now_without_an_engine_is_time_with_no_engine() {
        check(
            "
            00:00 run_started
            00:01 step_started a
            00:03 process_started a 99
            now 00:20 no-engine
            ",
            "
a executing 00:01.000..00:03.000 interrupted
no engine 00:03.000..00:20.000
started 00:00.000, ended no, last 00:03.000
            ",
        );
        // Without a present, the records end the picture and nothing is down.
        check(
            "
            00:00 run_started
            00:01 step_started a
            00:03 process_started a 99
            ",
            "
a executing 00:01.000..00:03.000 interrupted
started 00:00.000, ended no, last 00:03.000
            ",
        );
    }

    #[test]
    fn a_finished_run_has_no_engine_time_after_its_end() {
        check(
            "
            00:00 run_started
            00:01 step_succeeded a
            00:02 run_finished succeeded
            now 05:00 no-engine
            ",
            "
a executing 00:01.000..00:01.000 succeeded
finished a 00:01.000..00:01.000 succeeded
started 00:00.000, ended 00:02.000 succeeded, last 00:02.000
            ",
        );
    }

    #[test]
    fn a_gate_waits_until_its_outcome_in_the_same_engine() {
        // An approval that times out while the engine runs: the wait ends
        // at the gate's outcome.
        check(
            "
            00:00 run_started
            00:01 approval_requested go q1
            00:01 waiting go waiting for approval: 0 of 1 so far
            02:01 @lifeboat approval go rejected q1
            02:01 step_failed go not approved in time
            02:02 run_finished failed
            ",
            "
go waiting 00:01.000..02:01.000 failed
go executing 02:01.000..02:01.000 failed
finished go 02:01.000..02:01.000 failed
started 00:00.000, ended 02:02.000 failed, last 02:02.000
            ",
        );
    }

    #[test]
    fn a_paused_gate_waits_until_the_resume_after_the_decision() {
        // Paused (exit 3) with no engine; bob approves from another process;
        // the wait ends when the run is resumed, and the gate succeeds then.
        check(
            "
            00:00 run_started
            00:01 approval_requested go q1
            00:01 waiting go waiting for approval: 0 of 1 so far
            00:02 interrupted paused
            03:00 @bob approval go approved q1
            04:00 resumed
            04:00 step_succeeded go
            04:01 run_finished succeeded
            ",
            "
go waiting 00:01.000..04:00.000 resumed
go executing 04:00.000..04:00.000 succeeded
no engine 00:02.000..04:00.000
finished go 04:00.000..04:00.000 succeeded
started 00:00.000, ended 04:01.000 succeeded, last 04:01.000
            ",
        );
    }

    #[test]
    fn a_waiting_gate_is_open_at_now() {
        check(
            "
            00:00 run_started
            00:01 manual_requested dns m1
            00:01 waiting dns waiting for a human to carry out the instructions
            00:02 interrupted paused
            now 10:00 no-engine
            ",
            "
dns waiting 00:01.000..10:00.000 open
no engine 00:02.000..10:00.000
started 00:00.000, ended no, last 00:02.000
            ",
        );
    }

    #[test]
    fn a_mark_settles_the_step_but_the_run_waits_for_its_resume() {
        check(
            "
            00:00 run_started
            00:01 step_started promote
            00:10 resumed
            00:10 waiting promote interrupted mid-step; `rerun: never`
            00:11 interrupted paused
            01:00 @bob marked promote done
            01:30 resumed
            ",
            "
promote executing 00:01.000..00:01.000 interrupted
promote waiting 00:10.000..01:30.000 resumed
no engine 00:01.000..00:10.000
no engine 00:11.000..01:30.000
finished promote 00:01.000..01:00.000 succeeded
started 00:00.000, ended no, last 01:30.000
            ",
        );
    }

    #[test]
    fn a_failed_run_that_is_resumed_has_not_ended() {
        check(
            "
            00:00 run_started
            00:01 step_started a
            00:02 step_failed a boom
            00:03 run_finished failed
            01:00 resumed
            01:01 step_started a
            01:02 step_succeeded a
            01:03 run_finished succeeded
            ",
            "
a executing 00:01.000..00:02.000 failed
a executing 01:01.000..01:02.000 succeeded
no engine 00:03.000..01:00.000
finished a 01:01.000..01:02.000 succeeded
started 00:00.000, ended 01:03.000 succeeded, last 01:03.000
            ",
        );
    }
}
