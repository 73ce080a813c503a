//! Bulk KV reads far from the server: `vault.kv.export` and
//! `vault.kv.verify` of 10,000 secrets (100 folders of 100) in a dev
//! OpenBao, measured directly and through a TCP proxy started here that
//! adds 5 ms each way (`lifeboat_harness::latency_proxy`), at concurrency
//! 1 and 16.
//!
//! The floor of a run through the proxy is `requests × RTT / concurrency +
//! S`, where `requests` is what the proxy counted (every read and every
//! listing), RTT is the nominal 10 ms and S the same run's time without
//! the proxy (the server's own time, and ours). The bench prints each
//! time, its floor and the ratio; the target is at most 1.3.
//!
//! Run with `cargo bench -p lifeboat-steps --bench kv_concurrency`;
//! `SECRETS=2000` and `ONE_WAY_MS=5` change the size and the delay. The
//! runs at concurrency 1 take about 2 × 10,000 × 10 ms, i.e. 3.5 minutes.
//! Needs `bao` (tests/run installs it into target/lifeboat-venv).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use lifeboat_harness::latency_proxy::LatencyProxy;
use lifeboat_harness::openbao::OpenBaoDev;
use lifeboat_steps::{Registry, StepContext, StepOutput};
use serde_json::{json, Value};

const FOLDER_SIZE: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

/// Writes `n` secrets, `FOLDER_SIZE` per folder, 64 requests at a time.
async fn populate(dev: &OpenBaoDev, n: usize) {
    let http = reqwest::Client::new();
    let paths: Vec<String> = (0..n)
        .map(|i| format!("team-{:03}/app-{:03}", i / FOLDER_SIZE, i % FOLDER_SIZE))
        .collect();
    for chunk in paths.chunks(64) {
        join_all(chunk.iter().map(|path| {
            let http = &http;
            async move {
                let data: BTreeMap<&str, String> = [
                    ("user", format!("svc-{path}")),
                    ("password", format!("pw-{path}")),
                ]
                .into();
                let resp = http
                    .post(format!("{}/v1/secret/data/{path}", dev.addr()))
                    .header("X-Vault-Token", dev.token())
                    .json(&json!({ "data": data }))
                    .send()
                    .await
                    .expect("write");
                assert!(
                    resp.status().is_success(),
                    "writing {path}: {}",
                    resp.status()
                );
            }
        }))
        .await;
    }
}

/// The median round trip of a small request through `url`.
async fn round_trip(url: &str) -> Duration {
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    for _ in 0..41 {
        let t = Instant::now();
        http.get(format!("{url}/v1/sys/health"))
            .send()
            .await
            .expect("health")
            .bytes()
            .await
            .expect("health body");
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

async fn run(ctx: &StepContext, kind: &str, with: Value) -> (Duration, StepOutput) {
    let registry = Registry::builtin();
    let k = registry.get(kind).expect("a kind");
    assert!(k.check(&with).is_empty(), "{kind}: {:?}", k.check(&with));
    let t = Instant::now();
    let out = k
        .run(ctx, with)
        .await
        .unwrap_or_else(|e| panic!("{kind}: {}", e.message));
    (t.elapsed(), out)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

async fn bench() {
    let n = env_usize("SECRETS", 10_000);
    let one_way = Duration::from_millis(env_usize("ONE_WAY_MS", 5) as u64);
    let rtt = one_way * 2;
    let dev = OpenBaoDev::start().await;
    eprintln!("writing {n} secrets...");
    populate(&dev, n).await;
    let proxy = LatencyProxy::start(dev.addr(), one_way);
    let direct_rtt = round_trip(dev.addr()).await;
    let proxied_rtt = round_trip(&proxy.url()).await;
    println!(
        "{n} secrets in {} folders; round trip of a small request: {:.2} ms direct, {:.2} ms through the proxy (nominal {} ms)",
        n.div_ceil(FOLDER_SIZE),
        direct_rtt.as_secs_f64() * 1e3,
        proxied_rtt.as_secs_f64() * 1e3,
        rtt.as_millis()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = StepContext::standalone("bench", dir.path());
    let token = dev.token().to_string();
    let with = |addr: &str, kind: &str, concurrency: usize| {
        let mut with = json!({"addr": addr, "token": token, "concurrency": concurrency});
        if kind == "vault.kv.export" {
            with["output"] = json!(format!("export-{concurrency}.json"));
        } else {
            with["manifest"] = json!("reference.json");
        }
        with
    };
    // The reference manifest, and a warm-up of the server's caches.
    let (_, reference) = run(
        &ctx,
        "vault.kv.export",
        json!({"addr": dev.addr(), "token": token, "output": "reference.json"}),
    )
    .await;
    println!(
        "{:<16} {:>4} {:>10} {:>12} {:>9} {:>10} {:>6}",
        "kind", "c", "S direct", "via proxy", "requests", "floor", "ratio"
    );
    let mut worst: f64 = 0.0;
    for concurrency in [1usize, 16] {
        for kind in ["vault.kv.export", "vault.kv.verify"] {
            let (direct, _) = run(&ctx, kind, with(dev.addr(), kind, concurrency)).await;
            proxy.reset();
            let (far, out) = run(&ctx, kind, with(&proxy.url(), kind, concurrency)).await;
            let requests = proxy.requests();
            if kind == "vault.kv.export" {
                assert_eq!(
                    out.outputs["digest"], reference.outputs["digest"],
                    "the manifest is the same at every concurrency"
                );
            } else {
                assert_eq!(out.outputs["checked"], n);
            }
            let floor = rtt * requests as u32 / concurrency as u32 + direct;
            let ratio = far.as_secs_f64() / floor.as_secs_f64();
            worst = worst.max(ratio);
            println!(
                "{kind:<16} {concurrency:>4} {:>10} {:>12} {requests:>9} {:>10} {ratio:>6.2}",
                secs(direct),
                secs(far),
                secs(floor)
            );
        }
    }
    println!("worst ratio to the floor: {worst:.2} (target: at most 1.3)");
}
