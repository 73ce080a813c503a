//! One run in a line: what `lifeboat runs` lists, and what the status
//! page's list (`lifeboat serve`), the scorecard and the metrics are built
//! from. One definition, so all four agree on a run's status, its RTO and
//! what a drill says.

use std::collections::HashMap;

use serde_json::json;

use crate::journal::record::{Event, Record, RunStatus};
use crate::journal::run_state::{RunState, StepRecordState};
use crate::journal::run_store::StoreError;
use crate::journal::run_stores::RunStores;
use crate::report::drill_projection::DrillProjection;
use crate::report::rto_report::{human_ms, RtoReport, StepShape, Verdict};
use crate::report::run_snapshot::stored_runbook;
use crate::report::step_history::StepHistory;

/// A stored run, summarised.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: String,
    /// `None` when the journal is damaged.
    pub runbook: Option<String>,
    pub title: Option<String>,
    pub scenario: Option<String>,
    /// `succeeded`, `failed`, `waiting`, `unfinished` or `damaged`.
    pub status: String,
    pub started_at: Option<String>,
    pub last_event_at: Option<String>,
    /// When it last finished successfully (RFC 3339).
    pub succeeded_at: Option<String>,
    /// `render` or `probes` for a drill.
    pub drill: Option<String>,
    pub rto: Option<RtoReport>,
    /// For a drill: what a real run would take (from the real runs in the
    /// store and the estimates), never a "met" from the drill's own time.
    pub projection: Option<DrillProjection>,
}

impl RunSummary {
    /// Every run in the store, oldest first, as a log reads. Histories for
    /// drills' projections are read once per runbook.
    pub fn list(stores: &RunStores) -> Result<Vec<RunSummary>, StoreError> {
        let mut histories: HashMap<String, StepHistory> = HashMap::new();
        let mut out = Vec::new();
        for id in stores.list()?.into_iter().rev() {
            let Ok(store) = stores.open(&id) else {
                continue;
            };
            let summary = match store.read() {
                Ok(read) => {
                    let mut s = Self::of(&id, &read.records);
                    if let (Some(mode), Some(name)) = (s.drill.clone(), s.runbook.clone()) {
                        // The drill's own copy of its runbook: the one it
                        // rehearsed, even if the file has changed since.
                        if let Some(runbook) = stored_runbook(&*store) {
                            let history = histories
                                .entry(name.clone())
                                .or_insert_with(|| StepHistory::load(stores, &name, None));
                            let target = s.rto.as_ref().and_then(|r| r.target_ms);
                            s.projection =
                                Some(DrillProjection::of(&mode, &runbook, history, target));
                        }
                    }
                    s
                }
                Err(_) => Self::damaged(&id),
            };
            out.push(summary);
        }
        Ok(out)
    }

    /// The summary of one run from its records, without a projection.
    pub fn of(run_id: &str, records: &[Record]) -> Self {
        let Some(Event::RunStarted {
            runbook,
            title,
            scenario,
            dry_run,
            ..
        }) = records.first().map(|r| &r.event)
        else {
            return Self::damaged(run_id);
        };
        let run = RunState::replay(records, &|_| Vec::new());
        // The critical path is not shown here, so no runbook shape.
        let rto = RtoReport::build(records, &StepShape::default(), None);
        let succeeded_at = records
            .iter()
            .rev()
            .find(|r| {
                matches!(
                    r.event,
                    Event::RunFinished {
                        status: RunStatus::Succeeded
                    }
                )
            })
            .map(|r| r.ts.clone());
        RunSummary {
            run_id: run_id.to_string(),
            runbook: Some(runbook.clone()),
            title: Some(title.clone()),
            scenario: scenario.clone(),
            status: status_of(&run),
            started_at: Some(run.started_at.clone()),
            last_event_at: Some(run.last_ts.clone()),
            succeeded_at,
            drill: dry_run.clone(),
            rto,
            projection: None,
        }
    }

    fn damaged(run_id: &str) -> Self {
        RunSummary {
            run_id: run_id.to_string(),
            runbook: None,
            title: None,
            scenario: None,
            status: "damaged".into(),
            started_at: None,
            last_event_at: None,
            succeeded_at: None,
            drill: None,
            rto: None,
            projection: None,
        }
    }

    /// The runbook's name, `?` for a damaged journal.
    pub fn runbook(&self) -> &str {
        self.runbook.as_deref().unwrap_or("?")
    }

    /// `2026-12-01T18:52:18`: the start, to the second, in UTC.
    pub fn started(&self) -> &str {
        let started = self.started_at.as_deref().unwrap_or("");
        started.get(..19).unwrap_or(started)
    }

    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed")
    }

    /// The RTO that speaks for recovery: achieved by a real run, projected
    /// for a drill.
    pub fn recovery_ms(&self) -> Option<i64> {
        match &self.projection {
            Some(p) => Some(p.projected_rto_ms),
            None if self.drill.is_some() => None,
            None => self.rto.as_ref().map(|r| r.achieved_ms),
        }
    }

    /// Human and machine time, in ms: measured for a real run, projected
    /// for a drill.
    pub fn human_machine_ms(&self) -> Option<(i64, i64)> {
        match (&self.projection, &self.rto) {
            (Some(p), _) => Some((p.human_ms, p.machine_ms)),
            (None, Some(r)) if self.drill.is_none() => Some((r.split.human_ms, r.split.machine_ms)),
            _ => None,
        }
    }

    /// `met`, `MISSED`, `failed`, `fits`, `EXCEEDS`, `so far`, or empty
    /// without a target.
    pub fn verdict_word(&self) -> &'static str {
        if let Some(p) = &self.projection {
            return match p.fits {
                Some(true) => "fits",
                Some(false) => "EXCEEDS",
                None => "",
            };
        }
        if self.status == "failed" && self.drill.is_none() {
            return "failed";
        }
        match self.rto.as_ref().and_then(|r| r.verdict) {
            Some(Verdict::Met) => "met",
            Some(Verdict::Missed) => "MISSED",
            Some(Verdict::OnTrack) => "so far",
            None => "",
        }
    }

    /// The RTO column of `runs`: `4m12s / 5m00s met`, `35.0s / 30.0s
    /// MISSED`, `1m02s` (no target), and for a drill `projected 10m26s /
    /// 30m00s fits`.
    pub fn rto_cell(&self) -> String {
        let Some(rto) = &self.rto else {
            return String::new();
        };
        let (figure, target) = match (&self.projection, &self.drill) {
            (Some(p), _) => (
                format!("projected {}", human_ms(p.projected_rto_ms)),
                p.target_ms,
            ),
            // A drill whose copy of its runbook is unreadable: its time only.
            (None, Some(_)) => (format!("drill took {}", human_ms(rto.achieved_ms)), None),
            (None, None) => (human_ms(rto.achieved_ms), rto.target_ms),
        };
        // A failed run's verdict is already MISSED: it did not recover.
        let verdict = match self.verdict_word() {
            "failed" => "MISSED",
            w => w,
        };
        match target {
            Some(t) => format!("{figure} / {} {verdict}", human_ms(t))
                .trim_end()
                .to_string(),
            None => figure,
        }
    }

    /// The run as `runs --output json` shows it.
    pub fn to_json(&self) -> serde_json::Value {
        let rto = self.rto.as_ref();
        json!({
            "run_id": self.run_id,
            "runbook": self.runbook,
            "scenario": self.scenario,
            "status": self.status,
            "started_at": self.started_at,
            "last_event_at": self.last_event_at,
            "drill": self.drill.is_some(),
            "dry_run": self.drill,
            "rto_ms": rto.map(|r| r.achieved_ms),
            "rto_target_ms": rto.and_then(|r| r.target_ms),
            // A drill has no verdict: `projection` says what a real run would do.
            "rto_met": rto.and_then(|r| r.verdict).and_then(|v| match v {
                Verdict::Met => Some(true),
                Verdict::Missed => Some(false),
                Verdict::OnTrack => None,
            }),
            "human_ms": rto.filter(|_| self.drill.is_none()).map(|r| r.split.human_ms),
            "machine_ms": rto.filter(|_| self.drill.is_none()).map(|r| r.split.machine_ms),
            "projection": self.projection,
        })
    }
}

fn status_of(run: &RunState) -> String {
    match run.finished {
        Some(RunStatus::Succeeded) => "succeeded".into(),
        Some(RunStatus::Failed) => "failed".into(),
        None if run
            .steps
            .values()
            .any(|s| matches!(s, StepRecordState::Waiting { .. })) =>
        {
            "waiting".into()
        }
        None => "unfinished".into(),
    }
}
