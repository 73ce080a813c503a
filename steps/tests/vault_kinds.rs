//! The kinds the Vault runbooks need to be crash-safe and preflighted,
//! against real OpenBao servers from `lifeboat-harness`: `vault.init`'s
//! durable answer, read-only checks (`tool`, `vault.seal_status`,
//! `vault.token.check`) and KV metadata read as facts, never as CLI text.

use lifeboat_harness::openbao::{OpenBaoCluster, OpenBaoDev};
use lifeboat_steps::Registry;
use serde_json::{json, Value};

mod kind_driver;

use kind_driver::{env, err, ok};

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
            .contains("is not a complete key file (it is empty)"),
        "{}",
        empty.message
    );

    // The seal's shape, read-only and without a token: a preflight that the
    // keys a runbook holds fit before it changes anything.
    let seal = ok(
        ctx,
        "vault.seal_status",
        json!({"addr": addr, "expect": {"initialized": true, "shares": 3, "threshold": 2}, "keys": again.outputs["keys"]}),
    )
    .await;
    assert_eq!(seal.outputs["sealed"], true);
    assert_eq!(seal.outputs["keys_given"], 3);
    let one_key = json!([first.outputs["keys"][0]]);
    let short = err(
        ctx,
        "vault.seal_status",
        json!({"addr": addr, "expect": {"shares": 5, "threshold": 3}, "keys": one_key}),
    )
    .await;
    assert_eq!(
        short.message,
        format!("{addr} has a 3-share, threshold-2 seal: `shares` is 3, expected 5, `threshold` is 2, expected 3, 1 unseal key(s) given, but the threshold is 2; give at least 2 keys")
    );

    // vault.rotate_keys reloads its new keys from its file the same way.
    std::fs::write(
        e.dir.path().join("rotated.json"),
        r#"{"unseal_keys_b64": ["new-key-1", "new-key-2"], "unseal_keys_hex": [], "unseal_shares": 2, "unseal_threshold": 2}"#,
    )
    .unwrap();
    let rotated = registry
        .get("vault.rotate_keys")
        .unwrap()
        .reload_secret_outputs(ctx, &json!({"keys": "k", "output_file": "rotated.json"}))
        .unwrap()
        .unwrap();
    assert_eq!(rotated.outputs["keys"], json!(["new-key-1", "new-key-2"]));
    assert!(rotated.secret.contains("keys"));

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

/// Writes a policy and returns a token that has only it, valid for `ttl`.
async fn limited_token(addr: &str, root: &str, policy: &str, ttl: &str) -> String {
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{addr}/v1/sys/policies/acl/limited"))
        .header("X-Vault-Token", root)
        .json(&json!({ "policy": policy }))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let created: Value = http
        .post(format!("{addr}/v1/auth/token/create"))
        .header("X-Vault-Token", root)
        .json(&json!({"policies": ["limited"], "ttl": ttl}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn token_check_reports_validity_ttl_and_missing_capabilities() {
    let dev = OpenBaoDev::start().await;
    let e = env();
    let ctx = &e.ctx;
    let addr = dev.addr();
    let root = ok(
        ctx,
        "vault.token.check",
        json!({"addr": addr, "token": dev.token(), "capabilities": {"sys/seal": ["sudo", "update"]}, "min_ttl": "1h"}),
    )
    .await;
    assert_eq!(root.outputs["valid"], true);
    assert_eq!(root.outputs["capabilities"]["sys/seal"], json!(["root"]));
    assert!(
        !root.outputs.values().any(|v| v == dev.token()),
        "{:?}",
        root.outputs
    );

    let limited = limited_token(
        addr,
        dev.token(),
        r#"path "secret/data/app/*" { capabilities = ["read", "list"] }"#,
        "10m",
    )
    .await;
    let fine = ok(
        ctx,
        "vault.token.check",
        json!({"addr": addr, "token": limited, "capabilities": {"secret/data/app/db": ["read"]}, "min_ttl": "5m"}),
    )
    .await;
    assert_eq!(fine.outputs["policies"], json!(["default", "limited"]));
    let lacking = err(
        ctx,
        "vault.token.check",
        json!({"addr": addr, "token": limited, "capabilities": {"secret/data/app/db": ["read", "update"], "sys/seal": ["sudo"]}, "min_ttl": "1h"}),
    )
    .await;
    assert!(
        lacking.message.starts_with(&format!(
            "token check against {addr} failed: the token expires in "
        )),
        "{}",
        lacking.message
    );
    assert!(
        lacking.message.contains("sooner than `min_ttl` 1h00m; renew it or use a longer-lived token; the token lacks `update` on `secret/data/app/db` (it has: list, read); use a token whose policies grant it; the token lacks `sudo` on `sys/seal` (it has: deny)"),
        "{}",
        lacking.message
    );
    assert!(!lacking.message.contains(&limited));

    // The list form, for paths that are templates (mapping keys are not).
    let listed = err(
        ctx,
        "vault.token.check",
        json!({"addr": addr, "token": limited, "capabilities": [
            {"path": "secret/data/app/db", "capabilities": ["read"]},
            {"path": "secret/metadata/app/db", "capabilities": ["read"]}
        ]}),
    )
    .await;
    assert!(
        listed.message.ends_with("the token lacks `read` on `secret/metadata/app/db` (it has: deny); use a token whose policies grant it"),
        "{}",
        listed.message
    );
    let registry = Registry::builtin();
    let problems = registry.get("vault.token.check").unwrap().check(&json!({
        "capabilities": [{"path": "a", "capabilities": ["reed"]}]
    }));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path_string(), "capabilities[0].capabilities");

    let refused = err(
        ctx,
        "vault.token.check",
        json!({"addr": addr, "token": "s.not-a-real-token"}),
    )
    .await;
    assert!(
        refused.message.starts_with(&format!(
            "permission denied: the token was refused by {addr}"
        )),
        "{}",
        refused.message
    );
    assert!(!refused.message.contains("s.not-a-real-token"));
}

#[tokio::test]
async fn kv_metadata_reads_versions_as_facts_and_fails_on_any_error_but_404() {
    let dev = OpenBaoDev::start().await;
    let e = env();
    let ctx = &e.ctx;
    let addr = dev.addr();
    let conn = |extra: Value| {
        let mut with = json!({"addr": addr, "token": dev.token()});
        for (k, v) in extra.as_object().unwrap() {
            with[k] = v.clone();
        }
        with
    };
    for (path, value) in [
        ("app/soft", "1"),
        ("app/soft", "2"),
        ("app/gone", "1"),
        ("app/live", "1"),
    ] {
        ok(
            ctx,
            "vault.kv.put",
            conn(json!({"path": path, "data": {"v": value}})),
        )
        .await;
    }
    ok(ctx, "vault.kv.delete", conn(json!({"path": "app/soft"}))).await;
    ok(
        ctx,
        "vault.kv.delete",
        conn(json!({"path": "app/gone", "versions": [1], "destroy": true})),
    )
    .await;

    let soft = ok(ctx, "vault.kv.metadata", conn(json!({"path": "app/soft"}))).await;
    assert_eq!(soft.outputs["exists"], true);
    assert_eq!(soft.outputs["state"], "deleted");
    assert_eq!(soft.outputs["current_version"], 2);
    assert_eq!(soft.outputs["latest_live_version"], 1);
    assert_ne!(soft.outputs["versions"]["2"]["deletion_time"], "");
    assert_eq!(soft.outputs["versions"]["1"]["deletion_time"], "");
    assert_eq!(soft.outputs["versions"]["1"]["destroyed"], false);
    assert!(soft.secret.is_empty());

    let many = ok(
        ctx,
        "vault.kv.metadata",
        conn(json!({"paths": ["app/soft", "app/gone", "app/live", "app/never"]})),
    )
    .await;
    assert_eq!(many.outputs["live"], json!(["app/live"]));
    assert_eq!(many.outputs["deleted"], json!(["app/soft"]));
    assert_eq!(many.outputs["destroyed"], json!(["app/gone"]));
    assert_eq!(many.outputs["missing"], json!(["app/never"]));
    assert_eq!(
        many.outputs["secrets"]["app/gone"]["latest_live_version"],
        Value::Null
    );
    assert_eq!(
        many.outputs["secrets"]["app/gone"]["versions"]["1"]["destroyed"],
        true
    );
    assert_eq!(many.outputs["secrets"]["app/never"]["exists"], false);
    // No secret value is in the metadata.
    assert!(!serde_json::to_string(&many.outputs)
        .unwrap()
        .contains("\"v\""));

    // Errors are errors, never "does not exist".
    let denied = err(
        ctx,
        "vault.kv.metadata",
        json!({"addr": addr, "token": "s.wrong", "paths": ["app/live"]}),
    )
    .await;
    assert!(
        denied.message.starts_with("permission denied"),
        "{}",
        denied.message
    );
    let limited = limited_token(
        addr,
        dev.token(),
        r#"path "secret/data/*" { capabilities = ["read"] }"#,
        "10m",
    )
    .await;
    let no_metadata_access = err(
        ctx,
        "vault.kv.metadata",
        json!({"addr": addr, "token": limited, "path": "app/live"}),
    )
    .await;
    assert!(
        no_metadata_access.message.starts_with("permission denied"),
        "{}",
        no_metadata_access.message
    );
    let no_mount = err(
        ctx,
        "vault.kv.metadata",
        conn(json!({"mount": "nope", "path": "app/live"})),
    )
    .await;
    assert!(
        no_mount.message.contains("has nothing mounted at"),
        "{}",
        no_mount.message
    );
    let unreachable = err(
        ctx,
        "vault.kv.metadata",
        json!({"addr": "http://127.0.0.1:9", "token": "t", "path": "x"}),
    )
    .await;
    assert!(
        unreachable.message.starts_with("cannot reach"),
        "{}",
        unreachable.message
    );
    let registry = Registry::builtin();
    let kind = registry.get("vault.kv.metadata").unwrap();
    assert_eq!(kind.effect(&json!({})), lifeboat_steps::Effect::ReadOnly);
    assert_eq!(kind.check(&json!({"path": "a", "paths": ["b"]})).len(), 1);
}

#[tokio::test]
async fn recover_undeletes_or_rolls_back_and_copy_writes_back_from_another_server() {
    let prod = OpenBaoDev::start().await;
    let backup = OpenBaoDev::start().await;
    let e = env();
    let ctx = &e.ctx;
    let at = |dev: &OpenBaoDev, extra: Value| {
        let mut with = json!({"addr": dev.addr(), "token": dev.token()});
        for (k, v) in extra.as_object().unwrap() {
            with[k] = v.clone();
        }
        with
    };
    for (path, value) in [
        ("t/soft", "soft-1"),
        ("t/soft", "soft-2"),
        ("t/gone", "gone-1"),
        ("t/gone", "gone-2"),
        ("t/allgone", "allgone-1"),
        ("t/live", "live-1"),
    ] {
        ok(
            ctx,
            "vault.kv.put",
            at(&prod, json!({"path": path, "data": {"v": value}})),
        )
        .await;
    }
    ok(ctx, "vault.kv.delete", at(&prod, json!({"path": "t/soft"}))).await;
    ok(
        ctx,
        "vault.kv.delete",
        at(
            &prod,
            json!({"path": "t/gone", "versions": [2], "destroy": true}),
        ),
    )
    .await;
    ok(
        ctx,
        "vault.kv.delete",
        at(
            &prod,
            json!({"path": "t/allgone", "versions": [1], "destroy": true}),
        ),
    )
    .await;
    let paths = json!(["t/soft", "t/gone", "t/allgone", "t/live", "t/never"]);
    let recovered = ok(ctx, "vault.kv.recover", at(&prod, json!({"paths": paths}))).await;
    assert_eq!(
        recovered.outputs["recovered"],
        json!(["t/soft", "t/gone", "t/live"])
    );
    assert_eq!(
        recovered.outputs["unrecoverable"],
        json!(["t/allgone", "t/never"])
    );
    assert_eq!(recovered.outputs["intact"], json!(["t/live"]));
    assert_eq!(recovered.outputs["undeleted"], json!({"t/soft": 2}));
    assert_eq!(
        recovered.outputs["rolled_back"],
        json!({"t/gone": {"from": 1, "version": 3}})
    );
    let soft = ok(ctx, "vault.kv.get", at(&prod, json!({"path": "t/soft"}))).await;
    assert_eq!(soft.outputs["data"]["v"], "soft-2");
    let gone = ok(ctx, "vault.kv.get", at(&prod, json!({"path": "t/gone"}))).await;
    assert_eq!(gone.outputs["data"]["v"], "gone-1");
    assert!(!serde_json::to_string(&recovered.outputs)
        .unwrap()
        .contains("gone-1"));
    // Run again (a resume): everything recovered is intact, nothing changes.
    let again = ok(ctx, "vault.kv.recover", at(&prod, json!({"paths": paths}))).await;
    assert_eq!(
        again.outputs["intact"],
        json!(["t/soft", "t/gone", "t/live"])
    );
    assert_eq!(again.outputs["undeleted"], json!({}));
    // A denied token is an error, not "unrecoverable".
    let denied = err(
        ctx,
        "vault.kv.recover",
        json!({"addr": prod.addr(), "token": "s.nope", "paths": ["t/soft"]}),
    )
    .await;
    assert!(
        denied.message.starts_with("permission denied"),
        "{}",
        denied.message
    );

    // The unrecoverable ones come from the backup server, values in memory only.
    ok(
        ctx,
        "vault.kv.put",
        at(
            &backup,
            json!({"path": "t/allgone", "data": {"v": "from-backup"}}),
        ),
    )
    .await;
    ok(
        ctx,
        "vault.kv.put",
        at(
            &backup,
            json!({"path": "t/never", "data": {"v": "never-backup"}}),
        ),
    )
    .await;
    let source = json!({"addr": backup.addr(), "token": backup.token()});
    let copied = ok(
        ctx,
        "vault.kv.copy",
        at(
            &prod,
            json!({"source": source, "paths": ["t/allgone", "t/never"]}),
        ),
    )
    .await;
    assert_eq!(copied.outputs["written"], json!(["t/allgone", "t/never"]));
    assert_eq!(copied.outputs["versions"]["t/allgone"], 2);
    let back = ok(ctx, "vault.kv.get", at(&prod, json!({"path": "t/allgone"}))).await;
    assert_eq!(back.outputs["data"]["v"], "from-backup");
    let again = ok(
        ctx,
        "vault.kv.copy",
        at(
            &prod,
            json!({"source": source, "paths": ["t/allgone", "t/never"]}),
        ),
    )
    .await;
    assert_eq!(again.outputs["unchanged"], json!(["t/allgone", "t/never"]));
    let absent = err(
        ctx,
        "vault.kv.copy",
        at(
            &prod,
            json!({"source": source, "paths": ["t/not-in-backup"]}),
        ),
    )
    .await;
    assert!(
        absent
            .message
            .starts_with("cannot copy: no secret at `secret/t/not-in-backup` on"),
        "{}",
        absent.message
    );
    assert_eq!(
        listing(e.dir.path()),
        Vec::<String>::new(),
        "nothing on disk"
    );

    // Rotation: new random values under the same keys, in no output.
    ok(
        ctx,
        "vault.kv.put",
        at(
            &prod,
            json!({"path": "t/db", "data": {"user": "app", "password": "hunter2-old"}}),
        ),
    )
    .await;
    let rotated = ok(
        ctx,
        "vault.kv.rotate",
        at(&prod, json!({"paths": ["t/db", "t/live"]})),
    )
    .await;
    assert_eq!(rotated.outputs["rotated"], json!(["t/db", "t/live"]));
    assert!(rotated.secret.is_empty());
    let db = ok(ctx, "vault.kv.get", at(&prod, json!({"path": "t/db"}))).await;
    let data = db.outputs["data"].as_object().unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["password", "user"]);
    let new_password = data["password"].as_str().unwrap();
    assert_ne!(new_password, "hunter2-old");
    assert_eq!(new_password.len(), 43, "32 random bytes, base64url");
    assert_ne!(data["user"], data["password"]);
    assert!(!serde_json::to_string(&rotated.outputs)
        .unwrap()
        .contains(new_password));
    assert_eq!(ctx.redactor.redact(new_password), lifeboat_steps::REDACTED);
    let missing = err(
        ctx,
        "vault.kv.rotate",
        at(&prod, json!({"paths": ["t/nothing"]})),
    )
    .await;
    assert!(
        missing.message.starts_with("cannot rotate: no secret at"),
        "{}",
        missing.message
    );
}

#[tokio::test]
async fn auth_methods_and_token_accessors_are_contained_and_checked_as_facts() {
    let dev = OpenBaoDev::start().await;
    let e = env();
    let ctx = &e.ctx;
    let conn = |extra: Value| {
        let mut with = json!({"addr": dev.addr(), "token": dev.token()});
        for (k, v) in extra.as_object().unwrap() {
            with[k] = v.clone();
        }
        with
    };
    for path in ["userpass", "approle"] {
        ok(ctx, "vault.auth.enable", conn(json!({"path": path}))).await;
    }
    let listed = ok(ctx, "vault.auth.list", conn(json!({}))).await;
    assert_eq!(listed.outputs["methods"]["userpass"], "userpass");
    let still = err(
        ctx,
        "vault.auth.list",
        conn(json!({"expect_absent": ["userpass/", "approle", "ldap"]})),
    )
    .await;
    assert_eq!(
        still.message,
        format!("auth methods `userpass`, `approle` still enabled on {}; disable them (vault.auth.disable)", dev.addr())
    );
    let disabled = ok(
        ctx,
        "vault.auth.disable",
        conn(json!({"paths": ["userpass", "approle", "ldap"]})),
    )
    .await;
    assert_eq!(disabled.outputs["disabled"], json!(["userpass", "approle"]));
    assert_eq!(disabled.outputs["absent"], json!(["ldap"]));
    ok(
        ctx,
        "vault.auth.list",
        conn(json!({"expect_absent": ["userpass", "approle"]})),
    )
    .await;

    // Two tokens, known by their accessors.
    let http = reqwest::Client::new();
    let mut accessors = Vec::new();
    for _ in 0..2 {
        let created: Value = http
            .post(format!("{}/v1/auth/token/create", dev.addr()))
            .header("X-Vault-Token", dev.token())
            .json(&json!({"ttl": "10m"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        accessors.push(created["auth"]["accessor"].as_str().unwrap().to_string());
    }
    let live = err(
        ctx,
        "vault.token.lookup",
        conn(json!({"accessors": accessors, "expect_revoked": true})),
    )
    .await;
    assert!(live.message.contains("still valid on"), "{}", live.message);
    let revoked = ok(
        ctx,
        "vault.token.revoke",
        conn(json!({"accessors": [accessors[0]]})),
    )
    .await;
    assert_eq!(revoked.outputs["revoked_accessors"], json!([accessors[0]]));
    let both = ok(
        ctx,
        "vault.token.revoke",
        conn(json!({"accessors": accessors})),
    )
    .await;
    assert_eq!(both.outputs["already_gone"], json!([accessors[0]]));
    assert_eq!(both.outputs["revoked_accessors"], json!([accessors[1]]));
    let gone = ok(
        ctx,
        "vault.token.lookup",
        conn(json!({"accessors": accessors, "expect_revoked": true})),
    )
    .await;
    assert_eq!(gone.outputs["revoked"], json!(accessors));
    // A refused lookup is an error, never "revoked".
    let denied = err(
        ctx,
        "vault.token.lookup",
        json!({"addr": dev.addr(), "token": "s.nope", "accessors": accessors}),
    )
    .await;
    assert!(
        denied.message.starts_with("permission denied"),
        "{}",
        denied.message
    );
}
