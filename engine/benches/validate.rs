//! Validation and planning speed, and start-up time.
//!
//! - A generated 10,000-step runbook (layers of parallel steps, each reading
//!   an ancestor's output through a template) is loaded, validated and
//!   planned (levels + critical path) in process. Target: under 100 ms.
//! - `lifeboat validate` on the shipped example, as a whole process.
//!   Target: under 10 ms. Baseline in the same run: spawning `/bin/true`.
//!
//! Run with `cargo bench -p lifeboat --bench validate`.

use std::process::Command;
use std::time::{Duration, Instant};

use lifeboat::Section;
use lifeboat::SourceFile;
use lifeboat::StepGraph;
use lifeboat::Templates;
use lifeboat::{check_text, registry};

const STEPS: usize = 10_000;
const WIDTH: usize = 10;

fn main() {
    let mut yaml = String::from("version: 1\nname: big\nrto: { target: 1h }\ninputs:\n  addr: { type: string, default: \"http://127.0.0.1:8200\" }\nsteps:\n");
    for i in 0..STEPS {
        yaml.push_str(&format!(
            "  - id: s{i}\n    kind: shell\n    estimate: 1s\n"
        ));
        if i >= WIDTH {
            let parent = i - WIDTH;
            yaml.push_str(&format!(
                "    needs: [s{parent}]\n    with: {{ run: [\"echo\", \"{{{{ inputs.addr }}}}/{{{{ steps.s{parent}.outputs.stdout }}}}\"] }}\n"
            ));
        } else {
            yaml.push_str("    with: { run: [\"echo\", \"{{ inputs.addr }}\"] }\n");
        }
    }
    let registry = registry();
    let templates = Templates::new();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (runbook, _) = check_text(
            SourceFile::new("big.yaml", yaml.clone()),
            &registry,
            &templates,
        )
        .expect("valid");
        let graph = StepGraph::new(&runbook, Section::Main);
        let levels = graph.levels();
        let path = graph
            .critical_path(|i| runbook.steps[i].estimate.unwrap_or_default())
            .steps;
        assert_eq!(levels.len(), STEPS / WIDTH);
        assert_eq!(path.len(), STEPS / WIDTH);
        times.push(t.elapsed());
    }
    let vp = median(&mut times);
    println!(
        "validate + plan of {STEPS} steps: {:.1} ms (target < 100 ms)",
        ms(vp)
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
