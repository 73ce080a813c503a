//! `plan`, `graph` and `kinds`: what an author sees before running anything.

mod util;

use util::{workspace, Sandbox};

fn example() -> String {
    workspace()
        .join("runbooks/examples/restore-drill.yaml")
        .display()
        .to_string()
}

#[test]
fn plan_shows_levels_critical_path_and_rto() {
    let sb = Sandbox::new();
    let ran = sb.run(&["plan", &example()]);
    ran.expect_code(0);
    insta::assert_snapshot!(ran.stdout);
}

#[test]
fn plan_json_is_machine_readable() {
    let sb = Sandbox::new();
    let ran = sb.run(&["plan", &example(), "--output", "json"]);
    ran.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON");
    assert_eq!(
        doc["critical_path"],
        serde_json::json!(["preflight", "snapshot", "inspect", "downloaded", "restore"])
    );
    assert_eq!(doc["levels"][2], serde_json::json!(["checksum", "inspect"]));
    assert_eq!(doc["estimate_ms"], 12_000);
    assert_eq!(doc["fits_rto"], true);
}

#[test]
fn plan_refuses_an_invalid_runbook() {
    let sb = Sandbox::new();
    sb.write("bad.yaml", "version: 1\nname: bad\nsteps:\n  - id: a\n    kind: shell\n    needs: [a]\n    with: { run: [\"true\"] }\n");
    let ran = sb.run(&["plan", "bad.yaml"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("step `a` needs itself"),
        "{}",
        ran.dump()
    );
}

#[test]
fn graph_draws_mermaid_and_dot() {
    let sb = Sandbox::new();
    let ran = sb.run(&["graph", &example(), "--format", "mermaid"]);
    ran.expect_code(0);
    assert!(ran.stdout.starts_with("flowchart TD\n"), "{}", ran.dump());
    assert!(
        ran.stdout.contains("  snapshot --> inspect\n"),
        "{}",
        ran.dump()
    );
    let ran = sb.run(&["graph", &example(), "--format", "dot"]);
    ran.expect_code(0);
    assert!(
        ran.stdout.starts_with("digraph \"restore-drill\" {"),
        "{}",
        ran.dump()
    );
    assert!(
        ran.stdout.contains("  downloaded -> restore;\n"),
        "{}",
        ran.dump()
    );
}

#[test]
fn kinds_lists_every_family() {
    let sb = Sandbox::new();
    let ran = sb.run(&["kinds", "--output", "json"]);
    ran.expect_code(0);
    let kinds: Vec<serde_json::Value> = serde_json::from_str(&ran.stdout).unwrap();
    let names: Vec<&str> = kinds.iter().filter_map(|k| k["kind"].as_str()).collect();
    for expected in [
        "shell",
        "http",
        "sleep",
        "assert",
        "checkpoint",
        "approval",
        "manual",
        "vault.snapshot.restore",
        "s3.latest",
        "crypto.decrypt",
        "checksum.sha256",
    ] {
        assert!(
            names.contains(&expected),
            "missing `{expected}` in {names:?}"
        );
    }
}

#[test]
fn help_teaches_exit_codes() {
    let sb = Sandbox::new();
    let ran = sb.run(&["--help"]);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("3    paused, waiting for a human"),
        "{}",
        ran.dump()
    );
    assert!(ran.stdout.contains("130  interrupted"), "{}", ran.dump());
}
