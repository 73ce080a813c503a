//! A real Prometheus pushgateway (Debian's `prometheus-pushgateway`, which
//! `tests/run` installs) on a free loopback port, stopped on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools;

const INSTALL_HINT: &str = "run tests/run (it installs Debian's prometheus-pushgateway), or \
     apt-get install prometheus-pushgateway, or set LIFEBOAT_PUSHGATEWAY_BIN to its path";

/// How long the pushgateway may take to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Pushgateway {
    child: Child,
    port: u16,
    /// Its log, for failures.
    dir: tempfile::TempDir,
}

impl Pushgateway {
    /// Starts `prometheus-pushgateway --web.listen-address=127.0.0.1:PORT`
    /// and waits until it is ready; an error says how to install it.
    pub fn start() -> Result<Self, String> {
        let binary: PathBuf = tools::find_binary(
            "prometheus-pushgateway",
            "LIFEBOAT_PUSHGATEWAY_BIN",
            INSTALL_HINT,
        )
        .or_else(|e| {
            let debian = PathBuf::from("/usr/bin/prometheus-pushgateway");
            if debian.is_file() {
                Ok(debian)
            } else {
                Err(e)
            }
        })?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("pushgateway.log")).map_err(|e| e.to_string())?;
        let port = tools::free_port();
        let child = Command::new(&binary)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        let mut gateway = Pushgateway { child, port, dir };
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = gateway.child.try_wait() {
                return Err(format!(
                    "the pushgateway exited ({status}): {}",
                    gateway.log()
                ));
            }
            if gateway
                .get("/-/ready")
                .is_ok_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
            {
                return Ok(gateway);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "the pushgateway did not answer within {READY_TIMEOUT:?}: {}",
            gateway.log()
        ))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The body of its `/metrics` (what Prometheus scrapes).
    pub fn scrape(&self) -> Result<String, String> {
        let response = self.get("/metrics").map_err(|e| e.to_string())?;
        match response.split_once("\r\n\r\n") {
            Some((head, body)) if head.contains(" 200 ") => Ok(body.to_string()),
            _ => Err(format!("unexpected answer to /metrics: {response}")),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pushgateway.log")).unwrap_or_default()
    }

    /// One plain HTTP/1.0 GET, bounded by a 5 s timeout each way.
    fn get(&self, path: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut out = String::new();
        stream.read_to_string(&mut out)?;
        Ok(out)
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
