//! The cost of a loop item: one `for_each` step over 1,000 `/bin/true`
//! items, one at a time, against 1,000 sequential `shell` steps of
//! `/bin/true`, both run by `lifeboat run` in the same bench. Target: an
//! item costs at most 1.2x what a step costs (issue 15).
//!
//! Run with `cargo bench -p lifeboat --bench for_each`. Machines are noisy,
//! so both are run alternately several times and the medians compared.

use std::process::Command;
use std::time::{Duration, Instant};

const ITEMS: usize = 1000;
const ROUNDS: usize = 5;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = env!("CARGO_BIN_EXE_lifeboat");

    let mut steps = String::from("version: 1\nname: steps\nsteps:\n");
    for i in 0..ITEMS {
        steps.push_str(&format!(
            "  - id: s{i}\n    kind: shell\n    with: {{ run: [\"/bin/true\"] }}\n"
        ));
        if i > 0 {
            steps.push_str(&format!("    needs: [s{}]\n", i - 1));
        }
    }
    let items: Vec<String> = (0..ITEMS).map(|i| format!("i{i}")).collect();
    let looped = format!(
        "version: 1\nname: items\nsteps:\n  - id: each\n    kind: shell\n    for_each: {{ items: [{}], as: item }}\n    with: {{ run: [\"/bin/true\"] }}\n",
        items.join(", ")
    );
    let steps_file = dir.path().join("steps.yaml");
    let loop_file = dir.path().join("items.yaml");
    std::fs::write(&steps_file, steps).unwrap();
    std::fs::write(&loop_file, looped).unwrap();

    let run = |file: &std::path::Path| {
        let t = Instant::now();
        let out = Command::new(bin)
            .args(["run", file.to_str().unwrap(), "--output", "json", "--new"])
            .env("LIFEBOAT_STATE_DIR", dir.path().join("state"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.elapsed()
    };
    let mut sequential = Vec::new();
    let mut looped = Vec::new();
    for _ in 0..ROUNDS {
        sequential.push(run(&steps_file));
        looped.push(run(&loop_file));
    }
    let (s, l) = (median(&mut sequential), median(&mut looped));
    println!(
        "1,000 steps: {:>8.1} ms ({:.3} ms/step)   for_each over 1,000 items: {:>8.1} ms ({:.3} ms/item)   ratio {:.2}x (target <= 1.20x)",
        ms(s),
        ms(s) / ITEMS as f64,
        ms(l),
        ms(l) / ITEMS as f64,
        l.as_secs_f64() / s.as_secs_f64()
    );
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
