//! A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time in
//! each direction, so a client can be tested and measured as if the server
//! it talks to were far away (`LatencyProxy::start(upstream, 5 ms)` gives
//! about 10 ms of round trip per request).
//!
//! The delay is a link's latency, not a throttle: each chunk is delivered
//! its delay after it arrived, whatever else is on the way, so chunks that
//! follow each other closely are not delayed once per chunk in turn.
//!
//! For HTTP/1 (one request at a time per connection) the proxy also counts
//! requests: a connection is busy from the first byte the client sends
//! until the first byte of the answer. [`LatencyProxy::requests`] is how
//! many requests went through, [`LatencyProxy::max_in_flight`] the most
//! that were busy at once.
//!
//! It runs on a thread and runtime of its own, so it neither competes with
//! nor depends on the runtime of the code under test, and stops when
//! dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// What the proxy counted since it started (or since [`LatencyProxy::reset`]).
#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Stats {
    /// The client sent bytes on a connection: a request starts unless one
    /// is already under way there.
    fn client_sent(&self, busy: &AtomicBool) {
        if !busy.swap(true, Ordering::SeqCst) {
            self.requests.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        }
    }

    /// The server answered on a connection, or it closed: its request is
    /// no longer in flight.
    fn server_answered(&self, busy: &AtomicBool) {
        if busy.swap(false, Ordering::SeqCst) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A latency-adding TCP proxy in front of one upstream address.
pub struct LatencyProxy {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LatencyProxy {
    /// Listens on a free 127.0.0.1 port and forwards each connection to
    /// `upstream` (`host:port`, or a URL such as `http://127.0.0.1:8200`),
    /// delaying every chunk by `one_way` in each direction.
    pub fn start(upstream: &str, one_way: Duration) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = oneshot::channel();
        let counted = stats.clone();
        let thread = std::thread::Builder::new()
            .name("latency-proxy".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the proxy's runtime");
                runtime.block_on(serve(listener, upstream, one_way, counted, stopped));
            })
            .expect("the proxy's thread");
        Self {
            addr,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, the address to give clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// HTTP/1 requests forwarded.
    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    /// The most HTTP/1 requests in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.stats.max_in_flight.load(Ordering::SeqCst)
    }

    /// Starts counting afresh (connections already open stay open).
    pub fn reset(&self) {
        self.stats.connections.store(0, Ordering::SeqCst);
        self.stats.requests.store(0, Ordering::SeqCst);
        let now = self.stats.in_flight.load(Ordering::SeqCst);
        self.stats.max_in_flight.store(now, Ordering::SeqCst);
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    upstream: String,
    one_way: Duration,
    stats: Arc<Stats>,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("tokio listener");
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                stats.connections.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                let stats = stats.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        relay(client, server, one_way, stats).await;
                    }
                });
            }
        }
    }
}

/// Both directions of one connection, each chunk delayed by `one_way`.
async fn relay(client: TcpStream, server: TcpStream, one_way: Duration, stats: Arc<Stats>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let busy = Arc::new(AtomicBool::new(false));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = {
        let (stats, busy) = (stats.clone(), busy.clone());
        pump(client_read, server_write, one_way, move || {
            stats.client_sent(&busy)
        })
    };
    let down = {
        let (stats, busy) = (stats.clone(), busy.clone());
        pump(server_read, client_write, one_way, move || {
            stats.server_answered(&busy)
        })
    };
    tokio::join!(up, down);
    stats.server_answered(&busy);
}

/// Copies `from` to `to`, each chunk written `delay` after it was read;
/// `on_chunk` is called as each chunk arrives.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    on_chunk: impl Fn(),
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    on_chunk();
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    };
    let write = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}
