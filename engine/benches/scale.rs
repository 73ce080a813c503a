//! Cost per step against the size of the runbook (issue 15), in one run:
//!
//! - Chains of 1,000 and 10,000 `shell` steps of `/bin/true`, run by
//!   `lifeboat run --output json`. The cost per step is read from the
//!   journal's timestamps (first `step_started` to `run_finished`), with
//!   the first and last tenth of the 10,000-step run, and the ratio to
//!   the 1,000-step run. Target: 10,000 steps within 1.1x per step of 1,000.
//! - The timelines of both runs written in every format from the journal,
//!   as a run writes them at its end (`write_timeline`: read the journal
//!   and the runbook, build once, render md, json and html). Target: under
//!   300 ms in all for 10,000 steps; the 1,000-step figure is the baseline
//!   of the ratio.
//! - `validate` of a generated 10,000-step runbook where every step has a
//!   title, an estimate and a template in `with`: in process
//!   (`check_text`, median of 5) and as `lifeboat validate`. Target: under
//!   100 ms. Baseline in the same run: the same text read by
//!   `serde_saphyr` into a generic value (a reference, not a floor: our
//!   reader builds its tree from the parser's events directly and is
//!   cheaper; a profile puts about a third of `validate`'s samples in the
//!   parser, `granit_parser`, a quarter in allocation, a tenth in our code).
//!
//! - The same 10,000 steps spread over a tree of called runbooks
//!   (`kind: runbook`: a top file calling 10 files of 1,000 steps, each
//!   calling a shared file once, every 100th step with a `for_each`),
//!   validated from disk (`load_checked`, median of 5) and as `lifeboat
//!   validate`, beside the flat figure (ratio in the same run).
//!
//! A `for_each` over 10,000 items has the same target; its half of this
//! bench belongs with `for_each`.
//!
//! Tree figures (2026-12-01, the shared machine loaded by four other
//! builds: flat validate 130 ms in process, 176 ms as a process): the
//! tree 98.5 ms in process, 145 ms as a process, 0.76x the flat figure
//! (each file's templates are checked against its own, smaller, graph).
//!
//! Run with `cargo bench -p lifeboat --bench scale` (about a minute on a
//! quiet 2-core machine; the chains dominate).
//!
//! Figures on the shared 2-core machine (2026-12-01, after the fix): 2.05
//! ms/step at 1,000, 2.54 at 10,000 (first tenth 2.78, last 2.23), ratio
//! 1.24x (a second run: 2.14 and 1.33, 0.62x: the machine's load moves
//! more than the engine does); timelines 14.6 ms and 325 ms (200 ms in the
//! second run); validate 54 ms in process, 76-83 ms as a process. Before: the section loop scanned every pending step per
//! start, and the timeline compared step ids pairwise (60% of its time in
//! `memcmp`; 0.67 s of CPU per format at 10,000 steps, 0.17 s after).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lifeboat::{
    check_text, load_checked, parse_journal, registry, write_timeline, Event, LocalRunStore,
    SourceFile, Templates,
};
use lifeboat_steps::Redactor;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = env!("CARGO_BIN_EXE_lifeboat");
    let state = dir.path().join("state");

    let mut runs = Vec::new();
    for steps in [1_000, 10_000] {
        let runbook = dir.path().join(format!("chain{steps}.yaml"));
        std::fs::write(&runbook, chain(steps)).unwrap();
        let out = Command::new(bin)
            .args(["run", runbook.to_str().unwrap(), "--output", "json"])
            .env("LIFEBOAT_STATE_DIR", &state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let first: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap())
                .unwrap();
        let run_id = first["run_id"].as_str().unwrap().to_string();
        let cost = step_costs(&state.join("runs").join(&run_id), steps);
        runs.push((steps, run_id, cost));
    }
    println!("chains of /bin/true steps (journal timestamps)");
    for (steps, _, c) in &runs {
        println!(
            "  {steps:>6} steps: {:.3} ms/step   first tenth {:.3} ms/step   last tenth {:.3} ms/step",
            c.per_step, c.first_tenth, c.last_tenth
        );
    }
    let (small, large) = (&runs[0].2, &runs[1].2);
    println!(
        "  ratio 10,000 / 1,000 per step: {:.2}x (target <= 1.10x); last tenth / first tenth of 10,000: {:.2}x",
        large.per_step / small.per_step,
        large.last_tenth / large.first_tenth
    );

    println!("timelines (md + json + html from the journal, as a run writes them at its end)");
    let runs_dir = state.join("runs");
    let mut rendered = Vec::new();
    for (steps, run_id, _) in &runs {
        let store = LocalRunStore::open(&runs_dir, run_id).expect("run");
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            write_timeline(&store, run_id, &Redactor::new()).expect("timeline");
            times.push(t.elapsed());
        }
        let total = median(&mut times);
        println!("  {steps:>6} steps: {:.1} ms in all", ms(total));
        rendered.push(total);
    }
    println!(
        "  10,000-step timelines: {:.1} ms (target < 300 ms); ratio to 1,000 steps {:.1}x (10x the steps)",
        ms(rendered[1]),
        rendered[1].as_secs_f64() / rendered[0].as_secs_f64()
    );

    let yaml = validate_runbook(10_000);
    let registry = registry();
    let templates = Templates::new();
    let mut checks = Vec::new();
    let mut parses = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let value: serde_json::Value = serde_saphyr::from_str(&yaml).expect("yaml");
        assert!(value.is_object());
        parses.push(t.elapsed());
        let t = Instant::now();
        check_text(
            SourceFile::new("big.yaml", yaml.clone()),
            &registry,
            &templates,
        )
        .expect("valid");
        checks.push(t.elapsed());
    }
    let file = dir.path().join("validate10000.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let mut process = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(bin)
            .args(["validate", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success());
        process.push(t.elapsed());
    }
    let (c, p, v) = (
        median(&mut checks),
        median(&mut parses),
        median(&mut process),
    );
    println!("validate of 10,000 steps (title, estimate, template in `with`)");
    println!(
        "  in process: {:.1} ms   `lifeboat validate`: {:.1} ms (target < 100 ms)   serde_saphyr to a value: {:.1} ms   ratio {:.2}x",
        ms(c),
        ms(v),
        ms(p),
        c.as_secs_f64() / p.as_secs_f64()
    );

    let top = write_tree(dir.path(), 10, 1_000);
    let mut tree_checks = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (checked, _) = load_checked(&top, &registry, &templates).expect("valid tree");
        assert!(checked.steps.len() > 10_000);
        tree_checks.push(t.elapsed());
    }
    let mut tree_process = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(bin)
            .args(["validate", top.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tree_process.push(t.elapsed());
    }
    let (tc, tp) = (median(&mut tree_checks), median(&mut tree_process));
    println!("validate of the same 10,000 steps over 11 called runbooks (kind: runbook, for_each)");
    println!(
        "  in process: {:.1} ms   `lifeboat validate`: {:.1} ms (target < 100 ms)   ratio to flat {:.2}x",
        ms(tc),
        ms(tp),
        tc.as_secs_f64() / c.as_secs_f64()
    );
}

/// A top file calling `parts` files of `steps` steps each (every 100th
/// with a `for_each`), each of which calls a shared file: `steps * parts`
/// steps as written, plus the shared file's. Returns the top file.
fn write_tree(dir: &Path, parts: usize, steps: usize) -> std::path::PathBuf {
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("shared.yaml"),
        "version: 1\nname: shared\ninputs:\n  target: { type: string }\noutputs:\n  said: \"{{ steps.say.outputs.stdout }}\"\nsteps:\n  - id: say\n    kind: shell\n    with: { run: [\"echo\", \"{{ inputs.target }}\"] }\n",
    )
    .unwrap();
    let mut top = String::from(
        "version: 1\nname: tree\ninputs:\n  target: { type: string, default: x }\nsteps:\n",
    );
    for part in 0..parts {
        let mut yaml = String::from(
            "version: 1\nname: part\ninputs:\n  target: { type: string }\n  nodes: { type: list, default: [a, b] }\noutputs:\n  last: \"{{ steps.shared.outputs.said }}\"\nsteps:\n  - id: shared\n    kind: runbook\n    with: { file: shared.yaml, inputs: { target: \"{{ inputs.target }}\" } }\n",
        );
        for i in 0..steps {
            yaml.push_str(&format!(
                "  - id: s{i}\n    title: Step number {i}\n    estimate: 2s\n    kind: shell\n    with: {{ run: [\"echo\", \"{{{{ inputs.target }}}}-{i}\"] }}\n"
            ));
            if i % 100 == 50 {
                yaml.push_str("    for_each: { items: \"{{ inputs.nodes }}\", as: node }\n");
            }
            if i > 0 {
                yaml.push_str(&format!("    needs: [s{}]\n", i - 1));
            }
        }
        std::fs::write(lib.join(format!("part{part}.yaml")), yaml).unwrap();
        top.push_str(&format!(
            "  - id: part{part}\n    kind: runbook\n    with: {{ file: lib/part{part}.yaml, inputs: {{ target: \"{{{{ inputs.target }}}}\" }} }}\n"
        ));
        if part > 0 {
            top.push_str(&format!("    needs: [part{}]\n", part - 1));
        }
    }
    let path = dir.join("tree.yaml");
    std::fs::write(&path, top).unwrap();
    path
}

/// A chain: each step needs the one before.
fn chain(steps: usize) -> String {
    let mut yaml = String::from("version: 1\nname: chain\nsteps:\n");
    for i in 0..steps {
        yaml.push_str(&format!(
            "  - id: s{i}\n    kind: shell\n    with: {{ run: [\"/bin/true\"] }}\n"
        ));
        if i > 0 {
            yaml.push_str(&format!("    needs: [s{}]\n", i - 1));
        }
    }
    yaml
}

/// Every step with a title, an estimate and a template in `with`.
fn validate_runbook(steps: usize) -> String {
    let mut yaml = String::from(
        "version: 1\nname: big\ninputs:\n  target: { type: string, default: x }\nsteps:\n",
    );
    for i in 0..steps {
        yaml.push_str(&format!(
            "  - id: s{i}\n    title: Step number {i}\n    estimate: 2s\n    kind: shell\n    with: {{ run: [\"echo\", \"{{{{ inputs.target }}}}-{i}\"] }}\n"
        ));
        if i > 0 {
            yaml.push_str(&format!("    needs: [s{}]\n", i - 1));
        }
    }
    yaml
}

struct Cost {
    per_step: f64,
    first_tenth: f64,
    last_tenth: f64,
}

/// Per-step cost from the journal: the time from one step's start to the
/// next's (the last to `run_finished`).
fn step_costs(run_dir: &Path, steps: usize) -> Cost {
    let path = run_dir.join(lifeboat::JOURNAL_FILE);
    let bytes = std::fs::read(&path).unwrap();
    let records = parse_journal(&bytes, &path.display().to_string())
        .expect("journal")
        .records;
    let mut marks = Vec::with_capacity(steps + 1);
    for r in &records {
        if matches!(
            r.event,
            Event::StepStarted { .. } | Event::RunFinished { .. }
        ) {
            marks.push(lifeboat_ms(&r.ts));
        }
    }
    assert_eq!(marks.len(), steps + 1, "one start per step, then the end");
    let tenth = steps / 10;
    let per = |a: usize, b: usize| (marks[b] - marks[a]) as f64 / (b - a) as f64;
    Cost {
        per_step: per(0, steps),
        first_tenth: per(0, tenth),
        last_tenth: per(steps - tenth, steps),
    }
}

fn lifeboat_ms(ts: &str) -> i64 {
    ts.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
