//! Notifications: the runbook's `notify:` targets told what the run does
//! (docs/war-room.md, "Notifications").
//!
//! The journal's observer hands every record to a [`NotifyFeed`], which
//! only puts it on a channel: nothing here runs on the scheduler's task or
//! inside the journal's write-ahead path. A thread of its own
//! (`lifeboat-notify`, with its own runtime) turns records into messages
//! (`message.rs`), watches the projected RTO with the projection the
//! consoles and `status` use (`risk_watch.rs`), and delivers each message
//! with retries and backoff, a bounded time per request (`delivery.rs`).
//! Every outcome is journalled (`notified`, `notify_failed`), lazily: the
//! next durable write carries it. At the end of an execution
//! [`Notifier::finish`] waits a bounded time for what is still being
//! delivered and journals what was not.
//!
//! Secrets: a target's URL is never journalled or shown (it may come from
//! a secret input); every body is redacted with the run's redactor just
//! before it is sent; errors never carry the URL.

mod delivery;
mod message;
mod risk_watch;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lifeboat_steps::Redactor;
use minijinja::Value;
use serde_json::Map;
use tokio::sync::{mpsc, oneshot};

use crate::journal::record::{Event, Record};
use crate::journal::Journal;
use crate::operator::console::Console;
use crate::operator::progress_plan::ProgressPlan;
use crate::runbook::checked_runbook::CheckedRunbook;
use crate::runbook::notify_target::{NotifyEvent, NotifyFormat};
use crate::runbook::templates::Templates;
use crate::runbook::validator::is_http_url;

use delivery::Deliveries;
use message::Message;
use risk_watch::RiskWatch;

/// A `notify:` target as this run delivers to it: its URL rendered.
#[derive(Clone)]
pub struct LiveTarget {
    /// Its index in `notify:`, the only way records name it.
    pub index: u32,
    /// The rendered URL: never journalled, shown or put in an error.
    url: String,
    pub format: NotifyFormat,
    pub events: Vec<NotifyEvent>,
    pub timeout: Duration,
    pub retry: crate::runbook::Retry,
}

impl LiveTarget {
    fn wants(&self, event: NotifyEvent) -> bool {
        self.events.contains(&event)
    }
}

/// Why the targets cannot be used; the message names the target and the
/// fix, never the URL.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(String);

impl NotifyError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Renders each target's URL with the run's inputs. A URL that renders
/// empty turns its target off for this run (an optional input left out);
/// one that is not an `http(s)://` URL is an error.
pub fn render_targets(
    runbook: &CheckedRunbook,
    templates: &Templates,
    inputs: &Map<String, serde_json::Value>,
    off: &dyn Fn(&str),
) -> Result<Vec<LiveTarget>, NotifyError> {
    let ctx = Value::from_iter([("inputs", Value::from_serialize(inputs))]);
    let mut out = Vec::new();
    for (i, t) in runbook.notify.iter().enumerate() {
        let at = format!(
            "`notify[{i}].url` ({}:{}:{})",
            runbook.source.path().display(),
            t.url_loc.line,
            t.url_loc.col
        );
        let rendered = templates
            .render_value(&serde_json::Value::String(t.url.clone()), &ctx)
            .map_err(|e| NotifyError(format!("{at} does not render: {e}")))?;
        let url = match rendered {
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Null => String::new(),
            _ => {
                return Err(NotifyError(format!(
                    "{at} renders to something that is not text; give the URL as a string input"
                )))
            }
        };
        if url.is_empty() {
            off(&format!(
                "notify[{i}] is off for this run: its url renders empty (the input it reads is not set)"
            ));
            continue;
        }
        if !is_http_url(&url) {
            return Err(NotifyError(format!(
                "{at} renders to something that is not an http:// or https:// URL (not shown: it may be secret); check the input it reads (a drill's placeholder for an unset secret is not a URL: set the secret, or drop --notify); nothing changed"
            )));
        }
        out.push(LiveTarget {
            index: i as u32,
            url,
            format: t.format,
            events: t.events.clone(),
            timeout: t.timeout,
            retry: t.retry.clone(),
        });
    }
    Ok(out)
}

/// What the journal's observer holds: hands records to the notifier's
/// thread without waiting for it.
#[derive(Clone)]
pub struct NotifyFeed(mpsc::UnboundedSender<Input>);

impl NotifyFeed {
    pub fn record(&self, record: &Record) {
        // Its own outcomes are not news.
        if !record.event.is_notification() {
            let _ = self.0.send(Input::Record(Box::new(record.clone())));
        }
    }
}

enum Input {
    Record(Box<Record>),
    /// The execution ended: deliver what is pending within the bound,
    /// journal the rest, then answer.
    Finish(oneshot::Sender<()>),
}

/// What the notifier's thread needs of the run.
pub struct NotifyRun {
    pub journal: Arc<Journal>,
    pub redactor: Redactor,
    pub runbook: Arc<CheckedRunbook>,
    pub console: Arc<dyn Console>,
    pub run_id: String,
    /// The run's local directory, where the timeline is written.
    pub run_dir: std::path::PathBuf,
    /// A drill that asked for `--notify`: every message says DRILL.
    pub drill: bool,
    /// The projection's inputs, as the consoles get them.
    pub plan: ProgressPlan,
    /// An earlier execution's records (a resume), for the RTO report of
    /// `finished` and whether `rto_at_risk` was sent already.
    pub prior: Vec<Record>,
}

/// A run's notifications: created with the journal's [`NotifyFeed`],
/// started once the run is known, finished when the execution ends.
pub struct Notifier {
    targets: Vec<LiveTarget>,
    tx: mpsc::UnboundedSender<Input>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Input>>>,
    /// The run's journal, once started: [`Notifier::finish`] makes the
    /// outcomes durable.
    journal: OnceLock<Arc<Journal>>,
}

impl Notifier {
    pub fn new(targets: Vec<LiveTarget>) -> (Self, NotifyFeed) {
        let (tx, rx) = mpsc::unbounded_channel();
        let feed = NotifyFeed(tx.clone());
        (
            Self {
                targets,
                tx,
                rx: Mutex::new(Some(rx)),
                journal: OnceLock::new(),
            },
            feed,
        )
    }

    /// Starts the notifier's thread; records fed before it starts wait on
    /// the channel. A thread that cannot start is said on the console.
    pub fn start(&self, run: NotifyRun) {
        let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let targets = self.targets.clone();
        let console = run.console.clone();
        let _ = self.journal.set(run.journal.clone());
        let spawned = std::thread::Builder::new()
            .name("lifeboat-notify".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        run.console.warn(
                            None,
                            &format!("notifications are off: cannot start their runtime: {e}"),
                        );
                        return;
                    }
                };
                runtime.block_on(Worker::new(targets, run).run(rx));
            });
        if let Err(e) = spawned {
            console.warn(
                None,
                &format!("notifications are off: cannot start their thread: {e}"),
            );
        }
    }

    /// The longest any target may take to answer one request: how long
    /// the end of an execution waits for pending deliveries.
    pub fn grace(&self) -> Duration {
        self.targets
            .iter()
            .map(|t| t.timeout)
            .max()
            .unwrap_or_default()
    }

    /// Ends the notifications of this execution: waits up to
    /// [`Notifier::grace`] for what is still being delivered (retries
    /// included), journals each message not delivered as `notify_failed`,
    /// and makes every outcome durable.
    pub async fn finish(&self) {
        let (reply, answered) = oneshot::channel();
        if self.tx.send(Input::Finish(reply)).is_ok() {
            // The thread answers after at most the grace and a few journal
            // writes; the extra bound covers a thread that died.
            let _ = tokio::time::timeout(self.grace() + Duration::from_secs(5), answered).await;
        }
        if let Some(journal) = self.journal.get() {
            if let Err(e) = journal.flush() {
                eprintln!("warning: cannot write the journal: {e}");
            }
        }
    }
}

/// The notifier's thread: records in, messages out.
struct Worker {
    targets: Arc<[LiveTarget]>,
    run: NotifyRun,
    deliveries: Deliveries,
    /// Every record of the run (without notifications), for `finished`.
    records: Vec<Record>,
    risk: Option<RiskWatch>,
}

impl Worker {
    fn new(targets: Vec<LiveTarget>, mut run: NotifyRun) -> Self {
        let prior = std::mem::take(&mut run.prior);
        let sent_before = prior.iter().any(|r| {
            matches!(&r.event, Event::Notified { event, .. } | Event::NotifyFailed { event, .. } if event == NotifyEvent::RtoAtRisk.name())
        });
        let risk = (targets.iter().any(|t| t.wants(NotifyEvent::RtoAtRisk)) && !sent_before)
            .then(|| RiskWatch::new(run.plan.clone()))
            .flatten();
        let records = prior
            .into_iter()
            .filter(|r| !r.event.is_notification())
            .collect();
        Self {
            deliveries: Deliveries::new(run.journal.clone(), run.console.clone()),
            targets: targets.into(),
            run,
            records,
            risk,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                // Records first: the run's news comes before a tick's.
                biased;
                input = rx.recv() => match input {
                    Some(Input::Record(record)) => self.record(*record),
                    Some(Input::Finish(reply)) => {
                        self.deliveries.drain(self.grace()).await;
                        let _ = reply.send(());
                        return;
                    }
                    None => {
                        self.deliveries.drain(self.grace()).await;
                        return;
                    }
                },
                _ = tick.tick(), if !self.records.is_empty() => self.check_risk(),
            }
            self.deliveries.forget_done();
        }
    }

    fn grace(&self) -> Duration {
        self.targets
            .iter()
            .map(|t| t.timeout)
            .max()
            .unwrap_or_default()
    }

    fn record(&mut self, record: Record) {
        if let Some(risk) = &mut self.risk {
            risk.observe(&record);
        }
        let seq = record.seq;
        let message = match &record.event {
            Event::RunStarted { .. } => Some(Message::run_started(&self.run, &record)),
            Event::Waiting {
                step,
                reason,
                commands,
            } => Some(Message::waiting(&self.run, step, reason, commands)),
            Event::StepFailed { step, error, .. } => {
                Some(Message::step_failed(&self.run, step, error))
            }
            Event::Checkpoint { step, description } => {
                Some(Message::checkpoint(&self.run, step, description.as_deref()))
            }
            _ => None,
        };
        let finished = matches!(record.event, Event::RunFinished { .. });
        self.records.push(record);
        if let Some(message) = message {
            self.send(message.about(seq));
        }
        if finished {
            self.risk = None;
            if let Some(message) = Message::finished(&self.run, &self.records) {
                self.send(message.about(seq));
            }
        } else if self.risk.as_ref().is_some_and(RiskWatch::due) {
            self.check_risk();
        }
    }

    /// Sends `rto_at_risk` once, when the projected RTO first exceeds the
    /// target.
    fn check_risk(&mut self) {
        let Some(risk) = &mut self.risk else { return };
        if let Some(projected) = risk.at_risk() {
            self.risk = None;
            let message = Message::rto_at_risk(&self.run, &projected);
            self.send(message);
        }
    }

    fn send(&mut self, message: Message) {
        for target in self.targets.iter().filter(|t| t.wants(message.event)) {
            let body = message.body(target.format, &self.run);
            let body = self.run.redactor.redact_value(&body);
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            self.deliveries
                .start(target, message.event, message.about_seq, bytes);
        }
    }
}
