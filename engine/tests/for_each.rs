//! `for_each` on any step (issue 15): validation, each item its own
//! journalled execution `<id>[<key>]`, the step's `items` and `by_key`
//! outputs, failures that name the item, `continue_on_failure`,
//! `max_parallel` and the run's `--max-parallel` counted over items and
//! steps together, a pause between items, a resume after a kill that runs
//! only the items not done, items' secret outputs sealed and opened on
//! resume, `assert` and `checkpoint` per item, the dry run, and `status`.

mod util;

use std::time::Duration;

use util::Sandbox;

/// Records of `type` in the journal, as `(step, record)`.
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

#[test]
fn validation_points_at_each_for_each_mistake() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
inputs:
  nodes: { type: list, default: [a, b] }
  region: { type: string, default: eu }
steps:
  - id: one
    kind: shell
    for_each: { items: "{{ inputs.region }}", as: node }
    with: { run: ["echo", "{{ node }}"] }
  - id: two
    kind: shell
    for_each: { items: 3, as: node }
    with: { run: ["true"] }
  - id: three
    kind: shell
    for_each: { items: "{{ inputs.nodes }}", as: steps }
    with: { run: ["true"] }
  - id: seven
    kind: shell
    for_each: { items: "{{ inputs.nodes }}", as: node, max_parallel: 0 }
    with: { run: ["true"] }
  - id: four
    kind: shell
    for_each: { items: "{{ inputs.nodes }}", as: node, kee: x }
    with: { run: ["echo", "{{ nod }}"] }
  - id: five
    kind: shell
    needs: [one]
    with: { run: ["echo", "{{ steps.one.outputs.stdout }}", "{{ steps.one.outputs.by_key }}"] }
  - id: six
    kind: approval
    for_each: { items: [a], as: x }
    with: { prompt: "go?" }
"#,
    );
    let ran = sb.run(&["validate", "loop.yaml"]);
    ran.expect_code(2);
    let expected = [
        "loop.yaml:9:24",
        "step `one`: `for_each.items` reads `inputs.region`, which is not a list",
        "loop.yaml:13:24",
        "step `two`: `for_each.items` must be a list or a template that renders one, found an integer",
        "loop.yaml:17:50",
        "step `three`: `for_each.as` `steps` would hide the template variable `steps`",
        "loop.yaml:21:70",
        "step `seven`: `for_each.max_parallel` must be a whole number of at least 1",
        "loop.yaml:25:56",
        "unknown field `kee` in `for_each`",
        "did you mean `key`?",
        "step `four` reads unknown variable `nod`",
        "step `five` reads `steps.one.outputs.stdout`, but a step with `for_each` has only the outputs `items` and `by_key`",
        "step `six`: `for_each` is not supported on `approval` steps: a person decides once, not once per item",
        "remove `for_each` so that `six` asks once, before the loop: list the items in its `details` (e.g. `{{ inputs.nodes | join(', ') }}`) and give the step that loops `needs: [six]`",
    ];
    for needle in expected {
        assert!(
            ran.stderr.contains(needle),
            "missing {needle:?}\n{}",
            ran.dump()
        );
    }
}

#[test]
fn items_can_read_the_item_in_with_when_and_until() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
inputs:
  nodes: { type: list, default: [{ name: a, port: 1 }, { name: b, port: 2 }, { name: c, port: 3 }] }
steps:
  - id: ping
    kind: shell
    for_each: { items: "{{ inputs.nodes }}", as: node, key: "{{ node.name }}", max_parallel: 2 }
    when: "node.name != 'b'"
    until: "outputs.stdout == node.name ~ ':' ~ node.port"
    with:
      script: |
        echo "{{ node.name }}" >> ran
        printf '%s:%s' "{{ node.name }}" "{{ node.port }}"
  - id: after
    kind: shell
    needs: [ping]
    with:
      run:
        - echo
        - "{{ steps.ping.outputs.by_key.c.outputs.stdout }}"
        - "{{ steps.ping.outputs.items | map(attribute='key') | join(',') }}"
        - "{{ steps.ping.outputs.items | map(attribute='status') | join(',') }}"
"#,
    );
    let ran = sb.run(&["run", "loop.yaml"]);
    ran.expect_code(0);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let mut started = steps_of(&journal, "step_started");
    started.sort();
    assert_eq!(
        started,
        ["after", "ping", "ping[a]", "ping[c]"],
        "{journal:#?}"
    );
    assert_eq!(steps_of(&journal, "step_skipped"), ["ping[b]"]);
    let mut succeeded = steps_of(&journal, "step_succeeded");
    succeeded.sort();
    assert_eq!(succeeded, ["after", "ping", "ping[a]", "ping[c]"]);
    let after = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "after")
        .expect("after succeeded");
    assert_eq!(
        after["outputs"]["stdout"],
        "c:3 a,b,c succeeded,skipped,succeeded"
    );
    let ran_items = std::fs::read_to_string(sb.work_dir(&id).join("ran")).expect("ran");
    let mut lines: Vec<&str> = ran_items.lines().collect();
    lines.sort();
    assert_eq!(lines, ["a", "c"]);
}

#[test]
fn a_failed_item_fails_the_step_and_the_error_names_it() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
steps:
  - id: check
    kind: shell
    for_each: { items: [ok1, bad, ok2], as: n }
    with:
      script: |
        test "{{ n }}" != bad
  - id: after
    kind: shell
    needs: [check]
    with: { run: ["true"] }
"#,
    );
    let ran = sb.run(&["run", "loop.yaml"]);
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    let failed: Vec<_> = records(&journal, "step_failed").collect();
    assert_eq!(failed.len(), 2, "{journal:#?}");
    assert_eq!(failed[0]["step"], "check[bad]");
    assert_eq!(failed[1]["step"], "check");
    let error = failed[1]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("item `check[bad]` failed:"),
        "{error}\n{}",
        ran.dump()
    );
    // One item at a time: the item after the failure never started.
    assert!(!steps_of(&journal, "step_started").contains(&"check[ok2]".to_string()));
    assert_eq!(steps_of(&journal, "step_skipped"), ["after"]);
    assert!(ran.printed().contains("check[bad]"), "{}", ran.dump());
}

#[test]
fn continue_on_failure_lets_the_step_succeed_with_each_item_status() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
steps:
  - id: check
    kind: shell
    for_each: { items: [ok1, bad, ok2], as: n, continue_on_failure: true }
    with:
      script: |
        test "{{ n }}" != bad
  - id: after
    kind: shell
    needs: [check]
    with:
      run: ["echo", "{{ steps.check.outputs.by_key.bad.status }} {{ steps.check.outputs.by_key.ok2.status }}"]
"#,
    );
    let ran = sb.run(&["run", "loop.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    let after = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "after")
        .expect("after succeeded");
    assert_eq!(after["outputs"]["stdout"], "failed succeeded");
}

/// Each item counts the items running beside it through marker files: the
/// count never passes `max_parallel`, however the items are timed.
#[test]
fn max_parallel_bounds_the_items_running_at_once() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
steps:
  - id: prep
    kind: shell
    with: { script: "mkdir -p running" }
  - id: work
    kind: shell
    needs: [prep]
    for_each: { items: [a, b, c, d, e, f], as: n, max_parallel: 2 }
    with:
      script: |
        touch "running/{{ n }}"
        ls running | wc -l >> counts
        sleep 0.2
        rm "running/{{ n }}"
"#,
    );
    let ran = sb.run(&["run", "loop.yaml", "--max-parallel", "8"]);
    ran.expect_code(0);
    let counts =
        std::fs::read_to_string(sb.work_dir(&ran.run_id()).join("counts")).expect("counts");
    let counts: Vec<u32> = counts.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(counts.len(), 6);
    assert!(counts.iter().all(|&c| (1..=2).contains(&c)), "{counts:?}");
    // Starts interleave with ends: at most two started items lack a result.
    let journal = sb.journal(&ran.run_id());
    let mut open = 0i32;
    for r in &journal {
        let step = r["step"].as_str().unwrap_or_default();
        if !step.starts_with("work[") {
            continue;
        }
        match r["type"].as_str() {
            Some("step_started") => open += 1,
            Some("step_succeeded") => open -= 1,
            _ => {}
        }
        assert!(open <= 2, "{journal:#?}");
    }
}

/// The third item kills the engine the first time it runs. The resume runs
/// it and the fourth, never the two that were done.
#[test]
fn a_resume_after_a_kill_runs_only_the_items_not_done() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
steps:
  - id: work
    kind: shell
    rerun: safe
    for_each: { items: [a, b, c, d], as: n }
    with:
      script: |
        echo "{{ n }}" >> ran
        if [ "{{ n }}" = c ] && [ ! -e crashed ]; then touch crashed; kill -9 $PPID; sleep 5; fi
        echo "done {{ n }}"
  - id: after
    kind: shell
    needs: [work]
    with: { run: ["echo", "{{ steps.work.outputs.items | map(attribute='key') | join(',') }}"] }
"#,
    );
    let ran = sb.run(&["run", "loop.yaml"]);
    assert_eq!(
        ran.code,
        -1,
        "the engine should have been killed\n{}",
        ran.dump()
    );
    let id = ran.run_id();
    let resumed = sb.run(&["resume", &id]);
    resumed.expect_code(0);
    let ran_items = std::fs::read_to_string(sb.work_dir(&id).join("ran")).expect("ran");
    assert_eq!(ran_items, "a\nb\nc\nc\nd\n", "{}", resumed.dump());
    let journal = sb.journal(&id);
    let after = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "after")
        .expect("after succeeded");
    assert_eq!(after["outputs"]["stdout"], "a,b,c,d");
    let work = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "work")
        .expect("work succeeded");
    assert_eq!(
        work["outputs"]["by_key"]["a"]["outputs"]["stdout"],
        "done a"
    );
}

/// An item interrupted mid-step whose rerun policy is `never` is not run
/// again on a guess: the resume waits for a `mark` of that item, and after
/// `mark … done` the next resume finishes the loop without running it.
#[test]
fn an_interrupted_item_unsafe_to_repeat_waits_for_a_mark_of_that_item() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
steps:
  - id: work
    kind: shell
    rerun: never
    for_each: { items: [a, b, c], as: n }
    with:
      script: |
        echo "{{ n }}" >> ran
        if [ "{{ n }}" = b ] && [ ! -e crashed ]; then touch crashed; kill -9 $PPID; sleep 5; fi
"#,
    );
    let ran = sb.run(&["run", "loop.yaml"]);
    assert_eq!(ran.code, -1, "{}", ran.dump());
    let id = ran.run_id();
    let resumed = sb.run(&["resume", &id]);
    resumed.expect_code(3);
    assert!(
        resumed
            .printed()
            .contains("`work[b]` was interrupted mid-step and is unsafe to repeat"),
        "{}",
        resumed.dump()
    );
    sb.run(&["mark", &id, "work[b]", "done", "--as", "ana"])
        .expect_code(0);
    let finished = sb.run(&["resume", &id]);
    finished.expect_code(0);
    let ran_items = std::fs::read_to_string(sb.work_dir(&id).join("ran")).expect("ran");
    assert_eq!(ran_items, "a\nb\nc\n", "{}", finished.dump());
}

#[test]
fn a_dry_run_shows_known_items_and_uses_a_placeholder_for_unknown_ones() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
inputs:
  nodes: { type: list, default: [n1, n2] }
steps:
  - id: known
    kind: shell
    for_each: { items: "{{ inputs.nodes }}", as: node }
    with: { run: ["echo", "{{ node }}"] }
  - id: list
    kind: shell
    with: { run: ["echo", "x"] }
  - id: unknown
    kind: shell
    needs: [list]
    for_each: { items: "{{ steps.list.outputs.json }}", as: item }
    with: { run: ["echo", "{{ item }}"] }
  - id: given
    kind: shell
    needs: [list]
    for_each: { items: "{{ steps.list.outputs.json }}", as: item }
    dry_run: { outputs: { items: [], by_key: {} } }
    with: { run: ["echo", "{{ item }}"] }
"#,
    );
    let ran = sb.run(&["run", "loop.yaml", "--dry-run"]);
    ran.expect_code(0);
    let printed = ran.printed();
    for needle in [
        "known[n1]",
        "known[n2]",
        "`for_each.items` is unknown until run time; this drill uses one placeholder item",
        "unknown[«item of unknown»]",
        "for_each: items not expanded in a dry run; later steps read `dry_run.outputs`",
    ] {
        assert!(
            printed.contains(needle),
            "missing {needle:?}\n{}",
            ran.dump()
        );
    }
}

#[test]
fn status_lists_each_item() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
steps:
  - id: work
    kind: shell
    for_each: { items: [a, b], as: n }
    with: { run: ["echo", "{{ n }}"] }
  - id: last
    kind: shell
    needs: [work]
    with: { run: ["true"] }
"#,
    );
    let ran = sb.run(&["run", "loop.yaml"]);
    ran.expect_code(0);
    let id = ran.run_id();
    let status = sb.run(&["status", &id, "--output", "json"]);
    status.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).expect("json");
    assert_eq!(
        doc["items"]["work"],
        serde_json::json!([
            { "step": "work[a]", "key": "a", "status": "succeeded" },
            { "step": "work[b]", "key": "b", "status": "succeeded" },
        ]),
        "{}",
        status.dump()
    );
    let text = sb.run(&["status", &id]);
    assert!(
        text.stdout.contains("items:    work: 2 succeeded"),
        "{}",
        text.dump()
    );
    let timeline = sb.run(&["timeline", &id]);
    timeline.expect_code(0);
    // The Gantt chart's rows: the loop, then its items, then what follows.
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
        ["work", "work[a]", "work[b]", "last"],
        "{}",
        timeline.dump()
    );
}

#[test]
fn items_cannot_read_their_own_item_and_two_items_with_one_key_fail_the_step() {
    let sb = Sandbox::new();
    sb.write(
        "bad.yaml",
        r#"version: 1
name: loop
steps:
  - id: work
    kind: shell
    for_each: { items: "{{ n }}", as: n }
    with: { run: ["true"] }
"#,
    );
    let ran = sb.run(&["validate", "bad.yaml"]);
    ran.expect_code(2);
    assert!(
        ran.stderr
            .contains("step `work`: `for_each.items` reads `n`, the item it is making")
            && ran.stderr.contains("bad.yaml:6:24"),
        "{}",
        ran.dump()
    );

    sb.write(
        "dup.yaml",
        r#"version: 1
name: dup
steps:
  - id: work
    kind: shell
    for_each: { items: [{ n: x, v: 1 }, { n: y, v: 2 }, { n: x, v: 3 }], as: i, key: "{{ i.n }}" }
    with: { script: "echo {{ i.v }} >> ran" }
"#,
    );
    let ran = sb.run(&["run", "dup.yaml"]);
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    let failed: Vec<_> = records(&journal, "step_failed").collect();
    assert_eq!(failed.len(), 1, "{journal:#?}");
    assert_eq!(failed[0]["step"], "work");
    let error = failed[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("items 1 and 3 have the same key `x`"),
        "{error}"
    );
    // Nothing ran: the keys are checked before any item starts.
    assert!(!sb.work_dir(&ran.run_id()).join("ran").exists());
}

/// A secret that an item prints is redacted in the item's record and in
/// the step's `items`/`by_key`, as in any step's outputs.
#[test]
fn secrets_in_item_outputs_are_redacted_in_every_record() {
    let sb = Sandbox::new();
    sb.write(
        "secret.yaml",
        r#"version: 1
name: secret
inputs:
  token: { type: secret, env: LOOP_TOKEN }
steps:
  - id: work
    kind: shell
    for_each: { items: [a, b], as: n }
    with: { script: "printf '%s-%s' \"$T\" {{ n }}", env: { T: "{{ inputs.token }}" } }
"#,
    );
    let ran = sb.run_with(
        &["run", "secret.yaml"],
        &[("LOOP_TOKEN", "s3cr3t-loop-token")],
    );
    ran.expect_code(0);
    let text =
        std::fs::read_to_string(sb.run_dir(&ran.run_id()).join("journal.jsonl")).expect("journal");
    assert!(!text.contains("s3cr3t-loop-token"), "{text}");
    let journal = sb.journal(&ran.run_id());
    let item = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "work[a]")
        .expect("work[a]");
    assert!(item["outputs"]["stdout"]
        .as_str()
        .unwrap_or_default()
        .ends_with("-a"));
    assert!(!ran.printed().contains("s3cr3t-loop-token"));
}

#[test]
fn plan_and_graph_show_the_loop() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
inputs:
  nodes: { type: list, default: [a, b] }
steps:
  - id: unseal
    kind: shell
    for_each: { items: "{{ inputs.nodes }}", as: node, max_parallel: 3 }
    with: { run: ["echo", "{{ node }}"] }
"#,
    );
    let plan = sb.run(&["plan", "loop.yaml"]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains("for each `node` in {{ inputs.nodes }}, 3 at once"),
        "{}",
        plan.dump()
    );
    let json = sb.run(&["plan", "loop.yaml", "--output", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(
        doc["for_each"]["unseal"],
        "for each `node` in {{ inputs.nodes }}, 3 at once"
    );
    let graph = sb.run(&["graph", "loop.yaml"]);
    graph.expect_code(0);
    assert!(
        graph
            .stdout
            .contains("unseal[…]<br/>shell<br/>for each `node`"),
        "{}",
        graph.dump()
    );
}

/// `resume --redo` of a loop runs all its items again; of one item, only
/// that item (the loop takes the others over).
#[test]
fn redo_of_a_loop_runs_every_item_and_redo_of_an_item_only_that_one() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
steps:
  - id: work
    kind: shell
    rerun: safe
    for_each: { items: [a, b], as: n }
    with: { script: "echo {{ n }} >> ran" }
"#,
    );
    let ran = sb.run(&["run", "loop.yaml"]);
    ran.expect_code(0);
    let id = ran.run_id();
    sb.run(&["resume", &id, "--redo", "work[b]", "--reason", "b again"])
        .expect_code(0);
    let ran_items = std::fs::read_to_string(sb.work_dir(&id).join("ran")).expect("ran");
    assert_eq!(ran_items, "a\nb\nb\n");
    sb.run(&["resume", &id, "--redo", "work", "--reason", "all again"])
        .expect_code(0);
    let ran_items = std::fs::read_to_string(sb.work_dir(&id).join("ran")).expect("ran");
    assert_eq!(ran_items, "a\nb\nb\na\nb\n");
}

/// `vault.kv.get` over two paths of a real OpenBao: each item's `data` is
/// a secret output, usable by later steps through `by_key` in the run that
/// read it, and never in clear in the journal, the timeline or the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_outputs_of_items_from_openbao_are_redacted_like_any_steps() {
    const A: &str = "kv-loop-a-Hn4vQ9sLr2Xc";
    const B: &str = "kv-loop-b-Zt8wP3mKq7Ld";
    let bao = lifeboat_harness::openbao::OpenBaoDev::start().await;
    for (path, value) in [("a", A), ("b", B)] {
        let seeded = reqwest::Client::new()
            .post(format!("{}/v1/secret/data/app/{path}", bao.addr()))
            .header("X-Vault-Token", bao.token())
            .json(&serde_json::json!({ "data": { "password": value } }))
            .send()
            .await
            .expect("seed the secret");
        assert!(seeded.status().is_success(), "{}", seeded.status());
    }
    let sb = Sandbox::new();
    sb.write(
        "kv.yaml",
        &format!(
            r#"version: 1
name: kvloop
inputs:
  token: {{ type: secret, env: LOOP_VAULT_TOKEN }}
steps:
  - id: get
    kind: vault.kv.get
    for_each: {{ items: [a, b], as: p, max_parallel: 2 }}
    with: {{ addr: "{addr}", token: "{{{{ inputs.token }}}}", path: "app/{{{{ p }}}}" }}
  - id: use
    kind: assert
    needs: [get]
    with:
      that:
        - "steps.get.outputs.by_key.a.outputs.data.password is startingwith('kv-loop-a-')"
        - "steps.get.outputs.items[1].outputs.data.password is startingwith('kv-loop-b-')"
        - "steps.get.outputs.items[1].outputs.data.password | length == {len}"
"#,
            addr = bao.addr(),
            len = B.len(),
        ),
    );
    let ran = sb.run_with(&["run", "kv.yaml"], &[("LOOP_VAULT_TOKEN", bao.token())]);
    ran.expect_code(0);
    for value in [A, B] {
        assert!(!ran.printed().contains(value), "{}", ran.dump());
        let hits = util::files_containing(&sb.state_dir(), value);
        assert!(hits.is_empty(), "a secret output reached disk in {hits:?}");
    }
    let journal = sb.journal(&ran.run_id());
    let item = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "get[a]")
        .expect("get[a]");
    assert_eq!(item["secret_outputs"], serde_json::json!(["data"]));
}

/// After a kill, the loop is taken over but its items' secret outputs died
/// with the engine that read them: a step that reads one fails and says
/// so, rather than getting the journal's «redacted» placeholder as a value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_leaves_items_secret_outputs_undefined_rather_than_redacted_text() {
    let bao = lifeboat_harness::openbao::OpenBaoDev::start().await;
    let seeded = reqwest::Client::new()
        .post(format!("{}/v1/secret/data/app/a", bao.addr()))
        .header("X-Vault-Token", bao.token())
        .json(&serde_json::json!({ "data": { "password": "kv-loop-resume-Qw3rTy9u" } }))
        .send()
        .await
        .expect("seed the secret");
    assert!(seeded.status().is_success(), "{}", seeded.status());
    let sb = Sandbox::new();
    sb.write(
        "kv.yaml",
        &format!(
            r#"version: 1
name: kvresume
inputs:
  token: {{ type: secret, env: LOOP_VAULT_TOKEN }}
steps:
  - id: get
    kind: vault.kv.get
    for_each: {{ items: [a], as: p }}
    with: {{ addr: "{addr}", token: "{{{{ inputs.token }}}}", path: "app/{{{{ p }}}}" }}
  - id: crash
    kind: shell
    needs: [get]
    rerun: safe
    with:
      script: |
        if [ ! -e crashed ]; then touch crashed; kill -9 $PPID; sleep 5; fi
  - id: use
    kind: shell
    needs: [crash]
    with:
      script: 'test "${{#P}}" -gt 0'
      env: {{ P: "{{{{ steps.get.outputs.by_key.a.outputs.data.password }}}}" }}
"#,
            addr = bao.addr(),
        ),
    );
    let env = [("LOOP_VAULT_TOKEN", bao.token())];
    let ran = sb.run_with(&["run", "kv.yaml"], &env);
    assert_eq!(ran.code, -1, "{}", ran.dump());
    let id = ran.run_id();
    let resumed = sb.run_with(&["resume", &id], &env);
    resumed.expect_code(1);
    let journal = sb.journal(&id);
    let failed = records(&journal, "step_failed")
        .find(|r| r["step"] == "use")
        .expect("use failed");
    // The error names the item's output, why it is lost and what to do.
    let why = "the run has no `recipients:` to seal them to, so the engine that ran it kept them in memory only";
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("undefined")
            && error.contains(&format!(
                "; `steps.get.outputs.by_key.a.outputs.data` is a secret output this engine does not have ({why}): put what `get[a]` saved"
            ))
            && error.contains(&format!("lifeboat resume {id} --redo get[a] --reason TEXT")),
        "{failed:#}\n{}",
        resumed.dump()
    );
    // The resume said so before anything ran.
    assert!(
        resumed.printed().contains(&format!(
            "get[a]: this engine does not have its secret outputs (data): {why}; `use` reads them and will fail when it starts"
        )),
        "{}",
        resumed.dump()
    );
    // The loop was taken over: its item did not run again.
    let starts = steps_of(&journal, "step_started");
    assert_eq!(starts.iter().filter(|s| s.as_str() == "get[a]").count(), 1);
}

/// A `when` that does not read the item skips the whole step, like any
/// step's: no item is journalled.
#[test]
fn a_when_that_does_not_read_the_item_skips_the_whole_loop() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
inputs:
  enabled: { type: boolean, default: false }
steps:
  - id: work
    kind: shell
    when: inputs.enabled
    for_each: { items: [a, b], as: n }
    with: { run: ["echo", "{{ n }}"] }
"#,
    );
    let ran = sb.run(&["run", "loop.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(steps_of(&journal, "step_skipped"), ["work"]);
    assert!(steps_of(&journal, "step_started").is_empty());
}

/// `assert` and `checkpoint` run per item: each item is journalled as its
/// own execution, an assertion reads the item, and a false one fails that
/// item (and names it) while `continue_on_failure` lets the others pass.
#[test]
fn assert_and_checkpoint_run_once_per_item() {
    let sb = Sandbox::new();
    sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
inputs:
  nodes: { type: list, default: [{ name: a, sealed: false }, { name: b, sealed: true }, { name: c, sealed: false }] }
steps:
  - id: phase
    kind: checkpoint
    for_each: { items: [restore, verify], as: p }
    with: { description: "a phase" }
  - id: unsealed
    kind: assert
    needs: [phase]
    for_each: { items: "{{ inputs.nodes }}", as: node, key: "{{ node.name }}", continue_on_failure: true }
    with:
      that: ["not node.sealed", "node.name | length == 1"]
      message: node still sealed
  - id: report
    kind: shell
    needs: [unsealed]
    with:
      run: ["echo", "{{ steps.unsealed.outputs.items | map(attribute='status') | join(',') }} {{ steps.unsealed.outputs.by_key.a.outputs.checked }}"]
  - id: strict
    kind: assert
    needs: [report]
    for_each: { items: [x, y, z], as: n }
    with: { that: ["n != 'y'"] }
"#,
    );
    let ran = sb.run(&["run", "loop.yaml"]);
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        steps_of(&journal, "checkpoint"),
        ["phase[restore]", "phase[verify]"],
        "{journal:#?}"
    );
    let failed = steps_of(&journal, "step_failed");
    assert_eq!(
        failed,
        ["unsealed[b]", "strict[y]", "strict"],
        "{journal:#?}"
    );
    let item = records(&journal, "step_failed")
        .find(|r| r["step"] == "unsealed[b]")
        .unwrap();
    assert_eq!(
        item["error"],
        "node still sealed: `not node.sealed` is false"
    );
    let report = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "report")
        .expect("report succeeded");
    assert_eq!(report["outputs"]["stdout"], "succeeded,failed,succeeded 2");
    let strict = records(&journal, "step_failed")
        .find(|r| r["step"] == "strict")
        .unwrap();
    assert_eq!(
        strict["error"],
        "item `strict[y]` failed: `n != 'y'` is false"
    );
    // One item at a time: the item after the failure never ran.
    assert!(!steps_of(&journal, "step_succeeded").contains(&"strict[z]".to_string()));
}

/// The most intervals of `lines` (`START END` in ns) open at once.
fn most_at_once(lines: &str) -> usize {
    let mut edges: Vec<(u128, i32)> = Vec::new();
    for line in lines.lines() {
        let (start, end) = line.split_once(' ').expect("START END");
        edges.push((start.trim().parse().unwrap(), 1));
        edges.push((end.trim().parse().unwrap(), -1));
    }
    // An end before a start at the same instant: touching is not overlap.
    edges.sort();
    let (mut open, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        open += d;
        most = most.max(open);
    }
    most as usize
}

/// `--max-parallel 2` bounds every process of the run: a loop that may
/// run 4 items at once and two steps beside it never have more than two
/// running together, counted from the intervals each one recorded.
#[test]
fn the_runs_max_parallel_counts_loop_items_and_steps_together() {
    let sb = Sandbox::new();
    let work = r#"s=$(date +%s%N); sleep 0.3; e=$(date +%s%N); echo "$s $e" >> intervals"#;
    sb.write(
        "loop.yaml",
        &format!(
            r#"version: 1
name: loop
steps:
  - id: items
    kind: shell
    for_each: {{ items: [a, b, c, d, e, f], as: n, max_parallel: 4 }}
    with: {{ script: '{work}' }}
  - id: beside
    kind: shell
    with: {{ script: '{work}' }}
  - id: also
    kind: shell
    with: {{ script: '{work}' }}
  - id: after
    kind: shell
    needs: [beside]
    with: {{ script: '{work}' }}
"#
        ),
    );
    let ran = sb.run(&["run", "loop.yaml", "--max-parallel", "2"]);
    ran.expect_code(0);
    let intervals =
        std::fs::read_to_string(sb.work_dir(&ran.run_id()).join("intervals")).expect("intervals");
    assert_eq!(intervals.lines().count(), 9, "{intervals}");
    let most = most_at_once(&intervals);
    assert!(
        most <= 2,
        "{most} ran at once:\n{intervals}\n{}",
        ran.dump()
    );
    // The loop's own bound still holds under a larger run bound.
    sb.write(
        "again.yaml",
        &std::fs::read_to_string(sb.path().join("loop.yaml")).unwrap(),
    );
    let ran = sb.run(&["run", "again.yaml", "--max-parallel", "3"]);
    ran.expect_code(0);
    let intervals =
        std::fs::read_to_string(sb.work_dir(&ran.run_id()).join("intervals")).expect("intervals");
    assert!(most_at_once(&intervals) <= 3, "{intervals}");
}

/// A pause (Ctrl-C, "pause") while an item runs lets it finish and starts
/// no other; the run stops resumable, and the resume runs the items not
/// done, never the one that was.
#[test]
fn a_pause_lets_the_running_item_finish_and_the_resume_runs_the_rest() {
    use util::{exit_code, expect, send};
    let sb = Sandbox::new();
    let file = sb.write(
        "loop.yaml",
        r#"version: 1
name: loop
steps:
  - id: work
    kind: shell
    for_each: { items: [a, b, c], as: n }
    with:
      script: |
        touch "started-{{ n }}"
        sleep 1
        echo "{{ n }}" >> ran
  - id: after
    kind: shell
    needs: [work]
    with: { run: ["echo", "{{ steps.work.outputs.items | map(attribute='key') | join(',') }}"] }
"#,
    );
    let mut p = sb.pty(&["run", file.to_str().unwrap()]);
    // The item's child is in its own process group once it runs: the
    // Ctrl-C reaches only Lifeboat.
    let started = sb.state_dir().join("runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let work_dir = loop {
        let found = std::fs::read_dir(&started)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("work"))
            .find(|w| w.join("started-a").exists());
        if let Some(w) = found {
            break w;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`work[a]` never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    send(&mut p, "\x03");
    expect(&mut p, "pause or abort?");
    send(&mut p, "\r");
    expect(&mut p, "paused by the operator (Ctrl-C)");
    assert_eq!(exit_code(p), 130);
    assert_eq!(
        std::fs::read_to_string(work_dir.join("ran")).unwrap(),
        "a\n"
    );
    assert!(!work_dir.join("started-b").exists());
    let id = work_dir
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
        .unwrap()
        .to_string();
    let journal = sb.journal(&id);
    assert_eq!(
        steps_of(&journal, "step_succeeded"),
        ["work[a]"],
        "{journal:#?}"
    );
    let resumed = sb.run(&["resume", &id]);
    resumed.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(work_dir.join("ran")).unwrap(),
        "a\nb\nc\n",
        "{}",
        resumed.dump()
    );
    let journal = sb.journal(&id);
    let after = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "after")
        .expect("after succeeded");
    assert_eq!(after["outputs"]["stdout"], "a,b,c");
}

/// With `recipients:`, an item's secret outputs are sealed in its record
/// as a step's are. After a kill between the loop and its reader, a resume
/// without a recipient's key fails the reader and says whose keys open
/// them; a resume with one opens them, and `by_key` and `items[i]` read
/// them. They are in clear in no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_secret_outputs_are_sealed_and_opened_by_a_resume_with_a_recipients_key() {
    use util::sealing::{open_sealed, ssh_identity, ssh_keygen};
    const A: &str = "kv-seal-a-Tq7bN2xWc9Lm";
    const B: &str = "kv-seal-b-Pz4kR8vYh3Jd";
    let bao = lifeboat_harness::openbao::OpenBaoDev::start().await;
    for (path, value) in [("a", A), ("b", B)] {
        let seeded = reqwest::Client::new()
            .post(format!("{}/v1/secret/data/app/{path}", bao.addr()))
            .header("X-Vault-Token", bao.token())
            .json(&serde_json::json!({ "data": { "password": value } }))
            .send()
            .await
            .expect("seed the secret");
        assert!(seeded.status().is_success(), "{}", seeded.status());
    }
    let sb = Sandbox::new();
    let key = sb.path().join("keys/ana");
    let public = ssh_keygen(&key, "");
    sb.write("team.keys", &public);
    sb.write(
        "kv.yaml",
        &format!(
            r#"version: 1
name: kvsealed
recipients: team.keys
inputs:
  token: {{ type: secret, env: LOOP_VAULT_TOKEN }}
steps:
  - id: get
    kind: vault.kv.get
    for_each: {{ items: [a, b], as: p }}
    with: {{ addr: "{addr}", token: "{{{{ inputs.token }}}}", path: "app/{{{{ p }}}}" }}
  - id: crash
    kind: shell
    needs: [get]
    rerun: safe
    with:
      script: |
        if [ ! -e crashed ]; then touch crashed; kill -9 $PPID; sleep 5; fi
  - id: use
    kind: assert
    needs: [crash]
    with:
      that:
        - "steps.get.outputs.by_key.a.outputs.data.password is startingwith('kv-seal-a-')"
        - "steps.get.outputs.items[1].outputs.data.password is startingwith('kv-seal-b-')"
        - "steps.get.outputs.items[1].outputs.data.password | length == {len}"
"#,
            addr = bao.addr(),
            len = B.len(),
        ),
    );
    let env = [("LOOP_VAULT_TOKEN", bao.token())];
    let ran = sb.run_with(&["run", "kv.yaml"], &env);
    assert_eq!(ran.code, -1, "{}", ran.dump());
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let identity = ssh_identity(&key);
    for (item, value) in [("get[a]", A), ("get[b]", B)] {
        let opened = open_sealed(&journal, item, &identity);
        assert_eq!(opened["data"]["password"], value, "{opened}");
    }

    // No identity: the reader fails, saying whose keys open them.
    let resumed = sb.run_with(&["resume", &id], &env);
    resumed.expect_code(1);
    let failed = records(&sb.journal(&id), "step_failed")
        .find(|r| r["step"] == "use")
        .cloned()
        .expect("use failed");
    let error = failed["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("`steps.get.outputs.by_key.a.outputs.data` is a secret output this engine does not have (they are sealed to the run's recipients (ssh-ed25519 ")
            && error.contains("resume with a recipient's key (`--identity FILE` or `LIFEBOAT_IDENTITY`)"),
        "{error}\n{}",
        resumed.dump()
    );

    // With the key: opened, read through `by_key` and `items[1]`.
    let resumed = sb.run_with(&["resume", &id, "--identity", key.to_str().unwrap()], &env);
    resumed.expect_code(0);
    let journal = sb.journal(&id);
    let starts = steps_of(&journal, "step_started");
    for item in ["get[a]", "get[b]"] {
        assert_eq!(
            starts.iter().filter(|s| *s == item).count(),
            1,
            "{starts:?}"
        );
    }
    let used = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "use")
        .expect("use succeeded");
    assert_eq!(used["outputs"]["checked"], 3);
    for value in [A, B] {
        assert!(!resumed.printed().contains(value), "{}", resumed.dump());
        let hits = util::files_containing(&sb.state_dir(), value);
        assert!(hits.is_empty(), "a secret output reached disk in {hits:?}");
    }
}

/// Killed mid-loop: item `a` is done (its secret sealed), item `b` retries
/// a path that does not exist yet. The resume with a recipient's key takes
/// `a` over with its secret opened, runs `b` again, and a later step reads
/// both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_killed_mid_way_takes_its_done_items_over_with_their_sealed_secrets() {
    use util::sealing::ssh_keygen;
    const A: &str = "kv-mid-a-Hs5pV1qZe8Rt";
    const B: &str = "kv-mid-b-Wn2cL6yUb4Fk";
    let bao = lifeboat_harness::openbao::OpenBaoDev::start().await;
    let seed = |path: &'static str, value: &'static str| {
        let (addr, token) = (bao.addr().to_string(), bao.token().to_string());
        async move {
            let seeded = reqwest::Client::new()
                .post(format!("{addr}/v1/secret/data/app/{path}"))
                .header("X-Vault-Token", token)
                .json(&serde_json::json!({ "data": { "password": value } }))
                .send()
                .await
                .expect("seed the secret");
            assert!(seeded.status().is_success(), "{}", seeded.status());
        }
    };
    seed("a", A).await;
    let sb = Sandbox::new();
    let key = sb.path().join("keys/ana");
    sb.write("team.keys", &ssh_keygen(&key, ""));
    sb.write(
        "kv.yaml",
        &format!(
            r#"version: 1
name: kvmid
recipients: team.keys
inputs:
  token: {{ type: secret, env: LOOP_VAULT_TOKEN }}
steps:
  - id: get
    kind: vault.kv.get
    for_each: {{ items: [a, b], as: p }}
    retry: {{ attempts: 600, delay: 100ms, backoff: 1.0 }}
    with: {{ addr: "{addr}", token: "{{{{ inputs.token }}}}", path: "app/{{{{ p }}}}" }}
  - id: use
    kind: assert
    needs: [get]
    with:
      that:
        - "steps.get.outputs.by_key.a.outputs.data.password is startingwith('kv-mid-a-')"
        - "steps.get.outputs.items[1].outputs.data.password is startingwith('kv-mid-b-')"
"#,
            addr = bao.addr(),
        ),
    );
    let env = [("LOOP_VAULT_TOKEN", bao.token())];
    let mut child = sb
        .test()
        .args(["run", "kv.yaml"])
        .envs(env.iter().copied())
        .spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let id = loop {
        let run = std::fs::read_dir(sb.state_dir().join("runs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .next();
        // `b` has failed an attempt: `a` is done and `b` is retrying.
        // The run's directory is made before its journal: under load the
        // journal may not exist yet when the directory does
        // (`journal_so_far`).
        if let Some(run) = run.filter(|r| {
            let journal = sb.journal_so_far(r);
            steps_of(&journal, "step_succeeded").contains(&"get[a]".to_string())
                && steps_of(&journal, "attempt_failed").contains(&"get[b]".to_string())
        }) {
            break run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`get[b]` never retried"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    seed("b", B).await;
    let resumed = sb.run_with(&["resume", &id, "--identity", key.to_str().unwrap()], &env);
    resumed.expect_code(0);
    let journal = sb.journal(&id);
    let starts = steps_of(&journal, "step_started");
    assert_eq!(
        starts.iter().filter(|s| *s == "get[a]").count(),
        1,
        "{starts:?}"
    );
    assert_eq!(
        starts.iter().filter(|s| *s == "get[b]").count(),
        2,
        "{starts:?}"
    );
    let used = records(&journal, "step_succeeded")
        .find(|r| r["step"] == "use")
        .expect("use succeeded");
    assert_eq!(used["outputs"]["checked"], 2);
    for value in [A, B] {
        assert!(!resumed.printed().contains(value), "{}", resumed.dump());
        let hits = util::files_containing(&sb.state_dir(), value);
        assert!(hits.is_empty(), "a secret output reached disk in {hits:?}");
    }
}

/// `--max-parallel 1`: a loop, a step that fails while the loop runs, and
/// another ready step. Once the run fails nothing new starts, and the
/// section loop kept the permit a ready step had wanted: the loop's next
/// item waited for it, the section loop for the loop, forever.
#[test]
fn a_run_that_fails_beside_a_loop_under_max_parallel_ends() {
    let sb = Sandbox::new();
    sb.write(
        "hang.yaml",
        r#"version: 1
name: hang
steps:
  - id: work
    kind: shell
    for_each: { items: [a, b, c], as: n }
    with: { script: "sleep 1" }
  - id: bad
    kind: shell
    with: { script: "exit 1" }
  - id: later
    kind: shell
    with: { run: ["true"] }
"#,
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let sandbox = sb.clone();
    std::thread::spawn(move || {
        let _ = tx.send(sandbox.run(&["run", "hang.yaml", "--max-parallel", "1"]));
    });
    let ran = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run ended within 60 s (it hung: a permit kept while the run stopped)");
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        records(&journal, "run_finished").count(),
        1,
        "{}",
        ran.dump()
    );
}
