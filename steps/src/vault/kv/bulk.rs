//! Bulk reads for `vault.kv.export`, `vault.kv.verify` and `vault.kv.get`
//! with `paths`: the walk of a mount as a stream of paths in sorted order,
//! and the reads of many
//! secrets with at most `concurrency` requests in flight, handed back in
//! the order they were asked for.
//!
//! Memory stays constant in the number of secrets. The walk holds only the
//! listings of the folders on its current path; the reads hold at most
//! `concurrency` answers waiting for their turn; the caller consumes each
//! answer as it comes (export writes its manifest line, verify compares).
//! Every request, the walk's listings included, holds one of `concurrency`
//! permits while it is in flight. The first failure cancels the requests
//! still in flight and is the error returned, with the path it was about.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::stream::{self, Stream, StreamExt};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::super::client::VaultClient;
use super::{display, list, read, Absent, Secret};
use crate::{ParamProblem, StepContext, StepError};

/// How many requests are in flight at once unless `concurrency` says.
pub(crate) const DEFAULT_CONCURRENCY: u32 = 16;
/// The most `concurrency` may ask for.
pub(crate) const MAX_CONCURRENCY: u32 = 256;

/// The most entries (secrets and folders) a walk visits, so a runaway mount
/// cannot exhaust memory.
const WALK_LIMIT: usize = 1_000_000;

/// How often a bulk read reports how far it is.
const REPORT_EVERY: Duration = Duration::from_secs(1);

pub(crate) fn default_concurrency() -> u32 {
    DEFAULT_CONCURRENCY
}

fn out_of_range(n: u64) -> String {
    format!(
        "`concurrency` is {n}; give 1 to {MAX_CONCURRENCY} (how many requests are in flight at once; default {DEFAULT_CONCURRENCY})"
    )
}

/// At validation: a literal `concurrency` outside 1 to 256 (a template is
/// checked once rendered, by [`concurrency`]; a negative number or a
/// string is a type error serde reports).
pub(crate) fn check_concurrency(with: &Value) -> Option<ParamProblem> {
    let n = with.get("concurrency")?.as_u64()?;
    (n == 0 || (n > u64::from(MAX_CONCURRENCY) && n <= u64::from(u32::MAX)))
        .then(|| ParamProblem::field("concurrency", out_of_range(n)))
}

/// The rendered `concurrency`, checked.
pub(crate) fn concurrency(n: u32) -> Result<usize, StepError> {
    if (1..=MAX_CONCURRENCY).contains(&n) {
        Ok(n as usize)
    } else {
        Err(StepError::new(out_of_range(u64::from(n))))
    }
}

/// An item and what was read for it.
type Answer<I> = Result<(I, Result<Secret, Absent>), StepError>;

/// The reads of one step: its connection, its permits, and the first
/// failure, which cancels the rest.
pub(crate) struct BulkReads<'a> {
    /// The step's context with a cancellation token of its own, a child of
    /// the step's: cancelled by the step (timeout, Ctrl-C) or by the first
    /// failure.
    ctx: StepContext,
    client: &'a VaultClient,
    mount: &'a str,
    concurrency: usize,
    /// One per request in flight, reads and listings alike.
    permits: Semaphore,
    /// The first failure; later ones (the cancelled reads) are dropped.
    failure: Mutex<Option<StepError>>,
}

impl<'a> BulkReads<'a> {
    pub fn new(
        ctx: &StepContext,
        client: &'a VaultClient,
        mount: &'a str,
        concurrency: usize,
    ) -> Self {
        let mut ctx = ctx.clone();
        ctx.cancel = ctx.cancel.child_token();
        Self {
            ctx,
            client,
            mount,
            concurrency,
            permits: Semaphore::new(concurrency),
            failure: Mutex::new(None),
        }
    }

    /// Keeps `err` if it is the first failure, cancels every request still
    /// in flight, and returns the first failure.
    fn fail(&self, err: StepError) -> StepError {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        let first = failure.get_or_insert(err).clone();
        self.ctx.cancel.cancel();
        first
    }

    /// Every secret path under `prefix`, in sorted order, listed as the
    /// stream is read.
    pub fn walk<'s>(
        &'s self,
        prefix: &str,
    ) -> impl Stream<Item = Result<String, StepError>> + Send + 's {
        let walk = Walk {
            reads: self,
            prefix: prefix.trim_matches('/').to_string(),
            open: Vec::new(),
            started: false,
            found: 0,
            seen: 0,
        };
        stream::try_unfold(walk, |mut walk| async move {
            Ok(walk.next().await?.map(|path| (path, walk)))
        })
    }

    /// Reads the latest version of the secret each of `items` names, at most
    /// `concurrency` at once, and hands every item with what was read to
    /// `each`, in the order of `items`. `total` is how many items there
    /// are when known beforehand; otherwise progress counts the items seen
    /// so far. `verb` says what is done, for progress: "read 1200 of 10000
    /// secrets".
    pub async fn read_each<I, S, F>(
        &self,
        items: S,
        total: Option<usize>,
        verb: &str,
        mut each: F,
    ) -> Result<(), StepError>
    where
        I: AsRef<str> + Send + 'a,
        S: Stream<Item = Result<I, StepError>> + Send + 'a,
        F: FnMut(I, Result<Secret, Absent>) -> Result<(), StepError> + Send,
    {
        let listed = AtomicUsize::new(0);
        let listing_done = AtomicBool::new(false);
        let counted = items
            .inspect(|_| {
                listed.fetch_add(1, Ordering::Relaxed);
            })
            .chain(stream::poll_fn(|_| {
                listing_done.store(true, Ordering::Relaxed);
                Poll::Ready(None)
            }));
        // Boxed: a stream of borrowed items otherwise makes the step's
        // future fail the compiler's `Send` check (rust-lang/rust#102211).
        let mut answers: Pin<Box<dyn Stream<Item = Answer<I>> + Send + '_>> = Box::pin(
            counted
                .map(|item| {
                    // A failed listing stops the reads at once, not after the
                    // reads before it in the queue.
                    let item = item.map_err(|e| self.fail(e));
                    async move {
                        let item = item?;
                        let got = self.read(item.as_ref()).await?;
                        Ok::<_, StepError>((item, got))
                    }
                })
                .buffered(self.concurrency),
        );
        let mut progress = ReadProgress::new(&self.ctx, verb);
        while let Some(answer) = answers.next().await {
            let (item, got) = answer.map_err(|e| self.fail(e))?;
            each(item, got).map_err(|e| self.fail(e))?;
            let known = total.unwrap_or_else(|| listed.load(Ordering::Relaxed));
            let complete = total.is_some() || listing_done.load(Ordering::Relaxed);
            progress.advance(known, complete);
        }
        let known = total.unwrap_or_else(|| listed.load(Ordering::Relaxed));
        progress.finish(known);
        Ok(())
    }

    /// One read, holding a permit; a failure names the secret and cancels
    /// the other reads.
    async fn read(&self, path: &str) -> Result<Result<Secret, Absent>, StepError> {
        let _permit = self.permits.acquire().await.ok();
        read(&self.ctx, self.client, self.mount, path, None)
            .await
            .map_err(|e| {
                let e = if e.cancelled {
                    e
                } else {
                    StepError::new(format!(
                        "cannot read `{}`: {}",
                        display(self.mount, path),
                        e.message
                    ))
                };
                self.fail(e)
            })
    }

    /// One listing, holding a permit.
    async fn list(&self, folder: &str) -> Result<Vec<String>, StepError> {
        if self.ctx.cancel.is_cancelled() {
            return Err(StepError::cancelled(
                "the walk of the KV mount was cancelled",
            ));
        }
        let _permit = self.permits.acquire().await.ok();
        list(&self.ctx, self.client, self.mount, folder).await
    }
}

/// A depth-first walk that yields paths in sorted order without sorting
/// them all: each listing is sorted, and a folder is walked where its key
/// falls in its parent's listing. (A listing's keys are one segment each,
/// folders ending in `/`, so no key but a secret's own name is a prefix of
/// another, and the paths under `k/` sort just where `k/` does.)
struct Walk<'a> {
    reads: &'a BulkReads<'a>,
    prefix: String,
    /// The folders on the current path, outermost first: each folder's path
    /// and the keys of its listing not yet visited, last key first.
    open: Vec<(String, Vec<String>)>,
    started: bool,
    /// Secrets yielded.
    found: usize,
    /// Entries listed, for [`WALK_LIMIT`].
    seen: usize,
}

impl Walk<'_> {
    async fn next(&mut self) -> Result<Option<String>, StepError> {
        if !self.started {
            self.started = true;
            let root = if self.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", self.prefix)
            };
            self.open(root).await?;
        }
        loop {
            let next = match self.open.last_mut() {
                None => return self.prefix_itself().await,
                Some((folder, keys)) => keys.pop().map(|key| format!("{folder}{key}")),
            };
            match next {
                None => {
                    self.open.pop();
                }
                Some(folder) if folder.ends_with('/') => self.open(folder).await?,
                Some(path) => {
                    self.found += 1;
                    return Ok(Some(path));
                }
            }
        }
    }

    async fn open(&mut self, folder: String) -> Result<(), StepError> {
        let mut keys = self.reads.list(&folder).await?;
        self.seen += keys.len();
        if self.seen > WALK_LIMIT {
            return Err(StepError::new(format!(
                "more than {WALK_LIMIT} entries under `{}`; narrow `prefix`",
                display(self.reads.mount, &self.prefix)
            )));
        }
        keys.sort_unstable_by(|a, b| b.cmp(a));
        self.open.push((folder, keys));
        Ok(())
    }

    /// At the end: a prefix with nothing under it may name a secret itself.
    async fn prefix_itself(&mut self) -> Result<Option<String>, StepError> {
        if self.prefix.is_empty() || self.found > 0 {
            return Ok(None);
        }
        self.found += 1;
        match self.reads.read(&self.prefix).await? {
            Ok(_) => Ok(Some(self.prefix.clone())),
            Err(_) => Ok(None),
        }
    }
}

/// "read 1200 of 10000 secrets" as a progress line, once a second and at
/// the end.
struct ReadProgress<'a> {
    ctx: &'a StepContext,
    verb: &'a str,
    done: usize,
    last: Instant,
}

impl<'a> ReadProgress<'a> {
    fn new(ctx: &'a StepContext, verb: &'a str) -> Self {
        Self {
            ctx,
            verb,
            done: 0,
            last: Instant::now(),
        }
    }

    /// One more done, of `known` so far (`complete`: all there are).
    fn advance(&mut self, known: usize, complete: bool) {
        self.done += 1;
        if self.last.elapsed() >= REPORT_EVERY {
            self.last = Instant::now();
            self.report(known, complete);
        }
    }

    fn finish(&self, total: usize) {
        self.report(total, true);
    }

    fn report(&self, known: usize, complete: bool) {
        let line = if complete {
            format!("{} {} of {known} secrets", self.verb, self.done)
        } else {
            format!(
                "{} {} of {known} secrets listed so far",
                self.verb, self.done
            )
        };
        self.ctx.progress.line(&self.ctx.step_id, &line);
    }
}
