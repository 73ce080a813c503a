//! What each event says, and its body in each format: one line for
//! people (Slack's `text`, and `text` in JSON too) and, in JSON, the
//! event's fields. Built from journal records, already redacted; the
//! body is redacted again before it is sent (`notifier.rs`).

use serde_json::{json, Map, Value};

use super::NotifyRun;
use crate::journal::record::{Event, Record, RunStatus};
use crate::report::projection::ProjectedFinish;
use crate::report::rto_report::{human_ms, RtoReport, StepShape};
use crate::runbook::notify_target::{NotifyEvent, NotifyFormat};

/// One event's message, before it is shaped for a target.
pub(super) struct Message {
    pub event: NotifyEvent,
    /// The seq of the record it tells of.
    pub about_seq: Option<u64>,
    /// For people: Slack mrkdwn (`*bold*`, `` `code` ``, fenced blocks).
    text: String,
    /// The event's own fields, in the JSON format.
    fields: Map<String, Value>,
}

impl Message {
    fn new(event: NotifyEvent, text: String, fields: Value) -> Self {
        Self {
            event,
            about_seq: None,
            text,
            fields: match fields {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    pub(super) fn about(mut self, seq: u64) -> Self {
        self.about_seq = Some(seq);
        self
    }

    pub(super) fn run_started(run: &NotifyRun, record: &Record) -> Self {
        let Event::RunStarted {
            scenario,
            declared_at,
            rto_target_ms,
            ..
        } = &record.event
        else {
            return Self::new(NotifyEvent::RunStarted, String::new(), json!({}));
        };
        let mut text = format!(
            "*{}*: run `{}` started by {}",
            run.runbook.title, run.run_id, record.actor
        );
        if let Some(s) = scenario {
            text.push_str(&format!(" (scenario: {s})"));
        }
        if let Some(t) = rto_target_ms {
            text.push_str(&format!("; RTO target {}", human_ms(*t as i64)));
        }
        if let Some(d) = declared_at {
            text.push_str(&format!(
                ", the clock started when the incident was declared at {d}"
            ));
        }
        text.push_str(&format!(
            ". Follow it with `lifeboat status {}`",
            run.run_id
        ));
        Self::new(
            NotifyEvent::RunStarted,
            text,
            json!({
                "operator": record.actor,
                "scenario": scenario,
                "declared_at": declared_at,
                "started_at": record.ts,
                "rto_target_ms": rto_target_ms,
                "status_command": format!("lifeboat status {}", run.run_id),
            }),
        )
    }

    /// `commands` are the `waiting` record's: the ones `status` prints.
    pub(super) fn waiting(run: &NotifyRun, step: &str, reason: &str, commands: &[String]) -> Self {
        let mut text = format!("*{}* is waiting at `{step}`: {reason}", run.runbook.title);
        if !commands.is_empty() {
            text.push_str(&format!(
                "\nResolve it with:\n```\n{}\n```",
                commands.join("\n")
            ));
        }
        Self::new(
            NotifyEvent::Waiting,
            text,
            json!({ "step": step, "reason": reason, "commands": commands }),
        )
    }

    pub(super) fn step_failed(run: &NotifyRun, step: &str, error: &str) -> Self {
        Self::new(
            NotifyEvent::StepFailed,
            format!("*{}*: step `{step}` FAILED: {error}", run.runbook.title),
            json!({ "step": step, "error": error }),
        )
    }

    pub(super) fn checkpoint(run: &NotifyRun, step: &str, description: Option<&str>) -> Self {
        let mut text = format!("*{}* reached checkpoint `{step}`", run.runbook.title);
        if let Some(d) = description {
            text.push_str(&format!(": {d}"));
        }
        Self::new(
            NotifyEvent::Checkpoint,
            text,
            json!({ "step": step, "description": description }),
        )
    }

    pub(super) fn rto_at_risk(run: &NotifyRun, p: &ProjectedFinish) -> Self {
        let rto = p.rto_ms().unwrap_or_default();
        let target = p.target_ms.unwrap_or_default();
        Self::new(
            NotifyEvent::RtoAtRisk,
            format!(
                "*{}*: RTO AT RISK: projected {} against a target of {}, over by {}. Still to run: {}",
                run.runbook.title,
                human_ms(rto),
                human_ms(target),
                human_ms(rto - target),
                p.path_text()
            ),
            {
                let mut fields = p.to_json();
                if let Some(f) = fields.as_object_mut() {
                    f.insert("remaining".into(), p.path_text().into());
                }
                fields
            },
        )
    }

    /// The run's verdict, the human/machine split and the timeline, from
    /// every record of the run; `None` without a start record.
    pub(super) fn finished(run: &NotifyRun, records: &[Record]) -> Option<Self> {
        let report = RtoReport::build(records, &StepShape::of(&run.runbook), None)?;
        let status = records.iter().rev().find_map(|r| match &r.event {
            Event::RunFinished { status } => Some(*status),
            _ => None,
        });
        let status = match status {
            Some(RunStatus::Succeeded) => "succeeded",
            _ => "failed",
        };
        let html = run.run_dir.join("timeline.html");
        let markdown = run.run_dir.join("timeline.md");
        let split = report.split;
        let mut text = format!(
            "*{}*: run `{}` {}. {}\nTime: machine {}, people {}",
            run.runbook.title,
            run.run_id,
            if status == "succeeded" {
                "succeeded"
            } else {
                "FAILED"
            },
            report.verdict_line(),
            human_ms(split.machine_ms),
            human_ms(split.human_ms),
        );
        if split.interrupted_ms > 0 {
            text.push_str(&format!(
                ", no engine running {}",
                human_ms(split.interrupted_ms)
            ));
        }
        if split.before_start_ms > 0 {
            text.push_str(&format!(
                ", before the run started {}",
                human_ms(split.before_start_ms)
            ));
        }
        text.push_str(&format!(
            "\nTimeline: `{}` (or `lifeboat timeline {}`)",
            html.display(),
            run.run_id
        ));
        Some(Self::new(
            NotifyEvent::Finished,
            text,
            json!({
                "status": status,
                "verdict": report.verdict,
                "verdict_line": report.verdict_line(),
                "rto_ms": report.achieved_ms,
                "rto_target_ms": report.target_ms,
                "split": split,
                "timeline": {
                    "html": html.display().to_string(),
                    "markdown": markdown.display().to_string(),
                    "command": format!("lifeboat timeline {}", run.run_id),
                },
            }),
        ))
    }

    /// The body `format` receives. A drill says DRILL in its text, and in
    /// JSON also as `"drill": true`.
    pub(super) fn body(&self, format: NotifyFormat, run: &NotifyRun) -> Value {
        let text = if run.drill {
            format!("DRILL (nothing was changed): {}", self.text)
        } else {
            self.text.clone()
        };
        match format {
            NotifyFormat::Slack => json!({ "text": slack_escape(&text) }),
            NotifyFormat::Json => {
                let mut body = Map::new();
                body.insert("event".into(), self.event.name().into());
                body.insert("drill".into(), run.drill.into());
                body.insert("run_id".into(), run.run_id.clone().into());
                body.insert("runbook".into(), run.runbook.name.clone().into());
                body.insert("title".into(), run.runbook.title.clone().into());
                body.insert("seq".into(), self.about_seq.into());
                body.insert("text".into(), text.into());
                body.extend(self.fields.clone());
                Value::Object(body)
            }
        }
    }
}

/// Slack reads `&`, `<` and `>` as markup: they are escaped.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
