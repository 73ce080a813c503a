//! The `s3.*` kinds against a real S3-compatible server (moto on a free
//! loopback port, started per test by the harness). A missing `moto_server`
//! fails these tests with the install command; they never skip.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lifeboat_harness::s3_server::S3Server;
use lifeboat_steps::s3::{S3Delete, S3Get, S3Head, S3Latest, S3List, S3Put, S3Retention};
use lifeboat_steps::{Effect, Progress, Registry, Rerun, StepContext, StepError, StepKind};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

mod kind_driver;

use kind_driver::RunDeclared;

async fn server() -> S3Server {
    S3Server::start().await.unwrap_or_else(|e| panic!("{e}"))
}

/// The server's connection fields plus the kind's own.
fn with(server: &S3Server, own: Value) -> Value {
    let mut all = server.connection();
    for (k, v) in own.as_object().expect("own params are a mapping") {
        all[k] = v.clone();
    }
    all
}

/// Deterministic, incompressible-looking bytes.
fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

async fn put(server: &S3Server, ctx: &StepContext, key: &str, path: &str) -> Value {
    let out = S3Put
        .run_declared(ctx, with(server, json!({"key": key, "path": path})))
        .await
        .unwrap_or_else(|e| panic!("put {key}: {}", e.message));
    Value::Object(out.outputs)
}

/// Gives files mode 0600, as `s3.get` creates its partial files.
fn private(dir: &Path, names: &[&str]) {
    use std::os::unix::fs::PermissionsExt;
    for n in names {
        std::fs::set_permissions(dir.join(n), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// No failure message may carry the secret key the steps were given.
fn assert_no_secret(err: &StepError) {
    assert!(
        !err.message.contains(S3Server::SECRET_ACCESS_KEY),
        "the secret leaked into: {}",
        err.message
    );
}

#[tokio::test]
async fn put_stores_the_sha256_and_head_verifies_it_against_files() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("put", dir.path());
    let bytes = data(100_000, 1);
    let file = write(dir.path(), "snap.enc", &bytes);

    let out = put(&s3, &ctx, "daily/2026-11-21/snap.enc", &file).await;
    assert_eq!(out["sha256"], sha256_hex(&bytes));
    assert_eq!(out["bytes"], 100_000);
    assert_eq!(out["created"], true);
    assert!(
        out["etag"].as_str().is_some_and(|e| !e.contains('-')),
        "single-part etag: {out}"
    );

    let head = S3Head
        .run_declared(
            &ctx,
            with(
                &s3,
                json!({"key": "daily/2026-11-21/snap.enc", "verify_file": "snap.enc"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(head.outputs["exists"], true);
    assert_eq!(head.outputs["verified"], true);
    assert_eq!(head.outputs["size"], 100_000);
    assert_eq!(head.outputs["sha256"], sha256_hex(&bytes));
    assert!(head.outputs["modified"].as_str().unwrap().ends_with('Z'));

    let mut other = bytes.clone();
    other[500] ^= 1;
    write(dir.path(), "other.enc", &other);
    let err = S3Head
        .run_declared(
            &ctx,
            with(
                &s3,
                json!({"key": "daily/2026-11-21/snap.enc", "verify_file": "other.enc"}),
            ),
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("does not match"), "{}", err.message);
    assert!(err.message.contains(&sha256_hex(&other)), "{}", err.message);
    assert_eq!(err.outputs["verified"], false);
}

#[tokio::test]
async fn put_above_the_threshold_goes_up_in_parts_and_round_trips() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("put", dir.path());
    let bytes = data(12 << 20, 2);
    write(dir.path(), "big.enc", &bytes);

    let out = S3Put
        .run_declared(
            &ctx,
            with(&s3, json!({"key": "big.enc", "path": "big.enc", "multipart_threshold": "5 MiB", "part_size": "5 MiB"})),
        )
        .await
        .unwrap();
    // A multipart ETag ends in `-<number of parts>`.
    assert!(
        out.outputs["etag"].as_str().unwrap().ends_with("-3\""),
        "{:?}",
        out.outputs
    );
    assert_eq!(out.outputs["sha256"], sha256_hex(&bytes));

    let got = S3Get
        .run_declared(
            &ctx,
            with(&s3, json!({"key": "big.enc", "path": "restored/big.enc"})),
        )
        .await
        .unwrap();
    assert_eq!(got.outputs["sha256"], sha256_hex(&bytes));
    assert_eq!(
        got.outputs["verified"], true,
        "the multipart object keeps its sha256 metadata"
    );
    assert_eq!(
        std::fs::read(dir.path().join("restored/big.enc")).unwrap(),
        bytes
    );
    assert!(!dir.path().join("restored/big.enc.part").exists());
    assert!(!dir.path().join("restored/big.enc.part.etag").exists());
}

#[tokio::test]
async fn if_none_match_refuses_a_second_write_but_accepts_the_same_bytes() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("put", dir.path());
    write(dir.path(), "a.enc", &data(1000, 3));
    write(dir.path(), "b.enc", &data(1000, 4));
    let params = |path: &str| {
        with(
            &s3,
            json!({"key": "once.enc", "path": path, "if_none_match": "*"}),
        )
    };

    let first = S3Put.run_declared(&ctx, params("a.enc")).await.unwrap();
    assert_eq!(first.outputs["created"], true);

    let err = S3Put.run_declared(&ctx, params("b.enc")).await.unwrap_err();
    assert!(
        err.message.contains("`once.enc` already exists"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("refuses to overwrite"),
        "{}",
        err.message
    );
    assert_no_secret(&err);

    // A rerun of the first write finds its own bytes there: done, not an error.
    let again = S3Put.run_declared(&ctx, params("a.enc")).await.unwrap();
    assert_eq!(again.outputs["created"], false);

    // The object still holds the first file.
    let head = S3Head
        .run_declared(
            &ctx,
            with(&s3, json!({"key": "once.enc", "verify_file": "a.enc"})),
        )
        .await;
    assert_eq!(head.unwrap().outputs["verified"], true);
}

#[tokio::test]
async fn if_none_match_also_guards_multipart_uploads() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("put", dir.path());
    write(dir.path(), "a.enc", &data(6 << 20, 5));
    write(dir.path(), "b.enc", &data(6 << 20, 6));
    let params = |path: &str| {
        with(
            &s3,
            json!({"key": "big-once.enc", "path": path, "if_none_match": "*", "multipart_threshold": "5 MiB", "part_size": "5 MiB"}),
        )
    };
    S3Put.run_declared(&ctx, params("a.enc")).await.unwrap();
    let err = S3Put.run_declared(&ctx, params("b.enc")).await.unwrap_err();
    assert!(err.message.contains("already exists"), "{}", err.message);
    let head = S3Head
        .run_declared(
            &ctx,
            with(&s3, json!({"key": "big-once.enc", "verify_file": "a.enc"})),
        )
        .await;
    assert_eq!(head.unwrap().outputs["verified"], true);
}

#[tokio::test]
async fn list_filters_by_prefix_and_glob() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("list", dir.path());
    let file = write(dir.path(), "f", b"0123456789");
    for key in [
        "daily/2026-11-20/v.enc",
        "daily/2026-11-21/v.enc",
        "daily/2026-11-21/v.txt",
        "monthly/2026-11/v.enc",
    ] {
        put(&s3, &ctx, key, &file).await;
    }
    let out = S3List
        .run_declared(
            &ctx,
            with(&s3, json!({"prefix": "daily/", "pattern": "*.enc"})),
        )
        .await
        .unwrap();
    assert_eq!(out.outputs["count"], 2);
    let objects = out.outputs["objects"].as_array().unwrap();
    let keys: Vec<&str> = objects.iter().map(|o| o["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["daily/2026-11-20/v.enc", "daily/2026-11-21/v.enc"]);
    assert_eq!(objects[0]["size"], 10);
    assert!(objects[0]["modified"].as_str().unwrap().starts_with("20"));

    let all = S3List
        .run_declared(&ctx, with(&s3, json!({})))
        .await
        .unwrap();
    assert_eq!(all.outputs["count"], 4);
}

#[tokio::test]
async fn latest_picks_the_newest_match_and_honours_before() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("latest", dir.path());
    let old = write(dir.path(), "old", &data(10, 7));
    let new = write(dir.path(), "new", &data(20, 8));
    put(&s3, &ctx, "daily/2026-11-20/v.enc", &old).await;
    // S3 times have one-second resolution; make the two uploads differ.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put(&s3, &ctx, "daily/2026-11-21/v.enc", &new).await;
    put(&s3, &ctx, "daily/2026-11-21/v.txt", &old).await;

    let latest = S3Latest
        .run_declared(
            &ctx,
            with(&s3, json!({"prefix": "daily/", "pattern": "*.enc"})),
        )
        .await
        .unwrap();
    assert_eq!(latest.outputs["key"], "daily/2026-11-21/v.enc");
    assert_eq!(latest.outputs["size"], 20);
    assert_eq!(latest.outputs["sha256"], sha256_hex(&data(20, 8)));
    let newest_time = latest.outputs["modified"].as_str().unwrap().to_string();

    let earlier = S3Latest
        .run_declared(
            &ctx,
            with(
                &s3,
                json!({"prefix": "daily/", "pattern": "*.enc", "before": newest_time}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(earlier.outputs["key"], "daily/2026-11-20/v.enc");

    let err = S3Latest
        .run_declared(
            &ctx,
            with(
                &s3,
                json!({"prefix": "daily/", "pattern": "*.enc", "before": "2020-01-01T00:00:00Z"}),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        err.message.contains("no object under `daily/` in bucket `lifeboat-test` matches `*.enc` before 2020-01-01T00:00:00Z"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("the oldest is `daily/2026-11-20/v.enc`"),
        "{}",
        err.message
    );

    let err = S3Latest
        .run_declared(
            &ctx,
            with(&s3, json!({"prefix": "daily/", "pattern": "*.gpg"})),
        )
        .await
        .unwrap_err();
    assert!(
        err.message.contains("the newest is `daily/2026-11-21/v"),
        "{}",
        err.message
    );

    let err = S3Latest
        .run_declared(&ctx, with(&s3, json!({"prefix": "weekly/"})))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("the prefix is empty"),
        "{}",
        err.message
    );
}

/// Cancels the step once a download has passed some bytes: an interrupted
/// transfer, as a timeout or Ctrl-C would leave it.
struct CancelAfter {
    bytes: u64,
    cancel: tokio_util::sync::CancellationToken,
    fired: AtomicBool,
}

impl Progress for CancelAfter {
    fn bytes(&self, _step: &str, done: u64, _total: Option<u64>) {
        if done >= self.bytes && !self.fired.swap(true, Ordering::SeqCst) {
            self.cancel.cancel();
        }
    }
}

#[tokio::test]
async fn get_resumes_an_interrupted_download_from_its_partial_file() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("get", dir.path());
    let bytes = data(12 << 20, 9);
    let file = write(dir.path(), "src", &bytes);
    put(&s3, &ctx, "big.enc", &file).await;

    let mut interrupted = StepContext::standalone("get", dir.path());
    interrupted.progress = Arc::new(CancelAfter {
        bytes: 4 << 20,
        cancel: interrupted.cancel.clone(),
        fired: AtomicBool::new(false),
    });
    let params = with(&s3, json!({"key": "big.enc", "path": "out.enc"}));
    let err = S3Get
        .run_declared(&interrupted, params.clone())
        .await
        .unwrap_err();
    assert!(err.cancelled, "{}", err.message);
    let partial = std::fs::metadata(dir.path().join("out.enc.part"))
        .unwrap()
        .len();
    assert!(
        partial > 0 && partial < bytes.len() as u64,
        "partial file of {partial} bytes"
    );
    assert!(
        !dir.path().join("out.enc").exists(),
        "no incomplete file at the final path"
    );

    let out = S3Get.run_declared(&ctx, params).await.unwrap();
    assert_eq!(out.outputs["resumed_from"], partial);
    assert_eq!(out.outputs["bytes"], bytes.len());
    assert_eq!(out.outputs["sha256"], sha256_hex(&bytes));
    assert_eq!(out.outputs["verified"], true);
    assert_eq!(std::fs::read(dir.path().join("out.enc")).unwrap(), bytes);
}

#[tokio::test]
async fn get_discards_a_corrupt_partial_file_and_a_retry_starts_over() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("get", dir.path());
    let bytes = data(3 << 20, 10);
    let file = write(dir.path(), "src", &bytes);
    let etag = put(&s3, &ctx, "obj.enc", &file).await["etag"]
        .as_str()
        .unwrap()
        .to_string();

    // A partial file claiming the current ETag but holding wrong bytes.
    let mut wrong = bytes[..1 << 20].to_vec();
    wrong[7] ^= 0xff;
    std::fs::write(dir.path().join("out.enc.part"), &wrong).unwrap();
    std::fs::write(dir.path().join("out.enc.part.etag"), &etag).unwrap();
    // Mode 0600, as s3.get creates them: anything else is not continued.
    private(dir.path(), &["out.enc.part", "out.enc.part.etag"]);
    let params = with(&s3, json!({"key": "obj.enc", "path": "out.enc"}));
    let err = S3Get.run_declared(&ctx, params.clone()).await.unwrap_err();
    assert!(
        err.message.contains("does not match the stored sha256"),
        "{}",
        err.message
    );
    assert!(!dir.path().join("out.enc.part").exists());
    assert!(!dir.path().join("out.enc").exists());

    let out = S3Get.run_declared(&ctx, params.clone()).await.unwrap();
    assert_eq!(out.outputs["resumed_from"], 0);
    assert_eq!(std::fs::read(dir.path().join("out.enc")).unwrap(), bytes);

    // A partial file of another version of the object is not continued.
    std::fs::remove_file(dir.path().join("out.enc")).unwrap();
    std::fs::write(dir.path().join("out.enc.part"), &bytes[..1000]).unwrap();
    std::fs::write(
        dir.path().join("out.enc.part.etag"),
        "\"some-older-version\"",
    )
    .unwrap();
    private(dir.path(), &["out.enc.part", "out.enc.part.etag"]);
    let out = S3Get.run_declared(&ctx, params).await.unwrap();
    assert_eq!(out.outputs["resumed_from"], 0);
    assert_eq!(out.outputs["sha256"], sha256_hex(&bytes));
}

#[tokio::test]
async fn a_missing_object_fails_get_head_and_latest_clearly() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("missing", dir.path());
    let err = S3Get
        .run_declared(
            &ctx,
            with(&s3, json!({"key": "daily/x.enc", "path": "x.enc"})),
        )
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("object `daily/x.enc` not found in bucket `lifeboat-test`"),
        "{}",
        err.message
    );
    assert!(err.message.contains(&s3.endpoint()), "{}", err.message);
    assert_no_secret(&err);
    assert!(!dir.path().join("x.enc").exists());
    assert!(!dir.path().join("x.enc.part").exists());

    let err = S3Head
        .run_declared(
            &ctx,
            with(&s3, json!({"key": "daily/x.enc", "verify_file": "x.enc"})),
        )
        .await
        .unwrap_err();
    assert!(
        err.message.contains("object `daily/x.enc` not found"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_missing_bucket_and_an_unreachable_endpoint_are_named() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("errors", dir.path());
    let mut params = with(&s3, json!({"key": "k", "path": "k"}));
    params["bucket"] = json!("no-such-bucket");
    let err = S3Get.run_declared(&ctx, params).await.unwrap_err();
    assert!(
        err.message
            .contains("bucket `no-such-bucket` does not exist"),
        "{}",
        err.message
    );
    assert_no_secret(&err);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut params = with(&s3, json!({"prefix": ""}));
    params["endpoint"] = json!(endpoint);
    let err = S3List.run_declared(&ctx, params).await.unwrap_err();
    assert!(
        err.message
            .contains(&format!("could not reach endpoint `{endpoint}`")),
        "{}",
        err.message
    );
    assert_no_secret(&err);
}

#[tokio::test]
async fn access_denied_names_the_credentials_used_but_never_the_secret() {
    let s3 = S3Server::start_refusing_credentials()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("denied", dir.path());
    let err = S3List
        .run_declared(&ctx, with(&s3, json!({})))
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("cannot list `s3://lifeboat-test/`: access denied"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("InvalidAccessKeyId"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("access key `AKIALIFEBOATTEST` from the step's `access_key_id`"),
        "{}",
        err.message
    );
    assert_no_secret(&err);

    let err = S3Head
        .run_declared(&ctx, with(&s3, json!({"key": "k"})))
        .await
        .unwrap_err();
    assert!(err.message.contains("access denied"), "{}", err.message);
    assert_no_secret(&err);
}

#[tokio::test]
async fn delete_removes_one_key_or_many_and_tolerates_missing_ones() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("delete", dir.path());
    let file = write(dir.path(), "f", b"x");
    for key in ["a", "b", "c", "d"] {
        put(&s3, &ctx, key, &file).await;
    }
    let out = S3Delete
        .run_declared(&ctx, with(&s3, json!({"key": "a"})))
        .await
        .unwrap();
    assert_eq!(out.outputs["deleted"], json!(["a"]));
    let out = S3Delete
        .run_declared(
            &ctx,
            with(&s3, json!({"keys": ["b", "c", "never-existed"]})),
        )
        .await
        .unwrap();
    assert_eq!(out.outputs["count"], 3);

    let left = S3List
        .run_declared(&ctx, with(&s3, json!({})))
        .await
        .unwrap();
    let keys: Vec<&str> = left.outputs["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["d"]);
    let head = S3Head
        .run_declared(&ctx, with(&s3, json!({"key": "a"})))
        .await
        .unwrap();
    assert_eq!(head.outputs["exists"], false);
}

async fn keys(s3: &S3Server, ctx: &StepContext) -> Vec<String> {
    let out = S3List.run_declared(ctx, with(s3, json!({}))).await.unwrap();
    out.outputs["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn retention_plans_in_dry_run_and_deletes_exactly_the_old_groups() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = StepContext::standalone("retention", dir.path());
    let file = write(dir.path(), "f", b"backup");
    let mut all = Vec::new();
    for day in 15..=21 {
        all.push(format!("daily/2026-11-{day}/vault.snap.enc"));
    }
    all.push("daily/2026-11-21/vault.snap.enc.sha256".to_string());
    all.push("daily/README".to_string());
    for month in 7..=11 {
        all.push(format!("monthly/2026-{month:02}/vault.snap.enc"));
    }
    for key in &all {
        put(&s3, &ctx, key, &file).await;
    }
    let params = with(&s3, json!({"keep_daily": 3, "keep_monthly": 2}));
    let mut expected_gone: Vec<String> = (15..=18)
        .map(|d| format!("daily/2026-11-{d}/vault.snap.enc"))
        .chain((7..=9).map(|m| format!("monthly/2026-{m:02}/vault.snap.enc")))
        .collect();
    expected_gone.sort();

    let mut dry = StepContext::standalone("retention", dir.path());
    dry.dry_run = true;
    assert!(S3Retention.plans_in_dry_run());
    let plan = S3Retention
        .run_declared(&dry, params.clone())
        .await
        .unwrap();
    assert_eq!(plan.outputs["deleted"], json!([]));
    let mut planned: Vec<String> =
        serde_json::from_value(plan.outputs["planned_deletions"].clone()).unwrap();
    planned.sort();
    assert_eq!(planned, expected_gone);
    assert_eq!(plan.outputs["skipped"], json!(["daily/README"]));
    let text = plan.outputs["plan"].as_str().unwrap();
    assert!(
        text.contains("delete 2026-11-15 daily/2026-11-15/vault.snap.enc"),
        "{text}"
    );
    assert!(
        text.contains("keep   2026-11 monthly/2026-11/vault.snap.enc"),
        "{text}"
    );
    assert!(
        text.contains("dry run: 7 object(s) would be deleted, none was"),
        "{text}"
    );
    let mut still = keys(&s3, &ctx).await;
    still.sort();
    let mut sorted_all = all.clone();
    sorted_all.sort();
    assert_eq!(still, sorted_all, "dry run deleted nothing");

    let real = S3Retention
        .run_declared(&ctx, params.clone())
        .await
        .unwrap();
    let mut deleted: Vec<String> = serde_json::from_value(real.outputs["deleted"].clone()).unwrap();
    deleted.sort();
    assert_eq!(deleted, expected_gone);
    let mut left = keys(&s3, &ctx).await;
    left.sort();
    let mut expected_left: Vec<String> = all
        .iter()
        .filter(|k| !expected_gone.contains(k))
        .cloned()
        .collect();
    expected_left.sort();
    assert_eq!(left, expected_left);
    assert_eq!(
        left.len(),
        7,
        "3 daily dates (4 objects), the README and 2 months"
    );

    // Rerunning finds nothing more to do.
    let again = S3Retention.run_declared(&ctx, params).await.unwrap();
    assert_eq!(again.outputs["deleted"], json!([]));
}

#[test]
fn every_s3_kind_is_registered_with_its_effect() {
    let registry = Registry::builtin();
    for (name, effect, rerun) in [
        ("s3.list", Effect::ReadOnly, Rerun::Safe),
        ("s3.latest", Effect::ReadOnly, Rerun::Safe),
        ("s3.get", Effect::ReadOnly, Rerun::Safe),
        ("s3.head", Effect::ReadOnly, Rerun::Safe),
        ("s3.put", Effect::Mutating, Rerun::Safe),
        ("s3.delete", Effect::Mutating, Rerun::Safe),
        ("s3.retention", Effect::Mutating, Rerun::Safe),
    ] {
        let kind = registry
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not registered"));
        assert_eq!(kind.effect(&Value::Null), effect, "{name}");
        assert_eq!(kind.default_rerun(), rerun, "{name}");
    }
}

#[test]
fn check_reports_problems_at_their_fields() {
    let problems =
        S3Put.check(&json!({"bucket": "b", "key": "k", "path": "p", "if_none_match": "etag"}));
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path_string(), "if_none_match");

    let problems =
        S3Latest.check(&json!({"bucket": "b", "prefix": "daily/", "before": "last tuesday"}));
    assert_eq!(problems[0].path_string(), "before");
    // Templates are checked after rendering, not before.
    assert!(S3Latest
        .check(&json!({"bucket": "{{ inputs.bucket }}", "prefix": "daily/", "before": "{{ inputs.t }}"}))
        .is_empty());

    let problems = S3Delete.check(&json!({"bucket": "b"}));
    assert_eq!(problems[0].path_string(), "key");

    let problems = S3Retention.check(&json!({"bucket": "b", "keep_daily": 0, "keep_monthly": 1}));
    assert_eq!(problems[0].path_string(), "keep_daily");

    let problems = S3List.check(&json!({"bucket": "b", "pattern": "[oops"}));
    assert_eq!(problems[0].path_string(), "pattern");
}
