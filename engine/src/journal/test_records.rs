//! Journal records written as short lines, for the unit tests of replay
//! (`run_state`) and of the reports built on it (`step_spans`).
//!
//! One record per line, numbered from 1, at a time on a fixed day
//! (2026-11-21, 10:00 UTC onwards):
//!
//! ```text
//! MM:SS[.mmm] [@ACTOR] EVENT ARGS…
//! 00:01 step_started restore 2
//! 00:40 @bob approval gate approved q1
//! ```
//!
//! `EVENT` is the record's journal name ([`Event::name`]); the actor is
//! `alice` unless `@ACTOR` says otherwise. The arguments, by event:
//!
//! | event | arguments |
//! |---|---|
//! | `run_started` | |
//! | `step_started` | `STEP [ATTEMPT]` (default 1) |
//! | `process_started` | `STEP PGID` |
//! | `attempt_failed` | `STEP ATTEMPT ERROR…` |
//! | `step_succeeded` | `STEP [KEY=VALUE…]` (a value is JSON, else text) |
//! | `step_failed`, `step_skipped`, `waiting`, `step_through_skipped` | `STEP TEXT…` |
//! | `checkpoint` | `STEP` |
//! | `marked` | `STEP done\|failed` |
//! | `note`, `interrupted` | `TEXT…` |
//! | `resumed` | `[from=CHECKPOINT] [redo=A,B] [digest=D]` |
//! | `run_finished` | `succeeded\|failed` |
//! | `approval_requested`, `manual_requested` | `STEP DIGEST` |
//! | `approval` | `STEP approved\|rejected DIGEST` |
//! | `manual_confirmed` | `STEP DIGEST` |
//!
//! A malformed line panics with its text: these are test inputs.

use serde_json::{Map, Value};

use crate::journal::record::{Decision, Event, MarkOutcome, Record, RunStatus, JOURNAL_VERSION};
use crate::journal::timestamp::{format_ms, parse_ms};

/// The day and hour every test time is on.
const EPOCH: &str = "2026-11-21T10:";

/// Parses one record per non-empty line.
pub fn records(script: &str) -> Vec<Record> {
    script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| record(i as u64 + 1, line))
        .collect()
}

/// `MM:SS[.mmm]` as the journal's RFC 3339 time.
pub fn ts(time: &str) -> String {
    let time = if time.contains('.') {
        time.to_string()
    } else {
        format!("{time}.000")
    };
    format!("{EPOCH}{time}Z")
}

/// `MM:SS[.mmm]` as milliseconds since the epoch.
pub fn ms(time: &str) -> i64 {
    parse_ms(&ts(time)).unwrap_or_else(|| panic!("bad test time `{time}`"))
}

/// Milliseconds since the epoch as `MM:SS.mmm`, the way tests write times.
pub fn clock(ms: i64) -> String {
    let full = format_ms(ms);
    full.strip_prefix(EPOCH)
        .and_then(|t| t.strip_suffix('Z'))
        .map(str::to_string)
        .unwrap_or(full)
}

/// An RFC 3339 journal time as `MM:SS.mmm`.
pub fn clock_of(ts: &str) -> String {
    parse_ms(ts).map(clock).unwrap_or_else(|| ts.to_string())
}

fn record(seq: u64, line: &str) -> Record {
    let mut words = line.split_whitespace();
    let time = words.next().expect("a time");
    let mut actor = "alice".to_string();
    let mut name = words
        .next()
        .unwrap_or_else(|| panic!("no event in `{line}`"));
    if let Some(a) = name.strip_prefix('@') {
        actor = a.to_string();
        name = words
            .next()
            .unwrap_or_else(|| panic!("no event in `{line}`"));
    }
    let args: Vec<&str> = words.collect();
    let arg = |i: usize| -> String {
        args.get(i)
            .unwrap_or_else(|| panic!("`{line}` needs argument {}", i + 1))
            .to_string()
    };
    let rest = |from: usize| args.get(from..).unwrap_or_default().join(" ");
    let event = match name {
        "run_started" => Event::RunStarted {
            run_id: "r1".into(),
            runbook: "rb".into(),
            title: "Test runbook".into(),
            digest: "d0".into(),
            scenario: None,
            inputs: Map::new(),
            secret_inputs: Vec::new(),
            dry_run: None,
            declared_at: None,
            rto_target_ms: None,
            rto_stop_at: None,
            engine_version: "0".into(),
            launch_dir: None,
            recipients: Box::default(),
            allowed_signers: None,
            allowed_signers_sha256: None,
            require_signed: false,
        },
        "step_started" => Event::StepStarted {
            step: arg(0),
            attempt: args.get(1).map_or(1, |a| a.parse().expect("an attempt")),
            description: String::new(),
        },
        "process_started" => Event::ProcessStarted {
            step: arg(0),
            pgid: arg(1).parse().expect("a pgid"),
            start_ticks: None,
        },
        "attempt_failed" => Event::AttemptFailed {
            step: arg(0),
            attempt: arg(1).parse().expect("an attempt"),
            error: rest(2),
            retry_in_ms: 1_000,
        },
        "step_succeeded" => Event::StepSucceeded {
            step: arg(0),
            outputs: args
                .get(1..)
                .unwrap_or_default()
                .iter()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("KEY=VALUE");
                    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::from(v));
                    (k.to_string(), value)
                })
                .collect(),
            secret_outputs: Vec::new(),
            sealed_outputs: None,
            simulated: false,
            duration_ms: 0,
        },
        "step_failed" => Event::StepFailed {
            step: arg(0),
            error: rest(1),
            outputs: Map::new(),
            duration_ms: 0,
        },
        "step_skipped" => Event::StepSkipped {
            step: arg(0),
            reason: rest(1),
        },
        "step_through_skipped" => Event::StepThroughSkipped {
            step: arg(0),
            reason: rest(1),
        },
        "checkpoint" => Event::Checkpoint {
            step: arg(0),
            description: None,
        },
        "waiting" => Event::Waiting {
            step: arg(0),
            reason: rest(1),
            commands: Vec::new(),
        },
        "marked" => Event::Marked {
            step: arg(0),
            outcome: match arg(1).as_str() {
                "done" => MarkOutcome::Done,
                "failed" => MarkOutcome::Failed,
                other => panic!("unknown mark `{other}`"),
            },
        },
        "note" => Event::Note { text: rest(0) },
        "interrupted" => Event::Interrupted { reason: rest(0) },
        "resumed" => {
            let option = |key: &str| {
                args.iter()
                    .find_map(|a| a.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                    .map(str::to_string)
            };
            Event::Resumed {
                from_checkpoint: option("from"),
                allow_changed: false,
                digest: option("digest"),
                redo: option("redo")
                    .map(|r| r.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
                reason: None,
                took_over_from: None,
            }
        }
        "run_finished" => Event::RunFinished {
            status: match arg(0).as_str() {
                "succeeded" => RunStatus::Succeeded,
                "failed" => RunStatus::Failed,
                other => panic!("unknown run status `{other}`"),
            },
        },
        "approval_requested" => Event::ApprovalRequested {
            step: arg(0),
            digest: arg(1),
            prompt: "go?".into(),
            details: None,
            min_approvals: 1,
            approvers: None,
            distinct_from_initiator: false,
            require_signed: false,
        },
        "approval" => Event::Approval {
            step: arg(0),
            decision: match arg(1).as_str() {
                "approved" => Decision::Approved,
                "rejected" => Decision::Rejected,
                other => panic!("unknown decision `{other}`"),
            },
            digest: arg(2),
            comment: None,
            timed_out: false,
        },
        "manual_requested" => Event::ManualRequested {
            step: arg(0),
            digest: arg(1),
            instructions: "do it".into(),
            checklist: Vec::new(),
            require_signed: false,
        },
        "manual_confirmed" => Event::ManualConfirmed {
            step: arg(0),
            digest: arg(1),
            note: None,
            checklist: Vec::new(),
        },
        other => panic!("unknown event `{other}` in `{line}`"),
    };
    Record {
        v: JOURNAL_VERSION,
        seq,
        ts: ts(time),
        actor,
        inbox: None,
        signed: None,
        prev: None,
        event,
    }
}
