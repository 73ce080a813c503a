//! A real S3-compatible server (moto) on a free loopback port.
//!
//! moto was chosen over the alternatives because it starts in half a second,
//! accepts any credentials and implements `If-None-Match: *` on writes
//! atomically, which the `s3.put` tests rely on. It keeps objects in memory,
//! so a test that stores a gigabyte costs a gigabyte of RAM until the server
//! is dropped.
//!
//! For outages, a server can be paused ([`S3Server::pause`], SIGSTOP: the
//! port accepts connections and nothing answers) or, when started with
//! [`S3Server::start_restartable`], stopped for real ([`S3Server::stop`]:
//! the process is killed and the port refuses connections) and restarted
//! with its objects back ([`S3Server::restart`]: moto's request recorder
//! replays every request into the new process).

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

/// The file moto's recorder appends every request to, in the server's
/// directory (`MOTO_RECORDER_FILEPATH`).
const RECORDING_FILE: &str = "recording.jsonl";

/// A running moto server with one empty bucket, stopped on drop.
pub struct S3Server {
    child: Child,
    port: u16,
    bucket: String,
    /// Holds moto's log (and its recording); removed when the server is
    /// dropped.
    dir: tempfile::TempDir,
    binary: PathBuf,
    enforce_auth: bool,
    /// Every request is recorded, so that [`S3Server::restart`] can replay
    /// them into a new process.
    recording: bool,
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
        Self::start_with(false, false).await
    }

    /// Like [`S3Server::start`], with moto's request recorder on
    /// (`MOTO_ENABLE_RECORDING`), so that the server can be stopped
    /// ([`S3Server::stop`]) and restarted with its objects back
    /// ([`S3Server::restart`]). Every request's body is written to the
    /// recording: keep objects small.
    pub async fn start_restartable() -> Result<Self, String> {
        Self::start_with(false, true).await
    }

    /// Like [`S3Server::start`], but moto then checks every request's
    /// signature against its (empty) IAM user list, so any credentials are
    /// refused with 403 `InvalidAccessKeyId`: the access-denied path, for
    /// real. Creating the bucket is the one request let through
    /// (`INITIAL_NO_AUTH_ACTION_COUNT=1`).
    pub async fn start_refusing_credentials() -> Result<Self, String> {
        Self::start_with(true, false).await
    }

    async fn start_with(enforce_auth: bool, recording: bool) -> Result<Self, String> {
        let binary = tools::find_binary("moto_server", "LIFEBOAT_MOTO_SERVER", INSTALL_HINT)?;
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&binary, enforce_auth, recording).await {
                Ok(server) => {
                    server.create_bucket(Self::BUCKET).await?;
                    return Ok(server);
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    async fn start_once(
        binary: &Path,
        enforce_auth: bool,
        recording: bool,
    ) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("lifeboat-moto-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir for moto: {e}"))?;
        let port = tools::free_port();
        let child = spawn_moto(binary, dir.path(), port, enforce_auth, recording)?;
        let mut server = Self {
            child,
            port,
            bucket: Self::BUCKET.to_string(),
            dir,
            binary: binary.to_path_buf(),
            enforce_auth,
            recording,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Kills moto (SIGKILL to its process group) and reaps it: its port
    /// then refuses connections, the other realistic outage beside
    /// [`S3Server::pause`]. Its objects live on only in the recording of a
    /// server started with [`S3Server::start_restartable`].
    pub fn stop(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new moto on the same port after [`S3Server::stop`] and
    /// replays the recording into it (`/moto-api/recorder/replay-recording`),
    /// so the bucket holds what it held when it stopped: the same objects,
    /// metadata and ETags (moto's ETag is the body's MD5, and each
    /// conditional PUT replays against the same state, so it has the same
    /// outcome). Returns once the replay has finished; nothing else should
    /// use the server until then.
    pub async fn restart(&mut self) -> Result<(), String> {
        if !self.recording {
            return Err(
                "this moto keeps no recording; start it with S3Server::start_restartable to restart it"
                    .to_string(),
            );
        }
        if self.child.try_wait().map_err(|e| e.to_string())?.is_none() {
            return Err("moto is still running; S3Server::stop it first".to_string());
        }
        self.child = spawn_moto(
            &self.binary,
            self.dir.path(),
            self.port,
            self.enforce_auth,
            self.recording,
        )?;
        self.wait_ready().await?;
        let url = format!("{}/moto-api/recorder/replay-recording", self.endpoint());
        let response = reqwest::Client::new()
            .post(&url)
            .send()
            .await
            .map_err(|e| format!("POST {url} failed: {e}"))?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(format!(
                "POST {url} returned {status}; moto's log:\n{}",
                self.log_tail()
            ));
        }
        Ok(())
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

    /// Stops the server with SIGSTOP: it keeps its objects and its port,
    /// and the kernel still accepts connections, but nothing answers until
    /// [`S3Server::resume`]. The realistic "store unreachable" of a hung
    /// server or a network that drops packets; [`S3Server::stop`] is the
    /// other (connections refused).
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

    /// The server's working directory (holds `moto.log`, and
    /// `recording.jsonl` for a restartable server).
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

/// Starts `moto_server` on `127.0.0.1:port` in `dir`, appending to
/// `dir/moto.log` (a restarted server's log follows the first one's).
fn spawn_moto(
    binary: &Path,
    dir: &Path,
    port: u16,
    enforce_auth: bool,
    recording: bool,
) -> Result<Child, String> {
    let log_path = dir.join("moto.log");
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {log_path:?}: {e}"))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot dup the log handle: {e}"))?;
    let mut command = Command::new(binary);
    if enforce_auth {
        command.env("INITIAL_NO_AUTH_ACTION_COUNT", "1");
    } else {
        command.env_remove("INITIAL_NO_AUTH_ACTION_COUNT");
    }
    if recording {
        command
            .env("MOTO_ENABLE_RECORDING", "1")
            .env("MOTO_RECORDER_FILEPATH", dir.join(RECORDING_FILE));
    } else {
        command
            .env_remove("MOTO_ENABLE_RECORDING")
            .env_remove("MOTO_RECORDER_FILEPATH");
    }
    command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own process group, so that drop can stop anything it forks.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))
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
