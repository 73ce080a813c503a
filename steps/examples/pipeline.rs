//! Runs the real `crypto.*` and `checksum.sha256` step code on files given
//! as arguments, for `benches/snapshot_pipeline.sh`.
//!
//! ```text
//! LIFEBOAT_BENCH_KEY=<64 hex> pipeline encrypt  <plain> <encrypted>
//! LIFEBOAT_BENCH_KEY=<64 hex> pipeline decrypt  <encrypted> <plain>
//! LIFEBOAT_BENCH_KEY=<64 hex> pipeline decrypt+checksum <encrypted> <plain>
//!                             pipeline checksum <file>
//! ```
//!
//! `decrypt` is the restore pipeline as designed: the step decrypts and
//! hashes in one pass. `decrypt+checksum` also runs `checksum.sha256` on the
//! result afterwards (a second read), as a runbook that verifies separately
//! would. Each prints one line of `name=value` pairs, including the elapsed
//! seconds of the step(s) and the process's peak RSS (VmHWM). The key comes
//! from the environment, never from argv, as it would in a real run.

use std::time::Instant;

use lifeboat_steps::{Registry, StepContext};
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let key = std::env::var("LIFEBOAT_BENCH_KEY").unwrap_or_default();
    let registry = Registry::builtin();
    let ctx = StepContext::standalone("bench", std::env::current_dir().expect("a cwd"));
    let run = |kind: &'static str, with: Value| {
        let step = registry.get(kind).expect("a built-in kind").clone();
        let ctx = ctx.clone();
        async move {
            step.run(&ctx, with).await.unwrap_or_else(|e| {
                eprintln!("{kind} failed: {}", e.message);
                std::process::exit(1)
            })
        }
    };
    let started = Instant::now();
    let out = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["encrypt", input, output] => {
            run(
                "crypto.encrypt",
                json!({"input": input, "output": output, "key": key}),
            )
            .await
        }
        ["decrypt", input, output] => {
            run(
                "crypto.decrypt",
                json!({"input": input, "output": output, "key": key}),
            )
            .await
        }
        ["decrypt+checksum", input, output] => {
            let dec = run(
                "crypto.decrypt",
                json!({"input": input, "output": output, "key": key}),
            )
            .await;
            let expect = dec.outputs["sha256"].clone();
            run("checksum.sha256", json!({"path": output, "expect": expect})).await
        }
        ["checksum", path] => run("checksum.sha256", json!({"path": path})).await,
        _ => {
            eprintln!("usage: pipeline encrypt|decrypt|decrypt+checksum <input> <output> | checksum <file>\n(the key is read from LIFEBOAT_BENCH_KEY)");
            std::process::exit(2)
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "elapsed_s={elapsed:.4} bytes={} sha256={} peak_rss_kib={}",
        out.outputs["bytes"],
        out.outputs["sha256"].as_str().unwrap_or("?"),
        peak_rss_kib().map_or("?".to_string(), |k| k.to_string()),
    );
}

/// The process's peak resident set size, from `/proc/self/status`.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
