//! Delivering one message to one target: attempts with backoff, each
//! bounded by the target's `timeout`, and the outcome journalled once
//! (`notified` or `notify_failed`), whoever settles it first: the
//! delivery, or the end of the execution ([`Deliveries::drain`]).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::LiveTarget;
use crate::journal::record::Event;
use crate::journal::Journal;
use crate::operator::console::Console;
use crate::report::rto_report::human_ms;
use crate::runbook::notify_target::NotifyEvent;

/// The longest a receiver's `Retry-After` is honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The deliveries of one run, and where their outcomes go.
pub(super) struct Deliveries {
    journal: Arc<Journal>,
    console: Arc<dyn Console>,
    /// One client for every target: connections are reused.
    client: reqwest::Client,
    pending: Vec<(Arc<Delivery>, JoinHandle<()>)>,
}

/// One message on its way to one target.
struct Delivery {
    target: u32,
    event: NotifyEvent,
    about_seq: Option<u64>,
    /// Requests started so far.
    attempts: AtomicU32,
    /// The last answer's status and the last error, for the record.
    last: Mutex<(Option<u16>, String)>,
    /// The outcome is journalled (exactly once).
    settled: AtomicBool,
}

impl Deliveries {
    pub(super) fn new(journal: Arc<Journal>, console: Arc<dyn Console>) -> Self {
        let client = reqwest::Client::builder()
            // A webhook URL may hold a secret: it is never sent elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            journal,
            console,
            client,
            pending: Vec::new(),
        }
    }

    pub(super) fn start(
        &mut self,
        target: &LiveTarget,
        event: NotifyEvent,
        about_seq: Option<u64>,
        body: Vec<u8>,
    ) {
        let delivery = Arc::new(Delivery {
            target: target.index,
            event,
            about_seq,
            attempts: AtomicU32::new(0),
            last: Mutex::new((None, String::new())),
            settled: AtomicBool::new(false),
        });
        let task = tokio::spawn(deliver(
            self.client.clone(),
            target.clone(),
            body,
            delivery.clone(),
            Outcomes {
                journal: self.journal.clone(),
                console: self.console.clone(),
            },
        ));
        self.pending.push((delivery, task));
    }

    /// Drops the deliveries that are done.
    pub(super) fn forget_done(&mut self) {
        self.pending.retain(|(_, task)| !task.is_finished());
    }

    /// Waits up to `grace` for the pending deliveries, then stops the rest
    /// and journals each as not delivered.
    pub(super) async fn drain(&mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for (_, task) in &mut self.pending {
            if tokio::time::timeout_at(deadline, &mut *task).await.is_err() {
                break;
            }
        }
        let outcomes = Outcomes {
            journal: self.journal.clone(),
            console: self.console.clone(),
        };
        for (delivery, task) in self.pending.drain(..) {
            task.abort();
            let (status, last) = delivery.last.lock().map(|l| l.clone()).unwrap_or_default();
            let last = if last.is_empty() {
                "no answer yet".to_string()
            } else {
                format!("last: {last}")
            };
            outcomes.settle(
                &delivery,
                Err((
                    status,
                    format!(
                        "not delivered when the engine exited: still being sent {} after the execution ended ({last})",
                        human_ms(grace.as_millis() as i64)
                    ),
                )),
            );
        }
    }
}

/// Where a delivery's outcome goes.
struct Outcomes {
    journal: Arc<Journal>,
    console: Arc<dyn Console>,
}

impl Outcomes {
    /// Journals the outcome, unless it is journalled already.
    fn settle(&self, d: &Delivery, outcome: Result<u16, (Option<u16>, String)>) {
        if d.settled.swap(true, Ordering::SeqCst) {
            return;
        }
        let attempts = d.attempts.load(Ordering::SeqCst);
        let event = match outcome {
            Ok(status) => Event::Notified {
                target: d.target,
                event: d.event.name().into(),
                about_seq: d.about_seq,
                attempts,
                http_status: status,
            },
            Err((http_status, error)) => Event::NotifyFailed {
                target: d.target,
                event: d.event.name().into(),
                about_seq: d.about_seq,
                attempts,
                http_status,
                error,
            },
        };
        // Lazily: the run's next durable write, or the end of the
        // execution, makes it durable; a delivery never waits for a disk.
        if let Err(e) = self.journal.record_lazy(event) {
            self.console.warn(
                None,
                &format!("cannot journal a notification's outcome: {e}"),
            );
        }
    }
}

/// Attempts until the target accepts, refuses for good, or the attempts
/// run out; then journals the outcome.
async fn deliver(
    client: reqwest::Client,
    target: LiveTarget,
    body: Vec<u8>,
    d: Arc<Delivery>,
    outcomes: Outcomes,
) {
    let attempts = target.retry.attempts.max(1);
    for attempt in 1..=attempts {
        d.attempts.store(attempt, Ordering::SeqCst);
        let (status, error, retry_after) = match send(&client, &target, &body).await {
            Ok((status, _)) if (200..300).contains(&status) => {
                outcomes.settle(&d, Ok(status));
                return;
            }
            Ok((status, retry_after)) => {
                let error = format!("HTTP {status}{}", reason(status));
                // A 4xx other than a timeout or a rate limit will not
                // change by asking again (a revoked webhook, a bad body).
                if (400..500).contains(&status) && status != 408 && status != 429 {
                    outcomes.settle(
                        &d,
                        Err((Some(status), format!("{error}: the receiver refused the message; check the target's URL and format"))),
                    );
                    return;
                }
                (Some(status), error, retry_after)
            }
            Err(e) => (None, describe(&e, &target), None),
        };
        if let Ok(mut last) = d.last.lock() {
            *last = (status, error.clone());
        }
        if attempt == attempts {
            outcomes.settle(&d, Err((status, error)));
            return;
        }
        let wait = target.retry.delay_after(attempt);
        let wait = retry_after.map_or(wait, |r| r.min(MAX_RETRY_AFTER).max(wait));
        tokio::time::sleep(wait).await;
    }
}

/// One request: the status and any `Retry-After` (in seconds).
async fn send(
    client: &reqwest::Client,
    target: &LiveTarget,
    body: &[u8],
) -> Result<(u16, Option<Duration>), reqwest::Error> {
    let response = client
        .post(&target.url)
        .timeout(target.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .send()
        .await?;
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Ok((response.status().as_u16(), retry_after))
}

/// What went wrong, for people, without the URL (it may hold a secret).
fn describe(e: &reqwest::Error, target: &LiveTarget) -> String {
    if e.is_timeout() {
        return format!(
            "no answer within {} (the target's `timeout`)",
            human_ms(target.timeout.as_millis() as i64)
        );
    }
    let what = if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    // The innermost cause says what happened ("connection refused");
    // reqwest's own text names the URL, so it is the last resort.
    let mut innermost = None;
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        innermost = Some(c.to_string());
        cause = c.source();
    }
    let detail = innermost.unwrap_or_else(|| e.to_string());
    let detail = match e.url() {
        Some(url) => detail.replace(url.as_str(), "<url>"),
        None => detail,
    };
    format!("{what}: {}", detail.replace(&target.url, "<url>"))
}

/// A status's reason phrase, e.g. ` Service Unavailable`.
fn reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}
