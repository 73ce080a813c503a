//! `vault.kv.export` and `vault.kv.verify` at scale against a real OpenBao
//! dev server: a few hundred secrets read with `concurrency: 1` and `16`
//! give the same manifest, byte for byte, and the same verdicts; a secret
//! the token may not read stops both, naming it; no more requests are in
//! flight than `concurrency` allows (counted by a latency proxy in front of
//! the server); `concurrency` outside 1 to 256 is refused.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use lifeboat_harness::latency_proxy::LatencyProxy;
use lifeboat_harness::openbao::OpenBaoDev;
use lifeboat_steps::checksum::sha256_hex;
use lifeboat_steps::{Progress, Registry, StepContext, StepOutput};
use serde_json::{json, Value};

mod kind_driver;

use kind_driver::{err, ok};

/// The folders the secrets are spread over, and a few names chosen to
/// test the order: a secret named like a folder (`app` beside `app/`), and
/// names that sort just before and after `app/` (`app-`, `app0`).
const FOLDERS: &[&str] = &["", "app/", "app/db/", "app-x/", "zeta/deep/er/"];
const ODD_NAMES: &[&str] = &["app", "app-", "app0", "with space", "ünï/cödé"];
const SECRETS: usize = 300;
/// Soft-deleted after it is written: exported as `skipped`.
const DELETED: &str = "zeta/deep/er/s004";
/// The secret the restricted token's policy denies.
const DENIED: &str = "app/db/s152";

/// Records the progress lines a step reports.
#[derive(Default)]
struct Lines(Mutex<Vec<String>>);

impl Progress for Lines {
    fn line(&self, _step: &str, line: &str) {
        self.0.lock().unwrap().push(line.to_string());
    }
}

struct Mount {
    dev: OpenBaoDev,
    /// Every live secret: path, version and data, as written.
    live: BTreeMap<String, (u64, BTreeMap<String, String>)>,
}

/// One write through the API.
async fn put(
    http: &reqwest::Client,
    dev: &OpenBaoDev,
    path: &str,
    data: &BTreeMap<String, String>,
) {
    let resp = http
        .post(format!("{}/v1/secret/data/{path}", dev.addr()))
        .header("X-Vault-Token", dev.token())
        .json(&json!({ "data": data }))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "writing {path}: {}",
        resp.status()
    );
}

/// A dev server with [`SECRETS`] secrets over [`FOLDERS`], the odd names,
/// every seventh secret written twice (version 2) and [`DELETED`] deleted.
async fn mount() -> Mount {
    let dev = OpenBaoDev::start().await;
    let http = reqwest::Client::new();
    let mut live = BTreeMap::new();
    let mut paths: Vec<(String, usize)> = (0..SECRETS)
        .map(|i| (format!("{}s{i:03}", FOLDERS[i % FOLDERS.len()]), i))
        .collect();
    paths.extend(
        ODD_NAMES
            .iter()
            .enumerate()
            .map(|(j, n)| (n.to_string(), SECRETS + j)),
    );
    for chunk in paths.chunks(32) {
        join_all(chunk.iter().map(|(path, i)| {
            let (http, dev) = (&http, &dev);
            async move {
                let data: BTreeMap<String, String> = [
                    ("n".to_string(), i.to_string()),
                    ("v".to_string(), format!("value-{i}")),
                ]
                .into();
                put(http, dev, path, &data).await;
                if i % 7 == 0 {
                    let mut again = data.clone();
                    again.insert("v".into(), format!("value-{i}-again"));
                    put(http, dev, path, &again).await;
                    return (path.clone(), (2, again));
                }
                (path.clone(), (1, data))
            }
        }))
        .await
        .into_iter()
        .for_each(|(path, v)| {
            live.insert(path, v);
        });
    }
    let resp = http
        .delete(format!("{}/v1/secret/data/{DELETED}", dev.addr()))
        .header("X-Vault-Token", dev.token())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "deleting: {}", resp.status());
    live.remove(DELETED);
    Mount { dev, live }
}

/// The manifest the step must write, made here from what was written: the
/// entries in path order, pretty-printed as a list, as `vault.kv.export`
/// wrote it when it read one secret at a time.
fn expected_manifest(live: &BTreeMap<String, (u64, BTreeMap<String, String>)>) -> Vec<u8> {
    let entries: Vec<Value> = live
        .iter()
        .map(|(path, (version, data))| {
            // A flat map of strings: compact JSON with sorted keys is its
            // canonical form.
            let digest = sha256_hex(serde_json::to_string(data).unwrap().as_bytes());
            json!({"path": path, "version": version, "sha256": digest})
        })
        .collect();
    let mut text = serde_json::to_vec_pretty(&Value::Array(entries)).unwrap();
    text.push(b'\n');
    text
}

fn context(dir: &std::path::Path) -> (StepContext, Arc<Lines>) {
    let lines = Arc::new(Lines::default());
    let mut ctx = StepContext::standalone("bulk", dir);
    ctx.progress = lines.clone();
    (ctx, lines)
}

fn conn(addr: &str, token: &str, extra: Value) -> Value {
    let mut with = json!({"addr": addr, "token": token});
    for (k, v) in extra.as_object().unwrap() {
        with[k] = v.clone();
    }
    with
}

#[tokio::test]
async fn export_and_verify_answer_the_same_at_concurrency_1_and_16() {
    let m = mount().await;
    let dir = tempfile::tempdir().unwrap();
    let (ctx, lines) = context(dir.path());
    let (addr, token) = (m.dev.addr(), m.dev.token());
    let expected = expected_manifest(&m.live);

    let mut exports: Vec<StepOutput> = Vec::new();
    for concurrency in [1, 16] {
        let output = format!("c{concurrency}.json");
        lines.0.lock().unwrap().clear();
        let out = ok(
            &ctx,
            "vault.kv.export",
            conn(
                addr,
                token,
                json!({"output": output, "concurrency": concurrency}),
            ),
        )
        .await;
        let written = std::fs::read(dir.path().join(&output)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&expected),
            "concurrency {concurrency}"
        );
        assert_eq!(out.outputs["count"], m.live.len());
        assert_eq!(out.outputs["skipped"], json!([DELETED]));
        assert_eq!(out.outputs["digest"], sha256_hex(&expected));
        let listed = m.live.len() + 1;
        assert_eq!(
            lines.0.lock().unwrap().last().map(String::as_str),
            Some(format!("read {listed} of {listed} secrets").as_str()),
            "the last progress line says N of M"
        );
        exports.push(out);
    }
    for out in &mut exports {
        out.outputs.remove("path");
    }
    assert_eq!(exports[0].outputs, exports[1].outputs);
    // The default is 16.
    let default = ok(
        &ctx,
        "vault.kv.export",
        conn(addr, token, json!({"output": "default.json"})),
    )
    .await;
    assert_eq!(default.outputs["digest"], exports[1].outputs["digest"]);

    let mut verdicts = Vec::new();
    for concurrency in [1, 16] {
        let out = ok(
            &ctx,
            "vault.kv.verify",
            conn(
                addr,
                token,
                json!({"manifest": "c1.json", "concurrency": concurrency}),
            ),
        )
        .await;
        assert_eq!(out.outputs["checked"], m.live.len());
        assert_eq!(out.outputs["missing"], json!([]));
        // A soft-deleted secret is listed, but not in the manifest (as when
        // secrets were read one at a time).
        assert_eq!(out.outputs["extra"], json!([DELETED]));
        verdicts.push(out.outputs);
    }
    assert_eq!(verdicts[0], verdicts[1]);
    assert_eq!(
        lines.0.lock().unwrap().last().map(String::as_str),
        Some(format!("compared {0} of {0} secrets", m.live.len()).as_str())
    );

    // Changed, deleted and unlisted secrets: the same failure either way.
    let http = reqwest::Client::new();
    put(
        &http,
        &m.dev,
        "app/s001",
        &[("n".into(), "changed".into())].into(),
    )
    .await;
    put(
        &http,
        &m.dev,
        "app/db/new",
        &[("n".into(), "new".into())].into(),
    )
    .await;
    let resp = http
        .delete(format!("{addr}/v1/secret/data/app-x/s003"))
        .header("X-Vault-Token", token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let mut failures = Vec::new();
    for concurrency in [1, 16] {
        let e = err(
            &ctx,
            "vault.kv.verify",
            conn(
                addr,
                token,
                json!({"manifest": "c16.json", "concurrency": concurrency}),
            ),
        )
        .await;
        assert_eq!(
            e.message,
            format!(
                "2 of {} secrets in `secret` do not match manifest `c16.json`: 1 missing: `app-x/s003`; 1 with different data: `app/s001`",
                m.live.len()
            )
        );
        assert_eq!(e.outputs["extra"], json!(["app/db/new", DELETED]));
        failures.push(e.outputs);
    }
    assert_eq!(failures[0], failures[1]);
}

/// Grants reading and listing the whole `secret` mount but one secret.
const POLICY: &str = r#"
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
path "secret/data/app/db/s152" { capabilities = ["deny"] }
"#;

/// A token whose policy may read every secret but [`DENIED`].
async fn restricted_token(dev: &OpenBaoDev) -> String {
    let http = reqwest::Client::new();
    let resp = http
        .put(format!("{}/v1/sys/policies/acl/bulk-read", dev.addr()))
        .header("X-Vault-Token", dev.token())
        .json(&json!({ "policy": POLICY }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "policy: {}", resp.status());
    let created: Value = http
        .post(format!("{}/v1/auth/token/create", dev.addr()))
        .header("X-Vault-Token", dev.token())
        .json(&json!({ "policies": ["bulk-read"], "no_default_policy": true }))
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
async fn a_secret_the_token_may_not_read_stops_export_and_verify_naming_it() {
    let m = mount().await;
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(dir.path());
    let addr = m.dev.addr();
    let token = restricted_token(&m.dev).await;
    // A manifest of everything, made with the root token.
    ok(
        &ctx,
        "vault.kv.export",
        conn(addr, m.dev.token(), json!({"output": "all.json"})),
    )
    .await;
    let denied = format!(
        "cannot read `secret/{DENIED}`: permission denied: the token was refused by {addr} (is it expired or revoked?) for GET /v1/secret/data/{DENIED}"
    );
    // Where the denied secret comes in the walk: the reads stop there, with
    // at most `concurrency` more asked for (and the 8 listings).
    let before = m
        .live
        .keys()
        .chain([&DELETED.to_string()])
        .filter(|p| p.as_str() < DENIED)
        .count();
    let proxy = LatencyProxy::start(addr, Duration::from_millis(1));
    for concurrency in [1, 16] {
        proxy.reset();
        let e = err(
            &ctx,
            "vault.kv.export",
            conn(
                &proxy.url(),
                &token,
                json!({"output": "part.json", "concurrency": concurrency}),
            ),
        )
        .await;
        assert_eq!(
            e.message,
            denied.replace(addr, &proxy.url()),
            "export at concurrency {concurrency}"
        );
        assert!(!e.cancelled);
        assert!(
            proxy.requests() <= before + concurrency + 8,
            "{} requests; the denied secret was read after {before}",
            proxy.requests()
        );
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["all.json"], "a failed export leaves no file behind");

        let e = err(
            &ctx,
            "vault.kv.verify",
            conn(
                addr,
                &token,
                json!({"manifest": "all.json", "concurrency": concurrency}),
            ),
        )
        .await;
        assert_eq!(e.message, denied, "verify at concurrency {concurrency}");
        assert!(!e.cancelled);
    }
}

#[tokio::test]
async fn no_more_requests_are_in_flight_than_concurrency_allows() {
    let m = mount().await;
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(dir.path());
    let proxy = LatencyProxy::start(m.dev.addr(), Duration::from_millis(2));
    let (addr, token) = (proxy.url(), m.dev.token());
    for concurrency in [1usize, 4, 16] {
        for (kind, extra) in [
            ("vault.kv.export", json!({"output": "m.json"})),
            ("vault.kv.verify", json!({"manifest": "m.json"})),
        ] {
            proxy.reset();
            let mut with = conn(&addr, token, extra);
            with["concurrency"] = json!(concurrency);
            ok(&ctx, kind, with).await;
            let most = proxy.max_in_flight();
            assert!(
                most <= concurrency,
                "{kind}: {most} requests in flight at concurrency {concurrency}"
            );
            if concurrency > 1 {
                assert!(
                    most > 1,
                    "{kind}: reads were not concurrent at concurrency {concurrency}"
                );
            }
            // Every secret read, and every folder listed (8 of them).
            let reads = if kind == "vault.kv.export" {
                m.live.len() + 1
            } else {
                m.live.len()
            };
            assert_eq!(proxy.requests(), reads + 8, "{kind}");
        }
    }
}

#[tokio::test]
async fn concurrency_outside_1_to_256_is_refused() {
    let registry = Registry::builtin();
    for kind in ["vault.kv.export", "vault.kv.verify"] {
        let k = registry.get(kind).unwrap();
        let base = json!({"output": "m.json", "manifest": "m.json"});
        let fields = |n: Value| {
            let mut with = json!({});
            let key = if kind == "vault.kv.export" {
                "output"
            } else {
                "manifest"
            };
            with[key] = base[key].clone();
            with["concurrency"] = n;
            with
        };
        for n in [0u64, 257] {
            let problems = k.check(&fields(json!(n)));
            assert_eq!(problems.len(), 1, "{kind} {n}: {problems:?}");
            assert_eq!(problems[0].path_string(), "concurrency");
            assert_eq!(
                problems[0].message,
                format!("`concurrency` is {n}; give 1 to 256 (how many requests are in flight at once; default 16)")
            );
        }
        assert!(k.check(&fields(json!(256))).is_empty());
        assert!(k.check(&fields(json!("{{ inputs.c }}"))).is_empty());
        // A value that reaches the run unchecked (a template that rendered
        // to 0) is refused before any request: nothing listens on the
        // address.
        let dir = tempfile::tempdir().unwrap();
        let ctx = StepContext::standalone("bulk", dir.path());
        let mut with = fields(json!(0));
        with["addr"] = json!("http://127.0.0.1:9");
        with["token"] = json!("t0ken");
        let e = k.run(&ctx, with).await.err().unwrap();
        assert_eq!(
            e.message,
            "`concurrency` is 0; give 1 to 256 (how many requests are in flight at once; default 16)"
        );
    }
}
