//! Validation and planning speed, and start-up time.
//!
//! - A generated runbook of about 10,000 steps (layers of parallel steps,
//!   each with a title, an estimate and a template in `with` reading an
//!   ancestor's output; every 10th a `for_each` over an input list; every
//!   50th a `kind: runbook` call of a file that calls another) is read from
//!   disk, loaded, validated with its whole tree and planned (levels +
//!   critical path) in process, as `lifeboat validate` does. Target: under
//!   100 ms. Baseline in the same run: the same generator at about 1,000
//!   steps, scaled ×10; the ratio says whether the cost per step grows with
//!   the size of the runbook.
//! - `lifeboat validate` on the shipped example, as a whole process.
//!   Target: under 10 ms. Baseline in the same run: spawning `/bin/true`.
//!
//! Run with `cargo bench -p lifeboat --bench validate`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lifeboat::Section;
use lifeboat::StepGraph;
use lifeboat::Templates;
use lifeboat::{load_checked, registry};

const WIDTH: usize = 10;
/// Every how many top steps one is a call (of `lib/child.yaml`, 4 steps
/// and a call of `lib/leaf.yaml`, 4 steps: 10 steps expanded).
const CALL_EVERY: usize = 50;
const LOOP_EVERY: usize = 10;

const CHILD: &str = r#"version: 1
name: child
inputs:
  addr: { type: string }
outputs:
  out: "{{ steps.c3.outputs.stdout }}"
steps:
  - { id: c0, kind: shell, title: "child 0", estimate: 1s, with: { run: ["echo", "{{ inputs.addr }}"] } }
  - { id: c1, kind: shell, title: "child 1", estimate: 1s, needs: [c0], with: { run: ["echo", "{{ steps.c0.outputs.stdout }}"] } }
  - { id: leaf, kind: runbook, title: "leaf", needs: [c1], with: { file: leaf.yaml, inputs: { addr: "{{ steps.c1.outputs.stdout }}" } } }
  - { id: c2, kind: shell, title: "child 2", estimate: 1s, needs: [leaf], with: { run: ["echo", "{{ steps.leaf.outputs.out }}"] } }
  - { id: c3, kind: shell, title: "child 3", estimate: 1s, needs: [c2], with: { run: ["echo", "{{ steps.c2.outputs.stdout }}"] } }
"#;

const LEAF: &str = r#"version: 1
name: leaf
inputs:
  addr: { type: string }
outputs:
  out: "{{ steps.l3.outputs.stdout }}"
steps:
  - { id: l0, kind: shell, title: "leaf 0", estimate: 1s, with: { run: ["echo", "{{ inputs.addr }}"] } }
  - { id: l1, kind: shell, title: "leaf 1", estimate: 1s, needs: [l0], with: { run: ["echo", "{{ steps.l0.outputs.stdout }}"] } }
  - { id: l2, kind: shell, title: "leaf 2", estimate: 1s, needs: [l1], with: { run: ["echo", "{{ steps.l1.outputs.stdout }}"] } }
  - { id: l3, kind: shell, title: "leaf 3", estimate: 1s, needs: [l2], with: { run: ["echo", "{{ steps.l2.outputs.stdout }}"] } }
"#;

/// Writes the generated tree with `top` top-level steps under `dir`; the
/// top file's path.
fn generate(dir: &Path, top: usize) -> PathBuf {
    std::fs::create_dir_all(dir.join("lib")).expect("mkdir");
    std::fs::write(dir.join("lib/child.yaml"), CHILD).expect("child");
    std::fs::write(dir.join("lib/leaf.yaml"), LEAF).expect("leaf");
    let is_call = |i: usize| i % CALL_EVERY == CALL_EVERY - 1;
    let is_loop = |i: usize| i % LOOP_EVERY == LOOP_EVERY / 2;
    let read = |p: usize| {
        if is_call(p) {
            format!("{{{{ steps.s{p}.outputs.out }}}}")
        } else if is_loop(p) {
            format!("{{{{ steps.s{p}.outputs.items | length }}}}")
        } else {
            format!("{{{{ steps.s{p}.outputs.stdout }}}}")
        }
    };
    let mut yaml = String::from("version: 1\nname: big\nrto: { target: 1h }\ninputs:\n  addr: { type: string, default: \"http://127.0.0.1:8200\" }\n  nodes: { type: list, default: [n1, n2, n3] }\nsteps:\n");
    for i in 0..top {
        yaml.push_str(&format!(
            "  - id: s{i}\n    title: \"step {i}\"\n    estimate: 1s\n"
        ));
        let from = if i >= WIDTH {
            let parent = i - WIDTH;
            yaml.push_str(&format!("    needs: [s{parent}]\n"));
            read(parent)
        } else {
            "{{ inputs.addr }}".to_string()
        };
        if is_call(i) {
            yaml.push_str(&format!(
                "    kind: runbook\n    with: {{ file: lib/child.yaml, inputs: {{ addr: \"{from}\" }} }}\n"
            ));
        } else if is_loop(i) {
            yaml.push_str(&format!(
                "    kind: shell\n    for_each: {{ items: \"{{{{ inputs.nodes }}}}\", as: node }}\n    with: {{ run: [\"echo\", \"{{{{ node }}}}\", \"{from}\"] }}\n"
            ));
        } else {
            yaml.push_str(&format!(
                "    kind: shell\n    with: {{ run: [\"echo\", \"{{{{ inputs.addr }}}}/{from}\"] }}\n"
            ));
        }
    }
    let path = dir.join("big.yaml");
    std::fs::write(&path, yaml).expect("top");
    path
}

/// The median time to read, validate and plan the runbook at `path`, and
/// its number of steps once expanded.
fn validate_and_plan(path: &Path, rounds: usize) -> (Duration, usize) {
    let registry = registry();
    let templates = Templates::new();
    let mut times = Vec::new();
    let mut steps = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let (runbook, _) = match load_checked(path, &registry, &templates) {
            Ok(r) => r,
            Err(d) => panic!("{d:?}"),
        };
        let graph = StepGraph::new(&runbook, Section::Main);
        let levels = graph.levels();
        let critical = graph
            .critical_path(|i| runbook.steps[i].estimate.unwrap_or_default())
            .steps;
        assert!(!levels.is_empty() && !critical.is_empty());
        steps = runbook.steps.len();
        times.push(t.elapsed());
    }
    (median(&mut times), steps)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("lifeboat-bench-validate-{}", std::process::id()));
    let big = generate(&dir.join("big"), 8_500);
    let small = generate(&dir.join("small"), 850);
    // Warm the page cache and the allocator once.
    let _ = validate_and_plan(&small, 1);
    let (base, base_steps) = validate_and_plan(&small, 21);
    let (vp, steps) = validate_and_plan(&big, 7);
    let _ = std::fs::remove_dir_all(&dir);
    let scaled = base.as_secs_f64() * steps as f64 / base_steps as f64;
    println!(
        "validate + plan of {steps} steps (calls two deep and for_each included): {:.1} ms (target < 100 ms); {base_steps} steps: {:.1} ms; per step {:.2}x the small runbook's",
        ms(vp),
        ms(base),
        vp.as_secs_f64() / scaled
    );

    let bin = env!("CARGO_BIN_EXE_lifeboat");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../runbooks/examples/restore-drill.yaml"
    );
    let mut startup = Vec::new();
    let mut spawn = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        assert!(Command::new("/bin/true").status().unwrap().success());
        spawn.push(t.elapsed());
        let t = Instant::now();
        let out = Command::new(bin)
            .args(["validate", example])
            .output()
            .unwrap();
        assert!(out.status.success());
        startup.push(t.elapsed());
    }
    let (s, b) = (median(&mut startup), median(&mut spawn));
    println!(
        "`lifeboat validate` of the example: {:.2} ms (target < 10 ms); spawning /bin/true: {:.2} ms; ratio {:.1}x",
        ms(s),
        ms(b),
        s.as_secs_f64() / b.as_secs_f64()
    );
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
