//! A run's status now: the RTO clock, what runs, what was interrupted and
//! what waits (with the commands that resolve each gate), the items of its
//! loops and the projected finish. The one definition of what `lifeboat
//! status` prints, for the terminal and the status page (`lifeboat serve`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::journal::record::Event;
use crate::journal::run_state::{RunState, StepRecordState};
use crate::report::drill_projection::DrillProjection;
use crate::report::projection::{ProjectedFinish, Projection, Remaining};
use crate::report::rto_report::{human_ms, RtoReport, StepShape, StopReason};
use crate::report::run_snapshot::RunSnapshot;
use crate::report::step_history::StepHistory;
use crate::report::step_spans::{format_ms, parse_ms};
use crate::runbook::step::{item_id, split_item_id};

/// A gate that waits: its step, why, and the exact commands that resolve it.
pub struct WaitingGate {
    pub step: String,
    pub reason: String,
    pub commands: Vec<String>,
}

pub struct RunStatusView {
    pub run: RunState,
    pub report: RtoReport,
    /// `succeeded`, `failed`, `waiting`, `running` or `interrupted`.
    pub status: String,
    /// Whether the RTO clock has stopped (the run ended, or `rto.stop_at`).
    pub finished: bool,
    pub engine_running: bool,
    pub now_ms: i64,
    /// Steps in flight, with how long each has run (ms).
    pub running: Vec<(String, i64)>,
    /// Steps started with no outcome and no engine running.
    pub interrupted: Vec<String>,
    pub waiting: Vec<WaitingGate>,
    /// The items of each `for_each` step: `(step, [(key, status)])`.
    pub loops: Vec<(String, Vec<(String, &'static str)>)>,
    pub projection: ProjectedFinish,
    /// How many earlier runs the step durations come from.
    pub history_runs: usize,
    /// Who drives a run in S3, as `driver:` shows it.
    pub driver: Option<crate::journal::run_store::Driver>,
    /// For a drill: what a real run would take (its own time is no
    /// recovery time; `docs/durable-runs.md`, "Honest drills").
    pub drill_projection: Option<DrillProjection>,
}

/// Why a status cannot be built: the journal has no start record.
#[derive(Debug)]
pub struct NoStartRecord;

impl RunStatusView {
    /// The status of the run in `snap`, with step durations from `history`
    /// (earlier runs of its runbook: [`StepHistory::load`]).
    pub fn build(snap: &RunSnapshot, history: &StepHistory) -> Result<Self, NoStartRecord> {
        let run = RunState::replay(&snap.records, &|_| Vec::new());
        if run.run_id.is_empty() {
            return Err(NoStartRecord);
        }
        let shape = snap.runbook.as_ref().map(StepShape::of).unwrap_or_default();
        let now = snap.now;
        let report = RtoReport::build(&snap.records, &shape, Some(now)).ok_or(NoStartRecord)?;
        let finished = report.stop != StopReason::Running;

        // What is in flight: a started step with no outcome is running if an
        // engine drives the run, else it was interrupted.
        let mut last_start = HashMap::new();
        for r in &snap.records {
            if let Event::StepStarted { step, .. } = &r.event {
                last_start.insert(step.clone(), parse_ms(&r.ts).unwrap_or(now.at_ms));
            }
        }
        let mut running: Vec<(String, i64)> = Vec::new();
        let mut interrupted: Vec<String> = Vec::new();
        let mut waiting: Vec<WaitingGate> = Vec::new();
        for (id, s) in &run.steps {
            match s {
                StepRecordState::Interrupted { .. } if now.engine_running => {
                    running.push((
                        id.clone(),
                        now.at_ms - last_start.get(id).copied().unwrap_or(now.at_ms),
                    ));
                }
                StepRecordState::Interrupted { .. } => interrupted.push(id.clone()),
                StepRecordState::Waiting { reason, commands } => waiting.push(WaitingGate {
                    step: id.clone(),
                    reason: reason.clone(),
                    commands: commands.clone(),
                }),
                _ => {}
            }
        }
        running.sort();
        interrupted.sort();
        waiting.sort_by(|a, b| a.step.cmp(&b.step));

        let projection = ProjectedFinish {
            remaining: if finished {
                Remaining::default()
            } else {
                remaining(snap, &run, history, &running)
            },
            now_ms: now.at_ms,
            elapsed_ms: Some(report.achieved_ms),
            target_ms: report.target_ms,
        };
        let status = match (&report.stop, run.finished) {
            (_, Some(s)) => format!("{s:?}").to_lowercase(),
            _ if !waiting.is_empty() => "waiting".into(),
            _ if now.engine_running => "running".into(),
            _ => "interrupted".into(),
        };
        let loops = loop_items(snap, &run, now.engine_running);
        let drill_projection = match (&run.dry_run, &snap.runbook) {
            (Some(mode), Some(rb)) => {
                Some(DrillProjection::of(mode, rb, history, report.target_ms))
            }
            _ => None,
        };
        Ok(Self {
            run,
            report,
            status,
            finished,
            engine_running: now.engine_running,
            now_ms: now.at_ms,
            running,
            interrupted,
            waiting,
            loops,
            projection,
            history_runs: history.runs,
            driver: snap.driver.clone(),
            drill_projection,
        })
    }

    /// What a real run of a drill would take, and the gates it would wait on.
    fn drill_lines(&self, out: &mut Vec<String>) {
        if let Some(p) = &self.drill_projection {
            out.push(format!("a real run: {}", p.line()));
            out.push(p.gates_line());
        }
    }

    /// The report as `lifeboat status --output json` prints it.
    pub fn to_json(&self) -> Value {
        let mut doc = json!({
            "run_id": self.run.run_id,
            "runbook": self.run.runbook,
            "status": self.status,
            "drill": self.run.dry_run.is_some(),
            "engine_running": self.engine_running,
            "now": format_ms(self.now_ms),
            "clock_start": self.report.clock_start,
            "elapsed_ms": self.report.achieved_ms,
            "running": self.running.iter().map(|(s, e)| json!({"step": s, "elapsed_ms": e})).collect::<Vec<_>>(),
            "interrupted": self.interrupted,
            "waiting": self.waiting.iter().map(|w| json!({"step": w.step, "reason": w.reason, "commands": w.commands})).collect::<Vec<_>>(),
            "history_runs": self.history_runs,
            "rto": self.report,
            "drill_projection": self.drill_projection,
        });
        let Some(obj) = doc.as_object_mut() else {
            return doc;
        };
        // The items of `for_each` steps, by step (only when there are).
        if !self.loops.is_empty() {
            let items = self.loops.iter().map(|(step, items)| {
                let list = items.iter().map(|(key, status)| json!({"step": item_id(step, key), "key": key, "status": status}));
                (step.clone(), list.collect::<Value>())
            });
            obj.insert(
                "items".into(),
                items.collect::<serde_json::Map<_, _>>().into(),
            );
        }
        // A run in S3: who drives it, from which machine, until when.
        if let Some(d) = &self.driver {
            obj.insert(
                "driver".into(),
                json!({"holder": d.holder, "machine": d.machine, "pid": d.pid, "lease_until": d.until}),
            );
        }
        // The projection's own fields, as the JSON console shows them;
        // a run whose clock has stopped has no finish left to project.
        if let Value::Object(fields) = self.projection.to_json() {
            obj.extend(fields);
            if self.finished {
                obj.insert("projected_finish".into(), Value::Null);
            }
        }
        doc
    }

    /// The lines `lifeboat status` prints, as they are (the terminal
    /// writes control characters out; a page escapes them).
    pub fn text_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let run = &self.run;
        let report = &self.report;
        let drill = if run.dry_run.is_some() {
            " [DRILL]"
        } else {
            ""
        };
        out.push(format!("{} ({}){drill}", run.run_id, run.runbook));
        out.push(format!("status:   {}", self.status));
        if let Some(d) = &self.driver {
            out.push(format!("driver:   {d}"));
        }
        let since = if report.declared_at.is_some() && report.clock_start != report.run_started {
            "declaration"
        } else {
            "run start"
        };
        for (step, items) in &self.loops {
            out.push(format!("items:    {step}: {}", count_words(items)));
        }
        if self.finished {
            out.push(format!(
                "clock:    stopped at {} ({} since {since})",
                report.clock_stop,
                human_ms(report.achieved_ms)
            ));
            out.push(report.verdict_line());
            self.drill_lines(&mut out);
            let s = &report.split;
            out.push(format!(
                "split:    machine {}, waiting on humans {}, interrupted {}{}",
                human_ms(s.machine_ms),
                human_ms(s.human_ms),
                human_ms(s.interrupted_ms),
                if s.before_start_ms > 0 {
                    format!(", before the run {}", human_ms(s.before_start_ms))
                } else {
                    String::new()
                }
            ));
            return out;
        }
        out.push(format!(
            "clock:    {} since {since} ({} UTC)",
            human_ms(report.achieved_ms),
            report.clock_start
        ));
        for (s, e) in &self.running {
            out.push(format!("running:  {s} ({})", human_ms(*e)));
        }
        for s in &self.interrupted {
            out.push(format!(
                "interrupted: {s} (no engine is running; `lifeboat resume {}` continues)",
                run.run_id
            ));
        }
        for w in &self.waiting {
            out.push(format!("waiting:  {}: {}", w.step, w.reason));
            for cmd in &w.commands {
                out.push(format!("          {cmd}"));
            }
        }
        if !self.engine_running && self.waiting.is_empty() {
            out.push(format!(
                "no engine is running this run; continue it with `lifeboat resume {}`",
                run.run_id
            ));
        }
        out.push(format!(
            "remaining critical path: {}",
            self.projection.path_text()
        ));
        out.push(format!(
            "projected finish: {}",
            self.projection.finish_text()
        ));
        if !self.waiting.is_empty() {
            out.push("(the projection does not include the time until a human acts)".into());
        }
        self.drill_lines(&mut out);
        if self.history_runs > 0 {
            out.push(format!(
                "(step durations measured in {} earlier run(s) where available, else `estimate`)",
                self.history_runs
            ));
        }
        out
    }
}

/// The items of each `for_each` step the journal has, in the order they
/// were first journalled, with their status: `(step, [(key, status)])`.
fn loop_items(
    snap: &RunSnapshot,
    run: &RunState,
    engine_running: bool,
) -> Vec<(String, Vec<(String, &'static str)>)> {
    let Some(runbook) = &snap.runbook else {
        return Vec::new();
    };
    let mut loops: Vec<(String, Vec<(String, &'static str)>)> = Vec::new();
    let mut seen = HashSet::new();
    for r in &snap.records {
        let Some(execution) = r.event.step() else {
            continue;
        };
        let Some((id, key)) = split_item_id(execution) else {
            continue;
        };
        if runbook.step(id).is_none_or(|s| s.for_each.is_none()) || !seen.insert(execution) {
            continue;
        }
        let status = match run.steps.get(execution) {
            Some(StepRecordState::Succeeded { .. }) => "succeeded",
            Some(StepRecordState::Failed { .. }) => "failed",
            Some(StepRecordState::Skipped { .. }) => "skipped",
            Some(StepRecordState::Waiting { .. }) => "waiting",
            Some(StepRecordState::Interrupted { .. }) if engine_running => "running",
            _ => "interrupted",
        };
        match loops.iter_mut().find(|(s, _)| s == id) {
            Some((_, items)) => items.push((key.to_string(), status)),
            None => loops.push((id.to_string(), vec![(key.to_string(), status)])),
        }
    }
    loops
}

/// `3 succeeded, 1 running`: how many items are in each status.
fn count_words(items: &[(String, &'static str)]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (_, status) in items {
        match counts.iter_mut().find(|(s, _)| s == status) {
            Some((_, n)) => *n += 1,
            None => counts.push((status, 1)),
        }
    }
    counts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What remains of the run, from the one projection (`projection.rs`):
/// succeeded and skipped steps are done; a running step counts for what
/// remains of its expected duration.
fn remaining(
    snap: &RunSnapshot,
    run: &RunState,
    history: &StepHistory,
    running: &[(String, i64)],
) -> Remaining {
    let Some(runbook) = &snap.runbook else {
        return Remaining::default();
    };
    let done: HashSet<String> = run
        .steps
        .iter()
        .filter(|(_, s)| {
            matches!(
                s,
                StepRecordState::Succeeded { .. } | StepRecordState::Skipped { .. }
            )
        })
        .map(|(id, _)| id.clone())
        .collect();
    let running: HashMap<String, Duration> = running
        .iter()
        .map(|(s, e)| (s.clone(), Duration::from_millis((*e).max(0) as u64)))
        .collect();
    Projection::to_clock_stop(runbook, history).remaining(&done, &running)
}
