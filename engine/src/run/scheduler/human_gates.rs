//! `approval` and `manual` steps: gates that wait for people.
//!
//! A gate renders its question, journals it with a digest, and counts the
//! decisions recorded for that digest. With a terminal it asks there; without
//! one it journals `waiting` with the exact commands that decide it and
//! lets every other independent branch carry on. When nothing more can run,
//! the run ends paused (exit 3), or with `--wait` waits for a decision from
//! anywhere (`inbox.rs`); `lifeboat resume` evaluates the gate again. A
//! terminal question closes when the decision comes from elsewhere.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use lifeboat_steps::{duration, params, StepOutput};
use minijinja::Value;

use super::inbox::question_closer;
use super::{DryRun, Scheduler, Status};
use crate::journal::decision::{check_gate_for, Decider, Initiator};
use crate::journal::gate_record::{approval_outputs, gate_digest, GateRecord};
use crate::journal::record::{Decision, Event, Record, Signed};
use crate::journal::signature::NAMESPACE;
use crate::operator::question::{ApprovalQuestion, ManualQuestion};
use crate::runbook::engine_kind::{ApprovalParams, EngineKind, ManualParams, OnTimeout};

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
        // Outputs the runbook gives for drills win; otherwise an approval
        // passes with no approvers, and a manual step's outputs (who
        // confirmed, their note) are placeholders, like any simulated step's.
        let step = self.env.runbook.steps[i].clone();
        let given = step
            .dry_run_outputs
            .as_ref()
            .and_then(|o| o.as_object().cloned());
        let outputs = match (&given, kind) {
            (Some(o), _) => Some(o.clone()),
            (None, EngineKind::Approval) => Some(approval_outputs(&[], false)),
            (None, _) => None,
        };
        self.journal(Event::StepSucceeded {
            step: id.clone(),
            outputs: outputs.clone().unwrap_or_default(),
            secret_outputs: Vec::new(),
            sealed_outputs: None,
            simulated: true,
            duration_ms: 0,
        });
        match outputs {
            Some(o) => self.set_view(&id, "succeeded", o),
            None => self.set_placeholder_view(&step),
        }
        self.succeeded(i);
    }

    fn approval_gate(&mut self, i: usize, with: serde_json::Value) {
        let id = self.env.runbook.steps[i].id.clone();
        let with_shown = with.clone();
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
        // Bound to what was shown and to what it permits: the rendered
        // question, the gate's own rendered rules, and the definitions of
        // every step that depends on it.
        let rules =
            serde_json::to_string(&self.env.redactor.redact_value(&with_shown)).unwrap_or_default();
        let guarded = self.guarded_definitions(i);
        let digest = gate_digest(&[&prompt, details.as_deref().unwrap_or(""), &rules, &guarded]);
        let asked = self.gate_digest_of(&id).as_deref() == Some(digest.as_str());
        if self.settling && !asked {
            return;
        }
        if !asked
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
                    require_signed: p.require_signed || self.env.runbook.require_signed,
                },
            )
        {
            return;
        }
        let need = p.min_approvals.max(1) as usize;
        // The wait last journalled for this gate in this execution.
        let mut announced: Option<GateWait> = None;
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
                let mut outputs = approval_outputs(&gate.approvers(), gate.require_signed());
                outputs.insert("rejected_by".into(), r.actor.clone().into());
                let until = gate.decided_at(need, timeout);
                return self.fail_gate(i, error, outputs, human_time(&since, until.as_deref()));
            }
            let approvers = gate.approvers();
            if approvers.len() >= need || approvers.iter().any(|d| d.timed_out) {
                let outputs = approval_outputs(
                    &approvers[..approvers.len().min(need)],
                    gate.require_signed(),
                );
                let until = gate.decided_at(need, timeout);
                return self.succeed_gate(i, outputs, human_time(&since, until.as_deref()));
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
            if self.settling {
                // Undecided: it is asked again when the run is retried.
                return;
            }
            let wait = self.approval_wait(&id, &p, need, &approvers, timeout);
            let signing = self.terminal_signing(&id, &gate, &wait, &mut announced);
            if let (Some(prompt_ui), Some(signing)) = (self.env.prompt.clone(), signing) {
                // The question on this terminal is a wait for a human like
                // any other: journalled first, so its time counts as human
                // time, `status` shows the gate, and a killed engine's
                // resume asks again.
                self.announce_wait(&id, &wait, &mut announced);
                let question = ApprovalQuestion {
                    step: id.clone(),
                    title: self.env.runbook.steps[i].title().to_string(),
                    prompt: prompt.clone(),
                    details: details.clone(),
                    approved_by: approvers.iter().map(|d| d.actor.clone()).collect(),
                    min_approvals: need as u32,
                    default_identity: self.config.operator.clone(),
                    elsewhere: elsewhere(&wait),
                    signing: signing.as_ref().map(|s| s.signer.describe()),
                };
                let initiator = self.initiator.clone();
                let initiator_principal = self.env.initiator_principal.clone();
                let check = |who: &str, approve: bool| {
                    let decision = if approve {
                        Decision::Approved
                    } else {
                        Decision::Rejected
                    };
                    // On a gate that requires signatures the key decides
                    // who answers, whatever name is typed.
                    match signing.as_ref().and_then(|s| s.principal.as_deref()) {
                        Some(principal) if gate.require_signed() => gate.check_decider(
                            &id,
                            initiator_principal.as_deref().unwrap_or(""),
                            principal,
                            decision,
                        ),
                        _ => gate.check_decider(&id, &initiator, who, decision),
                    }
                };
                // A decision from another shell or machine closes the
                // question; it is then taken from the inbox below.
                let taken = Rc::default();
                let closed = question_closer(
                    self.env.journal.clone(),
                    self.env.cancel.clone(),
                    id.clone(),
                    Rc::clone(&taken),
                );
                let answer = blocking(|| prompt_ui.approval(&question, &check, &closed));
                self.apply_taken(taken.take());
                if answer.is_none() && self.took_decision(&id, gate.decisions.len()) {
                    continue;
                }
                if let Some(a) = answer {
                    let decision = if a.approved {
                        Decision::Approved
                    } else {
                        Decision::Rejected
                    };
                    let event = Event::Approval {
                        step: id.clone(),
                        decision,
                        digest: digest.clone(),
                        comment: a.comment.filter(|c| !c.trim().is_empty()),
                        timed_out: false,
                    };
                    let checked = check(&a.identity, a.approved).and_then(|()| {
                        self.signed_answer(&gate, a.identity.trim(), &event, decision, &signing)
                    });
                    match checked {
                        Ok(signed) => {
                            if !self.record_gate_signed(Some(a.identity.trim()), event, signed) {
                                return;
                            }
                            continue;
                        }
                        Err(e) => self.env.console.warn(Some(&id), &e),
                    }
                }
            }
            return self.wait_gate(i, wait, announced, deadline(&since, timeout));
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
        let asked = self.gate_digest_of(&id).as_deref() == Some(digest.as_str());
        if self.settling && !asked {
            return;
        }
        if !asked
            && !self.record_gate(
                None,
                Event::ManualRequested {
                    step: id.clone(),
                    digest: digest.clone(),
                    instructions: instructions.clone(),
                    checklist: checklist.clone(),
                    require_signed: p.require_signed || self.env.runbook.require_signed,
                },
            )
        {
            return;
        }
        let mut announced: Option<GateWait> = None;
        for _ in 0..100 {
            let gate = self.gates.get(&id).cloned().unwrap_or_default();
            let since = gate
                .request
                .as_ref()
                .map(|r| r.since.clone())
                .unwrap_or_default();
            if let Some(done) = gate.approvers().first() {
                let mut outputs = serde_json::Map::new();
                outputs.insert(
                    "confirmed_by".into(),
                    done.name(gate.require_signed()).into(),
                );
                outputs.insert(
                    "note".into(),
                    done.comment.clone().unwrap_or_default().into(),
                );
                outputs.insert("checklist".into(), checklist.clone().into());
                let until = done.ts.clone();
                return self.succeed_gate(i, outputs, human_time(&since, Some(&until)));
            }
            if let Some(t) = timeout.filter(|t| elapsed_since(&since) >= *t) {
                return self.fail_gate(
                    i,
                    format!(
                        "not confirmed within {} (the manual step's `timeout`)",
                        duration::format(t)
                    ),
                    serde_json::Map::new(),
                    t,
                );
            }
            if self.settling {
                return;
            }
            let wait = self.manual_wait(&id, &checklist);
            let signing = self.terminal_signing(&id, &gate, &wait, &mut announced);
            if let (Some(prompt_ui), Some(signing)) = (self.env.prompt.clone(), signing) {
                self.announce_wait(&id, &wait, &mut announced);
                let question = ManualQuestion {
                    step: id.clone(),
                    title: self.env.runbook.steps[i].title().to_string(),
                    instructions: instructions.clone(),
                    checklist: checklist.clone(),
                    default_identity: self.config.operator.clone(),
                    elsewhere: elsewhere(&wait),
                    signing: signing.as_ref().map(|s| s.signer.describe()),
                };
                let taken = Rc::default();
                let closed = question_closer(
                    self.env.journal.clone(),
                    self.env.cancel.clone(),
                    id.clone(),
                    Rc::clone(&taken),
                );
                let answer = blocking(|| prompt_ui.manual(&question, &closed));
                self.apply_taken(taken.take());
                if answer.is_none() && self.took_decision(&id, gate.decisions.len()) {
                    continue;
                }
                if let Some(a) = answer {
                    let who = a.identity.trim();
                    let who = if who.is_empty() {
                        self.config.operator.clone()
                    } else {
                        who.to_string()
                    };
                    let event = Event::ManualConfirmed {
                        step: id.clone(),
                        digest: digest.clone(),
                        note: a.note.filter(|n| !n.trim().is_empty()),
                        checklist: a.checklist,
                    };
                    match self.signed_answer(&gate, &who, &event, Decision::Approved, &signing) {
                        Ok(signed) => {
                            if !self.record_gate_signed(Some(&who), event, signed) {
                                return;
                            }
                            continue;
                        }
                        Err(e) => self.env.console.warn(Some(&id), &e),
                    }
                }
            }
            return self.wait_gate(i, wait, announced, deadline(&since, timeout));
        }
        self.fail_now(
            i,
            "too many confirmations without an outcome; this is a bug in Lifeboat".into(),
        );
    }

    /// Settles the gates of a failing main section whose decisions are
    /// already in: decisions are facts, so a confirmed manual step or an
    /// approved gate succeeds (and a timeout decides) even though another
    /// gate's rejection stops the run. Nothing is asked and nothing waits;
    /// an undecided gate stays pending and keeps its decisions for the
    /// retry.
    pub(super) fn settle_decided_gates(&mut self, indices: &[usize]) {
        self.settling = true;
        for &i in indices {
            if self.status[i] != Status::Pending {
                continue;
            }
            let step = &self.env.runbook.steps[i];
            let Some(kind) = self.env.runbook.kind(i).engine().filter(|k| k.is_human()) else {
                continue;
            };
            if !self.gates.contains_key(&step.id) {
                continue;
            }
            let needs_met = step.needs_ids().all(|need| {
                self.env
                    .runbook
                    .step_index(need)
                    .is_none_or(|j| match self.status[j] {
                        Status::Succeeded | Status::Skipped => true,
                        Status::Failed => self.env.runbook.steps[j].continue_on_failure,
                        _ => false,
                    })
            });
            if needs_met {
                let ctx = self.context_for(i);
                self.run_human_gate(i, kind, &ctx);
            }
        }
        self.settling = false;
    }

    /// The definitions of every step an approval guards (those that depend
    /// on it, directly or through `needs`), as text: an approval binds to
    /// them, so changing what it permits (with `resume --allow-changed`)
    /// asks again.
    fn guarded_definitions(&self, i: usize) -> String {
        let steps = &self.env.runbook.steps;
        let mut dependents: HashMap<&str, Vec<usize>> = HashMap::new();
        for (j, s) in steps.iter().enumerate() {
            for need in s.needs_ids() {
                dependents.entry(need).or_default().push(j);
            }
        }
        let mut seen = vec![false; steps.len()];
        let mut queue = vec![i];
        seen[i] = true;
        let mut guarded = Vec::new();
        while let Some(k) = queue.pop() {
            for &j in dependents.get(steps[k].id.as_str()).into_iter().flatten() {
                if !seen[j] {
                    seen[j] = true;
                    guarded.push(j);
                    queue.push(j);
                }
            }
        }
        guarded.sort_unstable();
        let definitions: Vec<serde_json::Value> =
            guarded.iter().map(|&j| steps[j].definition()).collect();
        serde_json::to_string(&definitions).unwrap_or_default()
    }

    /// Takes the inbox in after a terminal question ended unanswered; true
    /// when gate `id` got a decision (it had `before` decisions).
    fn took_decision(&mut self, id: &str, before: usize) -> bool {
        self.take_inbox();
        self.gates.get(id).map_or(0, |g| g.decisions.len()) != before
    }

    /// The digest of the question a gate showed last, if any.
    fn gate_digest_of(&self, id: &str) -> Option<String> {
        self.gates
            .get(id)
            .and_then(|g| g.request.as_ref())
            .map(|r| r.digest.clone())
    }

    /// How an answer at this terminal would be signed: `None` when the
    /// terminal must not ask (a gate that requires signatures and no key
    /// here that verifies; the console says so once and the gate waits for
    /// a signed decision from elsewhere), else the key, if any.
    fn terminal_signing(
        &mut self,
        id: &str,
        gate: &GateRecord,
        wait: &GateWait,
        announced: &mut Option<GateWait>,
    ) -> Option<Option<TerminalSigning>> {
        self.env.prompt.as_ref()?;
        let signer = self.env.signer.clone();
        let principal = signer.as_ref().and_then(|s| {
            self.env
                .journal
                .signers()?
                .find(s.public_key().key_data(), NAMESPACE)
                .ok()
                .map(|a| a.principals[0].clone())
        });
        if gate.require_signed() && principal.is_none() {
            let why = match &signer {
                None => "no SSH key is loaded to sign an answer here (ssh-agent, or --sign-with)"
                    .to_string(),
                Some(s) => format!(
                    "the key {} is not in the run's allowed signers file",
                    s.fingerprint()
                ),
            };
            if announced.as_ref() != Some(wait) {
                self.env.console.warn(
                    Some(id),
                    &format!(
                        "`{id}` requires a signed decision (`require_signed`) and {why}; decide it with a signed `lifeboat approve`/`confirm` from a shell with your key"
                    ),
                );
            }
            return None;
        }
        Some(signer.map(|signer| TerminalSigning { signer, principal }))
    }

    /// Signs an answer given at this terminal and checks it as a decision
    /// from anywhere is checked (`journal/decision.rs`): the record's
    /// signature, with the principal it verified as.
    fn signed_answer(
        &self,
        gate: &GateRecord,
        actor: &str,
        event: &Event,
        decision: Decision,
        signing: &Option<TerminalSigning>,
    ) -> Result<Option<Signed>, String> {
        let mut signed = signing
            .as_ref()
            .map(|s| s.signer.sign_event(&self.env.run_id, actor, event))
            .transpose()?;
        let principal = check_gate_for(
            gate,
            &Initiator {
                name: &self.initiator,
                principal: self.env.initiator_principal.as_deref(),
            },
            &self.env.run_id,
            &Decider::new(actor, signed.as_ref()),
            event,
            self.env.journal.signers(),
            decision,
        )?;
        if let Some(s) = signed.as_mut() {
            s.principal = principal;
        }
        Ok(signed)
    }

    /// Journals a gate record (as `actor`, default the operator) and takes
    /// it into the gate's state. False when the journal cannot be written.
    fn record_gate(&mut self, actor: Option<&str>, event: Event) -> bool {
        self.record_gate_signed(actor, event, None)
    }

    /// [`Scheduler::record_gate`] with the decider's signature.
    fn record_gate_signed(
        &mut self,
        actor: Option<&str>,
        event: Event,
        signed: Option<Signed>,
    ) -> bool {
        let written: Result<Record, _> = self.env.journal.record_signed(actor, event, signed, None);
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
                self.journal_failed(&e);
                false
            }
        }
    }

    fn succeed_gate(
        &mut self,
        i: usize,
        outputs: serde_json::Map<String, serde_json::Value>,
        human_time: Duration,
    ) {
        let mut output = StepOutput::new();
        output.outputs = outputs;
        self.succeed(i, output, human_time);
        self.gates.remove(&self.env.runbook.steps[i].id);
    }

    fn fail_gate(
        &mut self,
        i: usize,
        error: String,
        outputs: serde_json::Map<String, serde_json::Value>,
        human_time: Duration,
    ) {
        let id = self.env.runbook.steps[i].id.clone();
        let error = self.env.redactor.redact(&error);
        self.journal(Event::StepFailed {
            step: id.clone(),
            error: error.clone(),
            outputs: outputs.clone(),
            duration_ms: human_time.as_millis() as u64,
        });
        self.set_view(&id, "failed", outputs);
        self.mark_failed(i, error);
        self.gates.remove(&id);
    }

    /// The run pauses at gate `i`: its wait is journalled (unless the
    /// terminal question already journalled the same one) and the step
    /// waits.
    /// `deadline` (ms since the epoch) is when the gate's `timeout` ends,
    /// if it has one: `--wait` sends the gate round again then.
    fn wait_gate(
        &mut self,
        i: usize,
        wait: GateWait,
        announced: Option<GateWait>,
        deadline: Option<i64>,
    ) {
        let id = self.env.runbook.steps[i].id.clone();
        let mut announced = announced;
        self.announce_wait(&id, &wait, &mut announced);
        self.set_status(i, Status::Waiting);
        match deadline {
            Some(d) => self.gate_deadlines.insert(i, d),
            None => self.gate_deadlines.remove(&i),
        };
    }

    /// Journals that gate `id` waits for a human, once per distinct wait.
    fn announce_wait(&mut self, id: &str, wait: &GateWait, announced: &mut Option<GateWait>) {
        if announced.as_ref() == Some(wait) {
            return;
        }
        self.journal(Event::Waiting {
            step: id.to_string(),
            reason: wait.reason.clone(),
            commands: wait.commands.clone(),
        });
        *announced = Some(wait.clone());
    }

    /// What an approval gate waits for, and the commands that decide it.
    fn approval_wait(
        &self,
        id: &str,
        p: &ApprovalParams,
        need: usize,
        approvers: &[&crate::journal::gate_record::GateDecision],
        timeout: Option<Duration>,
    ) -> GateWait {
        let run = &self.env.run_id;
        let mut reason = format!("waiting for approval: {} of {need} so far", approvers.len());
        if !approvers.is_empty() {
            let names: Vec<&str> = approvers.iter().map(|d| d.actor.as_str()).collect();
            reason.push_str(&format!(" ({})", names.join(", ")));
        }
        if let Some(list) = &p.approvers {
            reason.push_str(&format!("; approvers: {}", list.join(", ")));
        }
        let signed = p.require_signed || self.env.runbook.require_signed;
        if p.distinct_from_initiator {
            let initiator = match (&self.env.initiator_principal, signed) {
                (Some(principal), true) => principal,
                _ => &self.initiator,
            };
            reason.push_str(&format!(
                "; not `{initiator}`, who started the run (four eyes)"
            ));
        }
        if signed {
            reason.push_str("; each decision signed by a key of the allowed signers file");
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
        GateWait {
            reason,
            commands: vec![
                format!("lifeboat approve {run} {id} --as NAME [--comment TEXT]"),
                format!("lifeboat reject {run} {id} --as NAME [--comment TEXT]"),
                format!("lifeboat resume {run}"),
            ],
        }
    }

    /// What a manual step waits for, and the commands that settle it.
    fn manual_wait(&self, id: &str, checklist: &[String]) -> GateWait {
        let run = &self.env.run_id;
        let mut reason = "waiting for a human to carry out the instructions".to_string();
        if !checklist.is_empty() {
            reason.push_str(&format!(
                " and confirm {} checklist item(s)",
                checklist.len()
            ));
        }
        GateWait {
            reason,
            commands: vec![
                format!("lifeboat confirm {run} {id} --as NAME [--note TEXT]"),
                format!("lifeboat resume {run}"),
            ],
        }
    }
}

/// The commands of a wait that decide it from elsewhere (`resume` is not
/// one: the run is being driven).
fn elsewhere(wait: &GateWait) -> Vec<String> {
    wait.commands
        .iter()
        .filter(|c| !c.starts_with("lifeboat resume"))
        .cloned()
        .collect()
}

/// The key that signs answers at this terminal, and the principal the
/// run's allowed signers file names for it.
struct TerminalSigning {
    signer: std::sync::Arc<crate::journal::signer::Signer>,
    principal: Option<String>,
}

/// What a gate waits for (the `waiting` record's reason) and the commands
/// that settle it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GateWait {
    reason: String,
    commands: Vec<String>,
}

/// Human time of a gate: from the question to the decision (`until`), or to
/// now while undecided; zero if a time does not parse.
fn human_time(since: &str, until: Option<&str>) -> Duration {
    let Some(until) = until else {
        return elapsed_since(since);
    };
    match (
        crate::report::step_spans::parse_ms(since),
        crate::report::step_spans::parse_ms(until),
    ) {
        (Some(from), Some(to)) => Duration::from_millis((to - from).max(0) as u64),
        _ => Duration::ZERO,
    }
}

/// When a gate asked at `since` times out (ms since the epoch), if it has
/// a `timeout`.
fn deadline(since: &str, timeout: Option<Duration>) -> Option<i64> {
    let from = crate::report::step_spans::parse_ms(since)?;
    Some(from + timeout?.as_millis() as i64)
}

/// How long ago an RFC 3339 journal time was; zero if it does not parse.
fn elapsed_since(ts: &str) -> Duration {
    let Some(then) = crate::report::step_spans::parse_ms(ts) else {
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
