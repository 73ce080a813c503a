//! A runbook's `notify:` targets: where the people watching a run are told
//! what happens (a Slack incoming webhook, or any receiver of JSON), which
//! events they hear about, and how patiently each message is delivered.
//! The loader builds them; `run/notifier.rs` delivers (docs/war-room.md).

use std::time::Duration;

use crate::runbook::node::Loc;
use crate::runbook::Retry;

/// One entry of `notify:`.
#[derive(Debug, Clone)]
pub struct NotifyTarget {
    /// The URL as written: a template that may read `inputs` (a secret
    /// input too: the URL is never journalled or shown).
    pub url: String,
    pub url_loc: Loc,
    pub format: NotifyFormat,
    /// The events this target hears about, in the order written.
    pub events: Vec<NotifyEvent>,
    /// The bound of one request (default [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// How often and how patiently a message is sent (default
    /// [`default_retry`]).
    pub retry: Retry,
}

/// The bound of one delivery request when a target sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A target's retries when it sets no `retry`: 4 attempts, 1s, 2s, 4s apart.
pub fn default_retry() -> Retry {
    Retry {
        attempts: 4,
        delay: Duration::from_secs(1),
        backoff: 2.0,
        max_delay: Some(Duration::from_secs(30)),
    }
}

/// The body a target receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFormat {
    /// A Slack incoming webhook's `{"text": …, "blocks": […]}`.
    Slack,
    /// One JSON object per event, with the event's fields.
    Json,
}

impl NotifyFormat {
    pub const NAMES: &'static [&'static str] = &["slack", "json"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "slack" => Some(Self::Slack),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// What a target can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotifyEvent {
    /// A run started (a new run; a resume says nothing of its own).
    RunStarted,
    /// A gate waits for a person, with the commands that resolve it.
    Waiting,
    /// A step failed.
    StepFailed,
    /// A `checkpoint` step was reached.
    Checkpoint,
    /// The projected RTO first exceeded the target (once per run).
    RtoAtRisk,
    /// The run finished: verdict, human/machine split, the timeline.
    Finished,
}

impl NotifyEvent {
    /// Every event, in the order the docs list them.
    pub const ALL: &'static [NotifyEvent] = &[
        Self::RunStarted,
        Self::Waiting,
        Self::StepFailed,
        Self::Checkpoint,
        Self::RtoAtRisk,
        Self::Finished,
    ];

    /// The names of [`NotifyEvent::ALL`], as a runbook and the journal write them.
    pub const NAMES: &'static [&'static str] = &[
        "run_started",
        "waiting",
        "step_failed",
        "checkpoint",
        "rto_at_risk",
        "finished",
    ];

    pub fn name(self) -> &'static str {
        let i = Self::ALL.iter().position(|e| *e == self).unwrap_or(0);
        Self::NAMES[i]
    }

    pub fn from_name(name: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some(Self::ALL[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_one_name_both_ways() {
        assert_eq!(NotifyEvent::ALL.len(), NotifyEvent::NAMES.len());
        for e in NotifyEvent::ALL {
            assert_eq!(NotifyEvent::from_name(e.name()), Some(*e));
        }
    }
}
