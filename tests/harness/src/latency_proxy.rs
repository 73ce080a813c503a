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
//! It runs on threads of its own with blocking I/O, so it neither competes
//! with nor depends on the runtime of the code under test, and a chunk is
//! delivered within a few tens of microseconds of its time (a tokio timer
//! would round each delay up to the next millisecond, and again when the
//! runtime parks: about 2 ms more each way). Dropped, it closes every
//! connection and stops.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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

/// What the threads share: the counts, whether to stop, and every socket,
/// to close them all when the proxy is dropped.
#[derive(Default)]
struct Shared {
    stats: Stats,
    stopping: AtomicBool,
    sockets: Mutex<Vec<TcpStream>>,
}

/// A latency-adding TCP proxy in front of one upstream address.
pub struct LatencyProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        let acceptor = thread::Builder::new()
            .name("latency-proxy".into())
            .spawn(move || accept(listener, upstream, one_way, accepting))
            .expect("the proxy's thread");
        Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, the address to give clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.shared.stats.connections.load(Ordering::SeqCst)
    }

    /// HTTP/1 requests forwarded.
    pub fn requests(&self) -> usize {
        self.shared.stats.requests.load(Ordering::SeqCst)
    }

    /// The most HTTP/1 requests in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.stats.max_in_flight.load(Ordering::SeqCst)
    }

    /// Starts counting afresh (connections already open stay open).
    pub fn reset(&self) {
        let stats = &self.shared.stats;
        stats.connections.store(0, Ordering::SeqCst);
        stats.requests.store(0, Ordering::SeqCst);
        let now = stats.in_flight.load(Ordering::SeqCst);
        stats.max_in_flight.store(now, Ordering::SeqCst);
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor up to see it must stop.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let sockets = self
            .shared
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for socket in sockets.iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

fn accept(listener: TcpListener, upstream: String, one_way: Duration, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(&upstream) else {
            continue;
        };
        shared.stats.connections.fetch_add(1, Ordering::SeqCst);
        if relay(client, server, one_way, &shared).is_err() {
            continue;
        }
    }
}

/// Both directions of one connection, on threads of their own, each chunk
/// delayed by `one_way`.
fn relay(
    client: TcpStream,
    server: TcpStream,
    one_way: Duration,
    shared: &Arc<Shared>,
) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    {
        let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.push(client.try_clone()?);
        sockets.push(server.try_clone()?);
    }
    let busy = Arc::new(AtomicBool::new(false));
    let (up, down) = (shared.clone(), shared.clone());
    let (up_busy, down_busy) = (busy.clone(), busy);
    pump(
        client.try_clone()?,
        server.try_clone()?,
        one_way,
        move || up.stats.client_sent(&up_busy),
    )?;
    pump(server, client, one_way, move || {
        down.stats.server_answered(&down_busy)
    })?;
    Ok(())
}

/// Copies `from` to `to` on two threads, each chunk written `delay` after
/// it was read; `on_chunk` is called as each chunk arrives.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    delay: Duration,
    on_chunk: impl Fn() + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::Builder::new()
        .name("latency-proxy-read".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match from.read(&mut buf) {
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
        })?;
    thread::Builder::new()
        .name("latency-proxy-write".into())
        .spawn(move || {
            for (due, chunk) in rx {
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                if to.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })?;
    Ok(())
}
