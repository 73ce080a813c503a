//! The world the Vault runbook tests run in: a real 3-node OpenBao Raft
//! cluster seeded with 100 secrets, a real S3-compatible server (moto), the
//! credentials on disk where the runbooks' `file:` secret inputs look, and
//! helpers to drive the `lifeboat` binary through runs, approvals and
//! resumes as an operator and a second identity would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lifeboat_harness::openbao::OpenBaoCluster;
use lifeboat_harness::s3_server::S3Server;
use serde_json::{json, Value};

use crate::util::{workspace, Ran, Sandbox};

mod scenarios;
#[allow(unused_imports)]
pub use scenarios::*;

/// How many secrets the cluster is seeded with, under `secret/tenants/`.
pub const SECRETS: usize = 100;
/// The identity that starts runs (`LIFEBOAT_OPERATOR`, set by [`Sandbox`]).
pub const OPERATOR: &str = "tester";
/// The second identity that approves (four eyes).
pub const APPROVER: &str = "reviewer";
/// The backup encryption key of every test (32 bytes, hex); not secret.
pub const BACKUP_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(90);

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a reqwest client builds")
}

/// One HTTP call to Vault: status and JSON body (`Null` when not JSON).
pub async fn call(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http().request(method.clone(), url);
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(e) => (0, json!({ "transport_error": e.to_string() })),
    }
}

/// The secret at `tenants/tNN/<name>`: deterministic, varied content
/// (unicode, JSON-looking text, long values), so "byte-identical" means
/// something.
fn seed_value(tenant: usize, k: usize) -> Value {
    json!({
        "username": format!("svc-{tenant:02}-{k}"),
        "password": format!("pw-{:016x}", (tenant * 7919 + k * 104_729) as u64 * 0x9e37_79b9),
        "note": format!("tenant {tenant} — secret {k} ✓ {{\"nested\": [{k}]}}"),
        "blob": "x".repeat(64 + tenant * 10 + k),
    })
}

pub struct VaultWorld {
    pub cluster: OpenBaoCluster,
    pub s3: S3Server,
    pub sandbox: Sandbox,
    /// `tenants/tNN/...` path (under the `secret/` mount) → data map.
    pub seeded: BTreeMap<String, Value>,
}

impl VaultWorld {
    /// A 3-node cluster with [`SECRETS`] secrets, moto with an empty bucket,
    /// and `.sandbox/{root-token,unseal-keys,backup-key}` (mode 0600) in the
    /// directory the binary runs in.
    pub async fn start() -> Self {
        Self::start_with(3).await
    }

    /// [`Self::start`] with a cluster of `nodes` nodes.
    pub async fn start_with(nodes: usize) -> Self {
        let (cluster, s3) = tokio::join!(OpenBaoCluster::start(nodes), S3Server::start());
        let s3 = s3.unwrap_or_else(|e| panic!("could not start moto: {e}"));
        let sandbox = Sandbox::new();
        let mut world = Self {
            cluster,
            s3,
            sandbox,
            seeded: BTreeMap::new(),
        };
        world.write_credentials(
            world.cluster.root_token().to_string(),
            world.cluster.unseal_keys().join("\n"),
        );
        world.seed().await;
        world
    }

    /// Writes the files the runbooks' `file:` secret inputs read.
    pub fn write_credentials(&self, root_token: String, unseal_keys: String) {
        let dir = self.sandbox.path().join(".sandbox");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, value) in [
            ("root-token", root_token),
            ("unseal-keys", unseal_keys),
            ("backup-key", BACKUP_KEY.to_string()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, format!("{value}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    async fn seed(&mut self) {
        let leader = self.cluster.wait_active_addr().await.unwrap();
        let token = self.cluster.root_token().to_string();
        for t in 0..SECRETS / 10 {
            for k in 0..10 {
                let path = format!("tenants/t{t:02}/app-{k}");
                let data = seed_value(t, k);
                let (status, body) = call(
                    reqwest::Method::POST,
                    &format!("{leader}/v1/secret/data/{path}"),
                    Some(&token),
                    Some(json!({ "data": data })),
                )
                .await;
                assert_eq!(status, 200, "seeding {path}: {body}");
                self.seeded.insert(path, data);
            }
        }
        assert_eq!(self.seeded.len(), SECRETS);
    }

    pub fn root_token(&self) -> String {
        self.cluster.root_token().to_string()
    }

    /// Environment for every run: S3 credentials for the optional secret
    /// inputs (moto accepts any).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.s3.access_key_id().to_string()),
            (
                "AWS_SECRET_ACCESS_KEY",
                self.s3.secret_access_key().to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
    }

    /// `--input` arguments every Vault runbook takes in these tests.
    pub fn s3_inputs(&self) -> Vec<(String, String)> {
        vec![
            ("s3_bucket".into(), self.s3.bucket().to_string()),
            ("s3_endpoint".into(), self.s3.endpoint()),
            ("s3_region".into(), self.s3.region().to_string()),
        ]
    }

    /// Runs `lifeboat <args>` in the sandbox with [`Self::env`].
    pub fn lifeboat(&self, args: &[String], extra_env: &[(&str, String)]) -> Ran {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut env: Vec<(&str, String)> = self.env();
        env.extend(extra_env.iter().cloned());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.sandbox.run_with(&args, &env)
    }

    /// `lifeboat run runbooks/vault/<name>.yaml --input k=v ...`, without a TTY.
    /// What went wrong in a run, from its journal: failed attempts and
    /// steps, for assertion messages (the console may not show them).
    pub fn failures(&self, run_id: &str) -> String {
        let path = self
            .sandbox
            .state_dir()
            .join("runs")
            .join(run_id)
            .join("journal.jsonl");
        if !path.exists() {
            return String::new();
        }
        self.sandbox
            .journal(run_id)
            .iter()
            .filter(|r| {
                matches!(
                    r["type"].as_str(),
                    Some("step_failed" | "attempt_failed" | "step_skipped" | "waiting")
                )
            })
            .map(|r| {
                format!(
                    "{} {}: {}",
                    r["type"],
                    r["step"],
                    r["error"].as_str().or(r["reason"].as_str()).unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn run_runbook(&self, name: &str, inputs: &[(String, String)]) -> Ran {
        let file = runbook(name);
        let mut args = vec!["run".to_string(), file.display().to_string()];
        for (k, v) in inputs {
            args.push("--input".into());
            args.push(format!("{k}={v}"));
        }
        self.lifeboat(&args, &[])
    }

    /// Approves `step` of `run_id` as [`APPROVER`] and resumes; returns the
    /// resume's result.
    pub fn approve_and_resume(&self, run_id: &str, step: &str) -> Ran {
        let approve = self.lifeboat(
            &[
                "approve".into(),
                run_id.into(),
                step.into(),
                "--as".into(),
                APPROVER.into(),
                "--comment".into(),
                "approved by the integration test".into(),
            ],
            &[],
        );
        assert_eq!(approve.code, 0, "approve failed\n{}", approve.dump());
        self.lifeboat(&["resume".into(), run_id.into()], &[])
    }

    /// Confirms the manual `step` of `run_id` as [`APPROVER`] and resumes.
    pub fn confirm_and_resume(&self, run_id: &str, step: &str) -> Ran {
        let confirm = self.lifeboat(
            &[
                "confirm".into(),
                run_id.into(),
                step.into(),
                "--as".into(),
                APPROVER.into(),
                "--note".into(),
                "done by the integration test".into(),
            ],
            &[],
        );
        assert_eq!(confirm.code, 0, "confirm failed\n{}", confirm.dump());
        self.lifeboat(&["resume".into(), run_id.into()], &[])
    }

    /// Takes a backup with the `backup` runbook and returns its run id.
    pub fn backup(&self) -> String {
        let mut inputs = self.s3_inputs();
        inputs.push(("vault_addr".into(), self.cluster.addr(0)));
        let ran = self.run_runbook("backup", &inputs);
        assert_eq!(ran.code, 0, "the backup runbook failed\n{}", ran.dump());
        ran.run_id()
    }

    /// Every secret under `tenants/` on `addr`, read from the active node,
    /// retried (bounded) while the node settles.
    pub async fn read_tenants(&self, addr: &str, token: &str) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for path in self.seeded.keys() {
            let url = format!("{addr}/v1/secret/data/{path}");
            let started = Instant::now();
            loop {
                let (status, body) = call(reqwest::Method::GET, &url, Some(token), None).await;
                if status == 200 {
                    out.insert(path.clone(), body["data"]["data"].clone());
                    break;
                }
                if status == 404 || started.elapsed() > Duration::from_secs(20) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        out
    }

    /// Asserts every seeded secret reads back identical (as JSON and as
    /// bytes of its canonical encoding) from `addr`.
    pub async fn assert_all_secrets(&self, addr: &str, token: &str) -> usize {
        let got = self.read_tenants(addr, token).await;
        let missing: Vec<&String> = self
            .seeded
            .keys()
            .filter(|k| !got.contains_key(*k))
            .collect();
        assert!(
            missing.is_empty(),
            "{} secrets missing: {missing:?}",
            missing.len()
        );
        for (path, want) in &self.seeded {
            assert_eq!(
                serde_json::to_vec(&got[path]).unwrap(),
                serde_json::to_vec(want).unwrap(),
                "secret `{path}` differs after recovery"
            );
        }
        got.len()
    }

    /// The run's work directory.
    pub fn work_dir(&self, run_id: &str) -> PathBuf {
        self.sandbox
            .state_dir()
            .join("runs")
            .join(run_id)
            .join("work")
    }
}

/// The node addresses as a `list` input.
pub fn nodes_input(addrs: &[String]) -> String {
    serde_json::to_string(addrs).unwrap()
}

/// Runs a runbook that pauses at approvals and manual steps, answering each
/// pause from this process as the second identity, until it finishes
/// (bounded: at most `max_pauses` pauses). Returns the run id and the last
/// result.
pub fn run_with_answers(
    world: &VaultWorld,
    name: &str,
    inputs: &[(String, String)],
    expected_pauses: &[&str],
) -> (String, Ran) {
    let mut ran = world.run_runbook(name, inputs);
    let run_id = ran.run_id();
    for step in expected_pauses {
        assert_paused_at(&ran, step);
        let journal = world.sandbox.journal(&run_id);
        let kind = journal
            .iter()
            .rev()
            .find(|r| r["type"] == "waiting" && r["step"] == *step)
            .map(|_| {
                if journal
                    .iter()
                    .any(|r| r["type"] == "manual_requested" && r["step"] == *step)
                {
                    "manual"
                } else {
                    "approval"
                }
            })
            .unwrap_or_else(|| panic!("no `waiting` record for `{step}`\n{}", ran.dump()));
        ran = if kind == "manual" {
            world.confirm_and_resume(&run_id, step)
        } else {
            world.approve_and_resume(&run_id, step)
        };
    }
    (run_id, ran)
}

/// Every node (all of the cluster's) dies and loses its disk; the platform
/// starts empty nodes.
/// Returns the inputs of `full-cluster-loss` for them.
pub async fn lose_the_cluster(world: &mut VaultWorld) -> Vec<(String, String)> {
    let n = world.cluster.len();
    for i in 0..n {
        world.cluster.kill(i);
        world.cluster.wipe(i);
    }
    for i in 0..n {
        world.cluster.start_node(i).await.unwrap();
    }
    let addrs: Vec<String> = (0..n).map(|i| world.cluster.addr(i)).collect();
    let mut inputs = world.s3_inputs();
    inputs.push(("nodes".into(), nodes_input(&addrs)));
    inputs.push(("key_shares".into(), "3".into()));
    inputs.push(("key_threshold".into(), "2".into()));
    inputs
}

/// The shipped runbook `runbooks/vault/<name>.yaml`.
pub fn runbook(name: &str) -> PathBuf {
    workspace()
        .join("runbooks/vault")
        .join(format!("{name}.yaml"))
}

/// Autopilot's view from `addr`: (voters, failure tolerance, healthy).
pub async fn autopilot(addr: &str, token: &str) -> (usize, u64, bool) {
    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{addr}/v1/sys/storage/raft/autopilot/state"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "autopilot state: {body}");
    let d = &body["data"];
    (
        d["voters"].as_array().map_or(0, Vec::len),
        d["failure_tolerance"].as_u64().unwrap_or(0),
        d["healthy"] == true,
    )
}

/// Waits (bounded) for 3 voters and failure tolerance 1 as seen from `addr`.
pub async fn wait_three_voters(addr: &str, token: &str) -> (usize, u64) {
    wait_voters(addr, token, 3).await
}

/// Waits (bounded) for `n` healthy voters and the failure tolerance of `n`
/// nodes (`(n - 1) / 2`) as seen from `addr`.
pub async fn wait_voters(addr: &str, token: &str, n: usize) -> (usize, u64) {
    let want_ft = ((n - 1) / 2) as u64;
    let started = Instant::now();
    loop {
        let (voters, ft, healthy) = autopilot(addr, token).await;
        if voters == n && ft == want_ft && healthy {
            return (voters, ft);
        }
        assert!(
            started.elapsed() < WAIT,
            "no {n} healthy voters with failure tolerance {want_ft} within {WAIT:?}: voters={voters} ft={ft} healthy={healthy}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The machine time of a run's recovery, from its journal: from
/// `run_started` to the success of the runbook's `rto.stop_at` step (or
/// `run_finished`), minus every span the run spent waiting for a person
/// (from a `waiting` record to that step's result or the next `resumed`)
/// and every span no engine ran (from the last record an engine wrote to
/// the next `resumed`: a killed engine, a takeover).
pub fn machine_rto(journal: &[Value]) -> Duration {
    let ts = |r: &Value| {
        r["ts"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .expect("every record has an RFC 3339 ts")
    };
    let start = journal
        .iter()
        .find(|r| r["type"] == "run_started")
        .expect("a run_started record");
    let stop_at = start["rto_stop_at"].as_str().map(String::from);
    let stop = journal
        .iter()
        .find(|r| match &stop_at {
            Some(s) => r["type"] == "step_succeeded" && r["step"] == s.as_str(),
            None => r["type"] == "run_finished",
        })
        .or_else(|| journal.iter().rev().find(|r| r["type"] == "run_finished"))
        .expect("the stop step succeeded or the run finished");
    let (t0, t1) = (ts(start), ts(stop));
    // The records that show an engine alive (as `report/step_spans.rs`).
    let engine_written = |r: &Value| {
        matches!(
            r["type"].as_str(),
            Some(
                "run_started"
                    | "step_started"
                    | "process_started"
                    | "attempt_failed"
                    | "step_succeeded"
                    | "step_failed"
                    | "step_skipped"
                    | "checkpoint"
                    | "waiting"
                    | "interrupted"
                    | "resumed"
                    | "run_finished"
            )
        )
    };
    let mut not_machine = Vec::new();
    let mut waiting: BTreeMap<String, jiff::Timestamp> = BTreeMap::new();
    let mut last_engine: Option<jiff::Timestamp> = None;
    for r in journal {
        let t = ts(r);
        let step = r["step"].as_str().unwrap_or_default().to_string();
        match r["type"].as_str() {
            Some("waiting") => {
                waiting.entry(step).or_insert(t);
            }
            Some("step_succeeded" | "step_failed" | "step_skipped") => {
                if let Some(w) = waiting.remove(&step) {
                    not_machine.push((w, t));
                }
            }
            Some("resumed") => {
                not_machine.extend(last_engine.map(|l| (l, t)));
                not_machine.extend(std::mem::take(&mut waiting).into_values().map(|w| (w, t)));
            }
            _ => {}
        }
        if engine_written(r) {
            last_engine = Some(t);
        }
    }
    // The length of the union of those spans within [t0, t1].
    not_machine.sort();
    let mut excluded = jiff::SignedDuration::ZERO;
    let mut covered_to = t0;
    for (from, to) in not_machine {
        let (from, to) = (from.max(covered_to), to.min(t1));
        if to > from {
            excluded += to.duration_since(from);
            covered_to = to;
        }
    }
    let total = t1.duration_since(t0) - excluded;
    Duration::from_millis(total.as_millis().max(0) as u64)
}

/// Checks the run's timeline files and RTO report, and prints the figure
/// the closing note quotes, in one greppable line. The RTO is the engine's
/// own (`lifeboat status --output json`): machine time up to the runbook's
/// `rto.stop_at`, human waits (approvals, manual steps) split out; the
/// journal-derived [`machine_rto`] must agree with it.
pub fn report(world: &VaultWorld, scenario: &str, run_id: &str, verified: usize) {
    report_from(
        &world.sandbox,
        |args| world.lifeboat(args, &[]),
        scenario,
        run_id,
        verified,
    );
}

/// [`report`] for a run seen from `sandbox`, whose commands `lifeboat`
/// runs (another machine of a shared run).
pub fn report_from(
    sandbox: &Sandbox,
    lifeboat: impl Fn(&[String]) -> Ran,
    scenario: &str,
    run_id: &str,
    verified: usize,
) {
    let run_dir = sandbox.run_dir(run_id);
    for file in ["timeline.md", "timeline.json", "timeline.html"] {
        assert!(
            run_dir.join(file).is_file(),
            "no {file} in {}",
            run_dir.display()
        );
    }
    let md = std::fs::read_to_string(run_dir.join("timeline.md")).unwrap();
    assert!(
        md.contains("RTO actual"),
        "the timeline reports no RTO:\n{md}"
    );
    let status = lifeboat(&[
        "status".into(),
        run_id.into(),
        "--output".into(),
        "json".into(),
    ]);
    assert_eq!(status.code, 0, "{}", status.dump());
    let doc: Value = serde_json::from_str(&status.stdout).expect("status JSON");
    let rto = &doc["rto"];
    let machine = rto["split"]["machine_ms"].as_i64().expect("machine_ms");
    let human = rto["split"]["human_ms"].as_i64().unwrap_or(0);
    let journal = sandbox.journal(run_id);
    let ours = machine_rto(&journal).as_millis() as i64;
    assert!(
        (ours - machine).abs() < 2_000,
        "journal-derived machine time {ours} ms disagrees with the engine's {machine} ms"
    );
    let target = rto["target_ms"]
        .as_i64()
        .map(|t| format!("{}s", t / 1000))
        .unwrap_or_else(|| "none".into());
    println!(
        "RTO-FIGURE scenario={scenario} machine_rto={:.1}s human_wait={:.1}s target={target} verdict={} stop={} secrets_verified={verified}",
        machine as f64 / 1000.0,
        human as f64 / 1000.0,
        rto["verdict"].as_str().unwrap_or("?"),
        rto["stop"]["step"].as_str().unwrap_or("end"),
    );
}

/// Asserts the run paused (exit 3) at `step`.
pub fn assert_paused_at(ran: &Ran, step: &str) {
    assert_eq!(ran.code, 3, "expected a pause at `{step}`\n{}", ran.dump());
    assert!(
        ran.stdout.contains(step) || ran.stderr.contains(step),
        "paused, but not at `{step}`\n{}",
        ran.dump()
    );
}
