//! The recovery time a run achieved, from its journal alone.
//!
//! Definitions (docs/durable-runs.md repeats them for operators):
//! - The clock starts at the incident's declaration: `--declared-at` when
//!   given and earlier than the run, else the run's start.
//! - It stops when the runbook's `rto.stop_at` step first succeeds, else at
//!   the end of the run (its first successful `run_finished`, or a failed
//!   one that was never resumed). A run still going is measured to "now".
//! - Every millisecond in between is exactly one of: before the run started
//!   (declaration to `lifeboat run`), waiting on a human (some step has an
//!   open `waiting` record), interrupted (no engine running: from an
//!   `interrupted` record, or the last engine record before a crash, to the
//!   next `resumed`), or machine execution (the rest). When categories
//!   overlap, human wait wins over interrupted, which wins over machine: a
//!   paused run is waiting for a person even though no engine runs.
//! - Phases are the spans between consecutive checkpoints (first reached).
//! - The critical path is walked backwards from the step that stopped the
//!   clock (or the last step to finish), each time to the `needs` that
//!   finished last: the chain that actually gated recovery.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::journal::record::{Event, Record, RunStatus};
use crate::report::step_spans::{format_ms, parse_ms, Now, StepSpans};
use crate::runbook::step::Section;
use crate::runbook::Runbook;

/// The dependency shape the critical path needs from the runbook.
#[derive(Debug, Clone, Default)]
pub struct StepShape {
    pub needs: HashMap<String, Vec<String>>,
    /// `on_failure` and `finally` steps: they start after the main steps.
    pub after_main: Vec<String>,
}

impl StepShape {
    pub fn of(runbook: &Runbook) -> Self {
        let mut shape = StepShape::default();
        for step in &runbook.steps {
            shape.needs.insert(
                step.id.clone(),
                step.needs_ids().map(String::from).collect(),
            );
            if step.section != Section::Main {
                shape.after_main.push(step.id.clone());
            }
        }
        shape
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    /// Still running and within the target so far.
    OnTrack,
}

/// Why the clock stopped (or did not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopReason {
    /// The `rto.stop_at` step succeeded.
    StopAt { step: String },
    /// The run ended.
    RunEnded { status: RunStatus },
    /// The run has not ended; figures are up to now (or its last record).
    Running,
}

/// Where the time went, in milliseconds. The four parts add up to the span
/// they describe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TimeSplit {
    pub before_start_ms: i64,
    pub machine_ms: i64,
    pub human_ms: i64,
    pub interrupted_ms: i64,
}

impl TimeSplit {
    pub fn total(&self) -> i64 {
        self.before_start_ms + self.machine_ms + self.human_ms + self.interrupted_ms
    }
}

/// The time between two checkpoints.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `declared`, `start`, or the checkpoint the phase begins at.
    pub from: String,
    /// The checkpoint it ends at, or `stop`.
    pub to: String,
    pub started_at: String,
    pub ended_at: String,
    pub duration_ms: i64,
    pub split: TimeSplit,
}

/// One step of the critical path as it ran.
#[derive(Debug, Clone, Serialize)]
pub struct PathStep {
    pub step: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: i64,
    /// Between the previous path step's finish (or the clock's start) and
    /// this step's start: scheduling, waits, interruptions.
    pub gap_before_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RtoReport {
    /// When the clock started.
    pub clock_start: String,
    pub declared_at: Option<String>,
    pub run_started: String,
    /// When the clock stopped, or "now" for a running run.
    pub clock_stop: String,
    pub stop: StopReason,
    pub achieved_ms: i64,
    pub target_ms: Option<i64>,
    /// `None` without a target, and for a drill: a drill's time is not a
    /// recovery time (`drill_projection.rs` says what a real run would take).
    pub verdict: Option<Verdict>,
    /// Target minus achieved: positive is time to spare, negative the miss.
    pub margin_ms: Option<i64>,
    pub split: TimeSplit,
    pub phases: Vec<Phase>,
    pub critical_path: Vec<PathStep>,
    /// `render` or `probes` for a drill (a dry run); `None` for a real run.
    pub drill: Option<String>,
}

impl RtoReport {
    /// Builds the report; `None` when the records hold no `run_started`.
    pub fn build(records: &[Record], shape: &StepShape, now: Option<Now>) -> Option<Self> {
        let first = records.first()?;
        let Event::RunStarted {
            declared_at,
            rto_target_ms,
            rto_stop_at,
            dry_run,
            ..
        } = &first.event
        else {
            return None;
        };
        let spans = StepSpans::from_records(records, now);
        Some(Self::from_spans(
            &spans,
            shape,
            now,
            declared_at.as_deref(),
            rto_target_ms.map(|t| t as i64),
            rto_stop_at.as_deref(),
            dry_run.as_deref(),
        ))
    }

    /// The report from already replayed spans (the timeline has them).
    /// When the clock stops by `rto.stop_at`, read from a run's records:
    /// the first success of that step (RFC 3339), if it has succeeded.
    pub fn clock_stop(records: &[Record], stop_at: Option<&str>) -> Option<String> {
        stop_at?;
        let spans = StepSpans::from_records(records, None);
        stop_at_success(&spans, stop_at).map(|(_, ms)| format_ms(ms))
    }

    pub fn from_spans(
        spans: &StepSpans,
        shape: &StepShape,
        now: Option<Now>,
        declared_at: Option<&str>,
        target_ms: Option<i64>,
        stop_at: Option<&str>,
        drill: Option<&str>,
    ) -> Self {
        let started = spans.started_ms;
        let declared = declared_at.and_then(parse_ms);
        let clock_start = declared.map_or(started, |d| d.min(started));
        let stop_step = stop_at_success(spans, stop_at);
        let (stop_ms, stop) = match (&stop_step, spans.ended) {
            (Some((step, t)), _) => (*t, StopReason::StopAt { step: step.clone() }),
            (None, Some((t, status))) => (t, StopReason::RunEnded { status }),
            (None, None) => (
                now.map_or(spans.last_ms, |n| n.at_ms.max(spans.last_ms)),
                StopReason::Running,
            ),
        };
        let stop_ms = stop_ms.max(clock_start);
        let achieved = stop_ms - clock_start;
        let human = spans.human();
        let overall = split(clock_start, stop_ms, started, &human, &spans.down);
        let verdict = target_ms
            .filter(|_| drill.is_none())
            .map(|t| match (&stop, achieved <= t) {
                // A run that failed before its stop step did not recover.
                (
                    StopReason::RunEnded {
                        status: RunStatus::Failed,
                    },
                    _,
                ) => Verdict::Missed,
                (StopReason::Running, true) => Verdict::OnTrack,
                (_, true) => Verdict::Met,
                (_, false) => Verdict::Missed,
            });

        let mut phases = Vec::new();
        let mut from = (
            if clock_start < started {
                "declared"
            } else {
                "start"
            }
            .to_string(),
            clock_start,
        );
        let checkpoints = spans
            .checkpoints
            .iter()
            .filter(|(_, t)| *t <= stop_ms)
            .map(|(s, t)| (s.clone(), *t));
        for (to, t) in checkpoints.chain(std::iter::once(("stop".to_string(), stop_ms))) {
            phases.push(Phase {
                from: from.0.clone(),
                to: to.clone(),
                started_at: format_ms(from.1),
                ended_at: format_ms(t),
                duration_ms: t - from.1,
                split: split(from.1, t, started, &human, &spans.down),
            });
            from = (to, t);
        }

        Self {
            clock_start: format_ms(clock_start),
            declared_at: declared_at.map(String::from),
            run_started: format_ms(started),
            clock_stop: format_ms(stop_ms),
            stop,
            achieved_ms: achieved,
            target_ms,
            verdict,
            margin_ms: verdict.and(target_ms).map(|t| t - achieved),
            split: overall,
            phases,
            critical_path: critical_path(
                spans,
                shape,
                stop_step.map(|s| s.0),
                stop_ms,
                clock_start,
            ),
            drill: drill.map(String::from),
        }
    }
}

impl RtoReport {
    /// One line for people: "RTO 4m12s against a target of 5m00s: met, 48.0s
    /// to spare".
    pub fn verdict_line(&self) -> String {
        let achieved = human_ms(self.achieved_ms);
        let running = if self.stop == StopReason::Running {
            " so far"
        } else {
            ""
        };
        if let Some(mode) = &self.drill {
            return format!(
                "DRILL (dry-run={mode}) took {achieved}{running}: not a recovery time, nothing real was done"
            );
        }
        if let StopReason::RunEnded {
            status: RunStatus::Failed,
        } = self.stop
        {
            let target = match self.target_ms {
                Some(t) => format!(" against a target of {}: MISSED", human_ms(t)),
                None => String::new(),
            };
            return format!("recovery not achieved: the run failed after {achieved}{target}");
        }
        match (self.target_ms, self.verdict, self.margin_ms) {
            (Some(t), Some(v), Some(m)) => {
                let how = match v {
                    Verdict::Met => format!("met, {} to spare", human_ms(m)),
                    Verdict::OnTrack => format!("on track, {} left", human_ms(m)),
                    Verdict::Missed => format!("MISSED by {}", human_ms(-m)),
                };
                format!(
                    "RTO {achieved}{running} against a target of {}: {how}",
                    human_ms(t)
                )
            }
            _ => format!("RTO {achieved}{running} (no target set)"),
        }
    }
}

/// A duration in milliseconds for people; negative values get a minus sign.
pub fn human_ms(ms: i64) -> String {
    let d = lifeboat_steps::duration::format(std::time::Duration::from_millis(ms.unsigned_abs()));
    if ms < 0 {
        format!("-{d}")
    } else {
        d
    }
}

fn add(from: i64, to: i64, h: i32, d: i32, out: &mut TimeSplit) {
    let len = to - from;
    if h > 0 {
        out.human_ms += len;
    } else if d > 0 {
        out.interrupted_ms += len;
    } else {
        out.machine_ms += len;
    }
}

/// Classifies every millisecond of `[lo, hi]` (see the module docs).
pub fn split(
    lo: i64,
    hi: i64,
    started: i64,
    human: &[(i64, i64)],
    down: &[(i64, i64)],
) -> TimeSplit {
    let mut out = TimeSplit::default();
    if hi <= lo {
        return out;
    }
    let run_lo = started.clamp(lo, hi);
    out.before_start_ms = run_lo - lo;
    // Sweep: +1/-1 at each interval's ends, clipped to the run's part.
    let mut points: Vec<(i64, i32, i32)> = Vec::new();
    for (set, is_human) in [(human, true), (down, false)] {
        for &(a, b) in set {
            let (a, b) = (a.max(run_lo), b.min(hi));
            if a < b {
                let d = if is_human { (1, 0) } else { (0, 1) };
                points.push((a, d.0, d.1));
                points.push((b, -d.0, -d.1));
            }
        }
    }
    points.sort_unstable();
    let (mut cur, mut h, mut d) = (run_lo, 0, 0);
    for (t, dh, dd) in points {
        add(cur, t, h, d, &mut out);
        cur = t;
        h += dh;
        d += dd;
    }
    add(cur, hi, h, d, &mut out);
    out
}

fn critical_path(
    spans: &StepSpans,
    shape: &StepShape,
    stop_step: Option<String>,
    stop_ms: i64,
    clock_start: i64,
) -> Vec<PathStep> {
    let done = |s: &str| spans.finished.get(s).filter(|f| f.finished_ms <= stop_ms);
    let end = stop_step.or_else(|| {
        spans
            .finished
            .iter()
            .filter(|(_, f)| f.finished_ms <= stop_ms)
            .max_by_key(|(id, f)| (f.finished_ms, std::cmp::Reverse(id.as_str())))
            .map(|(id, _)| id.clone())
    });
    let Some(mut cur) = end else {
        return Vec::new();
    };
    let mut chain = vec![cur.clone()];
    // The steps already on the chain: a set, so a long chain is not a
    // quadratic scan.
    let mut on_chain: HashSet<String> = HashSet::from([cur.clone()]);
    // Bounded by the number of steps: each hop goes strictly back in time
    // or to a distinct step.
    for _ in 0..spans.finished.len() {
        let Some(f) = done(&cur) else { break };
        let needs = shape.needs.get(&cur).cloned().unwrap_or_default();
        let prev = if needs.is_empty() && shape.after_main.contains(&cur) {
            // An on_failure/finally step waits for the main steps.
            spans
                .finished
                .iter()
                .filter(|(id, g)| !shape.after_main.contains(id) && g.finished_ms <= f.started_ms)
                .max_by_key(|(id, g)| (g.finished_ms, std::cmp::Reverse(id.as_str())))
                .map(|(id, _)| id.clone())
        } else {
            needs
                .iter()
                .filter_map(|n| done(n).map(|g| (n, g.finished_ms)))
                .max_by_key(|(n, t)| (*t, std::cmp::Reverse(n.as_str())))
                .map(|(n, _)| n.clone())
        };
        match prev {
            Some(p) if !on_chain.contains(&p) => {
                on_chain.insert(p.clone());
                chain.push(p.clone());
                cur = p;
            }
            _ => break,
        }
    }
    chain.reverse();
    let mut out = Vec::new();
    let mut prev_finish = clock_start;
    for id in chain {
        let Some(f) = done(&id) else { continue };
        out.push(PathStep {
            step: id,
            started_at: format_ms(f.started_ms),
            finished_at: format_ms(f.finished_ms),
            duration_ms: f.finished_ms - f.started_ms,
            gap_before_ms: (f.started_ms - prev_finish).max(0),
        });
        prev_finish = f.finished_ms;
    }
    out
}

/// The `stop_at` step and when it first succeeded: where the clock stops.
fn stop_at_success(spans: &StepSpans, stop_at: Option<&str>) -> Option<(String, i64)> {
    let step = stop_at?;
    spans
        .finished
        .get(step)
        .filter(|f| f.succeeded)
        .map(|f| (step.to_string(), f.finished_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::{MarkOutcome, JOURNAL_VERSION};
    use serde_json::Map;

    /// A record at `10:MM:SS.mmm` on a fixed day.
    fn rec(seq: u64, time: &str, event: Event) -> Record {
        Record {
            v: JOURNAL_VERSION,
            seq,
            ts: format!("2026-11-21T10:{time}Z"),
            actor: "alice".into(),
            inbox: None,
            signed: None,
            prev: None,
            event,
        }
    }

    fn started(declared: Option<&str>, target_ms: Option<u64>, stop_at: Option<&str>) -> Event {
        Event::RunStarted {
            run_id: "r".into(),
            runbook: "rb".into(),
            title: "t".into(),
            digest: "d".into(),
            scenario: None,
            inputs: Map::new(),
            secret_inputs: vec![],
            dry_run: None,
            declared_at: declared.map(String::from),
            rto_target_ms: target_ms,
            rto_stop_at: stop_at.map(String::from),
            engine_version: "0".into(),
            launch_dir: None,
            recipients: Box::default(),
            allowed_signers: None,
            allowed_signers_sha256: None,
            require_signed: false,
        }
    }

    fn start(step: &str) -> Event {
        Event::StepStarted {
            step: step.into(),
            attempt: 1,
            description: String::new(),
        }
    }

    fn ok(step: &str) -> Event {
        Event::StepSucceeded {
            step: step.into(),
            outputs: Map::new(),
            secret_outputs: vec![],
            sealed_outputs: None,
            simulated: false,
            duration_ms: 0,
        }
    }

    fn finished(status: RunStatus) -> Event {
        Event::RunFinished { status }
    }

    fn resumed() -> Event {
        Event::Resumed {
            from_checkpoint: None,
            allow_changed: false,
            digest: None,
            redo: Vec::new(),
            reason: None,
            took_over_from: None,
        }
    }

    fn shape(pairs: &[(&str, &[&str])]) -> StepShape {
        StepShape {
            needs: pairs
                .iter()
                .map(|(s, n)| (s.to_string(), n.iter().map(|x| x.to_string()).collect()))
                .collect(),
            after_main: vec![],
        }
    }

    #[test]
    fn a_straight_run_is_all_machine_time_and_meets_its_target() {
        let records = vec![
            rec(1, "00:00.000", started(None, Some(60_000), None)),
            rec(2, "00:01.000", start("a")),
            rec(3, "00:11.000", ok("a")),
            rec(4, "00:11.500", start("b")),
            rec(5, "00:31.500", ok("b")),
            rec(6, "00:32.000", finished(RunStatus::Succeeded)),
        ];
        let r = RtoReport::build(&records, &shape(&[("a", &[]), ("b", &["a"])]), None).unwrap();
        assert_eq!(r.achieved_ms, 32_000);
        assert_eq!(r.verdict, Some(Verdict::Met));
        assert_eq!(r.margin_ms, Some(28_000));
        assert_eq!(
            r.split,
            TimeSplit {
                machine_ms: 32_000,
                ..Default::default()
            }
        );
        let path: Vec<_> = r.critical_path.iter().map(|p| p.step.as_str()).collect();
        assert_eq!(path, ["a", "b"]);
        assert_eq!(r.critical_path[0].gap_before_ms, 1_000);
        assert_eq!(r.critical_path[1].duration_ms, 20_000);
        assert_eq!(r.critical_path[1].gap_before_ms, 500);
        assert_eq!(
            r.stop,
            StopReason::RunEnded {
                status: RunStatus::Succeeded
            }
        );
    }

    #[test]
    fn declared_at_starts_the_clock_and_stop_at_stops_it() {
        let records = vec![
            rec(
                1,
                "05:00.000",
                started(Some("2026-11-21T10:00:00Z"), Some(360_000), Some("a")),
            ),
            rec(2, "05:00.000", start("a")),
            rec(3, "06:00.000", ok("a")),
            rec(4, "06:00.000", start("cleanup")),
            rec(5, "09:00.000", ok("cleanup")),
            rec(6, "09:00.000", finished(RunStatus::Succeeded)),
        ];
        let r = RtoReport::build(&records, &shape(&[("a", &[])]), None).unwrap();
        assert_eq!(r.clock_start, "2026-11-21T10:00:00.000Z");
        assert_eq!(r.clock_stop, "2026-11-21T10:06:00.000Z");
        assert_eq!(r.achieved_ms, 360_000);
        assert_eq!(r.verdict, Some(Verdict::Met), "exactly on target is met");
        assert_eq!(r.split.before_start_ms, 300_000);
        assert_eq!(r.split.machine_ms, 60_000);
        assert_eq!(r.stop, StopReason::StopAt { step: "a".into() });
        assert_eq!(r.phases.len(), 1);
        assert_eq!(r.phases[0].from, "declared");
    }

    #[test]
    fn a_kill_counts_as_interrupted_from_the_last_record_to_the_resume() {
        let records = vec![
            rec(1, "00:00.000", started(None, Some(30_000), None)),
            rec(2, "00:00.000", start("a")),
            rec(3, "00:05.000", ok("a")),
            rec(4, "00:05.000", start("b")),
            // killed at some point after 00:05; resumed at 00:25.
            rec(5, "00:25.000", resumed()),
            rec(6, "00:25.000", start("b")),
            rec(7, "00:35.000", ok("b")),
            rec(8, "00:35.000", finished(RunStatus::Succeeded)),
        ];
        let r = RtoReport::build(&records, &shape(&[("a", &[]), ("b", &["a"])]), None).unwrap();
        assert_eq!(r.achieved_ms, 35_000);
        assert_eq!(r.split.interrupted_ms, 20_000);
        assert_eq!(r.split.machine_ms, 15_000);
        assert_eq!(r.verdict, Some(Verdict::Missed));
        assert_eq!(r.margin_ms, Some(-5_000));
        // b's finishing execution started at the resume.
        assert_eq!(r.critical_path[1].started_at, "2026-11-21T10:00:25.000Z");
        assert_eq!(r.critical_path[1].gap_before_ms, 20_000);
    }

    #[test]
    fn a_wait_for_a_human_is_human_time_even_with_no_engine_running() {
        let records = vec![
            rec(1, "00:00.000", started(None, None, None)),
            rec(2, "00:00.000", start("restore")),
            rec(
                3,
                "00:10.000",
                Event::Interrupted {
                    reason: "ctrl-c".into(),
                },
            ),
            // a resume finds `restore` unsafe to repeat and waits.
            rec(4, "00:40.000", resumed()),
            rec(
                5,
                "00:40.000",
                Event::Waiting {
                    step: "restore".into(),
                    reason: "r".into(),
                    commands: vec![],
                },
            ),
            rec(
                6,
                "01:40.000",
                Event::Marked {
                    step: "restore".into(),
                    outcome: MarkOutcome::Done,
                },
            ),
            rec(7, "02:00.000", resumed()),
            rec(8, "02:00.000", start("verify")),
            rec(9, "02:05.000", ok("verify")),
            rec(10, "02:05.000", finished(RunStatus::Succeeded)),
        ];
        let r = RtoReport::build(
            &records,
            &shape(&[("restore", &[]), ("verify", &["restore"])]),
            None,
        )
        .unwrap();
        assert_eq!(r.achieved_ms, 125_000);
        assert_eq!(
            r.split,
            TimeSplit {
                before_start_ms: 0,
                machine_ms: 15_000,
                human_ms: 80_000,
                interrupted_ms: 30_000,
            }
        );
        assert_eq!(r.verdict, None, "no target, no verdict");
        let path: Vec<_> = r.critical_path.iter().map(|p| p.step.as_str()).collect();
        assert_eq!(path, ["restore", "verify"]);
        // The mark is what completed `restore`.
        assert_eq!(r.critical_path[0].finished_at, "2026-11-21T10:01:40.000Z");
    }

    #[test]
    fn phases_run_between_checkpoints_and_add_up() {
        let records = vec![
            rec(1, "00:00.000", started(None, Some(100_000), None)),
            rec(2, "00:00.000", start("download")),
            rec(3, "00:20.000", ok("download")),
            rec(
                4,
                "00:20.000",
                Event::Checkpoint {
                    step: "downloaded".into(),
                    description: None,
                },
            ),
            rec(5, "00:20.000", ok("downloaded")),
            rec(6, "00:20.000", start("restore")),
            rec(7, "00:50.000", ok("restore")),
            rec(8, "00:51.000", finished(RunStatus::Succeeded)),
        ];
        let r = RtoReport::build(&records, &StepShape::default(), None).unwrap();
        let names: Vec<_> = r
            .phases
            .iter()
            .map(|p| (p.from.as_str(), p.to.as_str(), p.duration_ms))
            .collect();
        assert_eq!(
            names,
            [
                ("start", "downloaded", 20_000),
                ("downloaded", "stop", 31_000)
            ]
        );
        let sum: i64 = r.phases.iter().map(|p| p.split.total()).sum();
        assert_eq!(sum, r.achieved_ms);
    }

    #[test]
    fn the_critical_path_follows_the_branch_that_finished_last() {
        let records = vec![
            rec(1, "00:00.000", started(None, None, None)),
            rec(2, "00:00.000", start("fast")),
            rec(3, "00:00.000", start("slow")),
            rec(4, "00:02.000", ok("fast")),
            rec(5, "00:09.000", ok("slow")),
            rec(6, "00:09.000", start("join")),
            rec(7, "00:10.000", ok("join")),
            rec(8, "00:10.000", finished(RunStatus::Succeeded)),
        ];
        let s = shape(&[("fast", &[]), ("slow", &[]), ("join", &["fast", "slow"])]);
        let r = RtoReport::build(&records, &s, None).unwrap();
        let path: Vec<_> = r.critical_path.iter().map(|p| p.step.as_str()).collect();
        assert_eq!(path, ["slow", "join"]);
    }

    #[test]
    fn a_running_run_is_measured_to_now_and_a_dead_engine_counts_as_interrupted() {
        let records = vec![
            rec(1, "00:00.000", started(None, Some(60_000), None)),
            rec(2, "00:00.000", start("a")),
        ];
        let now = parse_ms("2026-11-21T10:00:20Z").unwrap();
        let alive = RtoReport::build(
            &records,
            &StepShape::default(),
            Some(Now {
                at_ms: now,
                engine_running: true,
            }),
        )
        .unwrap();
        assert_eq!(alive.stop, StopReason::Running);
        assert_eq!(alive.achieved_ms, 20_000);
        assert_eq!(alive.split.machine_ms, 20_000);
        assert_eq!(alive.verdict, Some(Verdict::OnTrack));
        let dead = RtoReport::build(
            &records,
            &StepShape::default(),
            Some(Now {
                at_ms: now,
                engine_running: false,
            }),
        )
        .unwrap();
        assert_eq!(dead.split.interrupted_ms, 20_000);
    }

    #[test]
    fn a_failed_run_that_is_resumed_keeps_its_clock_running() {
        let records = vec![
            rec(1, "00:00.000", started(None, None, None)),
            rec(2, "00:00.000", start("a")),
            rec(
                3,
                "00:03.000",
                Event::StepFailed {
                    step: "a".into(),
                    error: "e".into(),
                    outputs: Map::new(),
                    duration_ms: 3000,
                },
            ),
            rec(4, "00:04.000", finished(RunStatus::Failed)),
            rec(5, "00:14.000", resumed()),
            rec(6, "00:14.000", start("a")),
            rec(7, "00:16.000", ok("a")),
            rec(8, "00:16.000", finished(RunStatus::Succeeded)),
        ];
        let failed = RtoReport::build(&records[..4], &StepShape::default(), None).unwrap();
        assert_eq!(failed.verdict, None);
        let mut with_target = records[..4].to_vec();
        with_target[0] = rec(1, "00:00.000", started(None, Some(60_000), None));
        let failed = RtoReport::build(&with_target, &StepShape::default(), None).unwrap();
        assert_eq!(
            failed.verdict,
            Some(Verdict::Missed),
            "a failed run did not recover"
        );
        assert!(failed.verdict_line().contains("recovery not achieved"));
        let r = RtoReport::build(&records, &StepShape::default(), None).unwrap();
        assert_eq!(r.achieved_ms, 16_000);
        assert_eq!(r.split.interrupted_ms, 10_000);
        assert_eq!(r.critical_path[0].duration_ms, 2_000);
    }
}
