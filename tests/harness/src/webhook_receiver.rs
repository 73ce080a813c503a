//! A real HTTP/1.1 receiver of webhooks on 127.0.0.1, for notification
//! tests and benchmarks: it records every request (path, headers, body)
//! and answers as it is told: accept everything (`204`), fail the first N
//! requests with a status then accept, or hang (read the request and never
//! answer, holding the connection until the receiver is dropped).
//!
//! It runs on threads of its own with blocking I/O, one per connection,
//! and answers `Connection: close`, so it neither shares nor depends on the
//! runtime of the code under test. Dropped, it stops accepting and lets
//! every hanging connection go.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// `204 No Content` to every request.
    Accept,
    /// The first `times` requests get `status`, the rest are accepted.
    FailThenAccept { times: usize, status: u16 },
    /// No answer, ever: the request is read and the connection held open.
    Hang,
}

/// One request the receiver read.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with; `None` when it hung.
    pub answered: Option<u16>,
}

impl Received {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    arrived: Condvar,
    /// Requests answered or held so far (for FailThenAccept).
    count: AtomicUsize,
    stop: AtomicBool,
}

/// The receiver; see the module docs.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl WebhookReceiver {
    /// A receiver that accepts everything.
    pub fn start() -> Self {
        Self::with(Behaviour::Accept)
    }

    pub fn with(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let acceptor = thread::spawn(move || {
            while !state.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let state = state.clone();
                        thread::spawn(move || serve(stream, behaviour, &state));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request read so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until at least `n` requests arrived, or `timeout` passed;
    /// returns what arrived either way.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut got = self
            .shared
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            got = self
                .shared
                .arrived
                .wait_timeout(got, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        got.clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request and answers it as `behaviour` says.
fn serve(stream: TcpStream, behaviour: Behaviour, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    for _ in 0..200 {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0u8; length.min(16 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let n = shared.count.fetch_add(1, Ordering::SeqCst);
    let answer = match behaviour {
        Behaviour::Accept => Some(204),
        Behaviour::FailThenAccept { times, status } if n < times => Some(status),
        Behaviour::FailThenAccept { .. } => Some(204),
        Behaviour::Hang => None,
    };
    {
        let mut got = shared.received.lock().unwrap_or_else(|e| e.into_inner());
        got.push(Received {
            method,
            path,
            headers,
            body,
            answered: answer,
        });
        shared.arrived.notify_all();
    }
    let mut stream = stream;
    match answer {
        Some(status) => {
            let text = match status {
                204 => "No Content",
                500 => "Internal Server Error",
                503 => "Service Unavailable",
                _ => "Status",
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.flush();
        }
        None => {
            // Hold the connection, unanswered, until the receiver stops
            // (or ten minutes pass: nothing a test waits for).
            let until = Instant::now() + Duration::from_secs(600);
            while !shared.stop.load(Ordering::SeqCst) && Instant::now() < until {
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
