//! `lifeboat serve`: a read-only web server over the run store, for the
//! people who watch an incident rather than type in it.
//!
//! - `/`: every run with its status and RTO against the target.
//! - `/runs/<id>`: one run, live: the RTO clock, what runs and what waits
//!   (with the commands that resolve it), every step's state, the Gantt
//!   chart and the events.
//! - `/events`, `/runs/<id>/events`: the same fragments as server-sent
//!   events, sent again whenever they change.
//! - `/runs.json`, `/runs/<id>/status.json`: what `lifeboat runs` and
//!   `lifeboat status` print with `--output json`.
//! - `/assets/…`: the stylesheet and the one script, embedded in the binary.
//!
//! *Architecture invariant: the server only reads. It answers GET and HEAD
//! (anything else is 405), never writes a journal record or an inbox entry,
//! and shows only what the redacted journal holds, through the reports the
//! commands use.*

mod body;
mod pages;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::journal::run_stores::RunStores;

/// How long connections get to finish once the server is asked to stop.
const DRAIN: Duration = Duration::from_secs(3);

/// What the server serves and how.
#[derive(Clone)]
pub struct ServeConfig {
    pub stores: RunStores,
    /// How often an open run page's event stream reads the store again
    /// (the list of runs: `LIST_SLOWER` times less often).
    pub interval: Duration,
    /// Whether the server listens on a loopback address only: requests must
    /// then name a loopback host, so a web page elsewhere cannot read the
    /// runs through DNS rebinding.
    pub loopback_only: bool,
}

/// Serves `listener` until `stop` is cancelled, then lets open requests
/// finish (event streams end at once) for up to [`DRAIN`].
pub async fn serve(listener: TcpListener, config: ServeConfig, stop: CancellationToken) {
    let config = Arc::new(config);
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Out of file descriptors and the like: try again shortly
                // rather than spin or stop serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Finished connections are reaped as new ones come.
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(stream, peer, config.clone(), stop.clone()));
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

async fn connection(
    stream: tokio::net::TcpStream,
    _peer: SocketAddr,
    config: Arc<ServeConfig>,
    stop: CancellationToken,
) {
    let service_stop = stop.clone();
    let service = service_fn(move |req| {
        let config = config.clone();
        let stop = service_stop.clone();
        async move { Ok::<_, std::convert::Infallible>(routes::respond(req, config, stop).await) }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, conn).await;
        }
    }
}
