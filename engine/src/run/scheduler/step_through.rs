//! Step-through mode (`run --step`) and the ways a run is held: a quit in
//! step-through mode, a pause (first Ctrl-C), and gates waiting for people.

use serde_json::Map;

use super::human_gates::blocking;
use super::{RunOutcome, Scheduler, Status};
use crate::journal::record::Event;
use crate::operator::question::StepThroughChoice;
use crate::runbook::step::Section;

impl Scheduler {
    /// In step-through mode, asks whether to run step `i`. False when the
    /// step must not start now (skipped, or the operator quit).
    pub(super) fn step_through_allows(&mut self, i: usize, description: &str) -> bool {
        if !self.env.step_through {
            return true;
        }
        let Some(prompt) = self.env.prompt.clone() else {
            return true;
        };
        let step = self.env.runbook.steps[i].clone();
        // "Show" asks again; bounded so a broken terminal cannot spin.
        for _ in 0..50 {
            match blocking(|| prompt.step_through(&step)) {
                StepThroughChoice::Run => return true,
                StepThroughChoice::Show => self.env.console.describe(&step.id, description),
                StepThroughChoice::Skip { reason } => {
                    let reason = if reason.trim().is_empty() {
                        "no reason given".to_string()
                    } else {
                        reason.trim().to_string()
                    };
                    self.journal(Event::StepThroughSkipped {
                        step: step.id.clone(),
                        reason,
                    });
                    self.set_view(&step.id, "skipped", Map::new());
                    self.set_status(i, Status::Skipped);
                    return false;
                }
                StepThroughChoice::Quit => {
                    self.quit = true;
                    return false;
                }
            }
        }
        true
    }

    /// True when the run must not go on to its next section.
    pub(super) fn holding(&self) -> bool {
        self.quit || self.env.pause.is_cancelled() || self.status.contains(&Status::Waiting)
    }

    /// True when a section ended held, so its unstarted steps stay pending
    /// for resume instead of being skipped. Gates waiting in the main
    /// section do not hold a run that already failed: they are skipped and
    /// `on_failure` runs.
    pub(super) fn holding_section(&self, section: Section, indices: &[usize]) -> bool {
        if self.quit || self.env.pause.is_cancelled() {
            return true;
        }
        let waiting = indices.iter().any(|&i| self.status[i] == Status::Waiting);
        waiting && !(section == Section::Main && self.failure.is_some())
    }

    /// How a held run ends, journalling an interruption once.
    pub(super) fn held(&self) -> Option<RunOutcome> {
        if self.quit {
            self.journal(Event::Interrupted {
                reason: "the operator quit in step-through mode (--step)".into(),
            });
            return Some(RunOutcome::Interrupted);
        }
        if self.env.pause.is_cancelled() {
            self.journal(Event::Interrupted {
                reason: "paused by the operator (Ctrl-C)".into(),
            });
            return Some(RunOutcome::Interrupted);
        }
        if self.status.contains(&Status::Waiting) {
            return Some(RunOutcome::Paused);
        }
        None
    }
}

impl Scheduler {
    /// What the progress display needs before the run starts.
    pub fn progress_plan(&self) -> crate::operator::progress_plan::ProgressPlan {
        use crate::operator::progress_plan::ProgressPlan;
        let rb = &self.env.runbook;
        let main = || {
            rb.steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.section == Section::Main)
        };
        let with_status = |wanted: &[Status]| -> Vec<String> {
            main()
                .filter(|(i, _)| wanted.contains(&self.status[*i]))
                .map(|(_, s)| s.id.clone())
                .collect()
        };
        ProgressPlan {
            title: rb.title.clone(),
            rto_target: rb.rto.as_ref().map(|r| r.target),
            clock_start: self.clock_start.clone(),
            stop_at: rb.rto.as_ref().and_then(|r| r.stop_at.clone()),
            clock_stop: self.clock_stop.clone(),
            steps: main().map(|(_, s)| s.id.clone()).collect(),
            settled: with_status(&[Status::Succeeded, Status::Failed, Status::Skipped]),
            done: with_status(&[Status::Succeeded, Status::Skipped]),
            projection: self.env.projection.clone(),
        }
    }
}
