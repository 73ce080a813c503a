//! The kinds the Vault runbooks need to be crash-safe and preflighted,
//! against real OpenBao servers from `lifeboat-harness`: `vault.init`'s
//! durable answer, read-only checks (`tool`, `vault.seal_status`,
//! `vault.token.check`) and KV metadata read as facts, never as CLI text.

use std::sync::{Arc, Mutex};

use lifeboat_harness::openbao::OpenBaoCluster;
use lifeboat_steps::{Progress, Registry, StepContext, StepError, StepOutput};
use serde_json::{json, Value};

/// Records the warnings steps report.
#[derive(Default)]
struct Recorder {
    warnings: Mutex<Vec<String>>,
}

impl Progress for Recorder {
    fn warn(&self, _step: &str, message: &str) {
        self.warnings.lock().unwrap().push(message.to_string());
    }
}

struct Env {
    dir: tempfile::TempDir,
    recorder: Arc<Recorder>,
    ctx: StepContext,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let mut ctx = StepContext::standalone("t", dir.path());
    ctx.progress = recorder.clone();
    Env { dir, recorder, ctx }
}

/// Runs a kind through the registry, after checking its parameters.
async fn run(ctx: &StepContext, kind: &str, with: Value) -> Result<StepOutput, StepError> {
    let registry = Registry::builtin();
    let k = registry
        .get(kind)
        .unwrap_or_else(|| panic!("`{kind}` is not registered"));
    let problems = k.check(&with);
    assert!(problems.is_empty(), "{kind}: check found {problems:?}");
    k.run(ctx, with).await
}

async fn ok(ctx: &StepContext, kind: &str, with: Value) -> StepOutput {
    let shown = with.clone();
    match run(ctx, kind, with).await {
        Ok(out) => out,
        Err(e) => panic!("{kind} {shown} failed: {}", e.message),
    }
}

async fn err(ctx: &StepContext, kind: &str, with: Value) -> StepError {
    let shown = with.clone();
    match run(ctx, kind, with).await {
        Ok(out) => panic!(
            "{kind} {shown} succeeded but should have failed: {:?}",
            out.outputs
        ),
        Err(e) => e,
    }
}

/// The names in a directory, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn init_answer_is_durable_and_a_second_run_with_the_same_file_returns_it() {
    let node = OpenBaoCluster::start_uninitialized(1).await;
    let e = env();
    let ctx = &e.ctx;
    let addr = node.addr(0);
    let params = |file: &str| json!({"addr": addr, "secret_shares": 3, "secret_threshold": 2, "output_file": file});

    // A file left by an earlier initialisation, but the node is new: refused,
    // and the node stays uninitialised.
    std::fs::write(
        e.dir.path().join("stale.json"),
        r#"{"unseal_keys_b64": ["a", "b", "c"], "unseal_keys_hex": [], "unseal_shares": 3, "unseal_threshold": 2, "root_token": "s.old"}"#,
    )
    .unwrap();
    let stale = err(ctx, "vault.init", params("stale.json")).await;
    assert!(
        stale.message.contains("is not initialized (was it wiped?)"),
        "{}",
        stale.message
    );
    assert!(!stale.message.contains("s.old"), "{}", stale.message);

    let first = ok(ctx, "vault.init", params("init.json")).await;
    assert_eq!(first.outputs["key_count"], 3);
    assert_eq!(first.outputs["recovered"], false);
    assert!(first.secret.contains("keys") && first.secret.contains("root_token"));
    let path = e.dir.path().join("init.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // No temporary file is left next to it.
    assert_eq!(listing(e.dir.path()), ["init.json", "stale.json"]);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["root_token"], first.outputs["root_token"]);
    assert_eq!(file["unseal_keys_b64"], first.outputs["keys"]);

    // The step runs again (a resume after an interruption): the node is
    // initialised and the file holds its answer, so that answer is the result.
    let again = ok(ctx, "vault.init", params("init.json")).await;
    assert_eq!(again.outputs["keys"], first.outputs["keys"]);
    assert_eq!(again.outputs["root_token"], first.outputs["root_token"]);
    assert_eq!(again.outputs["recovered"], true);
    assert!(again.secret.contains("keys") && again.secret.contains("root_token"));
    let warnings = e.recorder.warnings.lock().unwrap().clone();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("using the keys an earlier attempt saved")),
        "{warnings:?}"
    );

    // A resumed run reloads the secret outputs from the file, offline.
    let registry = Registry::builtin();
    let init = registry.get("vault.init").unwrap();
    let reloaded = init
        .reload_secret_outputs(ctx, &params("init.json"))
        .expect("vault.init with output_file can reload")
        .unwrap();
    assert_eq!(reloaded.outputs["keys"], first.outputs["keys"]);
    assert!(reloaded.secret.contains("root_token"));
    assert!(init
        .reload_secret_outputs(ctx, &json!({"addr": addr}))
        .is_none());

    // Another seal shape with the same file: refused, nothing changes.
    let shape = err(
        ctx,
        "vault.init",
        json!({"addr": addr, "output_file": "init.json"}),
    )
    .await;
    assert!(
        shape.message.contains("already exists") && shape.message.contains("3-share"),
        "{}",
        shape.message
    );

    // An empty file (what a kill used to leave): one precise message.
    std::fs::write(e.dir.path().join("empty.json"), "").unwrap();
    let empty = err(ctx, "vault.init", params("empty.json")).await;
    assert!(
        empty
            .message
            .contains("is not a complete init file (it is empty)"),
        "{}",
        empty.message
    );

    // Without a file, an initialised node is still refused.
    let bare = err(
        ctx,
        "vault.init",
        json!({"addr": addr, "secret_shares": 3, "secret_threshold": 2}),
    )
    .await;
    assert!(
        bare.message.contains("already initialized"),
        "{}",
        bare.message
    );
}
