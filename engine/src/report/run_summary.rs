//! One line per run: its runbook, status, start and RTO against the
//! target, read from its journal. The one definition of a run's summary,
//! for `lifeboat runs` and the status page's list (`lifeboat serve`).

use serde_json::{json, Value};

use crate::journal::record::RunStatus;
use crate::journal::run_state::{RunState, StepRecordState};
use crate::journal::run_store::StoreError;
use crate::journal::run_stores::RunStores;
use crate::report::rto_report::{human_ms, RtoReport, StepShape, Verdict};

/// A stored run, summarised from its journal alone (no lock or lease is
/// asked about, so listing many runs in S3 stays one read each).
pub struct RunSummary {
    pub run_id: String,
    /// `succeeded`, `failed`, `waiting`, `unfinished` or `damaged`.
    pub status: String,
    /// `None` for a journal that cannot be read.
    pub run: Option<RunState>,
    /// The RTO clock up to the last record (no "now": see [`RunSummary`]).
    pub rto: Option<RtoReport>,
}

impl RunSummary {
    /// Every run in `stores`, oldest first, as a log reads. A run that
    /// cannot be opened is left out; one that cannot be read is `damaged`.
    pub fn list(stores: &RunStores) -> Result<Vec<Self>, StoreError> {
        let mut rows = Vec::new();
        for id in stores.list()?.into_iter().rev() {
            let Ok(store) = stores.open(&id) else {
                continue;
            };
            rows.push(match store.read() {
                Ok(read) => {
                    let run = RunState::replay(&read.records, &|_| Vec::new());
                    // The critical path is not shown here, so no runbook shape.
                    let rto = RtoReport::build(&read.records, &StepShape::default(), None);
                    Self {
                        run_id: id,
                        status: status_of(&run),
                        run: Some(run),
                        rto,
                    }
                }
                Err(_) => Self {
                    run_id: id,
                    status: "damaged".into(),
                    run: None,
                    rto: None,
                },
            });
        }
        Ok(rows)
    }

    pub fn runbook(&self) -> &str {
        self.run.as_ref().map_or("?", |r| r.runbook.as_str())
    }

    /// `2026-12-01T18:52:18`: the start, to the second, in UTC.
    pub fn started(&self) -> &str {
        self.run
            .as_ref()
            .and_then(|r| r.started_at.get(..19))
            .unwrap_or("")
    }

    pub fn drill(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.dry_run.is_some())
    }

    /// `4m12s / 5m00s met`, `35.0s / 30.0s MISSED`, `1m02s` (no target).
    pub fn rto_cell(&self) -> String {
        let Some(r) = &self.rto else {
            return String::new();
        };
        let achieved = human_ms(r.achieved_ms);
        match (r.target_ms, r.verdict) {
            (Some(t), Some(Verdict::Met)) => format!("{achieved} / {} met", human_ms(t)),
            (Some(t), Some(Verdict::Missed)) => format!("{achieved} / {} MISSED", human_ms(t)),
            (Some(t), _) => format!("{achieved} / {} so far", human_ms(t)),
            (None, _) => achieved,
        }
    }

    /// The summary as `lifeboat runs --output json` prints it.
    pub fn to_json(&self) -> Value {
        let run = self.run.as_ref();
        let rto = self.rto.as_ref();
        json!({
            "run_id": self.run_id,
            "runbook": run.map(|r| r.runbook.clone()),
            "status": self.status,
            "started_at": run.map(|r| r.started_at.clone()),
            "last_event_at": run.map(|r| r.last_ts.clone()),
            "drill": self.drill(),
            "rto_ms": rto.map(|r| r.achieved_ms),
            "rto_target_ms": rto.and_then(|r| r.target_ms),
            "rto_met": rto.and_then(|r| r.verdict).and_then(|v| match v {
                Verdict::Met => Some(true),
                Verdict::Missed => Some(false),
                Verdict::OnTrack => None,
            }),
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
