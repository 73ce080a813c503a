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

use serde_json::{json, Value};
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

async fn s3_put(world: &VaultWorld, key: &str, body: &[u8]) {
    let url = format!("{}/{}/{key}", world.s3.endpoint(), world.s3.bucket());
    let resp = http().put(&url).body(body.to_vec()).send().await.unwrap();
    assert!(resp.status().is_success(), "PUT {url}: {}", resp.status());
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
        s3_put(&world, &format!("daily/2025-01-{d:02}/vault-old.snap.enc"), b"old").await;
    }
    for m in 1..=12 {
        s3_put(&world, &format!("monthly/2024-{m:02}-01/vault-old.snap.enc"), b"old").await;
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
        assert!(keys.iter().any(|k| k.ends_with(".manifest.enc")), "{keys:?}");
        assert!(keys.iter().any(|k| k.ends_with(".meta.json")), "{keys:?}");
    }
    // The metadata names checksums that match what is stored.
    let meta_key = daily.iter().find(|k| k.ends_with(".meta.json")).unwrap();
    let meta: Value = serde_json::from_slice(&s3_get(&world, meta_key).await).unwrap();
    assert_eq!(meta["secrets"], 100, "{meta}");
    let snap_key = daily.iter().find(|k| k.ends_with(".snap.enc")).unwrap();
    let encrypted = s3_get(&world, snap_key).await;
    assert_eq!(meta["encrypted_bytes"], encrypted.len(), "{meta}");
    {
        use sha2::Digest;
        let sum = hex(&sha2::Sha256::digest(&encrypted));
        assert_eq!(meta["encrypted_sha256"], sum.as_str(), "{meta}");
    }
    // Encrypted: no gzip magic (a Raft snapshot is a gzip tar).
    assert_ne!(&encrypted[..2], &[0x1f, 0x8b], "the snapshot was uploaded in clear");

    // Retention: 30 daily dates and 12 months remain, the oldest went.
    let daily_all = s3_keys(&world, "daily/").await;
    assert!(!daily_all.iter().any(|k| k.starts_with("daily/2025-01-01/")));
    assert!(!daily_all.iter().any(|k| k.starts_with("daily/2025-01-02/")));
    assert!(daily_all.iter().any(|k| k.starts_with("daily/2025-01-03/")));
    let monthly_all = s3_keys(&world, "monthly/").await;
    assert!(!monthly_all.iter().any(|k| k.starts_with("monthly/2024-01-")));
    assert!(monthly_all.iter().any(|k| k.starts_with("monthly/2024-02-")));

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
    report("backup", &world.sandbox.journal(&run_id), 100);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
