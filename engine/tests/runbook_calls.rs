//! `kind: runbook` (issue 15): a runbook calls another, whose steps run in
//! the caller's run and journal as `<call>/<step>`, in the call's scope
//! (`inputs` from `with.inputs`, `steps.<id>` within the called runbook),
//! with its `outputs:` as the call's outputs; gates addressed
//! `<call>/<gate>`; resume inside a call; validation of the whole tree;
//! the run's copy of every file.

mod util;

use util::Sandbox;

/// Writes a file of the sandbox, making its directory first.
fn write(sb: &Sandbox, path: &str, text: &str) {
    let full = sb.path().join(path);
    std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
    std::fs::write(full, text).expect("write");
}

fn records<'a>(
    journal: &'a [serde_json::Value],
    kind: &'a str,
) -> impl Iterator<Item = &'a serde_json::Value> + 'a {
    journal.iter().filter(move |r| r["type"] == kind)
}

fn steps_of(journal: &[serde_json::Value], kind: &str) -> Vec<String> {
    records(journal, kind)
        .map(|r| r["step"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The step ids of a run's `timeline.json`, in its order (the Gantt
/// chart's rows).
fn timeline_rows(sb: &Sandbox, id: &str) -> Vec<String> {
    let json = std::fs::read_to_string(sb.run_dir(id).join("timeline.json")).expect("json");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("timeline.json");
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn outputs_of(journal: &[serde_json::Value], step: &str) -> serde_json::Value {
    records(journal, "step_succeeded")
        .find(|r| r["step"] == step)
        .unwrap_or_else(|| panic!("`{step}` succeeded"))["outputs"]
        .clone()
}

const CHILD: &str = r#"version: 1
name: restore
inputs:
  backup: { type: string }
  nodes: { type: list, default: [n1] }
outputs:
  key: "{{ steps.upload.outputs.stdout }}"
  count: "{{ inputs.nodes | length }}"
steps:
  - id: fetch
    kind: shell
    with: { run: ["echo", "fetched {{ inputs.backup }}"] }
  - id: upload
    kind: shell
    needs: [fetch]
    with: { run: ["echo", "up-{{ steps.fetch.outputs.stdout }}"] }
"#;

#[test]
fn a_call_runs_the_child_in_its_scope_and_returns_its_outputs() {
    let sb = Sandbox::new();
    write(&sb, "lib/restore.yaml", CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
inputs:
  backup: { type: string, default: b-7 }
steps:
  - id: fetch
    kind: shell
    with: { run: ["echo", "parent fetch"] }
  - id: restore
    kind: runbook
    needs: [fetch]
    with:
      file: lib/restore.yaml
      inputs: { backup: "{{ inputs.backup }}-{{ steps.fetch.outputs.stdout }}", nodes: [a, b, c] }
  - id: report
    kind: shell
    needs: [restore]
    with: { run: ["echo", "{{ steps.restore.outputs.key }} {{ steps.restore.outputs.count }}"] }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    assert_eq!(
        steps_of(&journal, "step_succeeded"),
        [
            "fetch",
            "restore/fetch",
            "restore/upload",
            "restore",
            "report"
        ],
        "{}",
        ran.dump()
    );
    // The child's `steps.fetch` is its own, not the caller's.
    assert_eq!(
        outputs_of(&journal, "restore/fetch")["stdout"],
        "fetched b-7-parent fetch"
    );
    assert_eq!(
        outputs_of(&journal, "restore"),
        serde_json::json!({ "key": "up-fetched b-7-parent fetch", "count": 3 })
    );
    assert_eq!(
        outputs_of(&journal, "report")["stdout"],
        "up-fetched b-7-parent fetch 3"
    );
    let started = records(&journal, "step_started")
        .find(|r| r["step"] == "restore")
        .expect("the call's start");
    assert_eq!(
        started["description"],
        r#"runbook `lib/restore.yaml` with inputs {"backup":"b-7-parent fetch","nodes":["a","b","c"]}"#
    );
    // The timeline (and its Gantt chart) shows the called steps under
    // their call.
    let rows = timeline_rows(&sb, &id);
    assert_eq!(
        rows,
        [
            "fetch",
            "restore",
            "restore/fetch",
            "restore/upload",
            "report"
        ]
    );
}

#[test]
fn calls_nest_and_a_failed_child_step_fails_the_call_naming_it() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/inner.yaml",
        r#"version: 1
name: inner
inputs:
  fail: { type: boolean, default: false }
outputs:
  said: "{{ steps.say.outputs.stdout }}"
steps:
  - id: say
    kind: shell
    with: { run: ["echo", "inner"] }
  - id: maybe_fail
    kind: shell
    needs: [say]
    when: "inputs.fail"
    with: { run: ["false"] }
"#,
    );
    write(
        &sb,
        "lib/outer.yaml",
        r#"version: 1
name: outer
inputs:
  fail: { type: boolean, default: false }
outputs:
  said: "outer+{{ steps.sub.outputs.said }}"
steps:
  - id: sub
    kind: runbook
    with: { file: inner.yaml, inputs: { fail: "{{ inputs.fail }}" } }
"#,
    );
    let main = |fail: bool| {
        format!(
            r#"version: 1
name: main
steps:
  - id: outer
    kind: runbook
    with: {{ file: lib/outer.yaml, inputs: {{ fail: {fail} }} }}
  - id: after
    kind: shell
    needs: [outer]
    with: {{ run: ["echo", "{{{{ steps.outer.outputs.said }}}}"] }}
"#
        )
    };
    sb.write("ok.yaml", &main(false));
    let ran = sb.run(&["run", "ok.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        steps_of(&journal, "step_succeeded"),
        ["outer/sub/say", "outer/sub", "outer", "after"]
    );
    assert_eq!(steps_of(&journal, "step_skipped"), ["outer/sub/maybe_fail"]);
    assert_eq!(outputs_of(&journal, "after")["stdout"], "outer+inner");

    sb.write("bad.yaml", &main(true));
    let ran = sb.run(&["run", "bad.yaml"]);
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    let failed: Vec<(String, String)> = records(&journal, "step_failed")
        .map(|r| {
            (
                r["step"].as_str().unwrap_or_default().into(),
                r["error"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(failed[0].0, "outer/sub/maybe_fail");
    assert_eq!(
        failed[1],
        (
            "outer/sub".into(),
            "step `outer/sub/maybe_fail` of `lib/inner.yaml` failed".into()
        )
    );
    assert_eq!(
        failed[2],
        (
            "outer".into(),
            "step `outer/sub/maybe_fail` of `lib/outer.yaml` failed".into()
        )
    );
    assert_eq!(steps_of(&journal, "step_skipped"), ["after"]);
}

#[test]
fn a_call_whose_when_is_false_skips_every_step_it_calls() {
    let sb = Sandbox::new();
    write(&sb, "lib/restore.yaml", CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    when: "false"
    with: { file: lib/restore.yaml, inputs: { backup: x } }
  - id: after
    kind: shell
    needs: [restore]
    with: { run: ["echo", "{{ steps.restore.status }}"] }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        steps_of(&journal, "step_skipped"),
        ["restore", "restore/fetch", "restore/upload"]
    );
    assert_eq!(outputs_of(&journal, "after")["stdout"], "skipped");
}

const GATED_CHILD: &str = r#"version: 1
name: gated
outputs:
  by: "{{ steps.gate.outputs.approvers | join(',') }}"
steps:
  - id: gate
    kind: approval
    with: { prompt: "restore?" }
  - id: work
    kind: shell
    needs: [gate]
    with: { run: ["echo", "approved by {{ steps.gate.outputs.approvers | join(',') }}"] }
"#;

#[test]
fn a_gate_inside_a_call_is_approved_from_another_shell_as_call_slash_gate() {
    let sb = Sandbox::new();
    write(&sb, "lib/gated.yaml", GATED_CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    with: { file: lib/gated.yaml }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(3);
    let id = ran.run_id();
    assert!(
        ran.printed()
            .contains(&format!("lifeboat approve {id} restore/gate --as NAME")),
        "{}",
        ran.dump()
    );
    let approved = sb.run(&["approve", &id, "restore/gate", "--as", "bob"]);
    approved.expect_code(0);
    let status = sb.run(&["status", &id]);
    assert!(status.stdout.contains("restore/gate"), "{}", status.dump());
    let resumed = sb.run(&["resume", &id]);
    resumed.expect_code(0);
    let journal = sb.journal(&id);
    assert_eq!(
        outputs_of(&journal, "restore/work")["stdout"],
        "approved by bob"
    );
    assert_eq!(outputs_of(&journal, "restore")["by"], "bob");
}

#[test]
fn a_kill_inside_a_call_then_resume_runs_only_what_is_not_done() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/child.yaml",
        r#"version: 1
name: child
outputs:
  last: "{{ steps.three.outputs.stdout }}"
steps:
  - id: one
    kind: shell
    with: { script: "echo one >> ran; echo one" }
  - id: two
    kind: shell
    rerun: safe
    needs: [one]
    with:
      script: |
        echo two >> ran
        if [ ! -e crashed ]; then touch crashed; kill -9 $PPID; sleep 5; fi
        echo two
  - id: three
    kind: shell
    needs: [two]
    with: { script: "echo three >> ran; echo three" }
"#,
    );
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: first
    kind: shell
    with: { script: "echo first >> ran" }
  - id: restore
    kind: runbook
    needs: [first]
    with: { file: lib/child.yaml }
  - id: after
    kind: shell
    needs: [restore]
    with: { run: ["echo", "{{ steps.restore.outputs.last }}"] }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    assert_eq!(
        ran.code,
        -1,
        "the engine should have been killed\n{}",
        ran.dump()
    );
    let id = ran.run_id();
    sb.run(&["resume", &id]).expect_code(0);
    let order = std::fs::read_to_string(sb.work_dir(&id).join("ran")).expect("ran");
    assert_eq!(order, "first\none\ntwo\ntwo\nthree\n");
    let journal = sb.journal(&id);
    let mut succeeded = steps_of(&journal, "step_succeeded");
    succeeded.sort();
    assert_eq!(
        succeeded,
        [
            "after",
            "first",
            "restore",
            "restore/one",
            "restore/three",
            "restore/two"
        ],
        "each step succeeds once"
    );
    assert_eq!(outputs_of(&journal, "after")["stdout"], "three");
}

#[test]
fn resume_from_a_checkpoint_inside_a_call_runs_the_call_again_from_there() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/child.yaml",
        r#"version: 1
name: child
outputs:
  last: "{{ steps.after_mark.outputs.stdout }}"
steps:
  - id: before
    kind: shell
    with: { script: "echo before >> ran" }
  - id: mark
    kind: checkpoint
    needs: [before]
  - id: after_mark
    kind: shell
    needs: [mark]
    with: { script: "echo after_mark >> ran; echo again" }
"#,
    );
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    with: { file: lib/child.yaml }
  - id: end
    kind: shell
    needs: [restore]
    with: { script: "echo end >> ran; echo {{ steps.restore.outputs.last }}" }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let id = ran.run_id();
    sb.run(&["resume", &id, "--from", "restore/mark"])
        .expect_code(0);
    let order = std::fs::read_to_string(sb.work_dir(&id).join("ran")).expect("ran");
    assert_eq!(order, "before\nafter_mark\nend\nafter_mark\nend\n");
}

/// Validation of the whole tree, each problem at its file:line:col with
/// the call that led there.
#[test]
fn validate_checks_the_tree_at_each_files_place() {
    let sb = Sandbox::new();
    write(&sb, "lib/restore.yaml", CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    with:
      file: lib/restore.yaml
      inputs: { backpu: x, nodes: 3 }
  - id: report
    kind: shell
    needs: [restore]
    with: { run: ["echo", "{{ steps.restore.outputs.kye }}"] }
  - id: gone
    kind: runbook
    with: { file: lib/missing.yaml }
"#,
    );
    let ran = sb.run(&["validate", "main.yaml"]);
    ran.expect_code(2);
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with("error")
                || l.contains("-->")
                || l.contains("= help")
                || l.contains("= note")
        })
        .collect();
    assert_eq!(
        errors,
        [
            "error: step `restore` does not give input `backup`, which `lib/restore.yaml` requires",
            "  --> main.yaml:8:15",
            "   = help: add `backup: ...` under `with.inputs`, or give the input a `default` in `lib/restore.yaml`",
            "error: step `restore` gives input `backpu`, which `lib/restore.yaml` does not declare",
            "  --> main.yaml:8:17",
            "   = help: did you mean `backup`?",
            "error: step `restore` gives input `nodes` an integer, but `lib/restore.yaml` declares it `list`",
            "  --> main.yaml:8:35",
            "   = help: give `nodes` a list value",
            "error: step `report` reads `steps.restore.outputs.kye`, but `lib/restore.yaml`, which `restore` calls, has no output `kye`",
            "  --> main.yaml:12:27",
            "   = help: did you mean `key`? the called runbook's outputs are: key, count",
            "error: step `gone` calls `lib/missing.yaml`, which cannot be read (`lib/missing.yaml`): no such file",
            "  --> main.yaml:15:19",
            "   = help: check the path; `file` is relative to the calling runbook's file",
        ][..],
        "{}",
        ran.dump()
    );
}

#[test]
fn a_call_cycle_is_drawn_file_by_file_and_errors_in_a_child_say_which_call_led_there() {
    let sb = Sandbox::new();
    sb.write(
        "a.yaml",
        r#"version: 1
name: a
steps:
  - id: call_b
    kind: runbook
    with: { file: lib/b.yaml }
"#,
    );
    write(
        &sb,
        "lib/b.yaml",
        r#"version: 1
name: b
steps:
  - id: back
    kind: runbook
    with: { file: ../a.yaml }
  - id: typo
    kind: shel
    with: { run: ["true"] }
"#,
    );
    let ran = sb.run(&["validate", "a.yaml"]);
    ran.expect_code(2);
    let lines: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.contains("-->") || l.contains("= "))
        .collect();
    assert_eq!(
        lines,
        [
            "error: step `back` calls `../a.yaml`, which makes a call cycle: a.yaml -> lib/b.yaml -> a.yaml",
            "  --> lib/b.yaml:6:19",
            "   = help: a runbook cannot call itself, directly or through others; move the shared steps into a runbook both call",
            "   = note: called from a.yaml:6:19 (step `call_b`)",
            "error: unknown step kind `shel`",
            "  --> lib/b.yaml:8:11",
            "   = help: did you mean `shell`?",
            "   = note: called from a.yaml:6:19 (step `call_b`)",
        ],
        "{}",
        ran.dump()
    );
}

#[test]
fn a_resume_whose_called_file_changed_is_refused() {
    let sb = Sandbox::new();
    write(&sb, "lib/gated.yaml", GATED_CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    with: { file: lib/gated.yaml }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(3);
    let id = ran.run_id();
    let copy: std::collections::BTreeMap<String, String> = serde_json::from_slice(
        &std::fs::read(sb.run_dir(&id).join("runbook-tree.json")).expect("the tree's copy"),
    )
    .expect("json");
    assert_eq!(copy["lib/gated.yaml"], GATED_CHILD);
    write(
        &sb,
        "lib/gated.yaml",
        &GATED_CHILD.replace("restore?", "restore now?"),
    );
    let resumed = sb.run(&["resume", &id]);
    assert_ne!(resumed.code, 0, "{}", resumed.dump());
    assert!(
        resumed.stderr.contains("lib/gated.yaml") && resumed.stderr.contains("changed"),
        "{}",
        resumed.dump()
    );
    sb.run(&["resume", &id, "--allow-changed"]).expect_code(3);
}

#[test]
fn a_secret_child_output_never_reaches_the_run_directory_in_clear() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/mint.yaml",
        r#"version: 1
name: mint
inputs:
  token: { type: secret, env: MINT_TOKEN }
outputs:
  token: { value: "{{ inputs.token }}", secret: true }
  derived: "prefix-{{ inputs.token }}"
  plain: "{{ steps.say.outputs.stdout }}"
steps:
  - id: say
    kind: shell
    with: { run: ["echo", "hello"] }
"#,
    );
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
inputs:
  token: { type: secret, env: MAIN_TOKEN }
steps:
  - id: mint
    kind: runbook
    with: { file: lib/mint.yaml, inputs: { token: "{{ inputs.token }}" } }
  - id: use
    kind: shell
    needs: [mint]
    with:
      script: 'test "${TOKEN#s3cr3t}" = -t0ken-value && echo "ok {{ steps.mint.outputs.plain }}"'
      env: { TOKEN: "{{ steps.mint.outputs.token }}" }
"#,
    );
    let ran = sb.run_with(
        &["run", "main.yaml"],
        &[("MAIN_TOKEN", "s3cr3t-t0ken-value")],
    );
    ran.expect_code(0);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let outputs = outputs_of(&journal, "mint");
    assert_eq!(outputs["token"], "«redacted»");
    assert_eq!(outputs["plain"], "hello");
    assert!(
        !outputs["derived"]
            .as_str()
            .unwrap_or_default()
            .contains("s3cr3t"),
        "{outputs}"
    );
    assert_eq!(outputs_of(&journal, "use")["stdout"], "ok hello");
    let _ = sb.run(&["timeline", &id]);
    let files = walk(&sb.run_dir(&id));
    assert!(files.len() > 3, "{files:?}");
    for entry in files {
        let text = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&text).contains("s3cr3t-t0ken-value"),
            "{} holds the secret in clear",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// While an engine drives the run with `--wait`, `approve RUN restore/gate`
/// from another shell goes through the inbox and the engine continues.
#[test]
fn a_gate_inside_a_call_is_approved_through_the_inbox_of_a_waiting_engine() {
    use std::io::{BufRead, BufReader};
    let sb = Sandbox::new();
    write(&sb, "lib/gated.yaml", GATED_CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    with: { file: lib/gated.yaml }
"#,
    );
    let mut child = sb.test().args(["run", "main.yaml", "--wait"]).spawn();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("run id");
    let id = first.trim().to_string();
    let start = std::time::Instant::now();
    while !sb
        .journal(&id)
        .iter()
        .any(|r| r["type"] == "waiting" && r["step"] == "restore/gate")
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no `waiting` for `restore/gate`: {:#?}",
            sb.journal(&id)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sb.run(&["approve", &id, "restore/gate", "--as", "bob"])
        .expect_code(0);
    let status = child.wait().expect("the engine exits");
    assert_eq!(status.code(), Some(0));
    let journal = sb.journal(&id);
    assert_eq!(outputs_of(&journal, "restore")["by"], "bob");
}

#[test]
fn plan_graph_and_kinds_show_a_call() {
    let sb = Sandbox::new();
    write(&sb, "lib/restore.yaml", CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    with: { file: lib/restore.yaml, inputs: { backup: x } }
"#,
    );
    let plan = sb.run(&["plan", "main.yaml"]);
    plan.expect_code(0);
    for id in ["restore ", "restore/fetch ", "restore/upload "] {
        assert!(plan.stdout.contains(id), "{}", plan.dump());
    }
    let graph = sb.run(&["graph", "main.yaml"]);
    graph.expect_code(0);
    assert!(
        graph
            .stdout
            .contains("  restore__fetch --> restore__upload\n"),
        "{}",
        graph.dump()
    );
    assert!(graph
        .stdout
        .contains("restore__upload[\"restore/upload<br/>shell\"]"));
    sb.test()
        .args(["kinds", "runbook"])
        .stdout(
            "runbook: run another runbook's steps inside this run, as `<id>/<step>`; its outputs are the called runbook's `outputs:`

parameters (`with:`):
  file   string required  The runbook to run, relative to the calling runbook's file.
  inputs map              The called runbook's inputs, rendered in the caller's scope when the call starts.

outputs (`steps.<id>.outputs.<name>`):
  the called runbook's `outputs:` (validate checks each read against them)
",
        )
        .run();
}

/// What a call cannot do is refused by `validate`, at its place.
#[test]
fn on_failure_in_a_called_runbook_is_refused_also_under_a_loop() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/cleanup.yaml",
        r#"version: 1
name: cleanup
steps:
  - id: work
    kind: shell
    with: { run: ["true"] }
on_failure:
  - id: undo
    kind: shell
    with: { run: ["true"] }
"#,
    );
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: each
    kind: runbook
    for_each: { items: [a, b], as: node }
    with: { file: lib/cleanup.yaml }
"#,
    );
    let ran = sb.run(&["validate", "main.yaml"]);
    ran.expect_code(2);
    let lines: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.contains("-->") || l.contains("= "))
        .collect();
    assert_eq!(
        lines,
        [
            "error: a called runbook cannot have `on_failure` (step `undo`)",
            "  --> lib/cleanup.yaml:8:9",
            "   = help: move these steps into the `on_failure` of the calling runbook, or into a runbook of their own",
            "   = note: called from main.yaml:7:19 (step `each`)",
        ],
        "{}",
        ran.dump()
    );
}

/// A templated input is checked when the call renders it: a value the
/// called runbook's declaration does not accept fails the call, naming
/// the input, and none of its steps runs.
#[test]
fn a_rendered_input_of_the_wrong_type_fails_the_call_naming_the_input() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/scale.yaml",
        r#"version: 1
name: scale
inputs:
  replicas: { type: integer }
steps:
  - id: scale
    kind: shell
    with: { run: ["echo", "{{ inputs.replicas }}"] }
"#,
    );
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
inputs:
  replicas: { type: string, default: "many" }
steps:
  - id: restore
    kind: runbook
    with: { file: lib/scale.yaml, inputs: { replicas: "{{ inputs.replicas }}" } }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    let failed = records(&journal, "step_failed")
        .find(|r| r["step"] == "restore")
        .expect("the call failed");
    assert_eq!(
        failed["error"].as_str().unwrap_or_default().split(": ").next(),
        Some("input `replicas` of `lib/scale.yaml` is declared `integer`, but `with.inputs.replicas` rendered a value it does not accept"),
        "{failed}"
    );
    assert_eq!(steps_of(&journal, "step_skipped"), ["restore/scale"]);
    assert!(steps_of(&journal, "step_started").is_empty());
}

/// One file called twice: read and validated once (its problem is
/// reported once), run twice under two prefixes.
#[test]
fn a_file_called_twice_is_validated_once_and_runs_under_each_call() {
    let sb = Sandbox::new();
    write(&sb, "lib/restore.yaml", CHILD);
    let main = r#"version: 1
name: main
steps:
  - id: first
    kind: runbook
    with: { file: lib/restore.yaml, inputs: { backup: one } }
  - id: second
    kind: runbook
    with: { file: lib/restore.yaml, inputs: { backup: two } }
  - id: both
    kind: shell
    needs: [first, second]
    with: { run: ["echo", "{{ steps.first.outputs.key }} {{ steps.second.outputs.key }}"] }
"#;
    sb.write("main.yaml", main);
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        outputs_of(&journal, "both")["stdout"],
        "up-fetched one up-fetched two"
    );
    write(
        &sb,
        "lib/restore.yaml",
        &CHILD.replace("needs: [fetch]", "needs: [fetch, fecth]"),
    );
    let ran = sb.run(&["validate", "main.yaml"]);
    ran.expect_code(2);
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error"))
        .collect();
    assert_eq!(
        errors,
        ["error: step `upload` needs `fecth`, which is not a step"],
        "{}",
        ran.dump()
    );
}

/// A loop inside a called runbook reads the call's inputs; its items are
/// `<call>/<step>[<key>]`.
#[test]
fn a_loop_inside_a_call_runs_an_item_per_input_node() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/unseal.yaml",
        r#"version: 1
name: unseal
inputs:
  nodes: { type: list }
outputs:
  done: "{{ steps.unseal.outputs.items | map(attribute='key') | join(',') }}"
steps:
  - id: unseal
    kind: shell
    for_each: { items: "{{ inputs.nodes }}", as: node }
    with: { run: ["echo", "unsealed {{ node }}"] }
"#,
    );
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
inputs:
  nodes: { type: list, default: [n1, n2, n3] }
steps:
  - id: restore
    kind: runbook
    with: { file: lib/unseal.yaml, inputs: { nodes: "{{ inputs.nodes }}" } }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        steps_of(&journal, "step_succeeded"),
        [
            "restore/unseal[n1]",
            "restore/unseal[n2]",
            "restore/unseal[n3]",
            "restore/unseal",
            "restore"
        ]
    );
    assert_eq!(outputs_of(&journal, "restore")["done"], "n1,n2,n3");
}

/// A call runs no process of its own: `timeout`, `retry`, `until`,
/// `check` and `rerun` on it would do nothing, so they are refused where
/// they are written.
#[test]
fn fields_that_would_do_nothing_on_a_call_are_refused() {
    let sb = Sandbox::new();
    write(&sb, "lib/restore.yaml", CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    timeout: 5m
    retry: { attempts: 3 }
    with: { file: lib/restore.yaml, inputs: { backup: x, nodes: [a] } }
"#,
    );
    let ran = sb.run(&["validate", "main.yaml"]);
    ran.expect_code(2);
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.contains("-->") || l.contains("= help"))
        .collect();
    assert_eq!(
        errors,
        [
            "error: step `restore`: `timeout` does nothing on a `runbook` call",
            "  --> main.yaml:6:14",
            "   = help: set `timeout` on the steps of the called runbook (or in its `defaults`, for `timeout` and `retry`)",
            "error: step `restore`: `retry` does nothing on a `runbook` call",
            "  --> main.yaml:7:12",
            "   = help: set `retry` on the steps of the called runbook (or in its `defaults`, for `timeout` and `retry`)",
        ][..],
        "{}",
        ran.dump()
    );
}

/// Counts `step_succeeded` records of `step`.
fn successes(journal: &[serde_json::Value], step: &str) -> usize {
    steps_of(journal, "step_succeeded")
        .iter()
        .filter(|s| *s == step)
        .count()
}

/// A called runbook whose second step waits for a flag file: `one`, then
/// `two` once `go` exists.
const SLOW_CHILD: &str = r#"version: 1
name: slow
outputs:
  said: "{{ steps.two.outputs.stdout }}"
steps:
  - id: one
    kind: shell
    with: { script: "sleep 2; echo one" }
  - id: two
    kind: shell
    needs: [one]
    with: { script: "test -e go && echo two" }
"#;

/// The run fails outside a call while the call runs: the call's steps
/// that could not start leave the call unfinished, not succeeded, and a
/// resume runs them. (The call was journalled succeeded and its steps were
/// skipped on every resume.)
#[test]
fn a_call_cut_short_by_a_failure_elsewhere_runs_its_remaining_steps_on_resume() {
    let sb = Sandbox::new();
    write(&sb, "lib/slow.yaml", SLOW_CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: flaky
    kind: shell
    with: { script: "sleep 1; test -e go" }
  - id: restore
    kind: runbook
    with: { file: lib/slow.yaml }
  - id: report
    kind: shell
    needs: [restore]
    with: { run: ["echo", "{{ steps.restore.outputs.said }}"] }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(1);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    assert_eq!(successes(&journal, "restore"), 0, "{}", ran.dump());
    std::fs::write(sb.work_dir(&id).join("go"), "").unwrap();
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(0);
    let journal = sb.journal(&id);
    for step in ["restore/one", "restore/two", "restore", "report"] {
        assert_eq!(successes(&journal, step), 1, "`{step}`\n{}", ran.dump());
    }
    assert_eq!(outputs_of(&journal, "report")["stdout"], "two");
}

/// A call that fails as it starts (an input of the wrong type, fixed
/// before the resume by `--allow-changed`) skips its steps as "needs
/// `restore`, which failed", so that a resume runs them with the call.
#[test]
fn the_steps_of_a_failed_call_run_when_a_resume_reopens_it() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/scale.yaml",
        r#"version: 1
name: scale
inputs:
  replicas: { type: integer }
outputs:
  said: "{{ steps.scale.outputs.stdout }}"
steps:
  - id: scale
    kind: shell
    with: { run: ["echo", "{{ inputs.replicas }}"] }
"#,
    );
    let main = |replicas: &str| {
        format!(
            r#"version: 1
name: main
steps:
  - id: count
    kind: shell
    with: {{ run: ["echo", "many"] }}
  - id: restore
    kind: runbook
    needs: [count]
    with: {{ file: lib/scale.yaml, inputs: {{ replicas: {replicas} }} }}
"#
        )
    };
    sb.write("main.yaml", &main("\"{{ steps.count.outputs.stdout }}\""));
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(1);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let reasons: Vec<String> = records(&journal, "step_skipped")
        .map(|r| {
            format!(
                "{}: {}",
                r["step"].as_str().unwrap(),
                r["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        reasons,
        ["restore/scale: needs `restore`, which failed"],
        "{}",
        ran.dump()
    );
    sb.write("main.yaml", &main("2"));
    let ran = sb.run(&["resume", &id, "--allow-changed"]);
    ran.expect_code(0);
    let journal = sb.journal(&id);
    for step in ["count", "restore/scale", "restore"] {
        assert_eq!(successes(&journal, step), 1, "`{step}`\n{}", ran.dump());
    }
    assert_eq!(outputs_of(&journal, "restore")["said"], "2");
}

/// `resume --redo restore/upload` of a finished run: the call runs again
/// around that one step and ends with outputs from it.
#[test]
fn redo_of_a_called_step_runs_it_inside_its_call_again() {
    let sb = Sandbox::new();
    write(&sb, "lib/restore.yaml", CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    with: { file: lib/restore.yaml, inputs: { backup: x } }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let id = ran.run_id();
    let ran = sb.run(&[
        "resume",
        &id,
        "--redo",
        "restore/upload",
        "--reason",
        "the upload was lost",
        "--yes",
    ]);
    ran.expect_code(0);
    let journal = sb.journal(&id);
    assert_eq!(successes(&journal, "restore/fetch"), 1, "{}", ran.dump());
    assert_eq!(successes(&journal, "restore/upload"), 2, "{}", ran.dump());
    assert_eq!(successes(&journal, "restore"), 2, "{}", ran.dump());
    assert!(
        steps_of(&journal, "step_skipped").is_empty(),
        "{}",
        ran.dump()
    );
}

/// `continue_on_failure` on a call: a step that fails inside it fails the
/// call, and the run goes on with the steps that need the call.
#[test]
fn continue_on_failure_on_a_call_keeps_the_run_going() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/cleanup.yaml",
        r#"version: 1
name: cleanup
steps:
  - id: tidy
    kind: shell
    with: { script: "exit 3" }
"#,
    );
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: cleanup
    kind: runbook
    continue_on_failure: true
    with: { file: lib/cleanup.yaml }
  - id: next
    kind: shell
    needs: [cleanup]
    with: { run: ["true"] }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        steps_of(&journal, "step_failed"),
        ["cleanup/tidy", "cleanup"]
    );
    assert_eq!(successes(&journal, "next"), 1, "{}", ran.dump());
}

/// Review finding 6: a `resume --allow-changed` to a runbook that calls
/// nothing left the earlier tree's `runbook-tree.json`, whose files then
/// counted in the copy's digest, and the next resume was refused as changed.
#[test]
fn resume_allow_changed_to_a_runbook_without_calls_keeps_no_stale_tree() {
    let sb = Sandbox::new();
    write(&sb, "lib/gated.yaml", GATED_CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    with: { file: lib/gated.yaml }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(3);
    let id = ran.run_id();
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: gate
    kind: approval
    with: { prompt: "go?" }
"#,
    );
    sb.run(&["resume", &id, "--allow-changed"]).expect_code(3);
    let tree: std::collections::BTreeMap<String, String> = serde_json::from_slice(
        &std::fs::read(sb.run_dir(&id).join("runbook-tree.json")).expect("the tree's copy"),
    )
    .expect("json");
    assert!(tree.is_empty(), "a stale tree: {tree:?}");
    // The run's copy still matches its journal: a plain resume is not
    // refused as changed.
    let again = sb.run(&["resume", &id]);
    assert_eq!(again.code, 3, "{}", again.dump());
}

/// Review finding 9: the redactor ignores values under 4 characters, so a
/// short value bound to a child's `type: secret` input was journalled in
/// clear in the call's `step_started`. It is refused, as a short secret
/// input of the top runbook is, and never shown.
#[test]
fn a_short_value_for_a_secret_input_of_a_call_is_refused_and_never_journalled() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/pin.yaml",
        r#"version: 1
name: pin
inputs:
  pin: { type: secret, env: CHILD_PIN }
  label: { type: string }
steps:
  - id: say
    kind: shell
    with: { run: ["echo", "{{ inputs.label }}"] }
"#,
    );
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
inputs:
  token: { type: secret, env: MAIN_TOKEN }
steps:
  - id: long
    kind: runbook
    with: { file: lib/pin.yaml, inputs: { pin: "{{ inputs.token[4:] }}", label: a } }
  - id: short
    kind: runbook
    needs: [long]
    with: { file: lib/pin.yaml, inputs: { pin: "{{ inputs.token[:3] }}", label: b } }
"#,
    );
    let ran = sb.run_with(&["run", "main.yaml"], &[("MAIN_TOKEN", "Zq!x-long-secret")]);
    ran.expect_code(1);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let started = records(&journal, "step_started")
        .find(|r| r["step"] == "long")
        .expect("the call's start");
    assert_eq!(
        started["description"],
        r#"runbook `lib/pin.yaml` with inputs {"label":"a","pin":"«redacted»"}"#
    );
    let failed = records(&journal, "step_failed")
        .find(|r| r["step"] == "short")
        .expect("the short secret fails its call");
    assert_eq!(
        failed["error"],
        "secret input `pin` of `lib/pin.yaml` is 3 characters long; secrets shorter than 4 characters cannot be redacted reliably, so Lifeboat refuses them: pass a longer value in `with.inputs.pin`, or declare the input `type: string` in `lib/pin.yaml` if it is not secret"
    );
    assert!(
        !steps_of(&journal, "step_started").contains(&"short/say".to_string()),
        "no step of the refused call runs"
    );
    let _ = sb.run(&["timeline", &id]);
    for entry in walk(&sb.run_dir(&id)) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap_or_default()).into_owned();
        assert!(
            !text.contains("Zq!"),
            "{} holds the short secret in clear",
            entry.display()
        );
    }
    assert!(!ran.printed().contains("Zq!"), "{}", ran.dump());
}

/// Review finding 8: a call's `type: path` (and `program`) inputs are
/// anchored to the directory the run was launched from, as the top
/// runbook's are; a relative path given in `with.inputs`, or a child's
/// default, means the same file from every step, on every resume.
#[test]
fn a_calls_relative_path_inputs_are_resolved_like_the_top_runbooks() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/read.yaml",
        r#"version: 1
name: read
inputs:
  given: { type: path }
  fallback: { type: path, default: ./conf/default.txt }
  tool: { type: program, default: bin/tool.sh }
  name: { type: string, default: ./not/a/path }
outputs:
  given: "{{ inputs.given }}"
  fallback: "{{ inputs.fallback }}"
  name: "{{ inputs.name }}"
steps:
  - id: cat
    kind: shell
    with: { run: ["cat", "{{ inputs.given }}", "{{ inputs.fallback }}"] }
  - id: tool
    kind: shell
    with: { run: ["{{ inputs.tool }}"] }
"#,
    );
    write(&sb, "conf/given.txt", "given\n");
    write(&sb, "conf/default.txt", "default\n");
    write(&sb, "bin/tool.sh", "#!/bin/sh\necho tool ran\n");
    std::fs::set_permissions(
        sb.path().join("bin/tool.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: read
    kind: runbook
    with: { file: lib/read.yaml, inputs: { given: conf/given.txt } }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    let root = sb.path().display().to_string();
    assert_eq!(
        outputs_of(&journal, "read"),
        serde_json::json!({
            "given": format!("{root}/conf/given.txt"),
            "fallback": format!("{root}/conf/default.txt"),
            "name": "./not/a/path",
        })
    );
    assert_eq!(outputs_of(&journal, "read/cat")["stdout"], "given\ndefault");
    assert_eq!(outputs_of(&journal, "read/tool")["stdout"], "tool ran");
}

/// `rto.stop_at` may name a called step, `<call>/<step>`: the clock stops
/// when that step first succeeds. A name that is no step of the call is
/// refused at its place, with the called steps to choose from.
#[test]
fn the_rto_clock_stops_at_a_called_step() {
    let sb = Sandbox::new();
    write(&sb, "lib/restore.yaml", CHILD);
    let main = |stop_at: &str| {
        format!(
            r#"version: 1
name: main
rto: {{ target: 1h, stop_at: {stop_at} }}
steps:
  - id: restore
    kind: runbook
    with: {{ file: lib/restore.yaml, inputs: {{ backup: b }} }}
  - id: after
    kind: shell
    needs: [restore]
    with: {{ run: ["sleep", "0.3"] }}
"#
        )
    };
    sb.write("main.yaml", &main("restore/fetch"));
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let id = ran.run_id();
    let json = std::fs::read_to_string(sb.run_dir(&id).join("timeline.json")).expect("json");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("timeline.json");
    assert_eq!(doc["rto"]["stop"]["reason"], "stop_at", "{doc}");
    assert_eq!(doc["rto"]["stop"]["step"], "restore/fetch");
    sb.write("main.yaml", &main("restore/fecth"));
    let ran = sb.run(&["validate", "main.yaml"]);
    ran.expect_code(2);
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.contains("-->") || l.contains("= help"))
        .collect();
    assert_eq!(
        errors,
        [
            "error: `rto.stop_at` names `restore/fecth`, which is not a step of the runbook `restore` calls",
            "  --> main.yaml:3:29",
            "   = help: did you mean `restore/fetch`?",
        ][..],
        "{}",
        ran.dump()
    );
}

// ---- `for_each` on a `kind: runbook` call ----

const NODE_CHILD: &str = r#"version: 1
name: node
inputs:
  node: { type: string }
  backup: { type: string }
outputs:
  addr: "{{ steps.unseal.outputs.stdout }}"
steps:
  - id: fetch
    kind: shell
    with: { script: 'echo "start {{ inputs.node }}" >> order; sleep 0.3; echo "end {{ inputs.node }}" >> order' }
  - id: unseal
    kind: shell
    needs: [fetch]
    with: { run: ["echo", "unsealed {{ inputs.node }} from {{ inputs.backup }}"] }
"#;

/// Each item runs the called runbook once, with the item bound in the
/// call's `with.inputs`; its steps are journalled `restore[<key>]/<step>`;
/// `max_parallel` bounds the items running at once; the loop's outputs are
/// `items` and `by_key`, each item's outputs the child's `outputs:`.
#[test]
fn a_loop_over_a_call_runs_the_called_runbook_once_per_item() {
    let sb = Sandbox::new();
    write(&sb, "lib/node.yaml", NODE_CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
inputs:
  nodes: { type: list, default: [n1, n2, n3] }
steps:
  - id: restore
    kind: runbook
    for_each: { items: "{{ inputs.nodes }}", as: node, max_parallel: 2 }
    with: { file: lib/node.yaml, inputs: { node: "{{ node }}", backup: b-1 } }
  - id: report
    kind: shell
    needs: [restore]
    with: { run: ["echo", "{{ steps.restore.outputs.by_key.n2.outputs.addr }}; {{ steps.restore.outputs.items | length }} items"] }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let mut succeeded = steps_of(&journal, "step_succeeded");
    assert_eq!(succeeded.last().map(String::as_str), Some("report"));
    succeeded.sort();
    assert_eq!(
        succeeded,
        [
            "report",
            "restore",
            "restore[n1]",
            "restore[n1]/fetch",
            "restore[n1]/unseal",
            "restore[n2]",
            "restore[n2]/fetch",
            "restore[n2]/unseal",
            "restore[n3]",
            "restore[n3]/fetch",
            "restore[n3]/unseal",
        ],
        "{}",
        ran.dump()
    );
    let item = |key: &str| {
        serde_json::json!({
            "key": key,
            "status": "succeeded",
            "outputs": { "addr": format!("unsealed {key} from b-1") },
        })
    };
    assert_eq!(
        outputs_of(&journal, "restore"),
        serde_json::json!({
            "items": [item("n1"), item("n2"), item("n3")],
            "by_key": { "n1": item("n1"), "n2": item("n2"), "n3": item("n3") },
        })
    );
    assert_eq!(
        outputs_of(&journal, "report")["stdout"],
        "unsealed n2 from b-1; 3 items"
    );
    let started = records(&journal, "step_started")
        .find(|r| r["step"] == "restore[n2]")
        .expect("the item call's start");
    assert_eq!(
        started["description"],
        r#"runbook `lib/node.yaml` with inputs {"backup":"b-1","node":"n2"}"#
    );
    // Two items at once: the third starts only once one has ended.
    let order = std::fs::read_to_string(sb.work_dir(&id).join("order")).expect("order");
    let lines: Vec<&str> = order.lines().collect();
    let third = lines.iter().position(|l| *l == "start n3").expect("n3 ran");
    let first_end = lines
        .iter()
        .position(|l| l.starts_with("end"))
        .expect("an end");
    assert!(third > first_end, "{order}");
    assert!(lines[..2].iter().all(|l| l.starts_with("start")), "{order}");
    // The timeline shows each item's steps under its item call.
    let rows = timeline_rows(&sb, &id);
    // In the order they started: each item call before its steps.
    let at = |id: &str| rows.iter().position(|r| *r == id).expect(id);
    for key in ["n1", "n2", "n3"] {
        assert!(at("restore") < at(&format!("restore[{key}]")), "{rows:?}");
        assert!(
            at(&format!("restore[{key}]")) < at(&format!("restore[{key}]/fetch")),
            "{rows:?}"
        );
    }
    let mut rows = rows;
    rows.sort();
    assert_eq!(
        rows,
        [
            "report",
            "restore",
            "restore[n1]",
            "restore[n1]/fetch",
            "restore[n1]/unseal",
            "restore[n2]",
            "restore[n2]/fetch",
            "restore[n2]/unseal",
            "restore[n3]",
            "restore[n3]/fetch",
            "restore[n3]/unseal",
        ]
    );
    // `plan` lays the loop out with the inputs' defaults (or those given).
    let plan = sb.run(&["plan", "main.yaml", "--output", "json"]);
    plan.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).expect("plan json");
    let planned: Vec<&str> = doc["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .flat_map(|l| l.as_array().expect("level").iter())
        .filter_map(|s| s.as_str())
        .collect();
    for id in [
        "restore",
        "restore[n1]/unseal",
        "restore[n3]/fetch",
        "report",
    ] {
        assert!(planned.contains(&id), "{planned:?}");
    }
    let plan = sb.run(&[
        "plan",
        "main.yaml",
        "--input",
        r#"nodes=["a"]"#,
        "--output",
        "json",
    ]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains("restore[a]/fetch") && !plan.stdout.contains("restore[n1]"),
        "{}",
        plan.dump()
    );
    // `status` lists them too.
    let status = sb.run(&["status", &id]);
    status.expect_code(0);
    assert!(
        status.stdout.contains("items:    restore: 3 succeeded"),
        "{}",
        status.dump()
    );
}

/// A kill inside the second item: the resume takes over the first item
/// and the second's completed steps, and runs only what is not done.
#[test]
fn a_kill_inside_a_loop_of_calls_then_resume_runs_only_the_unfinished_steps() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/child.yaml",
        r#"version: 1
name: child
inputs:
  node: { type: string }
outputs:
  last: "{{ steps.three.outputs.stdout }}"
steps:
  - id: one
    kind: shell
    with: { script: 'echo "one {{ inputs.node }}" >> ran' }
  - id: two
    kind: shell
    rerun: safe
    needs: [one]
    with:
      script: |
        echo "two {{ inputs.node }}" >> ran
        if [ "{{ inputs.node }}" = n2 ] && [ ! -e crashed ]; then touch crashed; kill -9 $PPID; sleep 5; fi
  - id: three
    kind: shell
    needs: [two]
    with: { script: 'echo "three {{ inputs.node }}" >> ran; echo "{{ inputs.node }} done"' }
"#,
    );
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    for_each: { items: [n1, n2, n3], as: node }
    with: { file: lib/child.yaml, inputs: { node: "{{ node }}" } }
  - id: after
    kind: shell
    needs: [restore]
    with: { run: ["echo", "{{ steps.restore.outputs.items | map(attribute='outputs') | map(attribute='last') | join(',') }}"] }
"#,
    );
    let id = sb.run(&["run", "main.yaml"]).killed();
    let resumed = sb.run(&["resume", &id]);
    resumed.expect_code(0);
    let order = std::fs::read_to_string(sb.work_dir(&id).join("ran")).expect("ran");
    assert_eq!(
        order,
        "one n1\ntwo n1\nthree n1\none n2\ntwo n2\ntwo n2\nthree n2\none n3\ntwo n3\nthree n3\n",
        "{}",
        resumed.dump()
    );
    let journal = sb.journal(&id);
    for step in [
        "restore[n1]/one",
        "restore[n1]/three",
        "restore[n2]/one",
        "restore[n2]/two",
        "restore[n3]/three",
        "restore[n1]",
        "restore",
    ] {
        assert_eq!(successes(&journal, step), 1, "`{step}` succeeds once");
    }
    assert_eq!(
        outputs_of(&journal, "after")["stdout"],
        "n1 done,n2 done,n3 done"
    );
}

/// A failed item fails the loop, naming the item and its step, and no
/// further item starts; with `for_each.continue_on_failure` every item
/// runs, the loop succeeds with each item's status, and the run goes on.
#[test]
fn a_failed_item_of_a_loop_of_calls_fails_it_unless_continue_on_failure() {
    let sb = Sandbox::new();
    write(
        &sb,
        "lib/check.yaml",
        r#"version: 1
name: check
inputs:
  node: { type: string }
outputs:
  node: "{{ steps.check.outputs.stdout }}"
steps:
  - id: check
    kind: shell
    with: { script: 'echo "{{ inputs.node }}" >> ran; test "{{ inputs.node }}" != n2 && echo "{{ inputs.node }} ok"' }
"#,
    );
    let main = |extra: &str| {
        format!(
            r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    for_each: {{ items: [n1, n2, n3], as: node{extra} }}
    with: {{ file: lib/check.yaml, inputs: {{ node: "{{{{ node }}}}" }} }}
  - id: after
    kind: shell
    needs: [restore]
    with: {{ run: ["echo", "{{{{ steps.restore.outputs.items | map(attribute='status') | join(',') }}}}"] }}
"#
        )
    };
    sb.write("main.yaml", &main(""));
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(1);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let failed = records(&journal, "step_failed")
        .find(|r| r["step"] == "restore")
        .expect("the loop fails");
    assert_eq!(
        failed["error"],
        "item `restore[n2]` failed at `restore[n2]/check`"
    );
    assert_eq!(failed["outputs"]["by_key"]["n1"]["status"], "succeeded");
    assert_eq!(failed["outputs"]["by_key"]["n2"]["status"], "failed");
    assert_eq!(failed["outputs"]["by_key"]["n3"]["status"], "not_started");
    let order = std::fs::read_to_string(sb.work_dir(&id).join("ran")).expect("ran");
    assert_eq!(order, "n1\nn2\n", "no item starts after a failed one");
    assert!(!steps_of(&journal, "step_started").contains(&"after".to_string()));

    sb.write("main.yaml", &main(", continue_on_failure: true"));
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        outputs_of(&journal, "after")["stdout"],
        "succeeded,failed,succeeded",
        "{}",
        ran.dump()
    );
    assert_eq!(
        outputs_of(&journal, "restore")["by_key"]["n3"]["outputs"]["node"],
        "n3 ok"
    );
}

/// `validate` checks a loop of calls where it is written: reads of its
/// outputs (only `items` and `by_key`), the `as` name in `with.inputs`,
/// and a list that a step would make.
#[test]
fn validate_checks_a_loop_of_calls_at_its_place() {
    let sb = Sandbox::new();
    write(&sb, "lib/node.yaml", NODE_CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
inputs:
  nodes: { type: list, default: [n1] }
steps:
  - id: list
    kind: shell
    with: { run: ["echo", "[]"] }
  - id: restore
    kind: runbook
    for_each: { items: "{{ inputs.nodes }}", as: node }
    with: { file: lib/node.yaml, inputs: { node: "{{ nod }}", backup: b } }
  - id: again
    kind: runbook
    needs: [list]
    for_each: { items: "{{ steps.list.outputs.json }}", as: node }
    with: { file: lib/node.yaml, inputs: { node: "{{ node }}", backup: b } }
  - id: report
    kind: shell
    needs: [restore]
    with: { run: ["echo", "{{ steps.restore.outputs.addr }}", "{{ steps.restore.outputs.by_key.n1.outputs.adr }}"] }
"#,
    );
    let ran = sb.run(&["validate", "main.yaml"]);
    ran.expect_code(2);
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.contains("-->") || l.contains("= help"))
        .collect();
    assert_eq!(
        errors,
        [
            "error: step `restore` reads unknown variable `nod`",
            "  --> main.yaml:12:50",
            "   = help: templates see `inputs`, `steps`, `run` (and `outputs` in `until`)",
            "error: step `again`: `for_each.items` of a `runbook` call reads `steps.list.outputs.json`; it may read only `inputs`, because each item's called steps are laid out when the run starts",
            "  --> main.yaml:16:24",
            "   = help: pass the list as an input of this runbook (`inputs.nodes`), or loop inside the called runbook, where `for_each` may read its steps' outputs",
            "error: step `report` reads `steps.restore.outputs.addr`, but a step with `for_each` has only the outputs `items` and `by_key`",
            "  --> main.yaml:21:27",
            "   = help: read an item's outputs as `steps.restore.outputs.by_key[KEY].outputs.addr`, or loop over `steps.restore.outputs.items`",
            "error: step `report` reads `steps.restore.outputs.by_key.n1.outputs.adr`, but `lib/node.yaml`, which `restore` calls, has no output `adr`",
            "  --> main.yaml:21:63",
            "   = help: did you mean `addr`? the called runbook's outputs are: addr",
        ][..],
        "{}",
        ran.dump()
    );
}

/// A list that cannot be laid out (two items with one key) stops the run
/// before it starts, naming the step and the fix; no run is created.
#[test]
fn a_loop_of_calls_whose_items_cannot_be_laid_out_refuses_to_start() {
    let sb = Sandbox::new();
    write(&sb, "lib/node.yaml", NODE_CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
inputs:
  nodes: { type: list }
steps:
  - id: restore
    kind: runbook
    for_each: { items: "{{ inputs.nodes }}", as: node }
    with: { file: lib/node.yaml, inputs: { node: "{{ node }}", backup: b } }
"#,
    );
    sb.test()
        .args(["run", "main.yaml", "--input", r#"nodes=["a","a"]"#])
        .status(2)
        .stderr("error: step `restore`: items 1 and 2 have the same key `a`; give `for_each.key` a template that differs per item, e.g. `key: \"{{ node.name }}\"`; nothing ran (fix the input the list comes from)\n")
        .run();
    assert!(
        !sb.state_dir().join("runs").exists()
            || std::fs::read_dir(sb.state_dir().join("runs"))
                .expect("runs")
                .next()
                .is_none(),
        "no run is created"
    );
}

/// A `when` that reads the item is decided per item call: an item whose
/// `when` is false is skipped with its called steps, the others run.
#[test]
fn a_when_that_reads_the_item_of_a_loop_of_calls_skips_that_item_only() {
    let sb = Sandbox::new();
    write(&sb, "lib/node.yaml", NODE_CHILD);
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
steps:
  - id: restore
    kind: runbook
    for_each: { items: [n1, n2], as: node }
    when: "node != 'n2'"
    with: { file: lib/node.yaml, inputs: { node: "{{ node }}", backup: b } }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    let mut skipped = steps_of(&journal, "step_skipped");
    skipped.sort();
    assert_eq!(
        skipped,
        ["restore[n2]", "restore[n2]/fetch", "restore[n2]/unseal"],
        "{}",
        ran.dump()
    );
    let outputs = outputs_of(&journal, "restore");
    assert_eq!(outputs["by_key"]["n1"]["status"], "succeeded");
    assert_eq!(outputs["by_key"]["n2"]["status"], "skipped");
}
