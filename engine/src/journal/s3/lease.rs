//! The run's lease, `lease.json`: who drives the run, from which machine,
//! until when. Taken with `If-None-Match: *` when absent and by
//! compare-and-swap (`If-Match: <etag>`) when expired (or, to take over,
//! when live); renewed by compare-and-swap every third of its time to live;
//! marked released by compare-and-swap when the guard is dropped.
//!
//! The lease keeps two drivers from working at once. It is not what keeps
//! the journal safe: every journal write is a create-only object at the
//! next position, and an engine that takes the lease first claims a
//! position (`store.rs`), so a stale holder's next write fails at the store
//! even if it still believes it holds the lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::journal::run_store::{Driver, StoreError};
use crate::journal::s3::client::{self, Condition, Put};
use crate::journal::s3::store::Shared;
use crate::journal::timestamp::{format_ms, parse_ms};

/// The lease object, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Lease {
    /// The operator driving the run.
    pub holder: String,
    /// The hostname of their machine.
    pub machine: String,
    pub pid: u32,
    /// 1 for the first holder, one more at each acquisition: a new holder
    /// is always a new epoch.
    pub epoch: u64,
    /// RFC 3339, UTC. Past it, anyone may take the lease.
    pub expires_at: String,
    /// Set when the holder let go (the engine finished or stopped).
    #[serde(default)]
    pub released: bool,
}

impl Lease {
    /// Whether the lease still holds at `now_ms` (milliseconds since the
    /// epoch, this machine's clock).
    pub fn is_live(&self, now_ms: i64) -> bool {
        !self.released && parse_ms(&self.expires_at).is_some_and(|until| until > now_ms)
    }

    pub fn driver(&self) -> Driver {
        Driver {
            holder: self.holder.clone(),
            machine: self.machine.clone(),
            pid: self.pid,
            until: self.expires_at.clone(),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a lease serialises")
    }
}

/// The lease this store holds.
pub(crate) struct Held {
    pub lease: Lease,
    pub etag: String,
    /// Until when this engine may write, on its own monotonic clock: the
    /// moment the last successful renewal was sent, plus the time to live,
    /// less a fifth of it for clock skew between machines.
    pub valid_until: Instant,
}

/// How many times a lost compare-and-swap is re-read and tried again
/// before the lease counts as taken by someone else.
const ACQUIRE_ATTEMPTS: usize = 8;

pub(crate) const LEASE_KEY: &str = "lease.json";

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn margin(ttl: Duration) -> Duration {
    ttl / 5
}

/// Reads the lease; `None` when there is none.
pub(crate) async fn read(shared: &Shared) -> Result<Option<(Lease, String)>, StoreError> {
    let key = shared.key(LEASE_KEY);
    let Some(object) = shared.client.get(&key).await? else {
        return Ok(None);
    };
    let lease = serde_json::from_slice(&object.bytes).map_err(|e| StoreError::Corrupt {
        path: shared.client.location.url(&key),
        line: 1,
        problem: format!(
            "not a lease ({e}); if no engine drives the run, delete the object and resume"
        ),
    })?;
    Ok(Some((lease, object.etag)))
}

/// The live driver, if any.
pub(crate) async fn driver(shared: &Shared) -> Result<Option<Driver>, StoreError> {
    Ok(read(shared)
        .await?
        .filter(|(lease, _)| lease.is_live(now_ms()))
        .map(|(lease, _)| lease.driver()))
}

/// Takes the lease: when absent or expired, or (with `force`) from a live
/// holder. Returns the live holder it was taken from.
pub(crate) async fn acquire(shared: &Shared, force: bool) -> Result<Option<Driver>, StoreError> {
    let key = shared.key(LEASE_KEY);
    let ttl = shared.lease_ttl;
    for _ in 0..ACQUIRE_ATTEMPTS {
        let current = read(shared).await?;
        let now = now_ms();
        let (condition, epoch, previous) = match &current {
            None => (Condition::Absent, 1, None),
            Some((lease, etag)) if lease.is_live(now) => {
                if !force {
                    return Err(StoreError::Locked {
                        run: shared.run_id.clone(),
                        driver: Some(Box::new(lease.driver())),
                    });
                }
                (
                    Condition::Matches(etag.clone()),
                    lease.epoch + 1,
                    Some(lease.driver()),
                )
            }
            Some((lease, etag)) => (Condition::Matches(etag.clone()), lease.epoch + 1, None),
        };
        let lease = Lease {
            holder: shared.identity.holder.clone(),
            machine: shared.identity.machine.clone(),
            pid: shared.identity.pid,
            epoch,
            expires_at: format_ms(now + ttl.as_millis() as i64),
            released: false,
        };
        let sent = Instant::now();
        let bytes = lease.to_bytes();
        let etag = match shared
            .client
            .put(&key, bytes.clone(), condition, None)
            .await?
        {
            Put::Done(etag) => etag,
            // Someone else wrote first, or our own earlier attempt did
            // (its answer lost): read again and decide again.
            Put::ConditionFailed => match shared.client.get(&key).await? {
                Some(object) if object.bytes == bytes => object.etag,
                _ => continue,
            },
        };
        *shared.lease.lock().await = Some(Held {
            lease,
            etag,
            valid_until: sent + ttl - margin(ttl),
        });
        return Ok(previous);
    }
    Err(StoreError::Locked {
        run: shared.run_id.clone(),
        driver: driver(shared).await?.map(Box::new),
    })
}

/// Renews the held lease by compare-and-swap. Losing it fences the store.
pub(crate) async fn renew(shared: &Shared) -> Result<(), StoreError> {
    let mut held = shared.lease.lock().await;
    let Some(current) = held.as_mut() else {
        return Ok(());
    };
    let key = shared.key(LEASE_KEY);
    let ttl = shared.lease_ttl;
    let lease = Lease {
        expires_at: format_ms(now_ms() + ttl.as_millis() as i64),
        ..current.lease.clone()
    };
    let sent = Instant::now();
    let bytes = lease.to_bytes();
    let put = shared
        .client
        .put(
            &key,
            bytes.clone(),
            Condition::Matches(current.etag.clone()),
            None,
        )
        .await?;
    let etag = match put {
        Put::Done(etag) => Some(etag),
        Put::ConditionFailed => match shared.client.get(&key).await? {
            Some(object) if object.bytes == bytes => Some(object.etag),
            _ => None,
        },
    };
    match etag {
        Some(etag) => {
            current.etag = etag;
            current.lease = lease;
            current.valid_until = sent + ttl - margin(ttl);
            Ok(())
        }
        None => {
            *held = None;
            drop(held);
            // Who took it, even when that engine has let it go since.
            let now = match read(shared).await {
                Ok(Some((lease, _))) if lease.is_live(now_ms()) => {
                    format!("{} drives it now", lease.driver())
                }
                Ok(Some((lease, _))) => {
                    format!("{} took it; no engine holds it now", lease.driver())
                }
                _ => "no engine holds it now".to_string(),
            };
            Err(shared.fence(format!("this engine lost the run's lease ({now})")))
        }
    }
}

/// Renews the lease first when this engine's own deadline has passed (a
/// long outage, a suspended laptop): the compare-and-swap proves nobody
/// took the lease meanwhile, or fences the store.
pub(crate) async fn ensure_valid(shared: &Shared) -> Result<(), StoreError> {
    let expired = shared
        .lease
        .lock()
        .await
        .as_ref()
        .is_some_and(|held| Instant::now() >= held.valid_until);
    if expired {
        renew(shared).await?;
    }
    Ok(())
}

/// Marks the held lease released by compare-and-swap; a lease someone else
/// took meanwhile is left alone.
pub(crate) async fn release(shared: &Shared) {
    let mut held = shared.lease.lock().await;
    let Some(current) = held.take() else {
        return;
    };
    let lease = Lease {
        expires_at: format_ms(now_ms()),
        released: true,
        ..current.lease
    };
    let key = shared.key(LEASE_KEY);
    let _ = shared
        .client
        .put(
            &key,
            lease.to_bytes(),
            Condition::Matches(current.etag),
            None,
        )
        .await;
}

/// Holds the lease: renews it in the background every third of its time to
/// live, and releases it when dropped.
pub struct LeaseGuard {
    shared: Arc<Shared>,
    renewer: tokio::task::AbortHandle,
}

impl LeaseGuard {
    pub(crate) fn start(shared: Arc<Shared>) -> Result<Self, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let background = shared.clone();
        client::spawn(async move {
            let task = tokio::spawn(async move {
                let every = background.lease_ttl / 3;
                loop {
                    tokio::time::sleep(every).await;
                    // Fenced by a write: the writer already stops the run.
                    if background.is_fenced() {
                        break;
                    }
                    // Someone took the lease: tell the scheduler now,
                    // whatever it is waiting for. Any other failure (the
                    // store unreachable past its timeout): the next write
                    // renews (or fails) on its own.
                    if let Err(lost @ StoreError::Fenced { .. }) = renew(&background).await {
                        background.lost.fire(&lost);
                        break;
                    }
                }
            });
            let _ = tx.send(task.abort_handle());
        })?;
        let renewer = rx
            .recv()
            .map_err(|_| StoreError::Io("the S3 store's thread stopped".to_string()))?;
        Ok(Self { shared, renewer })
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.renewer.abort();
        let shared = self.shared.clone();
        let bound = shared.lease_ttl.min(Duration::from_secs(10));
        let _ = client::run(async move {
            let _ = tokio::time::timeout(bound, release(&shared)).await;
        });
    }
}
