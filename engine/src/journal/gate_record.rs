//! What the journal says about one human gate (an `approval` or `manual`
//! step): the question last shown and the decisions given since.
//!
//! Decisions are bound to the digest of the question they answer (for an
//! approval: the rendered question, the gate's rules and the definitions of
//! the steps it guards), so a gate that would show or permit something else
//! on resume asks again instead of counting old answers. A gate's record is
//! dropped when its step reaches a terminal state, so a gate that runs again
//! (a retried failed run, resume `--from` a checkpoint) starts fresh; a step
//! skipped as "not started" because the run failed keeps its decisions.

use serde_json::Value;

use crate::journal::record::{Decision, Event, Record};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateRecord {
    /// The question last shown; `None` before the gate was reached.
    pub request: Option<GateRequest>,
    /// Every decision since the gate was last reset, oldest first.
    pub decisions: Vec<GateDecision>,
}

/// A question shown to humans.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRequest {
    pub digest: String,
    /// When this question (this digest) was first shown: timeouts count from here.
    pub since: String,
    pub kind: GateKind,
    /// `require_signed`: decisions count under their verified principal,
    /// and only when signed by an allowed key (`journal/decision.rs`).
    pub require_signed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GateKind {
    Approval {
        prompt: String,
        details: Option<String>,
        min_approvals: u32,
        approvers: Option<Vec<String>>,
        distinct_from_initiator: bool,
    },
    Manual {
        instructions: String,
        checklist: Vec<String>,
    },
}

/// One person's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GateDecision {
    pub actor: String,
    pub ts: String,
    pub digest: String,
    pub decision: Decision,
    /// The approver's comment, or a manual step's note.
    pub comment: Option<String>,
    pub timed_out: bool,
    /// The principal its signature was verified as when it was journalled.
    pub principal: Option<String>,
}

impl GateDecision {
    /// Its verified principal when `signed` (and it has one), else the
    /// typed name: for outputs and messages.
    pub fn name(&self, signed: bool) -> &str {
        match &self.principal {
            Some(p) if signed => p,
            _ => &self.actor,
        }
    }
}

impl GateRecord {
    /// Takes a journal record about this gate into account.
    pub fn apply(&mut self, record: &Record) {
        match &record.event {
            Event::ApprovalRequested {
                digest,
                prompt,
                details,
                min_approvals,
                approvers,
                distinct_from_initiator,
                require_signed,
                ..
            } => self.ask(
                digest,
                &record.ts,
                GateKind::Approval {
                    prompt: prompt.clone(),
                    details: details.clone(),
                    min_approvals: *min_approvals,
                    approvers: approvers.clone(),
                    distinct_from_initiator: *distinct_from_initiator,
                },
                *require_signed,
            ),
            Event::ManualRequested {
                digest,
                instructions,
                checklist,
                require_signed,
                ..
            } => self.ask(
                digest,
                &record.ts,
                GateKind::Manual {
                    instructions: instructions.clone(),
                    checklist: checklist.clone(),
                },
                *require_signed,
            ),
            Event::Approval {
                decision,
                digest,
                comment,
                timed_out,
                ..
            } => self.decisions.push(GateDecision {
                actor: record.actor.clone(),
                ts: record.ts.clone(),
                digest: digest.clone(),
                decision: *decision,
                comment: comment.clone(),
                timed_out: *timed_out,
                principal: principal_of(record),
            }),
            Event::ManualConfirmed { digest, note, .. } => self.decisions.push(GateDecision {
                actor: record.actor.clone(),
                ts: record.ts.clone(),
                digest: digest.clone(),
                decision: Decision::Approved,
                comment: note.clone(),
                timed_out: false,
                principal: principal_of(record),
            }),
            _ => {}
        }
    }

    fn ask(&mut self, digest: &str, ts: &str, kind: GateKind, require_signed: bool) {
        let since = match &self.request {
            Some(r) if r.digest == digest => r.since.clone(),
            _ => ts.to_string(),
        };
        self.request = Some(GateRequest {
            digest: digest.to_string(),
            since,
            kind,
            require_signed,
        });
    }

    /// Whether the current question needs signed decisions.
    pub fn require_signed(&self) -> bool {
        self.request.as_ref().is_some_and(|r| r.require_signed)
    }

    /// Who a decision counts as: its verified principal on a gate that
    /// requires signatures (empty when it has none), else the typed name.
    pub fn identity<'a>(&self, d: &'a GateDecision) -> &'a str {
        if self.require_signed() {
            d.principal.as_deref().unwrap_or("")
        } else {
            &d.actor
        }
    }

    /// Decisions that answer the question currently shown.
    pub fn current(&self) -> impl Iterator<Item = &GateDecision> {
        let digest = self.request.as_ref().map(|r| r.digest.clone());
        self.decisions
            .iter()
            .filter(move |d| Some(&d.digest) == digest.as_ref())
    }

    /// The first rejection of the current question.
    pub fn rejection(&self) -> Option<&GateDecision> {
        self.current().find(|d| d.decision == Decision::Rejected)
    }

    /// When the decisions given so far settled the current question: the
    /// rejection, the approval that reached `need`, or the end of the
    /// timeout for a decision `on_timeout` took. `None` while undecided.
    /// Human time (a gate's `duration_ms`) ends here, not at the resume
    /// that notices the decision.
    pub fn decided_at(&self, need: usize, timeout: Option<std::time::Duration>) -> Option<String> {
        let since = &self.request.as_ref()?.since;
        let deciding = match self.rejection() {
            Some(r) => r,
            None => {
                let approvers = self.approvers();
                match approvers.iter().find(|d| d.timed_out) {
                    Some(d) => *d,
                    None => *approvers.get(need.max(1) - 1)?,
                }
            }
        };
        if deciding.timed_out {
            if let (Some(t), Some(from)) = (timeout, crate::journal::timestamp::parse_ms(since)) {
                let end = from + t.as_millis() as i64;
                if crate::journal::timestamp::parse_ms(&deciding.ts).is_some_and(|ts| ts > end) {
                    return Some(crate::journal::timestamp::format_ms(end));
                }
            }
        }
        Some(deciding.ts.clone())
    }

    /// Distinct identities that approved the current question, in order.
    pub fn approvers(&self) -> Vec<&GateDecision> {
        let mut seen = Vec::<&GateDecision>::new();
        for d in self.current() {
            if d.decision == Decision::Approved
                && !seen.iter().any(|s| self.identity(s) == self.identity(d))
            {
                seen.push(d);
            }
        }
        seen
    }
}

/// The principal a journalled decision's signature was verified as.
fn principal_of(record: &Record) -> Option<String> {
    record.signed.as_ref().and_then(|s| s.principal.clone())
}

/// The digest decisions bind to: SHA-256 over the rendered parts, each
/// length-prefixed so that moving text between parts changes it.
pub fn gate_digest(parts: &[&str]) -> String {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(format!("{}:", p.len()).as_bytes());
        bytes.extend_from_slice(p.as_bytes());
        bytes.push(b'\n');
    }
    lifeboat_steps::checksum::sha256_hex(&bytes)
}

/// A gate's success outputs, readable as `steps.<id>.outputs.*`. On a gate
/// that requires signatures (`signed`) approvers are named by their
/// verified principals.
pub fn approval_outputs(
    approvers: &[&GateDecision],
    signed: bool,
) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    out.insert(
        "approvers".into(),
        Value::from(
            approvers
                .iter()
                .map(|d| d.name(signed).to_string())
                .collect::<Vec<_>>(),
        ),
    );
    out.insert(
        "comments".into(),
        Value::from(
            approvers
                .iter()
                .map(|d| d.comment.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
        ),
    );
    out
}

impl GateRecord {
    /// Whether `who` may give `decision` on this gate now; the error says
    /// why not, for a human. Four eyes applies to approving only: anyone on
    /// the allow-list, the initiator included, may reject.
    pub fn check_decider(
        &self,
        step: &str,
        initiator: &str,
        who: &str,
        decision: Decision,
    ) -> Result<(), String> {
        let who = who.trim();
        if who.is_empty() {
            return Err("an approver needs a name; give it with --as NAME".into());
        }
        let Some(request) = &self.request else {
            return Err(format!("step `{step}` has not asked for a decision yet"));
        };
        if let GateKind::Approval {
            approvers,
            distinct_from_initiator,
            ..
        } = &request.kind
        {
            if let Some(list) = approvers {
                if !list.iter().any(|a| a == who) {
                    return Err(format!(
                        "`{who}` is not an approver of `{step}`; the runbook allows: {}",
                        list.join(", ")
                    ));
                }
            }
            if *distinct_from_initiator && decision == Decision::Approved && who == initiator {
                return Err(format!(
                    "`{who}` started this run and cannot approve `{step}`: it needs four eyes (distinct_from_initiator); ask another approver"
                ));
            }
        }
        if let Some(earlier) = self.current().find(|d| self.identity(d) == who) {
            let verb = match earlier.decision {
                Decision::Approved => "approved",
                Decision::Rejected => "rejected",
            };
            return Err(format!(
                "`{who}` already {verb} `{step}` at {}; each decision must come from a different person",
                earlier.ts
            ));
        }
        if let GateKind::Approval { min_approvals, .. } = &request.kind {
            let approved = self.approvers();
            let need = (*min_approvals).max(1) as usize;
            if approved.len() >= need {
                let names: Vec<&str> = approved.iter().map(|d| self.identity(d)).collect();
                return Err(format!(
                    "`{step}` already has the {need} approval(s) it needs ({}); no further decision is taken — `lifeboat resume` continues the run",
                    names.join(", ")
                ));
            }
        }
        if let Some(rejected) = self.rejection() {
            return Err(format!(
                "`{step}` was already rejected by `{}`; `lifeboat resume` fails the step and runs on_failure",
                rejected.actor
            ));
        }
        Ok(())
    }
}
