//! A real S3-compatible server (moto) on a free loopback port.
//!
//! moto was chosen over the alternatives because it starts in half a second,
//! accepts any credentials and implements `If-None-Match: *` on writes
//! atomically, which the `s3.put` tests rely on. It keeps objects in memory,
//! so a test that stores a gigabyte costs a gigabyte of RAM until the server
//! is dropped.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools;

/// How the harness tells the reader to get `moto_server`.
const INSTALL_HINT: &str = "run tests/run (it installs moto[server] from tests/requirements.txt) \
     or pip install 'moto[server]', or set LIFEBOAT_MOTO_SERVER to its path";

/// How long moto may take to answer after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Ports are picked free and then handed to moto; another process may grab
/// one in between, so a failed start is retried on a new port this often.
const START_ATTEMPTS: usize = 3;

/// A running moto server with one empty bucket, stopped on drop.
pub struct S3Server {
    child: Child,
    port: u16,
    bucket: String,
    /// Holds moto's log; removed when the server is dropped.
    dir: tempfile::TempDir,
}

impl S3Server {
    /// The bucket every server is created with.
    pub const BUCKET: &'static str = "lifeboat-test";
    /// Credentials to sign with. moto accepts any; these are fixed so that
    /// tests can assert they never show up in messages.
    pub const ACCESS_KEY_ID: &'static str = "AKIALIFEBOATTEST";
    pub const SECRET_ACCESS_KEY: &'static str = "lifeboat-test-secret-key-do-not-print";
    pub const REGION: &'static str = "us-east-1";

    /// Starts moto on `127.0.0.1:<free port>`, waits until it answers and
    /// creates [`S3Server::BUCKET`]. Fails, saying how to install it, when
    /// `moto_server` cannot be found.
    pub async fn start() -> Result<Self, String> {
        Self::start_with(false).await
    }

    /// Like [`S3Server::start`], but moto then checks every request's
    /// signature against its (empty) IAM user list, so any credentials are
    /// refused with 403 `InvalidAccessKeyId`: the access-denied path, for
    /// real. Creating the bucket is the one request let through
    /// (`INITIAL_NO_AUTH_ACTION_COUNT=1`).
    pub async fn start_refusing_credentials() -> Result<Self, String> {
        Self::start_with(true).await
    }

    async fn start_with(enforce_auth: bool) -> Result<Self, String> {
        let binary = tools::find_binary("moto_server", "LIFEBOAT_MOTO_SERVER", INSTALL_HINT)?;
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&binary, enforce_auth).await {
                Ok(server) => {
                    server.create_bucket(Self::BUCKET).await?;
                    return Ok(server);
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    async fn start_once(binary: &Path, enforce_auth: bool) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("lifeboat-moto-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir for moto: {e}"))?;
        let log_path = dir.path().join("moto.log");
        let log =
            File::create(&log_path).map_err(|e| format!("cannot create {log_path:?}: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot dup the log handle: {e}"))?;
        let port = tools::free_port();
        let mut command = Command::new(binary);
        if enforce_auth {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", "1");
        } else {
            command.env_remove("INITIAL_NO_AUTH_ACTION_COUNT");
        }
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group, so that drop can stop anything it forks.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = Self {
            child,
            port,
            bucket: Self::BUCKET.to_string(),
            dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Polls until moto answers HTTP, bounded by [`READY_TIMEOUT`].
    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = reqwest::Client::new();
        let url = format!("{}/moto-api/", self.endpoint());
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "moto_server exited with {status} before answering on port {}; its log:\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            let probe = client
                .get(&url)
                .timeout(Duration::from_millis(500))
                .send()
                .await;
            if probe.is_ok() {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "moto_server did not answer on {} within {READY_TIMEOUT:?}; its log:\n{}",
                    self.endpoint(),
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates another bucket. moto does not check signatures, so a plain
    /// unsigned `PUT /<bucket>` does.
    pub async fn create_bucket(&self, name: &str) -> Result<(), String> {
        let url = format!("{}/{name}", self.endpoint());
        let response = reqwest::Client::new()
            .put(&url)
            .send()
            .await
            .map_err(|e| format!("PUT {url} failed: {e}"))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(format!("PUT {url} returned {status}: {body}"));
        }
        Ok(())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn access_key_id(&self) -> &str {
        Self::ACCESS_KEY_ID
    }

    pub fn secret_access_key(&self) -> &str {
        Self::SECRET_ACCESS_KEY
    }

    pub fn region(&self) -> &str {
        Self::REGION
    }

    /// The connection fields every `s3.*` step takes, pointing at this
    /// server and its bucket; tests add their kind's own fields.
    pub fn connection(&self) -> serde_json::Value {
        serde_json::json!({
            "bucket": self.bucket(),
            "endpoint": self.endpoint(),
            "region": self.region(),
            "access_key_id": self.access_key_id(),
            "secret_access_key": self.secret_access_key(),
        })
    }

    /// Stops the server with SIGSTOP: it keeps its objects (moto holds them
    /// in memory, so a restart would lose them) and its port, and the
    /// kernel still accepts connections, but nothing answers until
    /// [`S3Server::resume`]. The realistic "store unreachable".
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group
            // we created with process_group(0); it touches no memory.
            unsafe {
                libc::kill(-pid, signal);
            }
        }
    }

    /// The server's working directory (holds `moto.log`).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The last lines of moto's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for S3Server {
    /// Kills moto's whole process group and reaps it, so no server outlives
    /// its test, whether the test passed or panicked.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group
            // we created with process_group(0); it touches no memory.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
