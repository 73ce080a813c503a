//! The shipped Vault runbooks (`runbooks/vault/*.yaml`), run through the
//! `lifeboat` binary against a real 3-node OpenBao Raft cluster seeded with
//! 100 secrets and a real S3-compatible server (moto), with the failure of
//! each scenario injected for real, approvals given from this process as a
//! second identity, and the recovered state asserted.
//!
//! Each test prints one `RTO-FIGURE` line (machine time from the journal,
//! human waits excluded) for the figures in the closing note:
//! `cargo test -p lifeboat --test vault_runbooks -- --nocapture | grep RTO-FIGURE`.

mod util;
mod vault_fixture;

use std::time::Duration;

use serde_json::{json, Value};
use util::machine::Machine;
use vault_fixture::*;

/// Keys under `prefix` in the test bucket (moto answers unsigned requests).
async fn s3_keys(world: &VaultWorld, prefix: &str) -> Vec<String> {
    let url = format!(
        "{}/{}?list-type=2&prefix={prefix}&max-keys=1000",
        world.s3.endpoint(),
        world.s3.bucket()
    );
    let text = http()
        .get(&url)
        .send()
        .await
        .expect("moto answers")
        .text()
        .await
        .unwrap();
    text.split("<Key>")
        .skip(1)
        .filter_map(|s| s.split("</Key>").next())
        .map(String::from)
        .collect()
}

/// Uploads (or replaces) `key` with the `s3.put` kind, signed.
async fn s3_put(world: &VaultWorld, key: &str, body: &[u8]) {
    use lifeboat_steps::StepKind;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("object"), body).unwrap();
    let ctx = lifeboat_steps::StepContext::standalone("test_put", dir.path());
    let mut with = world.s3.connection();
    with["key"] = json!(key);
    with["path"] = json!("object");
    lifeboat_steps::s3::S3Put
        .run(&ctx, with)
        .await
        .unwrap_or_else(|e| panic!("s3.put `{key}`: {e:?}"));
}

/// Downloads `key` with the `s3.get` kind (moto refuses unsigned reads).
async fn s3_get(world: &VaultWorld, key: &str) -> Vec<u8> {
    use lifeboat_steps::StepKind;
    let dir = tempfile::tempdir().unwrap();
    let ctx = lifeboat_steps::StepContext::standalone("test_get", dir.path());
    let mut with = world.s3.connection();
    with["key"] = json!(key);
    with["path"] = json!("object");
    lifeboat_steps::s3::S3Get
        .run(&ctx, with)
        .await
        .unwrap_or_else(|e| panic!("s3.get `{key}`: {e:?}"));
    std::fs::read(dir.path().join("object")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_uploads_an_encrypted_snapshot_with_metadata_and_applies_retention() {
    let world = VaultWorld::start().await;
    // Old backups for retention: 31 earlier days and 12 earlier months.
    for d in 1..=31 {
        s3_put(
            &world,
            &format!("daily/2025-01-{d:02}/vault-old.snap.enc"),
            b"old",
        )
        .await;
    }
    for m in 1..=12 {
        s3_put(
            &world,
            &format!("monthly/2024-{m:02}-01/vault-old.snap.enc"),
            b"old",
        )
        .await;
    }

    // A backup on the 1st of a month: daily and monthly copies.
    let mut inputs = world.s3_inputs();
    inputs.push(("vault_addr".into(), world.cluster.addr(1)));
    inputs.push(("date".into(), "2026-11-01".into()));
    let ran = world.run_runbook("backup", &inputs);
    assert_eq!(ran.code, 0, "{}", ran.dump());
    let run_id = ran.run_id();

    let daily = s3_keys(&world, "daily/2026-11-01/").await;
    let monthly = s3_keys(&world, "monthly/2026-11-01/").await;
    for keys in [&daily, &monthly] {
        assert_eq!(keys.len(), 3, "snapshot, manifest and metadata: {keys:?}");
        assert!(keys.iter().any(|k| k.ends_with(".snap.enc")), "{keys:?}");
        assert!(
            keys.iter().any(|k| k.ends_with(".manifest.enc")),
            "{keys:?}"
        );
        assert!(keys.iter().any(|k| k.ends_with(".meta.json")), "{keys:?}");
    }
    // The metadata names checksums that match what is stored.
    let meta_key = daily.iter().find(|k| k.ends_with(".meta.json")).unwrap();
    let meta: Value = serde_json::from_slice(&s3_get(&world, meta_key).await).unwrap();
    assert_eq!(meta["secrets"], 100, "{meta}");
    let snap_key = daily.iter().find(|k| k.ends_with(".snap.enc")).unwrap();
    let encrypted = s3_get(&world, snap_key).await;
    assert_eq!(meta["encrypted_bytes"], encrypted.len(), "{meta}");
    let sum = lifeboat_steps::checksum::sha256_hex(&encrypted);
    assert_eq!(meta["encrypted_sha256"], sum.as_str(), "{meta}");
    // Encrypted: no gzip magic (a Raft snapshot is a gzip tar).
    assert_ne!(
        &encrypted[..2],
        &[0x1f, 0x8b],
        "the snapshot was uploaded in clear"
    );

    // Retention: 30 daily dates and 12 months remain, the oldest went.
    let daily_all = s3_keys(&world, "daily/").await;
    assert!(!daily_all.iter().any(|k| k.starts_with("daily/2025-01-01/")));
    assert!(!daily_all.iter().any(|k| k.starts_with("daily/2025-01-02/")));
    assert!(daily_all.iter().any(|k| k.starts_with("daily/2025-01-03/")));
    let monthly_all = s3_keys(&world, "monthly/").await;
    assert!(!monthly_all
        .iter()
        .any(|k| k.starts_with("monthly/2024-01-")));
    assert!(monthly_all
        .iter()
        .any(|k| k.starts_with("monthly/2024-02-")));

    // The success record, and nothing left on local disk.
    let status: Value =
        serde_json::from_slice(&s3_get(&world, "status/last-success.json").await).unwrap();
    assert_eq!(status["run"], run_id.as_str());
    assert_eq!(status["key"], snap_key.as_str());
    let leftovers: Vec<_> = std::fs::read_dir(world.work_dir(&run_id))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.iter().all(|n| {
            let n = n.to_string_lossy();
            !(n.ends_with(".snap") || n.ends_with(".enc") || n.ends_with(".manifest.json"))
        }),
        "local backup files left behind: {leftovers:?}"
    );
    report(&world, "backup", &run_id, 100);
}

/// Inputs that point a restore runbook's transient server at free ports and
/// the harness's `bao`.
fn transient_inputs() -> Vec<(String, String)> {
    let bao = lifeboat_harness::openbao::bao_binary().unwrap_or_else(|e| panic!("{e}"));
    vec![
        ("bao_bin".into(), bao.display().to_string()),
        ("key_shares".into(), "3".into()),
        ("key_threshold".into(), "2".into()),
        (
            "transient_port".into(),
            lifeboat_harness::tools::free_port().to_string(),
        ),
        (
            "transient_cluster_port".into(),
            lifeboat_harness::tools::free_port().to_string(),
        ),
    ]
}

/// Whether anything still listens on `port` of 127.0.0.1.
fn listening(port: &str) -> bool {
    std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok()
}

fn input<'a>(inputs: &'a [(String, String)], name: &str) -> &'a str {
    &inputs.iter().find(|(k, _)| k == name).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_backup_restores_the_newest_backup_into_a_transient_server() {
    let world = VaultWorld::start().await;
    world.backup();

    let mut inputs = world.s3_inputs();
    inputs.extend(transient_inputs());
    let ran = world.run_runbook("verify-backup", &inputs);
    assert_eq!(ran.code, 0, "{}", ran.dump());
    let run_id = ran.run_id();
    let journal = world.sandbox.journal(&run_id);
    let verify = journal
        .iter()
        .find(|r| r["type"] == "step_succeeded" && r["step"] == "restore/verify")
        .expect("verify succeeded");
    assert_eq!(verify["outputs"]["checked"], 100, "{verify}");
    assert_eq!(verify["outputs"]["mismatched"], json!([]), "{verify}");
    // The transient server and the decrypted files are gone.
    let port = input(&inputs, "transient_port");
    assert!(
        !listening(port),
        "the transient server still listens on {port}"
    );
    let work = world.work_dir(&run_id);
    for leftover in [
        "transient",
        "backup.snap",
        "manifest.json",
        "backup.snap.enc",
    ] {
        assert!(
            !work.join(leftover).exists(),
            "`{leftover}` left in {}",
            work.display()
        );
    }
    report(&world, "verify-backup", &run_id, 100);

    // A backup that does not hold what its manifest says fails the test,
    // and the transient server is destroyed all the same: change a secret
    // and take a new backup whose manifest is then swapped for the old one.
    let (status, _) = call(
        reqwest::Method::POST,
        &format!(
            "{}/v1/secret/data/tenants/t00/app-0",
            world.cluster.wait_active_addr().await.unwrap()
        ),
        Some(&world.root_token()),
        Some(json!({"data": {"changed": "after the first backup"}})),
    )
    .await;
    assert_eq!(status, 200);
    let old_manifest = s3_keys(&world, "daily/").await;
    let old_manifest = old_manifest
        .iter()
        .find(|k| k.ends_with(".manifest.enc"))
        .unwrap()
        .clone();
    let old_meta = old_manifest.replace(".manifest.enc", ".meta.json");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // a new stem
    world.backup();
    let newest = s3_keys(&world, "daily/").await;
    let newest_snap = newest
        .iter()
        .filter(|k| k.ends_with(".snap.enc"))
        .max()
        .unwrap()
        .clone();
    let stem = newest_snap.trim_end_matches(".snap.enc");
    let manifest_bytes = s3_get(&world, &old_manifest).await;
    let old_meta: Value = serde_json::from_slice(&s3_get(&world, &old_meta).await).unwrap();
    let mut new_meta: Value =
        serde_json::from_slice(&s3_get(&world, &format!("{stem}.meta.json")).await).unwrap();
    new_meta["manifest_sha256"] = old_meta["manifest_sha256"].clone();
    s3_put(&world, &format!("{stem}.manifest.enc"), &manifest_bytes).await;
    s3_put(
        &world,
        &format!("{stem}.meta.json"),
        &serde_json::to_vec(&new_meta).unwrap(),
    )
    .await;
    let mut inputs = world.s3_inputs();
    inputs.extend(transient_inputs());
    inputs.push(("backup".into(), newest_snap.clone()));
    let ran = world.run_runbook("verify-backup", &inputs);
    assert_eq!(
        ran.code,
        1,
        "a mismatching backup must fail\n{}",
        ran.dump()
    );
    assert!(
        ran.stdout.contains("tenants/t00/app-0") || ran.stderr.contains("tenants/t00/app-0"),
        "the failure names the differing secret\n{}",
        ran.dump()
    );
    let port = input(&inputs, "transient_port");
    assert!(
        !listening(port),
        "the transient server outlived a failed run"
    );
    assert!(!world.work_dir(&ran.run_id()).join("transient").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cluster_loss_rebuilds_three_voters_from_the_backup() {
    let mut world = VaultWorld::start().await;
    world.backup();
    let inputs = lose_the_cluster(&mut world).await;

    let (run_id, ran) = run_with_answers(
        &world,
        "full-cluster-loss",
        &inputs,
        &["approve_restore", "switch_traffic"],
    );
    assert_eq!(ran.code, 0, "{}", ran.dump());

    let token = world.root_token();
    let active = world.cluster.wait_active_addr().await.unwrap();
    let (voters, ft) = wait_three_voters(&active, &token).await;
    assert_eq!((voters, ft), (3, 1));
    let verified = world.assert_all_secrets(&active, &token).await;
    assert_eq!(verified, 100);
    report(&world, "full-cluster-loss", &run_id, verified);
    assert!(!world.work_dir(&run_id).join("backup.snap").exists());
    assert!(!world.work_dir(&run_id).join("fresh-init.json").exists());
}

/// A run's journal as a machine's local copy holds it now, skipping a line
/// the engine is still writing.
fn local_copy(machine: &Machine, run_id: &str) -> Vec<Value> {
    std::fs::read_to_string(machine.sb.run_dir(run_id).join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| l["rec"].clone())
        .collect()
}

/// Whether `journal` has a record of type `ty` for `step` after `seq`.
fn has(journal: &[Value], ty: &str, step: &str, after: u64) -> bool {
    journal
        .iter()
        .any(|r| r["type"] == ty && r["step"] == step && r["seq"].as_u64() > Some(after))
}

/// The shared store of the takeover tests: the backup bucket, under a
/// prefix the runbook never reads (it lists `daily/`).
const RUN_STORE_PREFIX: &str = "lifeboat-runs/dr";

/// Alice's machine A (the world's sandbox, with its credential files; she
/// names the store with `--store`) and Bob's machine B (a sandbox of its
/// own, `LIFEBOAT_STORE`; he has the original cluster's token and keys and
/// the backup key, and gives them as the runbook's secret inputs say).
fn two_machines(world: &VaultWorld) -> (Machine, Machine) {
    let mut a = Machine::in_sandbox(world.sandbox.clone(), &world.s3, RUN_STORE_PREFIX, "alice");
    a.env.retain(|(k, _)| k != "LIFEBOAT_STORE");
    let b = Machine::new(&world.s3, RUN_STORE_PREFIX, "bob")
        .with("VAULT_TOKEN", &world.root_token())
        .with(
            "LIFEBOAT_UNSEAL_KEYS",
            &world.cluster.unseal_keys().join("\n"),
        )
        .with("LIFEBOAT_BACKUP_KEY", BACKUP_KEY);
    (a, b)
}

/// A runs `full-cluster-loss` in the store without a terminal and waits at
/// the approval (`--wait`); B sees it wait and approves from its machine;
/// A goes on and is SIGKILLed the moment `step`'s success is in the store
/// (A's local copy follows each commit). Returns the run id and what A
/// printed.
fn approve_from_b_and_kill_a_after(
    world: &VaultWorld,
    (a, b): (&Machine, &Machine),
    inputs: &[(String, String)],
    step: &str,
) -> (String, String) {
    let mut args = vec![
        "run".to_string(),
        runbook("full-cluster-loss").display().to_string(),
        "--store".into(),
        Machine::store(&world.s3, RUN_STORE_PREFIX),
        "--wait".into(),
    ];
    for (k, v) in inputs {
        args.push("--input".into());
        args.push(format!("{k}={v}"));
    }
    let mut driver = a.start("alice-run", &args);
    let run = driver.run_id();
    driver.wait_until("the approval to wait", WAIT, || {
        std::thread::sleep(Duration::from_millis(300));
        b.run(&["status", &run]).code == 0
            && has(&b.sb.journal(&run), "waiting", "approve_restore", 0)
    });
    let approved = b.run(&["approve", &run, "approve_restore", "--as", "bob"]);
    approved.expect_code(0);
    assert!(
        approved
            .stdout
            .contains("(recorded by the engine driving the run)"),
        "{}",
        approved.dump()
    );
    driver.wait_until(&format!("`{step}` to succeed"), WAIT, || {
        has(&local_copy(a, &run), "step_succeeded", step, 0)
    });
    driver.child.kill().unwrap(); // SIGKILL
    let (code, alice) = driver.finish(Duration::from_secs(10));
    assert_eq!(code, -1, "A was not killed\n{alice}");
    (run, alice)
}

/// The `resumed` record of B's takeover, checked: bob took over from alice.
fn takeover_record(journal: &[Value]) -> &Value {
    let takeover = journal
        .iter()
        .find(|r| r["type"] == "resumed")
        .expect("a `resumed` record");
    assert_eq!(takeover["actor"], "bob", "{takeover}");
    assert!(
        takeover["took_over_from"]
            .as_str()
            .is_some_and(|t| t.starts_with("alice on ")),
        "{takeover}"
    );
    takeover
}

/// Issue 13, "Shared runs": the full cluster loss run in the S3 store and
/// finished by another machine. Alice (machine A) starts it without a
/// terminal and waits at the approval (`--wait`); Bob approves from machine
/// B, which shares nothing with A but the store; A is SIGKILLed right after
/// the restore's success is journalled and its machine is gone, disk
/// included; B takes the run over and finishes it.
///
/// The secret outputs B cannot have are `init_first`'s throwaway keys and
/// root token (in A's memory and A's `fresh-init.json`). After the restore
/// no step reads them (the restored cluster answers only to the original
/// keys and token, which are inputs, and the manifest is fetched again), so
/// B's resume says so in one line and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cluster_loss_in_s3_is_taken_over_by_another_machine_after_the_restore() {
    let mut world = VaultWorld::start().await;
    world.backup();
    let inputs = lose_the_cluster(&mut world).await;
    let (a, b) = two_machines(&world);
    let (run, alice) =
        approve_from_b_and_kill_a_after(&world, (&a, &b), &inputs, "restore/force_restore");
    // A's machine is gone, disk and credentials with it.
    std::fs::remove_dir_all(a.sb.path().join(".sandbox")).unwrap();
    std::fs::remove_dir_all(a.sb.state_dir()).unwrap();

    // B takes over and waits at the manual DNS switch, which it confirms
    // from another shell.
    let resume: Vec<String> = ["resume", &run, "--take-over", "--yes", "--wait"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut taker = b.start("bob-resume", &resume);
    taker.wait_until("the DNS switch to wait", Duration::from_secs(300), || {
        std::thread::sleep(Duration::from_millis(200));
        has(&local_copy(&b, &run), "waiting", "switch_traffic", 0)
    });
    let confirmed = b.run(&[
        "confirm",
        &run,
        "switch_traffic",
        "--as",
        "bob",
        "--note",
        "done by the integration test",
    ]);
    confirmed.expect_code(0);
    let (code, bob) = taker.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{bob}\n--- alice ---\n{alice}");

    // The takeover is journalled, and nothing A finished ran again.
    b.run(&["status", &run]).expect_code(0);
    let journal = b.sb.journal(&run);
    let at = takeover_record(&journal)["seq"].as_u64().unwrap();
    let done_by_a: Vec<&str> = journal
        .iter()
        .filter(|r| r["type"] == "step_succeeded" && r["seq"].as_u64() < Some(at))
        .filter_map(|r| r["step"].as_str())
        .collect();
    assert!(
        done_by_a.contains(&"restore/force_restore"),
        "{done_by_a:?}"
    );
    for step in &done_by_a {
        assert!(
            !has(&journal, "step_started", step, at),
            "`{step}` succeeded under A and started again under B\n{bob}"
        );
    }
    let restores = journal
        .iter()
        .filter(|r| r["type"] == "step_started" && r["step"] == "restore/force_restore")
        .count();
    assert_eq!(restores, 1, "the restore ran {restores} times");
    assert!(
        has(&journal, "step_succeeded", "restore/verify", at),
        "{bob}"
    );
    let approval = journal
        .iter()
        .find(|r| r["type"] == "approval" && r["step"] == "approve_restore")
        .expect("an approval record");
    assert_eq!(approval["actor"], "bob", "{approval}");

    // The secret outputs B cannot have: named once, with their outcome.
    assert!(
        bob.contains("warning  restore/init_first: this engine does not have its secret outputs (keys, root_token): cannot read `")
            && bob.contains("fresh-init.json`: No such file or directory (os error 2); no step left to run reads them"),
        "{bob}"
    );

    // Every secret, on three voters; B's work directory holds nothing.
    let token = world.root_token();
    let active = world.cluster.wait_active_addr().await.unwrap();
    let (voters, ft) = wait_three_voters(&active, &token).await;
    assert_eq!((voters, ft), (3, 1));
    let verified = world.assert_all_secrets(&active, &token).await;
    assert_eq!(verified, 100);
    for leftover in ["backup.snap", "manifest.json", "fresh-init.json"] {
        assert!(
            !b.sb.work_dir(&run).join(leftover).exists(),
            "`{leftover}` left on B"
        );
    }
    // The run lived in the store, beside the backups.
    let objects = s3_keys(&world, &format!("{RUN_STORE_PREFIX}/runs/{run}/journal/")).await;
    assert!(objects.len() > 10, "{objects:?}");
    report_from(
        &b.sb,
        |args| b.run(&args.iter().map(String::as_str).collect::<Vec<_>>()),
        "full-cluster-loss-taken-over",
        &run,
        verified,
    );
}

/// The same run, A killed right after `init_first`, before the restore:
/// the restore needs `init_first`'s throwaway keys and token, which only
/// A had. B's takeover says which steps read them and stops at the first
/// one before it runs, naming the output and what to do; B does what the
/// guide says (A's disk survived: copy `fresh-init.json` and `backup.snap`
/// from it), resumes and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cluster_loss_taken_over_before_the_restore_stops_at_the_throwaway_keys() {
    let mut world = VaultWorld::start().await;
    world.backup();
    let inputs = lose_the_cluster(&mut world).await;
    let (a, b) = two_machines(&world);
    let (run, alice) =
        approve_from_b_and_kill_a_after(&world, (&a, &b), &inputs, "restore/init_first");
    std::fs::remove_dir_all(a.sb.path().join(".sandbox")).unwrap();

    let ran = b.run(&["resume", &run, "--take-over", "--yes"]);
    assert_eq!(ran.code, 1, "{}\n--- alice ---\n{alice}", ran.dump());
    let printed = ran.printed();
    let work = b.sb.work_dir(&run);
    let give_back = format!(
        "put what `restore/init_first` saved (e.g. its `output_file`) back in `{}` and `lifeboat resume {run}`, or run `restore/init_first` again with `lifeboat resume {run} --redo restore/init_first --reason TEXT` if that is safe",
        work.display()
    );
    assert!(
        printed.contains("warning  restore/init_first: this engine does not have its secret outputs (keys, root_token): cannot read `")
            && (printed.contains(", `restore/force_restore` read them and will fail when they start: ")
                || printed.contains(": `restore/force_restore` reads them and will fail when it starts: "))
            && printed.contains(&give_back),
        "{}",
        ran.dump()
    );
    b.run(&["status", &run]).expect_code(0);
    let journal = b.sb.journal(&run);
    let at = takeover_record(&journal)["seq"].as_u64().unwrap();
    // The first step that reads them fails before anything of it runs.
    let failed = journal
        .iter()
        .find(|r| r["type"] == "step_failed")
        .expect("a failed step");
    let step = failed["step"].as_str().unwrap();
    assert!(
        ["restore/unseal_first_fresh", "restore/force_restore"].contains(&step),
        "{failed}"
    );
    let output = if step == "restore/force_restore" {
        "root_token"
    } else {
        "keys"
    };
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "`steps.init_first.outputs.{output}` is a secret output this engine does not have (cannot read `"
        )) && error.contains(&give_back),
        "{error}"
    );
    assert!(!has(&journal, "step_started", step, at), "{failed}");
    assert!(
        !has(&journal, "step_started", "restore/force_restore", 0),
        "{failed}"
    );

    // A's disk survived: the files the guide names go to B's work directory.
    for file in ["fresh-init.json", "backup.snap"] {
        std::fs::copy(a.sb.work_dir(&run).join(file), work.join(file)).unwrap();
    }
    let ran = b.run(&["resume", &run]);
    assert_paused_at(&ran, "switch_traffic");
    b.run(&[
        "confirm",
        &run,
        "switch_traffic",
        "--as",
        "bob",
        "--note",
        "done by the integration test",
    ])
    .expect_code(0);
    b.run(&["resume", &run]).expect_code(0);
    let token = world.root_token();
    let active = world.cluster.wait_active_addr().await.unwrap();
    let (voters, ft) = wait_three_voters(&active, &token).await;
    assert_eq!((voters, ft), (3, 1));
    assert_eq!(world.assert_all_secrets(&active, &token).await, 100);
}

/// Issue 14, "Secrets the next driver can open, and nobody else": the run
/// above, sealed. Alice's engine seals secret outputs to the team
/// (`LIFEBOAT_RECIPIENTS`: Bob's SSH key and an offline age key) and is
/// SIGKILLed right after `init_first` (her disk survives, as in the test
/// above). Bob takes over with his own SSH key (`~/.ssh/id_ed25519`, the
/// default identity), with nothing copied from Alice's machine, and
/// finishes the restore with the sealed throwaway root token and keys. No secret value
/// (the throwaway token and keys, the original token and unseal keys, the
/// seeded secrets) is in clear in any object of the bucket or any file of
/// either state directory: the runbook's own `output_file`
/// (`fresh-init.json`, written by `vault.init` itself) is sealed to the
/// team too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cluster_loss_in_s3_taken_over_after_init_first_finishes_with_the_sealed_throwaway_token(
) {
    use util::sealing::{
        files_containing, init_secrets, objects_containing, open_sealed, ssh_identity, ssh_keygen,
    };
    let mut world = VaultWorld::start().await;
    world.backup();
    let inputs = lose_the_cluster(&mut world).await;
    let (a, b) = two_machines(&world);
    let bob_key = b.sb.home().join(".ssh/id_ed25519");
    let bob_pub = ssh_keygen(&bob_key, "");
    let offline = age::x25519::Identity::generate();
    let team = a.sb.write(
        "team.keys",
        &format!("# the DR team\n{bob_pub}{}\n", offline.to_public()),
    );
    let a = a.with("LIFEBOAT_RECIPIENTS", team.to_str().unwrap());
    let (run, alice) =
        approve_from_b_and_kill_a_after(&world, (&a, &b), &inputs, "restore/init_first");

    // What must be in clear nowhere: the throwaway secrets (opened here
    // from the sealed copy with Bob's key), the original token and unseal
    // keys, and the seeded secret values.
    let throwaway = init_secrets(&open_sealed(
        &local_copy(&a, &run),
        "restore/init_first",
        &ssh_identity(&bob_key),
    ));
    let mut secrets = throwaway.clone();
    secrets.push(("original root token".into(), world.root_token()));
    for key in world.cluster.unseal_keys() {
        secrets.push(("original unseal key".into(), key.clone()));
    }
    for (path, data) in &world.seeded {
        for field in ["password", "note"] {
            secrets.push((
                format!("{path} {field}"),
                data[field].as_str().unwrap().to_string(),
            ));
        }
    }
    let on_a = files_containing(&a.sb.state_dir(), &secrets);
    assert!(on_a.is_empty(), "{on_a:#?}");
    let fresh_init = std::fs::read(a.sb.work_dir(&run).join("fresh-init.json")).unwrap();
    assert!(
        fresh_init.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "`fresh-init.json` is not sealed"
    );
    // Alice's engine is gone and her credentials with it; her disk, with
    // the decrypted backup the restore reads (at its path there), survived.
    // Bob gets nothing from it: not `fresh-init.json`.
    std::fs::remove_dir_all(a.sb.path().join(".sandbox")).unwrap();

    let resume: Vec<String> = ["resume", &run, "--take-over", "--yes", "--wait"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut taker = b.start("bob-resume", &resume);
    taker.wait_until("the DNS switch to wait", Duration::from_secs(300), || {
        std::thread::sleep(Duration::from_millis(200));
        has(&local_copy(&b, &run), "waiting", "switch_traffic", 0)
    });
    b.run(&[
        "confirm",
        &run,
        "switch_traffic",
        "--as",
        "bob",
        "--note",
        "done by the integration test",
    ])
    .expect_code(0);
    let (code, bob) = taker.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{bob}\n--- alice ---\n{alice}");
    assert!(!bob.contains("does not have its secret outputs"), "{bob}");

    // Bob restored with the throwaway token; `init_first` never ran again.
    let journal = b.sb.journal(&run);
    let at = takeover_record(&journal)["seq"].as_u64().unwrap();
    for step in [
        "restore/unseal_first_fresh",
        "restore/force_restore",
        "restore/verify",
    ] {
        assert!(has(&journal, "step_succeeded", step, at), "`{step}`\n{bob}");
    }
    let inits = journal
        .iter()
        .filter(|r| r["type"] == "step_started" && r["step"] == "restore/init_first")
        .count();
    assert_eq!(inits, 1, "`init_first` ran {inits} times");
    let token = world.root_token();
    let active = world.cluster.wait_active_addr().await.unwrap();
    let (voters, ft) = wait_three_voters(&active, &token).await;
    assert_eq!((voters, ft), (3, 1));
    assert_eq!(world.assert_all_secrets(&active, &token).await, 100);

    // In clear nowhere: not in the bucket (backups and the run), not on
    // Bob's machine, not in what either engine printed.
    let (objects, in_bucket) = objects_containing(&world.s3, &secrets).await;
    assert!(objects > 10, "{objects} objects");
    assert!(in_bucket.is_empty(), "{in_bucket:#?}");
    let on_b = files_containing(&b.sb.state_dir(), &secrets);
    assert!(on_b.is_empty(), "{on_b:#?}");
    assert_eq!(files_containing(&a.sb.state_dir(), &secrets), on_a);
    for (label, value) in &throwaway {
        assert!(
            !bob.contains(value.as_str()) && !alice.contains(value.as_str()),
            "the {label} was printed"
        );
    }
}

/// The engine side of the outcome above, for every way a step reads a
/// secret output: an `assert`'s `that` (an expression, not a template) is
/// a reader too. A `vault.init` without `output_file` keeps its keys in
/// memory only; after the run failed, the resume names the `assert` that
/// reads the token, and the `assert` fails naming it, without the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_secret_output_read_by_an_assert_is_named_at_the_resume_and_by_the_assert() {
    let node = lifeboat_harness::openbao::OpenBaoCluster::start_uninitialized(1).await;
    let sb = util::Sandbox::new();
    let file = sb.write(
        "init.yaml",
        r#"version: 1
name: lost-token
inputs:
  addr: { type: string }
steps:
  - id: init
    kind: vault.init
    with: { addr: "{{ inputs.addr }}", secret_shares: 1, secret_threshold: 1 }
  - id: flaky
    kind: shell
    rerun: safe
    needs: [init]
    with: { script: "if [ -e flaky-ok ]; then exit 0; fi; touch flaky-ok; exit 1" }
  - id: token_back
    kind: assert
    needs: [flaky]
    with: { that: ["steps.init.outputs.root_token | length > 5"] }
"#,
    );
    let input = format!("addr={}", node.addr(0));
    let first = sb.run(&["run", file.to_str().unwrap(), "--input", &input]);
    first.expect_code(1);
    let run = first.run_id();
    let resumed = sb.run(&["resume", &run]);
    resumed.expect_code(1);
    assert!(
        resumed.printed().contains(
            "warning  init: this engine does not have its secret outputs (keys, root_token): the engine that ran it kept them in memory only; `token_back` reads them and will fail when it starts: "
        ),
        "{}",
        resumed.dump()
    );
    let failed = sb
        .journal(&run)
        .into_iter()
        .rfind(|r| r["type"] == "step_failed")
        .expect("a failed step");
    assert_eq!(failed["step"], "token_back", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains(
            "; `steps.init.outputs.root_token` is a secret output this engine does not have (the engine that ran it kept them in memory only): "
        ),
        "{failed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_failure_replaces_a_dead_peer_and_restores_tolerance() {
    single_node_failure_scenario(VaultWorld::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_deletion_undeletes_what_kv_keeps_and_restores_the_rest_from_backup() {
    let world = VaultWorld::start().await;
    world.backup();
    let token = world.root_token();
    let active = world.cluster.wait_active_addr().await.unwrap();

    // Ten secrets deleted: five soft-deleted (KV keeps the versions), five
    // with their metadata (every version gone: only the backup has them).
    let victims: Vec<String> = world.seeded.keys().step_by(10).take(10).cloned().collect();
    assert_eq!(victims.len(), 10);
    for (n, path) in victims.iter().enumerate() {
        let what = if n % 2 == 0 { "data" } else { "metadata" };
        let (status, body) = call(
            reqwest::Method::DELETE,
            &format!("{active}/v1/secret/{what}/{path}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, 204, "deleting {path}: {body}");
    }
    let still = world.read_tenants(&active, &token).await;
    assert_eq!(still.len(), 90, "the deletion did not take");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let deleted_at = jiff::Timestamp::now().to_string();

    let mut inputs = world.s3_inputs();
    inputs.extend(transient_inputs());
    inputs.push(("vault_addr".into(), world.cluster.addr(0)));
    inputs.push(("paths".into(), serde_json::to_string(&victims).unwrap()));
    inputs.push(("deleted_at".into(), deleted_at));
    let (run_id, ran) =
        run_with_answers(&world, "secret-deletion", &inputs, &["approve_write_back"]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.dump(), world.failures(&run_id));

    // Which way each path came back.
    let journal = world.sandbox.journal(&run_id);
    let undelete = journal
        .iter()
        .find(|r| r["type"] == "step_succeeded" && r["step"] == "undelete")
        .unwrap();
    assert_eq!(
        undelete["outputs"]["recovered"].as_array().map(Vec::len),
        Some(5),
        "{undelete}"
    );
    assert_eq!(
        undelete["outputs"]["unrecoverable"]
            .as_array()
            .map(Vec::len),
        Some(5),
        "{undelete}"
    );
    let verified = world.assert_all_secrets(&active, &token).await;
    assert_eq!(verified, 100);
    let port = input(&inputs, "transient_port");
    assert!(!listening(port), "the transient server outlived the run");
    assert!(!world.work_dir(&run_id).join("transient").exists());
    report(&world, "secret-deletion", &run_id, verified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compromise_seals_then_contains_and_rotates_under_four_eyes() {
    compromise_scenario(&VaultWorld::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_failover_restores_the_dr_bucket_into_the_dr_cluster() {
    let mut world = VaultWorld::start().await;
    // Backups land in the DR bucket (the cross-region replica).
    let dr_bucket = "lifeboat-dr";
    world.s3.create_bucket(dr_bucket).await.unwrap();
    let mut backup_inputs: Vec<(String, String)> = world
        .s3_inputs()
        .into_iter()
        .filter(|(k, _)| k != "s3_bucket")
        .collect();
    backup_inputs.push(("s3_bucket".into(), dr_bucket.into()));
    backup_inputs.push(("vault_addr".into(), world.cluster.addr(0)));
    let ran = world.run_runbook("backup", &backup_inputs);
    assert_eq!(ran.code, 0, "{}", ran.dump());

    // The primary region goes dark; the DR region has three empty nodes.
    for i in 0..3 {
        world.cluster.kill(i);
    }
    let dr = lifeboat_harness::openbao::OpenBaoCluster::start_uninitialized(3).await;
    let addrs: Vec<String> = (0..3).map(|i| dr.addr(i)).collect();
    let mut inputs: Vec<(String, String)> = backup_inputs
        .into_iter()
        .filter(|(k, _)| k != "vault_addr")
        .collect();
    inputs.push(("nodes".into(), nodes_input(&addrs)));
    inputs.push(("key_shares".into(), "3".into()));
    inputs.push(("key_threshold".into(), "2".into()));
    let (run_id, ran) = run_with_answers(
        &world,
        "region-failover",
        &inputs,
        &["approve_restore", "switch_dns"],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.dump(), world.failures(&run_id));

    let token = world.root_token();
    let active = dr.wait_active_addr().await.unwrap();
    let (voters, ft) = wait_three_voters(&active, &token).await;
    assert_eq!((voters, ft), (3, 1));
    let verified = world.assert_all_secrets(&active, &token).await;
    assert_eq!(verified, 100);
    // The smoke test's canary is gone again.
    let (status, _) = call(
        reqwest::Method::GET,
        &format!("{active}/v1/secret/data/lifeboat-smoke/{run_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 404, "the smoke-test canary was left behind");
    // For good: no metadata (no soft-deleted version to undelete) either.
    let (status, _) = call(
        reqwest::Method::GET,
        &format!("{active}/v1/secret/metadata/lifeboat-smoke/{run_id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 404, "the smoke-test canary was only soft-deleted");
    // Its path is no secret: the run id is never redacted from it.
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(!all.contains("lifeboat-smoke/«redacted»"), "{}", ran.dump());
    report(&world, "region-failover", &run_id, verified);
}

/// Whether the node at `addr` reports itself sealed.
async fn sealed(addr: &str) -> bool {
    let (_, body) = call(
        reqwest::Method::GET,
        &format!("{addr}/v1/sys/health?sealedcode=200&standbycode=200&uninitcode=200"),
        None,
        None,
    )
    .await;
    body["sealed"] == true
}

/// The step whose failure failed the run, from its journal.
fn failed_step(world: &VaultWorld, run_id: &str) -> String {
    world
        .sandbox
        .journal(run_id)
        .iter()
        .find(|r| r["type"] == "step_failed")
        .map(|r| r["step"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compromise_seals_again_when_containment_fails_and_resumes_from_sealed() {
    let world = VaultWorld::start().await;
    let addrs: Vec<String> = (0..3).map(|i| world.cluster.addr(i)).collect();
    // A path to rotate that does not exist: `rotate_secrets` fails once the
    // cluster is unsealed again.
    let inputs = vec![
        ("nodes".to_string(), nodes_input(&addrs)),
        ("auth_methods".to_string(), json!(["userpass"]).to_string()),
        (
            "rotate_paths".to_string(),
            json!(["exposed/not-yet-written"]).to_string(),
        ),
    ];
    let ran = world.run_runbook("compromise", &inputs);
    assert_paused_at(&ran, "approve_recovery");
    let run_id = ran.run_id();
    let resumed = world.approve_and_resume(&run_id, "approve_recovery");
    assert_eq!(resumed.code, 1, "{}", resumed.dump());
    assert_eq!(
        failed_step(&world, &run_id),
        "rotate_secrets",
        "{}",
        resumed.dump()
    );
    assert!(
        world
            .failures(&run_id)
            .contains("cannot rotate: no secret at `secret/exposed/not-yet-written`"),
        "{}",
        world.failures(&run_id)
    );
    // on_failure sealed every node again.
    for a in &addrs {
        assert!(
            sealed(a).await,
            "{a} was left unsealed with containment unfinished\n{}",
            world.failures(&run_id)
        );
    }

    // The guide's recovery: fix the cause (here: the secret exists), then
    // `resume --from sealed`, and a second person approves again.
    for i in 0..3 {
        world.cluster.unseal(i).await.unwrap();
    }
    let active = world.cluster.wait_active_addr().await.unwrap();
    let (s, b) = call(
        reqwest::Method::POST,
        &format!("{active}/v1/secret/data/exposed/not-yet-written"),
        Some(&world.root_token()),
        Some(json!({"data": {"password": "old"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let ran = world.lifeboat(
        &[
            "resume".into(),
            run_id.clone(),
            "--from".into(),
            "sealed".into(),
        ],
        &[],
    );
    assert_paused_at(&ran, "approve_recovery");
    let ran = world.approve_and_resume(&run_id, "approve_recovery");
    assert_eq!(ran.code, 0, "{}\n{}", ran.dump(), world.failures(&run_id));
    let active = world.cluster.wait_active_addr().await.unwrap();
    assert!(!sealed(&active).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_deletion_stops_on_a_cli_error_instead_of_calling_a_secret_deleted() {
    let world = VaultWorld::start().await;
    let mut inputs = world.s3_inputs();
    inputs.extend(transient_inputs());
    inputs.push(("vault_addr".into(), world.cluster.addr(0)));
    inputs.push(("paths".into(), json!(["tenants/t00/app-0"]).to_string()));
    inputs.push(("deleted_at".into(), "2026-11-21T09:30:00Z".into()));
    // A token the server refuses: reading the metadata fails with 403, which
    // says nothing about the secret.
    let ran = world.lifeboat(
        &[
            "run".into(),
            runbook("secret-deletion").display().to_string(),
        ]
        .into_iter()
        .chain(
            inputs
                .iter()
                .flat_map(|(k, v)| ["--input".to_string(), format!("{k}={v}")]),
        )
        .collect::<Vec<_>>(),
        &[("VAULT_TOKEN", "not-a-valid-token".to_string())],
    );
    assert_eq!(ran.code, 1, "{}", ran.dump());
    let run_id = ran.run_id();
    assert_eq!(
        failed_step(&world, &run_id),
        "undelete",
        "{}",
        world.failures(&run_id)
    );
    assert!(
        world
            .failures(&run_id)
            .contains("permission denied: the token was refused by"),
        "{}",
        world.failures(&run_id)
    );
    // Nothing went on to the backup path.
    assert!(
        !world
            .sandbox
            .journal(&run_id)
            .iter()
            .any(|r| r["type"] == "step_started" && r["step"] == "start_transient"),
        "a CLI error was taken for a deleted secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_backup_says_why_the_transient_server_did_not_start_and_keeps_its_log() {
    use std::os::unix::fs::PermissionsExt;
    let world = VaultWorld::start().await;
    world.backup();
    // A server binary that answers `version` and dies at `server`.
    let real = lifeboat_harness::openbao::bao_binary().unwrap();
    let bad = world.sandbox.path().join("bao-dies");
    std::fs::write(
        &bad,
        format!(
            "#!/bin/sh\nif [ \"$1\" = server ]; then echo 'error loading configuration: simulated' >&2; exit 1; fi\nexec '{}' \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut inputs = world.s3_inputs();
    inputs.extend(transient_inputs());
    inputs.retain(|(k, _)| k != "bao_bin");
    inputs.push(("bao_bin".into(), bad.display().to_string()));
    let ran = world.run_runbook("verify-backup", &inputs);
    assert_eq!(ran.code, 1, "{}", ran.dump());
    let run_id = ran.run_id();
    assert_eq!(
        failed_step(&world, &run_id),
        "start_transient",
        "{}",
        world.failures(&run_id)
    );
    let failures = world.failures(&run_id);
    assert!(
        failures.contains("error loading configuration: simulated"),
        "the failure does not show the server's log:\n{failures}"
    );
    let kept = world.work_dir(&run_id).join("transient-server.log");
    let log = std::fs::read_to_string(&kept).unwrap_or_else(|e| panic!("{}: {e}", kept.display()));
    assert!(log.contains("simulated"), "{log}");
    assert!(!world.work_dir(&run_id).join("transient").exists());
}
