//! The `vault.*` kinds against real OpenBao servers (dev server and Raft
//! clusters from `lifeboat-harness`), failure paths included.

use std::time::{Duration, Instant};

use lifeboat_harness::openbao::{health, OpenBaoCluster, OpenBaoDev};
use lifeboat_steps::Registry;
use serde_json::{json, Value};

mod kind_driver;

use kind_driver::{env, err, ok, run};

/// Merges the connection fields into a kind's parameters.
fn with(conn: &Value, extra: Value) -> Value {
    let mut out = conn.clone();
    for (k, v) in extra.as_object().unwrap() {
        out[k] = v.clone();
    }
    out
}

/// `GET /v1/sys/seal-status`, which shows unseal progress.
async fn seal_status(addr: &str) -> Value {
    reqwest::get(format!("{addr}/v1/sys/seal-status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls until `probe` holds, for at most `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    for _ in 0..(limit.as_millis() / 100 + 1) {
        if probe().await {
            return;
        }
        if start.elapsed() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

#[tokio::test]
async fn health_leader_and_kv_on_a_dev_server() {
    let dev = OpenBaoDev::start().await;
    let e = env();
    let ctx = &e.ctx;
    let conn = json!({"addr": dev.addr(), "token": dev.token()});

    let h = ok(
        ctx,
        "vault.health",
        with(
            &conn,
            json!({"expect": {"sealed": false, "initialized": true, "standby": false}}),
        ),
    )
    .await;
    assert_eq!(h.outputs["status"], "active");
    assert_eq!(h.outputs["version"], "2.7.2");
    let h = ok(ctx, "vault.health", json!({"addr": dev.addr()})).await;
    assert_eq!(h.outputs["sealed"], false, "health needs no token");

    let l = ok(ctx, "vault.leader", conn.clone()).await;
    assert_eq!(l.outputs["ha_enabled"], false, "the dev server has no HA");

    // put / get / versions
    let put = ok(
        ctx,
        "vault.kv.put",
        with(
            &conn,
            json!({"path": "app/db", "data": {"user": "app", "password": "pw-1"}}),
        ),
    )
    .await;
    assert_eq!(put.outputs["version"], 1);
    ok(
        ctx,
        "vault.kv.put",
        with(
            &conn,
            json!({"path": "app/db", "data": {"user": "app", "password": "pw-2"}}),
        ),
    )
    .await;
    ok(
        ctx,
        "vault.kv.put",
        with(&conn, json!({"path": "app/api", "data": {"key": "k"}})),
    )
    .await;
    ok(
        ctx,
        "vault.kv.put",
        with(&conn, json!({"path": "top", "data": {"x": "1"}})),
    )
    .await;
    let cas = err(
        ctx,
        "vault.kv.put",
        with(&conn, json!({"path": "top", "data": {"x": "2"}, "cas": 0})),
    )
    .await;
    assert!(cas.message.contains("check-and-set"), "{}", cas.message);

    let got = ok(ctx, "vault.kv.get", with(&conn, json!({"path": "app/db"}))).await;
    assert_eq!(got.outputs["data"]["password"], "pw-2");
    assert_eq!(got.outputs["version"], 2);
    assert!(
        got.secret.contains("data"),
        "kv.get data is a secret output"
    );
    let v1 = ok(
        ctx,
        "vault.kv.get",
        with(&conn, json!({"path": "app/db", "version": 1})),
    )
    .await;
    assert_eq!(v1.outputs["data"]["password"], "pw-1");
    let missing = err(ctx, "vault.kv.get", with(&conn, json!({"path": "nope"}))).await;
    assert!(
        missing.message.contains("no secret at `secret/nope`"),
        "{}",
        missing.message
    );

    let listed = ok(ctx, "vault.kv.list", conn.clone()).await;
    assert_eq!(listed.outputs["keys"], json!(["app/", "top"]));
    let listed = ok(ctx, "vault.kv.list", with(&conn, json!({"path": "app"}))).await;
    assert_eq!(listed.outputs["keys"], json!(["api", "db"]));

    // export, then verify: equal, then changed and missing
    let export = ok(
        ctx,
        "vault.kv.export",
        with(&conn, json!({"output": "manifest.json"})),
    )
    .await;
    assert_eq!(export.outputs["count"], 3);
    let manifest = std::fs::read_to_string(e.dir.path().join("manifest.json")).unwrap();
    assert!(!manifest.contains("pw-2"), "the manifest holds no values");
    let entries: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(entries[0]["path"], "app/api");
    assert_eq!(entries[1]["version"], 2);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(e.dir.path().join("manifest.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let verified = ok(
        ctx,
        "vault.kv.verify",
        with(&conn, json!({"manifest": "manifest.json"})),
    )
    .await;
    assert_eq!(verified.outputs["checked"], 3);
    assert_eq!(verified.outputs["mismatched"], json!([]));

    ok(
        ctx,
        "vault.kv.put",
        with(
            &conn,
            json!({"path": "app/api", "data": {"key": "changed"}}),
        ),
    )
    .await;
    // delete (soft) the latest version of `top`, then verify reports it missing
    let del = ok(ctx, "vault.kv.delete", with(&conn, json!({"path": "top"}))).await;
    assert_eq!(del.outputs["versions"], json!([1]));
    let deleted = err(ctx, "vault.kv.get", with(&conn, json!({"path": "top"}))).await;
    assert!(
        deleted.message.contains("was deleted at"),
        "{}",
        deleted.message
    );
    assert!(
        deleted.message.contains("vault.kv.undelete"),
        "{}",
        deleted.message
    );
    let bad = err(
        ctx,
        "vault.kv.verify",
        with(&conn, json!({"manifest": "manifest.json"})),
    )
    .await;
    assert!(bad.message.contains("2 of 3 secrets"), "{}", bad.message);
    assert!(bad.message.contains("1 missing: `top`"), "{}", bad.message);
    assert!(
        bad.message.contains("different data: `app/api`"),
        "{}",
        bad.message
    );
    assert_eq!(bad.outputs["mismatched"], json!(["app/api"]));
    // `paths`: only those entries of the manifest are compared, and none
    // may be missing from it.
    let subset = ok(
        ctx,
        "vault.kv.verify",
        with(
            &conn,
            json!({"manifest": "manifest.json", "paths": ["app/db"]}),
        ),
    )
    .await;
    assert_eq!(subset.outputs["checked"], 1);
    assert_eq!(subset.outputs["extra"], json!([]), "no walk with `paths`");
    let subset_bad = err(
        ctx,
        "vault.kv.verify",
        with(
            &conn,
            json!({"manifest": "manifest.json", "paths": ["app/db", "/top/"]}),
        ),
    )
    .await;
    assert!(
        subset_bad.message.contains("1 of 2 secrets")
            && subset_bad.message.contains("1 missing: `top`"),
        "{}",
        subset_bad.message
    );
    let unlisted = err(
        ctx,
        "vault.kv.verify",
        with(
            &conn,
            json!({"manifest": "manifest.json", "paths": ["app/db", "later/one"]}),
        ),
    )
    .await;
    assert_eq!(
        unlisted.message,
        "1 of the 2 `paths` are not in manifest `manifest.json`, so they cannot be checked against it: `later/one`; is it the manifest of the backup they came from?"
    );
    let both = Registry::builtin()
        .get("vault.kv.verify")
        .unwrap()
        .check(&json!({"manifest": "m", "paths": ["a"], "prefix": "x"}));
    assert_eq!(both.len(), 1, "{both:?}");
    // `vault.kv.get` with `paths`: which have a readable latest version;
    // no value is output.
    let which = ok(
        ctx,
        "vault.kv.get",
        with(
            &conn,
            json!({"paths": ["top", "app/db", "never/written", "/app/api/"]}),
        ),
    )
    .await;
    assert_eq!(which.outputs["found"], json!(["app/db", "app/api"]));
    assert_eq!(which.outputs["absent"], json!(["top", "never/written"]));
    assert_eq!(
        which.outputs["versions"],
        json!({"app/db": 2, "app/api": 2})
    );
    assert!(which.secret.is_empty() && which.outputs.get("data").is_none());
    let get = Registry::builtin();
    let get = get.get("vault.kv.get").unwrap();
    for (bad_with, says) in [
        (
            json!({"path": "a", "paths": ["a"]}),
            "give exactly one of `path`",
        ),
        (json!({"mount": "secret"}), "give exactly one of `path`"),
        (json!({"paths": ["a"], "version": 1}), "use it with `path`"),
    ] {
        let problems = get.check(&bad_with);
        assert!(
            problems.iter().any(|p| p.message.contains(says)),
            "{bad_with}: {problems:?}"
        );
    }
    // Any answer but a 404 fails the step: a refused token is no fact
    // about a secret.
    let denied = err(
        ctx,
        "vault.kv.get",
        json!({"addr": dev.addr(), "token": "not-a-token", "paths": ["app/db"]}),
    )
    .await;
    assert!(
        denied
            .message
            .starts_with("cannot read `secret/app/db`: permission denied"),
        "{}",
        denied.message
    );

    // undelete brings `top` back
    let und = ok(
        ctx,
        "vault.kv.undelete",
        with(&conn, json!({"path": "top"})),
    )
    .await;
    assert_eq!(und.outputs["versions"], json!([1]));
    let back = ok(ctx, "vault.kv.get", with(&conn, json!({"path": "top"}))).await;
    assert_eq!(back.outputs["data"]["x"], "1");
    let nothing = err(
        ctx,
        "vault.kv.undelete",
        with(&conn, json!({"path": "top"})),
    )
    .await;
    assert!(
        nothing.message.contains("no deleted version"),
        "{}",
        nothing.message
    );

    // destroy needs explicit versions and erases them
    let k = Registry::builtin();
    let problems = k
        .get("vault.kv.delete")
        .unwrap()
        .check(&json!({"path": "top", "destroy": true}));
    assert_eq!(problems.len(), 1, "{problems:?}");
    let destroyed = ok(
        ctx,
        "vault.kv.delete",
        with(
            &conn,
            json!({"path": "app/db", "versions": [1], "destroy": true}),
        ),
    )
    .await;
    assert_eq!(destroyed.outputs["destroyed"], true);
    let gone = err(
        ctx,
        "vault.kv.get",
        with(&conn, json!({"path": "app/db", "version": 1})),
    )
    .await;
    assert!(
        gone.message.contains("destroyed permanently"),
        "{}",
        gone.message
    );
}

#[tokio::test]
async fn wrong_token_unreachable_server_tokens_and_auth_methods() {
    let dev = OpenBaoDev::start().await;
    let e = env();
    let ctx = &e.ctx;
    let conn = json!({"addr": dev.addr(), "token": dev.token()});

    // A wrong token: the precise message, and the token never echoed.
    let wrong = "hvs.this-is-a-wrong-token";
    let denied = err(
        ctx,
        "vault.kv.get",
        json!({"addr": dev.addr(), "token": wrong, "path": "x"}),
    )
    .await;
    assert!(
        denied.message.starts_with(&format!(
            "permission denied: the token was refused by {}",
            dev.addr()
        )),
        "{}",
        denied.message
    );
    assert!(
        denied.message.contains("expired or revoked"),
        "{}",
        denied.message
    );
    assert!(!denied.message.contains(wrong), "{}", denied.message);

    // Nothing listening: the address is named.
    let port = lifeboat_harness::tools::free_port();
    let refused = err(
        ctx,
        "vault.health",
        json!({"addr": format!("http://127.0.0.1:{port}")}),
    )
    .await;
    assert!(
        refused.message.starts_with(&format!(
            "cannot reach http://127.0.0.1:{port}: connection refused"
        )),
        "{}",
        refused.message
    );

    // Something that is not Vault answers 200 with other JSON.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let body = r#"{"status":"UP"}"#;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    let not_vault = err(ctx, "vault.health", json!({"addr": other})).await;
    assert!(
        not_vault
            .message
            .contains("is `addr` a Vault or OpenBao API address?"),
        "{}",
        not_vault.message
    );

    // tls_skip_verify warns even when it changes nothing.
    ok(
        ctx,
        "vault.health",
        json!({"addr": dev.addr(), "tls_skip_verify": true}),
    )
    .await;
    let warnings = e.recorder.warnings.lock().unwrap().clone();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("TLS certificate verification is disabled")),
        "{warnings:?}"
    );

    // token.revoke by value, by accessor and self.
    let client = reqwest::Client::new();
    let create = |policies: Value| {
        let client = client.clone();
        let addr = dev.addr().to_string();
        let root = dev.token().to_string();
        async move {
            let body: Value = client
                .post(format!("{addr}/v1/auth/token/create"))
                .header("X-Vault-Token", root)
                .json(&json!({"policies": policies}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                body["auth"]["client_token"].as_str().unwrap().to_string(),
                body["auth"]["accessor"].as_str().unwrap().to_string(),
            )
        }
    };
    let (t1, _) = create(json!(["default"])).await;
    let out = ok(
        ctx,
        "vault.token.revoke",
        with(&conn, json!({"revoke_token": t1})),
    )
    .await;
    assert_eq!(out.outputs["by"], "token");
    let revoked = err(
        ctx,
        "vault.kv.list",
        json!({"addr": dev.addr(), "token": t1}),
    )
    .await;
    assert!(
        revoked.message.contains("permission denied"),
        "{}",
        revoked.message
    );

    let (t2, acc2) = create(json!(["default"])).await;
    ok(
        ctx,
        "vault.token.revoke",
        with(&conn, json!({"accessor": acc2})),
    )
    .await;
    let revoked = err(
        ctx,
        "vault.kv.list",
        json!({"addr": dev.addr(), "token": t2}),
    )
    .await;
    assert!(
        revoked.message.contains("permission denied"),
        "{}",
        revoked.message
    );

    let (t3, _) = create(json!(["default"])).await;
    ok(
        ctx,
        "vault.token.revoke",
        json!({"addr": dev.addr(), "token": t3, "self": true}),
    )
    .await;
    let twice = err(
        ctx,
        "vault.token.revoke",
        json!({"addr": dev.addr(), "token": t3, "self": true}),
    )
    .await;
    assert!(
        twice.message.contains("permission denied"),
        "{}",
        twice.message
    );
    let k = Registry::builtin();
    let problems = k
        .get("vault.token.revoke")
        .unwrap()
        .check(&json!({"accessor": "a", "self": true}));
    assert!(problems[0].message.contains("exactly one"), "{problems:?}");

    // auth.enable / disable, idempotent.
    let en = ok(
        ctx,
        "vault.auth.enable",
        with(&conn, json!({"path": "userpass"})),
    )
    .await;
    assert_eq!(en.outputs["changed"], true);
    let again = ok(
        ctx,
        "vault.auth.enable",
        with(&conn, json!({"path": "userpass/"})),
    )
    .await;
    assert_eq!(again.outputs["changed"], false);
    let clash = err(
        ctx,
        "vault.auth.enable",
        with(&conn, json!({"path": "userpass", "type": "approle"})),
    )
    .await;
    assert!(
        clash
            .message
            .contains("already holds an auth method of type `userpass`"),
        "{}",
        clash.message
    );
    let dis = ok(
        ctx,
        "vault.auth.disable",
        with(&conn, json!({"path": "userpass"})),
    )
    .await;
    assert_eq!(dis.outputs["changed"], true);
    let dis = ok(
        ctx,
        "vault.auth.disable",
        with(&conn, json!({"path": "userpass"})),
    )
    .await;
    assert_eq!(dis.outputs["changed"], false);
}

#[tokio::test]
async fn seal_then_sealed_failures_then_unseal() {
    let dev = OpenBaoDev::start().await;
    let e = env();
    let ctx = &e.ctx;
    let conn = json!({"addr": dev.addr(), "token": dev.token()});
    ok(
        ctx,
        "vault.kv.put",
        with(&conn, json!({"path": "a", "data": {"v": "1"}})),
    )
    .await;

    let sealed = ok(ctx, "vault.seal", conn.clone()).await;
    assert_eq!(sealed.outputs["changed"], true);
    let again = ok(ctx, "vault.seal", conn.clone()).await;
    assert_eq!(
        again.outputs["changed"], false,
        "sealing a sealed node is a no-op"
    );

    // health with expect fails naming the field; outputs still there
    let h = err(
        ctx,
        "vault.health",
        with(&conn, json!({"expect": {"sealed": false}})),
    )
    .await;
    assert_eq!(
        h.message,
        format!(
            "{} is sealed: `sealed` is true, expected false; unseal it first (vault.unseal)",
            dev.addr()
        )
    );
    assert_eq!(h.outputs["status"], "sealed");

    // kv.get on a sealed server
    let g = err(ctx, "vault.kv.get", with(&conn, json!({"path": "a"}))).await;
    assert_eq!(
        g.message,
        format!("{} is sealed; unseal it first (vault.unseal)", dev.addr())
    );

    // a wrong key is rejected and progress reset
    let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let u = err(ctx, "vault.unseal", with(&conn, json!({"keys": [wrong]}))).await;
    assert!(
        u.message.starts_with("unseal key #1 was rejected by"),
        "{}",
        u.message
    );
    assert!(!u.message.contains(wrong), "{}", u.message);
    let status = seal_status(dev.addr()).await;
    assert_eq!(status["sealed"], true);
    assert_eq!(status["progress"], 0);

    // the right key (as a string, the way a secret input arrives)
    let key = dev.unseal_key();
    let u = ok(
        ctx,
        "vault.unseal",
        with(&conn, json!({"keys": format!("{key}\n")})),
    )
    .await;
    assert_eq!(u.outputs["sealed"], false);
    assert_eq!(u.outputs["changed"], true);
    let u = ok(ctx, "vault.unseal", with(&conn, json!({"keys": [key]}))).await;
    assert_eq!(
        u.outputs["changed"], false,
        "unsealing an unsealed node is a no-op"
    );
    let g = ok(ctx, "vault.kv.get", with(&conn, json!({"path": "a"}))).await;
    assert_eq!(g.outputs["data"]["v"], "1");
}

#[tokio::test]
async fn raft_cluster_membership_and_snapshots() {
    let mut cluster = OpenBaoCluster::start(3).await;
    let e = env();
    let ctx = &e.ctx;
    let root = cluster.root_token().to_string();
    let active = cluster.wait_active_addr().await.unwrap();
    let conn = json!({"addr": active, "token": root});

    // membership
    let peers = ok(ctx, "vault.raft.peers", conn.clone()).await;
    assert_eq!(peers.outputs["count"], 3);
    assert_eq!(peers.outputs["voters"], 3);
    assert_eq!(peers.outputs["peers"][0]["node_id"], "node0");
    assert_eq!(peers.outputs["peers"][0]["leader"], true);
    let ap = ok(
        ctx,
        "vault.raft.autopilot",
        with(
            &conn,
            json!({"expect_failure_tolerance": 1, "expect_healthy": true}),
        ),
    )
    .await;
    assert_eq!(ap.outputs["failure_tolerance"], 1);
    assert_eq!(ap.outputs["leader"], "node0");
    let too_much = err(
        ctx,
        "vault.raft.autopilot",
        with(&conn, json!({"expect_failure_tolerance": 2})),
    )
    .await;
    assert!(
        too_much
            .message
            .contains("`failure_tolerance` is 1, expected at least 2"),
        "{}",
        too_much.message
    );
    let leader = ok(
        ctx,
        "vault.leader",
        json!({"addr": cluster.addr(1), "token": root}),
    )
    .await;
    assert_eq!(leader.outputs["leader_address"], active.as_str());
    assert_eq!(leader.outputs["is_self"], false);
    // `nodes`: the active node by the nodes' own health; an unreachable
    // one is just not it.
    let nowhere = format!("http://127.0.0.1:{}", lifeboat_harness::tools::free_port());
    let among = ok(
        ctx,
        "vault.leader",
        json!({"nodes": [nowhere, cluster.addr(1), cluster.addr(2), cluster.addr(0)]}),
    )
    .await;
    assert_eq!(among.outputs["leader_address"], active.as_str());
    assert_eq!(among.outputs["is_self"], true);
    assert_eq!(among.outputs["states"][&nowhere], "unreachable");
    assert_eq!(among.outputs["states"][cluster.addr(1)], "standby");
    assert_eq!(among.outputs["states"][active.as_str()], "active");
    let none = ok(ctx, "vault.leader", json!({"nodes": [nowhere]})).await;
    assert_eq!(none.outputs["leader_address"], "");
    assert_eq!(none.outputs["is_self"], false);
    let leader_kind = Registry::builtin();
    let leader_kind = leader_kind.get("vault.leader").unwrap();
    for (bad_with, says) in [
        (json!({"addr": active, "nodes": [active]}), "not both"),
        (json!({"nodes": []}), "`nodes` is empty"),
        (
            json!({"nodes": ["vault-1:8200"]}),
            "is not an http:// or https:// address",
        ),
    ] {
        let problems = leader_kind.check(&bad_with);
        assert!(
            problems.iter().any(|p| p.message.contains(says)),
            "{bad_with}: {problems:?}"
        );
    }
    // One server's state: a live follower shows itself alive as soon as
    // its last contact goes back down; an unknown id is not present.
    let started = Instant::now();
    let live = ok(
        ctx,
        "vault.raft.autopilot",
        with(&conn, json!({"server": "node1", "wait_unhealthy": "20s"})),
    )
    .await;
    assert_eq!(
        live.outputs["server"]["present"], true,
        "{:?}",
        live.outputs
    );
    assert_eq!(live.outputs["server"]["healthy"], true);
    assert_eq!(live.outputs["server"]["alive"], true, "{:?}", live.outputs);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let unknown = ok(
        ctx,
        "vault.raft.autopilot",
        with(&conn, json!({"server": "node9", "wait_unhealthy": "20s"})),
    )
    .await;
    assert_eq!(unknown.outputs["server"]["present"], false);
    let autopilot = Registry::builtin();
    let problems = autopilot
        .get("vault.raft.autopilot")
        .unwrap()
        .check(&json!({"wait_unhealthy": "soon"}));
    assert_eq!(problems.len(), 2, "{problems:?}");
    let standby = ok(ctx, "vault.health", json!({"addr": cluster.addr(1)})).await;
    assert_eq!(standby.outputs["status"], "standby");

    // snapshot: save, inspect, restore into the same cluster
    ok(
        ctx,
        "vault.kv.put",
        with(&conn, json!({"path": "before", "data": {"v": "1"}})),
    )
    .await;
    let saved = ok(
        ctx,
        "vault.snapshot.save",
        with(&conn, json!({"path": "snap.bin"})),
    )
    .await;
    let bytes = std::fs::read(e.dir.path().join("snap.bin")).unwrap();
    assert_eq!(saved.outputs["bytes"], bytes.len() as u64);
    assert!(
        !e.recorder.bytes.lock().unwrap().is_empty(),
        "snapshot.save reports byte progress"
    );
    // a standby forwards the snapshot request to the active node
    let from_standby = ok(
        ctx,
        "vault.snapshot.save",
        json!({"addr": cluster.addr(1), "token": root, "path": "standby.snap"}),
    )
    .await;
    assert!(from_standby.outputs["index"].as_u64().unwrap() > 0);
    let inspected = ok(ctx, "vault.snapshot.inspect", json!({"path": "snap.bin"})).await;
    assert_eq!(inspected.outputs["verified"], true);
    assert_eq!(inspected.outputs["sha256"], saved.outputs["sha256"]);
    assert!(inspected.outputs["index"].as_u64().unwrap() > 0);
    assert_eq!(inspected.outputs["peers"].as_array().unwrap().len(), 3);

    // a truncated and an altered copy fail precisely
    std::fs::write(e.dir.path().join("cut.bin"), &bytes[..bytes.len() / 2]).unwrap();
    let cut = err(ctx, "vault.snapshot.inspect", json!({"path": "cut.bin"})).await;
    assert_eq!(
        cut.message,
        "`cut.bin` is truncated: gzip stream ended early"
    );
    let altered = alter_state(&bytes);
    std::fs::write(e.dir.path().join("altered.bin"), altered).unwrap();
    let alt = err(
        ctx,
        "vault.snapshot.inspect",
        json!({"path": "altered.bin"}),
    )
    .await;
    assert!(
        alt.message
            .starts_with("SHA256SUMS mismatch for `state.bin` in `altered.bin`"),
        "{}",
        alt.message
    );
    // ...and restore refuses them before touching the cluster
    let r = err(
        ctx,
        "vault.snapshot.restore",
        with(&conn, json!({"path": "cut.bin"})),
    )
    .await;
    assert!(r.message.contains("is truncated"), "{}", r.message);

    ok(
        ctx,
        "vault.kv.put",
        with(&conn, json!({"path": "after", "data": {"v": "2"}})),
    )
    .await;
    let restored = ok(
        ctx,
        "vault.snapshot.restore",
        with(&conn, json!({"path": "snap.bin"})),
    )
    .await;
    assert_eq!(restored.outputs["forced"], false);
    // the write made after the snapshot disappears once the restore applies
    eventually(
        "the restored state to apply",
        Duration::from_secs(30),
        || {
            let conn = conn.clone();
            let ctx = ctx.clone();
            async move {
                let after = run(&ctx, "vault.kv.get", with(&conn, json!({"path": "after"}))).await;
                let before =
                    run(&ctx, "vault.kv.get", with(&conn, json!({"path": "before"}))).await;
                matches!(after, Err(ref e) if e.message.contains("no secret at")) && before.is_ok()
            }
        },
    )
    .await;

    // lose node 2's disk: remove it, wipe it, join it again and unseal it
    cluster.kill(2);
    // Autopilot marks the dead server unhealthy after its last-contact
    // threshold; the watch ends there.
    let dead = ok(
        ctx,
        "vault.raft.autopilot",
        with(&conn, json!({"server": "node2", "wait_unhealthy": "60s"})),
    )
    .await;
    assert_eq!(
        dead.outputs["server"]["present"], true,
        "{:?}",
        dead.outputs
    );
    assert_eq!(
        dead.outputs["server"]["healthy"], false,
        "{:?}",
        dead.outputs
    );
    assert_eq!(dead.outputs["server"]["alive"], false);
    let removed = ok(
        ctx,
        "vault.raft.remove_peer",
        with(&conn, json!({"server_id": "node2"})),
    )
    .await;
    assert_eq!(removed.outputs["removed"], true);
    assert_eq!(removed.outputs["count"], 2);
    let absent = ok(
        ctx,
        "vault.raft.remove_peer",
        with(&conn, json!({"server_id": "node2"})),
    )
    .await;
    assert_eq!(
        absent.outputs["removed"], false,
        "removing an absent peer is a no-op"
    );
    let lead = err(
        ctx,
        "vault.raft.remove_peer",
        with(&conn, json!({"server_id": "node0"})),
    )
    .await;
    assert!(
        lead.message.contains("is the current leader"),
        "{}",
        lead.message
    );
    cluster.wipe(2);
    cluster.start_node(2).await.unwrap();
    let node2 = json!({"addr": cluster.addr(2)});
    let h = ok(ctx, "vault.health", node2.clone()).await;
    assert_eq!(h.outputs["status"], "uninitialized");
    let not_yet = err(
        ctx,
        "vault.unseal",
        with(&node2, json!({"keys": cluster.unseal_keys()})),
    )
    .await;
    assert!(
        not_yet.message.contains("is not initialized"),
        "{}",
        not_yet.message
    );
    let joined = ok(
        ctx,
        "vault.raft.join",
        with(&node2, json!({"leader_api_addr": active})),
    )
    .await;
    assert_eq!(joined.outputs["joined"], true);
    let keys = cluster.unseal_keys().to_vec();
    let u = ok(
        ctx,
        "vault.unseal",
        with(
            &node2,
            json!({"keys": serde_json::to_string(&keys).unwrap()}),
        ),
    )
    .await;
    assert_eq!(u.outputs["sealed"], false);
    // joining again is harmless (OpenBao answers `joined: true`)
    let rejoin = ok(
        ctx,
        "vault.raft.join",
        with(&node2, json!({"leader_api_addr": active})),
    )
    .await;
    assert_eq!(rejoin.outputs["joined"], true);
    eventually("three voters again", Duration::from_secs(30), || {
        let conn = conn.clone();
        let ctx = ctx.clone();
        async move {
            run(
                &ctx,
                "vault.raft.autopilot",
                with(
                    &conn,
                    json!({"expect_failure_tolerance": 1, "expect_healthy": true}),
                ),
            )
            .await
            .is_ok()
        }
    })
    .await;

    // too few keys: still sealed, a precise message, progress reset
    ok(
        ctx,
        "vault.seal",
        json!({"addr": cluster.addr(1), "token": root}),
    )
    .await;
    let few = err(
        ctx,
        "vault.unseal",
        json!({"addr": cluster.addr(1), "keys": [keys[0]]}),
    )
    .await;
    assert!(
        few.message.contains("the threshold is 2"),
        "{}",
        few.message
    );
    let status = seal_status(&cluster.addr(1)).await;
    assert_eq!(status["sealed"], true);
    assert_eq!(status["progress"], 0, "progress is reset after a failure");
    ok(
        ctx,
        "vault.unseal",
        json!({"addr": cluster.addr(1), "keys": keys.join(",")}),
    )
    .await;
}

/// Rebuilds a snapshot archive with one byte of `state.bin` flipped and the
/// original `SHA256SUMS`: what tampering or bit rot before compression
/// looks like.
fn alter_state(original: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(original));
    let mut out = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name == "state.bin" {
            let mid = data.len() / 2;
            data[mid] ^= 0x01;
        }
        let mut header = entry.header().clone();
        header.set_cksum();
        out.append_data(&mut header, &name, &data[..]).unwrap();
    }
    let mut gz = out.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn init_a_new_cluster_and_force_restore_a_snapshot_from_another() {
    // cluster A: the one that was lost; its snapshot and keys survive
    let a = OpenBaoCluster::start(1).await;
    let e = env();
    let ctx = &e.ctx;
    let a_conn = json!({"addr": a.addr(0), "token": a.root_token()});
    ok(
        ctx,
        "vault.kv.put",
        with(
            &a_conn,
            json!({"path": "crown/jewels", "data": {"v": "kept"}}),
        ),
    )
    .await;
    ok(
        ctx,
        "vault.snapshot.save",
        with(&a_conn, json!({"path": "a.snap"})),
    )
    .await;

    // B: a new, empty node; vault.init gives secret outputs and a 0600 file
    let b = OpenBaoCluster::start_uninitialized(1).await;
    let b_addr = json!({"addr": b.addr(0)});
    let init = ok(
        ctx,
        "vault.init",
        with(
            &b_addr,
            json!({"secret_shares": 3, "secret_threshold": 2, "output_file": "b-keys.json"}),
        ),
    )
    .await;
    assert_eq!(init.outputs["key_count"], 3);
    assert!(init.secret.contains("keys") && init.secret.contains("root_token"));
    assert!(!init.secret.contains("key_count"));
    let path = e.dir.path().join("b-keys.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["root_token"], init.outputs["root_token"]);
    let again = err(
        ctx,
        "vault.init",
        with(&b_addr, json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    assert!(
        again.message.contains("already initialized"),
        "{}",
        again.message
    );
    let refuse = err(
        ctx,
        "vault.init",
        with(&b_addr, json!({"output_file": "b-keys.json"})),
    )
    .await;
    assert!(
        refuse.message.contains("already exists"),
        "{}",
        refuse.message
    );

    let b_keys: Vec<String> = serde_json::from_value(init.outputs["keys"].clone()).unwrap();
    let b_root = init.outputs["root_token"].as_str().unwrap().to_string();
    ok(
        ctx,
        "vault.unseal",
        with(&b_addr, json!({"keys": b_keys.join("\n")})),
    )
    .await;
    eventually("B to become active", Duration::from_secs(30), || {
        let addr = b.addr(0);
        async move {
            health(&addr)
                .await
                .map(|h| h["standby"] == false && h["sealed"] == false)
                .unwrap_or(false)
        }
    })
    .await;
    let b_conn = json!({"addr": b.addr(0), "token": b_root});

    // A's snapshot into B without force: refused, with the way forward
    let refused = err(
        ctx,
        "vault.snapshot.restore",
        with(&b_conn, json!({"path": "a.snap"})),
    )
    .await;
    assert_eq!(
        refused.message,
        format!(
            "{} refused `a.snap`: the snapshot was taken by a different cluster; use force: true for a restore into a new cluster (full cluster loss)",
            b.addr(0)
        )
    );
    // with force: accepted; B seals itself and opens with A's keys and token
    let forced = ok(
        ctx,
        "vault.snapshot.restore",
        with(&b_conn, json!({"path": "a.snap", "force": true})),
    )
    .await;
    assert_eq!(forced.outputs["forced"], true);
    assert!(e
        .recorder
        .warnings
        .lock()
        .unwrap()
        .iter()
        .any(|w| w.contains("seals itself")));
    eventually(
        "B to seal itself after the force restore",
        Duration::from_secs(30),
        || {
            let addr = b.addr(0);
            async move {
                health(&addr)
                    .await
                    .map(|h| h["sealed"] == true)
                    .unwrap_or(false)
            }
        },
    )
    .await;
    let with_b_keys = err(ctx, "vault.unseal", with(&b_addr, json!({"keys": b_keys}))).await;
    assert!(
        with_b_keys.message.contains("rejected"),
        "{}",
        with_b_keys.message
    );
    ok(
        ctx,
        "vault.unseal",
        with(&b_addr, json!({"keys": a.unseal_keys()})),
    )
    .await;
    let a_token_on_b = json!({"addr": b.addr(0), "token": a.root_token()});
    eventually("A's secret readable on B", Duration::from_secs(30), || {
        let conn = a_token_on_b.clone();
        let ctx = ctx.clone();
        async move {
            run(
                &ctx,
                "vault.kv.get",
                with(&conn, json!({"path": "crown/jewels"})),
            )
            .await
            .map(|o| o.outputs["data"]["v"] == "kept")
            .unwrap_or(false)
        }
    })
    .await;

    // Rotate A's unseal keys (a single node, so no standby can lag behind):
    // wrong keys cancel the rotation, the new keys unseal, the old ones do not.
    let old_keys = a.unseal_keys().to_vec();
    let wrong = err(
        ctx,
        "vault.rotate_keys",
        with(
            &a_conn,
            json!({"keys": b_keys, "output_file": "never.json"}),
        ),
    )
    .await;
    assert!(
        wrong.message.contains("the rotation was cancelled"),
        "{}",
        wrong.message
    );
    assert!(
        !e.dir.path().join("never.json").exists(),
        "a failed rotation leaves no key file"
    );
    let rotated = ok(
        ctx,
        "vault.rotate_keys",
        with(
            &a_conn,
            json!({"keys": old_keys, "output_file": "new-keys.json"}),
        ),
    )
    .await;
    assert!(rotated.secret.contains("keys"));
    assert_eq!(rotated.outputs["key_count"], 3);
    let new_keys: Vec<String> = serde_json::from_value(rotated.outputs["keys"].clone()).unwrap();
    assert!(new_keys.iter().all(|k| !old_keys.contains(k)));
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(e.dir.path().join("new-keys.json")).unwrap())
            .unwrap();
    assert_eq!(file["unseal_keys_b64"], json!(new_keys));
    let exists = err(
        ctx,
        "vault.rotate_keys",
        with(
            &a_conn,
            json!({"keys": new_keys, "output_file": "new-keys.json"}),
        ),
    )
    .await;
    assert!(
        exists.message.contains("already exists"),
        "{}",
        exists.message
    );
    ok(ctx, "vault.seal", a_conn.clone()).await;
    let old = err(
        ctx,
        "vault.unseal",
        with(&a_conn, json!({"keys": old_keys})),
    )
    .await;
    assert!(old.message.contains("rejected"), "{}", old.message);
    ok(
        ctx,
        "vault.unseal",
        with(&a_conn, json!({"keys": new_keys})),
    )
    .await;
}

#[tokio::test]
async fn a_wrong_mount_is_named_as_such() {
    let dev = OpenBaoDev::start().await;
    let e = env();
    let conn = json!({"addr": dev.addr(), "token": dev.token(), "mount": "secrets"});
    let get = err(&e.ctx, "vault.kv.get", with(&conn, json!({"path": "a"}))).await;
    assert!(
        get.message
            .contains("has nothing mounted at /v1/secrets/data/a"),
        "{}",
        get.message
    );
    let list = err(&e.ctx, "vault.kv.list", conn.clone()).await;
    assert!(
        list.message.contains("is `mount` right"),
        "{}",
        list.message
    );
}

#[tokio::test]
async fn tls_with_ca_file_and_without() {
    let dev = OpenBaoDev::start_tls().await;
    let e = env();
    assert!(dev.addr().starts_with("https://"));
    let ca = dev.ca_file().display().to_string();
    let conn = json!({"addr": dev.addr(), "token": dev.token(), "ca_file": ca});
    let h = ok(&e.ctx, "vault.health", conn.clone()).await;
    assert_eq!(h.outputs["status"], "active");
    ok(&e.ctx, "vault.kv.list", conn).await;

    // without the CA: the TLS failure is named with the fix
    let untrusted = err(&e.ctx, "vault.health", json!({"addr": dev.addr()})).await;
    assert!(
        untrusted
            .message
            .starts_with(&format!("TLS with {} failed", dev.addr())),
        "{}",
        untrusted.message
    );
    assert!(
        untrusted.message.contains("set `ca_file`"),
        "{}",
        untrusted.message
    );

    // skipping verification works, and warns
    ok(
        &e.ctx,
        "vault.health",
        json!({"addr": dev.addr(), "tls_skip_verify": true}),
    )
    .await;
    assert_eq!(e.recorder.warnings.lock().unwrap().len(), 1);

    // a CA file that is not PEM
    std::fs::write(e.dir.path().join("bad.pem"), "not a certificate").unwrap();
    let bad = err(
        &e.ctx,
        "vault.health",
        json!({"addr": dev.addr(), "ca_file": "bad.pem"}),
    )
    .await;
    assert!(bad.message.contains("`ca_file`"), "{}", bad.message);
}

#[tokio::test]
async fn namespace_is_sent_with_every_request() {
    let dev = OpenBaoDev::start().await;
    let e = env();
    let client = reqwest::Client::new();
    let root = dev.token();
    let created = client
        .post(format!("{}/v1/sys/namespaces/team-a", dev.addr()))
        .header("X-Vault-Token", root)
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let mounted = client
        .post(format!("{}/v1/sys/mounts/kv", dev.addr()))
        .header("X-Vault-Token", root)
        .header("X-Vault-Namespace", "team-a")
        .json(&json!({"type": "kv", "options": {"version": "2"}}))
        .send()
        .await
        .unwrap();
    assert!(mounted.status().is_success(), "{}", mounted.status());
    let conn = json!({"addr": dev.addr(), "token": root, "namespace": "team-a", "mount": "kv"});
    eventually(
        "the namespaced mount to take writes",
        Duration::from_secs(10),
        || {
            let ctx = e.ctx.clone();
            let conn = conn.clone();
            async move {
                run(
                    &ctx,
                    "vault.kv.put",
                    with(&conn, json!({"path": "a", "data": {"v": "ns"}})),
                )
                .await
                .is_ok()
            }
        },
    )
    .await;
    let got = ok(&e.ctx, "vault.kv.get", with(&conn, json!({"path": "a"}))).await;
    assert_eq!(got.outputs["data"]["v"], "ns");
    // the same path outside the namespace does not exist
    let root_conn = json!({"addr": dev.addr(), "token": root, "mount": "kv"});
    let outside = err(
        &e.ctx,
        "vault.kv.get",
        with(&root_conn, json!({"path": "a"})),
    )
    .await;
    assert!(
        outside.message.contains("nothing mounted"),
        "{}",
        outside.message
    );
}
