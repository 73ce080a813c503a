//! The cost of a loop item, in one process:
//!
//! - one `for_each` step over 1,000 `/bin/true` items, one at a time,
//!   against 1,000 sequential `shell` steps of `/bin/true`. Target: an item
//!   costs at most 1.2x what a step costs (issue 15);
//! - a `for_each` over 10,000 items against the one over 1,000. Target: an
//!   item of the large loop costs at most 1.1x an item of the small one
//!   (nothing is O(items) per item).
//!
//! Run with `cargo bench -p lifeboat --bench for_each`. Machines are noisy,
//! so the runs alternate several times and the medians are compared.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ITEMS: usize = 1000;
const LARGE: usize = 10_000;
const ROUNDS: usize = 5;
/// The 10,000-item loop takes ten times as long: fewer rounds of it.
const LARGE_ROUNDS: usize = 3;

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
    let looped = |n: usize| {
        let items: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
        format!(
            "version: 1\nname: items\nsteps:\n  - id: each\n    kind: shell\n    for_each: {{ items: [{}], as: item }}\n    with: {{ run: [\"/bin/true\"] }}\n",
            items.join(", ")
        )
    };
    let steps_file = dir.path().join("steps.yaml");
    let loop_file = dir.path().join("items.yaml");
    let large_file = dir.path().join("large.yaml");
    std::fs::write(&steps_file, steps).unwrap();
    std::fs::write(&loop_file, looped(ITEMS)).unwrap();
    std::fs::write(&large_file, looped(LARGE)).unwrap();

    let run = |file: &Path| {
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
    let mut small = Vec::new();
    let mut large = Vec::new();
    for round in 0..ROUNDS {
        sequential.push(run(&steps_file));
        small.push(run(&loop_file));
        if round < LARGE_ROUNDS {
            large.push(run(&large_file));
        }
    }
    let (s, l, big) = (
        median(&mut sequential),
        median(&mut small),
        median(&mut large),
    );
    let per_item = ms(l) / ITEMS as f64;
    let per_large_item = ms(big) / LARGE as f64;
    println!(
        "1,000 steps: {:>8.1} ms ({:.3} ms/step)   for_each over 1,000 items: {:>8.1} ms ({:.3} ms/item)   ratio {:.2}x (target <= 1.20x)",
        ms(s),
        ms(s) / ITEMS as f64,
        ms(l),
        per_item,
        l.as_secs_f64() / s.as_secs_f64()
    );
    println!(
        "for_each over 10,000 items: {:>8.1} ms ({:.3} ms/item)   per item against 1,000 items: ratio {:.2}x (target <= 1.10x)",
        ms(big),
        per_large_item,
        per_large_item / per_item
    );
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
