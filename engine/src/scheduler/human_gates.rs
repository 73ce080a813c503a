//! `approval` and `manual` steps: gates that wait for people.
//!
//! A gate renders its question, journals it with a digest, and counts the
//! decisions recorded for that digest. With a terminal it asks there; without
//! one it journals `waiting` with the exact commands that decide it and
//! lets every other independent branch carry on. When nothing more can run,
//! the run ends paused (exit 3); `lifeboat resume` evaluates the gate again.

use lifeboat_steps::{duration, params};

use super::*;
use crate::engine_kind::{ApprovalParams, ManualParams, OnTimeout};
use crate::gate_record::{approval_outputs, gate_digest};
use crate::journal_record::{Decision, Record};

/// The actor of decisions the engine takes itself (timeouts).
const ENGINE_ACTOR: &str = "lifeboat";

impl Scheduler {
    pub(super) fn run_human_gate(&mut self, i: usize, kind: EngineKind, ctx: &Value) {
        let step = self.env.runbook.steps[i].clone();
        let with = match self.env.templates.render_value(&step.with.to_json(), ctx) {
            Ok(w) => w,
            Err(e) => {
                self.fail_now(i, format!("template error in `with`: {e}"));
                return;
            }
        };
        if self.config.dry_run != DryRun::Off {
            self.simulate_gate(i, kind, &with);
            return;
        }
        match kind {
            EngineKind::Approval => self.approval_gate(i, with),
            EngineKind::Manual => self.manual_gate(i, with),
            _ => {}
        }
    }

    /// A drill shows the gate and passes it: a dry run never waits for people.
    fn simulate_gate(&mut self, i: usize, kind: EngineKind, with: &serde_json::Value) {
        let id = self.env.runbook.steps[i].id.clone();
        let text = match kind {
            EngineKind::Approval => format!(
                "ask for approval: {}",
                with.get("prompt").and_then(|p| p.as_str()).unwrap_or("")
            ),
            _ => format!(
                "ask a human to do:\n{}",
                with.get("instructions")
                    .and_then(|p| p.as_str())
                    .unwrap_or("")
            ),
        };
        self.env
            .console
            .describe(&id, &self.env.redactor.redact(&text));
        let outputs = approval_outputs(&[]);
        self.journal(Event::StepSucceeded {
            step: id.clone(),
            outputs: outputs.clone(),
            secret_outputs: Vec::new(),
            simulated: true,
            duration_ms: 0,
        });
        self.set_view(&id, "succeeded", outputs);
        self.status[i] = Status::Succeeded;
    }

    fn approval_gate(&mut self, i: usize, with: serde_json::Value) {
        let id = self.env.runbook.steps[i].id.clone();
        let p: ApprovalParams = match params::parse("approval", with) {
            Ok(p) => p,
            Err(e) => return self.fail_now(i, e.message),
        };
        let timeout = match p.timeout.as_deref().map(duration::parse).transpose() {
            Ok(t) => t,
            Err(e) => return self.fail_now(i, format!("`timeout`: {e}")),
        };
        let prompt = self.env.redactor.redact(&p.prompt);
        let details = p.details.as_ref().map(|d| self.env.redactor.redact(d));
        let digest = gate_digest(&[&prompt, details.as_deref().unwrap_or("")]);
        if self.gate_digest_of(&id).as_deref() != Some(digest.as_str())
            && !self.record_gate(
                None,
                Event::ApprovalRequested {
                    step: id.clone(),
                    digest: digest.clone(),
                    prompt: prompt.clone(),
                    details: details.clone(),
                    min_approvals: p.min_approvals.max(1),
                    approvers: p.approvers.clone(),
                    distinct_from_initiator: p.distinct_from_initiator,
                },
            )
        {
            return;
        }
        let need = p.min_approvals.max(1) as usize;
        // Each pass records one decision, so this ends; the bound is a guard.
        for _ in 0..1000 {
            let gate = self.gates.get(&id).cloned().unwrap_or_default();
            let since = gate
                .request
                .as_ref()
                .map(|r| r.since.clone())
                .unwrap_or_default();
            if let Some(r) = gate.rejection() {
                let comment = r
                    .comment
                    .as_ref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                let error = if r.timed_out {
                    format!("not approved in time{comment}")
                } else {
                    format!("rejected by `{}`{comment}", r.actor)
                };
                let mut outputs = approval_outputs(&gate.approvers());
                outputs.insert("rejected_by".into(), r.actor.clone().into());
                return self.fail_gate(i, error, outputs, &since);
            }
            let approvers = gate.approvers();
            if approvers.len() >= need || approvers.iter().any(|d| d.timed_out) {
                let outputs = approval_outputs(&approvers);
                return self.succeed_gate(i, outputs, &since);
            }
            if let Some(t) = timeout.filter(|t| elapsed_since(&since) >= *t) {
                let decision = match p.on_timeout {
                    OnTimeout::Reject => Decision::Rejected,
                    OnTimeout::Approve => Decision::Approved,
                };
                let comment = format!(
                    "no decision within {} (on_timeout: {})",
                    duration::format(t),
                    match p.on_timeout {
                        OnTimeout::Reject => "reject",
                        OnTimeout::Approve => "approve",
                    }
                );
                if !self.record_gate(
                    Some(ENGINE_ACTOR),
                    Event::Approval {
                        step: id.clone(),
                        decision,
                        digest: digest.clone(),
                        comment: Some(comment),
                        timed_out: true,
                    },
                ) {
                    return;
                }
                continue;
            }
            if let Some(prompt_ui) = self.env.prompt.clone() {
                let question = ApprovalQuestion {
                    step: id.clone(),
                    title: self.env.runbook.steps[i].title().to_string(),
                    prompt: prompt.clone(),
                    details: details.clone(),
                    approved_by: approvers.iter().map(|d| d.actor.clone()).collect(),
                    min_approvals: need as u32,
                    default_identity: self.config.operator.clone(),
                };
                let initiator = self.initiator.clone();
                let check = |who: &str, approve: bool| {
                    let decision = if approve {
                        Decision::Approved
                    } else {
                        Decision::Rejected
                    };
                    gate.check_decider(&id, &initiator, who, decision)
                };
                let answer = blocking(|| prompt_ui.approval(&question, &check));
                if let Some(a) = answer {
                    match check(&a.identity, a.approved) {
                        Ok(()) => {
                            let decision = if a.approved {
                                Decision::Approved
                            } else {
                                Decision::Rejected
                            };
                            if !self.record_gate(
                                Some(a.identity.trim()),
                                Event::Approval {
                                    step: id.clone(),
                                    decision,
                                    digest: digest.clone(),
                                    comment: a.comment.filter(|c| !c.trim().is_empty()),
                                    timed_out: false,
                                },
                            ) {
                                return;
                            }
                            continue;
                        }
                        Err(e) => self.env.console.warn(Some(&id), &e),
                    }
                }
            }
            let run = self.env.run_id.clone();
            let mut reason = format!("waiting for approval: {} of {need} so far", approvers.len());
            if !approvers.is_empty() {
                let names: Vec<&str> = approvers.iter().map(|d| d.actor.as_str()).collect();
                reason.push_str(&format!(" ({})", names.join(", ")));
            }
            if let Some(list) = &p.approvers {
                reason.push_str(&format!("; approvers: {}", list.join(", ")));
            }
            if p.distinct_from_initiator {
                reason.push_str(&format!(
                    "; not `{}`, who started the run (four eyes)",
                    self.initiator
                ));
            }
            if let Some(t) = timeout {
                reason.push_str(&format!(
                    "; times out {} after the request ({})",
                    duration::format(t),
                    match p.on_timeout {
                        OnTimeout::Reject => "then rejected",
                        OnTimeout::Approve => "then approved",
                    }
                ));
            }
            return self.wait_gate(
                i,
                reason,
                vec![
                    format!("lifeboat approve {run} {id} --as NAME [--comment TEXT]"),
                    format!("lifeboat reject {run} {id} --as NAME [--comment TEXT]"),
                    format!("lifeboat resume {run}"),
                ],
            );
        }
        self.fail_now(
            i,
            "too many decisions without an outcome; this is a bug in Lifeboat".into(),
        );
    }

    fn manual_gate(&mut self, i: usize, with: serde_json::Value) {
        let id = self.env.runbook.steps[i].id.clone();
        let p: ManualParams = match params::parse("manual", with) {
            Ok(p) => p,
            Err(e) => return self.fail_now(i, e.message),
        };
        let timeout = match p.timeout.as_deref().map(duration::parse).transpose() {
            Ok(t) => t,
            Err(e) => return self.fail_now(i, format!("`timeout`: {e}")),
        };
        let instructions = self.env.redactor.redact(&p.instructions);
        let checklist: Vec<String> = p
            .checklist
            .iter()
            .map(|c| self.env.redactor.redact(c))
            .collect();
        let digest = gate_digest(&[&instructions, &checklist.join("\n")]);
        if self.gate_digest_of(&id).as_deref() != Some(digest.as_str())
            && !self.record_gate(
                None,
                Event::ManualRequested {
                    step: id.clone(),
                    digest: digest.clone(),
                    instructions: instructions.clone(),
                    checklist: checklist.clone(),
                },
            )
        {
            return;
        }
        for _ in 0..100 {
            let gate = self.gates.get(&id).cloned().unwrap_or_default();
            let since = gate
                .request
                .as_ref()
                .map(|r| r.since.clone())
                .unwrap_or_default();
            if let Some(done) = gate.approvers().first() {
                let mut outputs = serde_json::Map::new();
                outputs.insert("confirmed_by".into(), done.actor.clone().into());
                outputs.insert(
                    "note".into(),
                    done.comment.clone().unwrap_or_default().into(),
                );
                outputs.insert("checklist".into(), checklist.clone().into());
                return self.succeed_gate(i, outputs, &since);
            }
            if let Some(t) = timeout.filter(|t| elapsed_since(&since) >= *t) {
                return self.fail_gate(
                    i,
                    format!(
                        "not confirmed within {} (the manual step's `timeout`)",
                        duration::format(t)
                    ),
                    serde_json::Map::new(),
                    &since,
                );
            }
            if let Some(prompt_ui) = self.env.prompt.clone() {
                let question = ManualQuestion {
                    step: id.clone(),
                    title: self.env.runbook.steps[i].title().to_string(),
                    instructions: instructions.clone(),
                    checklist: checklist.clone(),
                    default_identity: self.config.operator.clone(),
                };
                if let Some(a) = blocking(|| prompt_ui.manual(&question)) {
                    let who = a.identity.trim();
                    let who = if who.is_empty() {
                        self.config.operator.clone()
                    } else {
                        who.to_string()
                    };
                    if !self.record_gate(
                        Some(&who),
                        Event::ManualConfirmed {
                            step: id.clone(),
                            digest: digest.clone(),
                            note: a.note.filter(|n| !n.trim().is_empty()),
                            checklist: a.checklist,
                        },
                    ) {
                        return;
                    }
                    continue;
                }
            }
            let run = self.env.run_id.clone();
            let mut reason = "waiting for a human to carry out the instructions".to_string();
            if !checklist.is_empty() {
                reason.push_str(&format!(
                    " and confirm {} checklist item(s)",
                    checklist.len()
                ));
            }
            return self.wait_gate(
                i,
                reason,
                vec![
                    format!("lifeboat confirm {run} {id} --as NAME [--note TEXT]"),
                    format!("lifeboat resume {run}"),
                ],
            );
        }
        self.fail_now(
            i,
            "too many confirmations without an outcome; this is a bug in Lifeboat".into(),
        );
    }

    /// The digest of the question a gate showed last, if any.
    fn gate_digest_of(&self, id: &str) -> Option<String> {
        self.gates
            .get(id)
            .and_then(|g| g.request.as_ref())
            .map(|r| r.digest.clone())
    }

    /// Journals a gate record (as `actor`, default the operator) and takes
    /// it into the gate's state. False when the journal cannot be written.
    fn record_gate(&mut self, actor: Option<&str>, event: Event) -> bool {
        let written: Result<Record, _> = match actor {
            Some(a) => self.env.journal.record_as(a, event),
            None => self.env.journal.record(event),
        };
        match written {
            Ok(record) => {
                if let Some(step) = record.event.step() {
                    self.gates
                        .entry(step.to_string())
                        .or_default()
                        .apply(&record);
                }
                true
            }
            Err(e) => {
                self.env
                    .console
                    .warn(None, &format!("cannot write the journal: {e}; stopping"));
                self.env.cancel.cancel();
                false
            }
        }
    }

    fn succeed_gate(
        &mut self,
        i: usize,
        outputs: serde_json::Map<String, serde_json::Value>,
        since: &str,
    ) {
        let mut output = StepOutput::new();
        output.outputs = outputs;
        self.succeed(i, output, elapsed_since(since));
        self.gates.remove(&self.env.runbook.steps[i].id);
    }

    fn fail_gate(
        &mut self,
        i: usize,
        error: String,
        outputs: serde_json::Map<String, serde_json::Value>,
        since: &str,
    ) {
        let id = self.env.runbook.steps[i].id.clone();
        let error = self.env.redactor.redact(&error);
        self.journal(Event::StepFailed {
            step: id.clone(),
            error: error.clone(),
            outputs: outputs.clone(),
            duration_ms: elapsed_since(since).as_millis() as u64,
        });
        self.set_view(&id, "failed", outputs);
        self.mark_failed(i, error);
        self.gates.remove(&id);
    }

    fn wait_gate(&mut self, i: usize, reason: String, commands: Vec<String>) {
        let id = self.env.runbook.steps[i].id.clone();
        self.journal(Event::Waiting {
            step: id,
            reason,
            commands,
        });
        self.status[i] = Status::Waiting;
    }
}

/// How long ago an RFC 3339 journal time was; zero if it does not parse.
fn elapsed_since(ts: &str) -> Duration {
    let Some(then) = crate::step_spans::parse_ms(ts) else {
        return Duration::ZERO;
    };
    Duration::from_millis((jiff::Timestamp::now().as_millisecond() - then).max(0) as u64)
}

/// Runs a blocking terminal question without starving the runtime: other
/// steps' tasks keep running on the remaining workers.
pub(super) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
