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
//! so the runs alternate several times and the medians are compared, of
//! wall time and of CPU time (the engine's and its children's, from
//! `getrusage`), which a machine shared with other work disturbs less.

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
            "version: 1\nname: items{n}\nsteps:\n  - id: each\n    kind: shell\n    for_each: {{ items: [{}], as: item }}\n    with: {{ run: [\"/bin/true\"] }}\n",
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
        let state = tempfile::tempdir().expect("temp dir");
        let cpu = children_cpu();
        let t = Instant::now();
        let out = Command::new(bin)
            .args(["run", file.to_str().unwrap(), "--output", "json", "--new"])
            // A state directory per run: a run reads earlier runs of its
            // runbook for step estimates, which would make the figures
            // depend on the order of the runs.
            .env("LIFEBOAT_STATE_DIR", state.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (t.elapsed(), children_cpu() - cpu)
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
    let cpu = |v: &[(Duration, Duration)]| v.iter().map(|r| r.1).collect::<Vec<_>>();
    let wall = |v: &[(Duration, Duration)]| v.iter().map(|r| r.0).collect::<Vec<_>>();
    let (sc, lc, bc) = (
        median(&mut cpu(&sequential)),
        median(&mut cpu(&small)),
        median(&mut cpu(&large)),
    );
    let (s, l, big) = (
        median(&mut wall(&sequential)),
        median(&mut wall(&small)),
        median(&mut wall(&large)),
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
    println!(
        "CPU time: 1,000 steps {:.3} ms/step, 1,000 items {:.3} ms/item (ratio {:.2}x), 10,000 items {:.3} ms/item (ratio {:.2}x against 1,000 items)",
        ms(sc) / ITEMS as f64,
        ms(lc) / ITEMS as f64,
        lc.as_secs_f64() / sc.as_secs_f64(),
        ms(bc) / LARGE as f64,
        (ms(bc) / LARGE as f64) / (ms(lc) / ITEMS as f64)
    );
}

/// CPU time (user and system) of every child process waited for so far,
/// their own children included.
fn children_cpu() -> Duration {
    // SAFETY: `getrusage` only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
