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
    let json = std::fs::read_to_string(sb.run_dir(&id).join("timeline.json")).expect("json");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("timeline.json");
    let rows: Vec<&str> = doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_default())
        .collect();
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
fn for_each_on_a_call_and_on_failure_in_a_called_runbook_are_refused() {
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
            "error: step `each`: `for_each` on a `runbook` call is not supported yet",
            "  --> main.yaml:6:15",
            "   = help: put `for_each` on the steps of the called runbook that do the work, or call it once per item from separate steps",
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
