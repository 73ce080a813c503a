//! Engine overhead: 1,000 sequential `shell` steps of `/bin/true`, run by
//! `lifeboat run` (journalled; one fsync per step covers a step's start and
//! its predecessor's result), against a bash loop of 1,000 `/bin/true` in
//! the same process. Target: at most 1.3x the bash loop.
//!
//! The hash chain's cost is measured in the same run: each round also runs
//! the engine with an unchained journal (`LIFEBOAT_BENCH_UNCHAINED=1`, a
//! switch for this benchmark only), and the chained/unchained ratio is
//! printed. Target: at most 1.05x (docs/trust.md).
//!
//! Notifications' cost is measured in the same process: the same 1,000
//! steps (with an RTO target, so `rto_at_risk` is watched) with a `notify:`
//! target subscribed to every event, delivered to a real local receiver
//! the bench starts, against the same runbook without `notify:`. Target:
//! at most 1.05x (docs/war-room.md).
//!
//! Run with `cargo bench -p lifeboat --bench overhead`. Machines are noisy,
//! so all are run alternately several times and the medians compared.

use std::process::Command;
use std::time::{Duration, Instant};

const STEPS: usize = 1000;
const ROUNDS: usize = 5;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = env!("CARGO_BIN_EXE_lifeboat");
    for (label, rerun) in [
        (
            "default rerun (never: fsync before and after each step)",
            "",
        ),
        (
            "rerun: safe (start record shares the next fsync)",
            "    rerun: safe\n",
        ),
    ] {
        let mut yaml = String::from("version: 1\nname: overhead\nsteps:\n");
        for i in 0..STEPS {
            yaml.push_str(&format!(
                "  - id: s{i}\n    kind: shell\n{rerun}    with: {{ run: [\"/bin/true\"] }}\n"
            ));
            if i > 0 {
                yaml.push_str(&format!("    needs: [s{}]\n", i - 1));
            }
        }
        let runbook = dir.path().join("overhead.yaml");
        std::fs::write(&runbook, yaml).unwrap();
        let mut engine = Vec::new();
        let mut unchained = Vec::new();
        let mut bash = Vec::new();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let out = Command::new("bash")
                .args([
                    "-c",
                    &format!("for i in $(seq {STEPS}); do /bin/true; done"),
                ])
                .output()
                .unwrap();
            assert!(out.status.success());
            bash.push(t.elapsed());

            engine.push(run_engine(bin, &runbook, dir.path(), false));
            unchained.push(run_engine(bin, &runbook, dir.path(), true));
        }
        let (e, b) = (median(&mut engine), median(&mut bash));
        let u = median(&mut unchained);
        println!("{label}");
        println!(
            "  lifeboat: {:>8.1} ms total, {:.3} ms/step   bash loop: {:>8.1} ms total, {:.3} ms/step   ratio {:.2}x (target <= 1.30x)",
            ms(e),
            ms(e) / STEPS as f64,
            ms(b),
            ms(b) / STEPS as f64,
            e.as_secs_f64() / b.as_secs_f64()
        );
        println!(
            "  hash chain: chained {:>8.1} ms, unchained {:>8.1} ms   ratio {:.3}x (target <= 1.05x)",
            ms(e),
            ms(u),
            e.as_secs_f64() / u.as_secs_f64()
        );
    }
    notifications(bin, dir.path());
}

/// The 1,000 steps with and without a `notify:` target that subscribes to
/// every event, run alternately, medians compared.
fn notifications(bin: &str, dir: &std::path::Path) {
    let receiver = lifeboat_harness::webhook_receiver::WebhookReceiver::start();
    let mut steps = String::new();
    for i in 0..STEPS {
        steps.push_str(&format!(
            "  - id: s{i}\n    kind: shell\n    rerun: safe\n    with: {{ run: [\"/bin/true\"] }}\n"
        ));
        if i > 0 {
            steps.push_str(&format!("    needs: [s{}]\n", i - 1));
        }
    }
    let head = "version: 1\nname: overhead-notify\nrto: { target: 1h }\n";
    let plain = dir.join("plain.yaml");
    std::fs::write(&plain, format!("{head}steps:\n{steps}")).unwrap();
    let notified = dir.join("notified.yaml");
    std::fs::write(
        &notified,
        format!(
            "{head}notify:\n  - url: \"{}\"\n    format: json\n    events: [run_started, waiting, step_failed, checkpoint, rto_at_risk, finished]\n  - url: \"{}\"\n    format: slack\n    events: [run_started, waiting, step_failed, checkpoint, rto_at_risk, finished]\nsteps:\n{steps}",
            receiver.url("/json"),
            receiver.url("/slack")
        ),
    )
    .unwrap();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        without.push(run_engine(bin, &plain, dir, false));
        with.push(run_engine(bin, &notified, dir, false));
    }
    let (w, wo) = (median(&mut with), median(&mut without));
    println!("notify: (a json and a slack target, every event, a local receiver)");
    println!(
        "  with notify {:>8.1} ms, without {:>8.1} ms   ratio {:.3}x (target <= 1.05x); {} messages received",
        ms(w),
        ms(wo),
        w.as_secs_f64() / wo.as_secs_f64(),
        receiver.received().len()
    );
}

/// One `lifeboat run` of `runbook`, timed; `unchained` writes its journal
/// without the hash chain (the bench-only baseline).
fn run_engine(
    bin: &str,
    runbook: &std::path::Path,
    dir: &std::path::Path,
    unchained: bool,
) -> Duration {
    let mut cmd = Command::new(bin);
    cmd.args(["run", runbook.to_str().unwrap(), "--output", "json"])
        .env("LIFEBOAT_STATE_DIR", dir.join("state"));
    if unchained {
        cmd.env("LIFEBOAT_BENCH_UNCHAINED", "1");
    } else {
        cmd.env_remove("LIFEBOAT_BENCH_UNCHAINED");
    }
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
