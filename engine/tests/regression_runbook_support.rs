//! What the Vault runbooks need from the engine to survive real use, one
//! test per reported problem: secret outputs of `vault.init` lost on
//! resume, `finally` deleting what a resume needs, tools not found from the
//! run's work directory.

mod util;

use util::Sandbox;

/// A step that fails the first time it runs and succeeds after, so a
/// resume of the failed run gets past it.
const FLAKY: &str = r#"
  - id: flaky
    kind: shell
    rerun: safe
    with: { script: "if [ -e flaky-ok ]; then exit 0; fi; touch flaky-ok; echo first attempt fails >&2; exit 1" }
"#;

/// "A kill in the 200 ms after init: `root_token is undefined`": the
/// secret outputs of a completed `vault.init` lived only in the memory of
/// the engine that ran it. A resumed run reloads them from `output_file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_reloads_vault_init_secret_outputs_from_its_output_file() {
    let node = lifeboat_harness::openbao::OpenBaoCluster::start_uninitialized(1).await;
    let sb = Sandbox::new();
    let file = sb.write(
        "init.yaml",
        &format!(
            r#"version: 1
name: init-reload
inputs:
  addr: {{ type: string }}
steps:
  - id: init
    kind: vault.init
    with: {{ addr: "{{{{ inputs.addr }}}}", secret_shares: 1, secret_threshold: 1, output_file: init.json }}
{FLAKY}    needs: [init]
  - id: unseal
    kind: vault.unseal
    needs: [flaky]
    with: {{ addr: "{{{{ inputs.addr }}}}", keys: "{{{{ steps.init.outputs.keys }}}}" }}
  - id: token_back
    kind: assert
    needs: [flaky]
    with: {{ that: ["steps.init.outputs.root_token | length > 5"] }}
"#
        ),
    );
    let addr = node.addr(0);
    let input = format!("addr={addr}");
    let first = sb.run(&["run", file.to_str().unwrap(), "--input", &input]);
    first.expect_code(1);
    let run_id = first.run_id();
    let resumed = sb.run(&["resume", &run_id]);
    resumed.expect_code(0);
    assert!(
        !resumed.stderr.contains("cannot reload"),
        "{}",
        resumed.dump()
    );
    let health = lifeboat_harness::openbao::health(&addr).await.unwrap();
    assert_eq!(health["sealed"], false, "unsealed with the reloaded keys");
    // The reloaded secrets reach no journal line.
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sb.work_dir(&run_id).join("init.json")).unwrap(),
    )
    .unwrap();
    let token = saved["root_token"].as_str().unwrap();
    let key = saved["unseal_keys_b64"][0].as_str().unwrap();
    let journal = std::fs::read_to_string(sb.run_dir(&run_id).join("journal.jsonl")).unwrap();
    assert!(!journal.contains(token) && !journal.contains(key));
    assert!(!resumed.stdout.contains(token) && !resumed.stderr.contains(token));
}

/// `finally` deleted the backup, manifest and init file a resume needs.
/// With `when: run.status == 'succeeded'` it keeps them until the run
/// succeeds.
#[test]
fn finally_sees_the_run_status_and_keeps_files_until_the_run_succeeds() {
    let sb = Sandbox::new();
    let file = sb.write(
        "keep.yaml",
        &format!(
            r#"version: 1
name: keep-files
steps:
  - id: make
    kind: shell
    with: {{ run: ["touch", "precious.json"] }}
{FLAKY}    needs: [make]
on_failure:
  - id: on_fail
    kind: shell
    rerun: safe
    with: {{ script: "echo on_failure {{{{ run.status }}}} >> statuses.txt" }}
finally:
  - id: cleanup
    kind: shell
    when: run.status == 'succeeded'
    with: {{ run: ["rm", "precious.json"] }}
  - id: seen
    kind: shell
    rerun: safe
    with: {{ script: "echo finally {{{{ run.status }}}} >> statuses.txt" }}
"#
        ),
    );
    let first = sb.run(&["run", file.to_str().unwrap()]);
    first.expect_code(1);
    let run_id = first.run_id();
    let work = sb.work_dir(&run_id);
    assert!(work.join("precious.json").exists(), "{}", first.dump());
    let skipped = sb
        .journal(&run_id)
        .into_iter()
        .find(|r| r["type"] == "step_skipped" && r["step"] == "cleanup")
        .unwrap_or_else(|| panic!("cleanup was not skipped\n{}", first.dump()));
    assert_eq!(
        skipped["reason"],
        "`when: run.status == 'succeeded'` is false"
    );

    sb.run(&["resume", &run_id]).expect_code(0);
    assert!(!work.join("precious.json").exists());
    assert_eq!(
        std::fs::read_to_string(work.join("statuses.txt")).unwrap(),
        "on_failure failed\nfinally failed\nfinally succeeded\n"
    );
}

#[test]
fn validate_rejects_run_status_in_a_main_step() {
    let sb = Sandbox::new();
    let file = sb.write(
        "main.yaml",
        r#"version: 1
name: main-status
steps:
  - id: early
    kind: shell
    when: run.status == 'failed'
    with: { run: ["true"] }
"#,
    );
    let ran = sb.run(&["validate", file.to_str().unwrap()]);
    ran.expect_code(2);
    assert!(
        ran.stderr
            .contains("step `early` reads `run.status`, which is `running` for every main step"),
        "{}",
        ran.dump()
    );
    assert!(
        ran.stderr.contains("in `on_failure` or `finally`"),
        "{}",
        ran.dump()
    );
}

/// The shipped inputs set `bao_bin: target/lifeboat-venv/bin/bao`, and shell
/// steps run in the run's work directory, so the program was never found.
/// Programs resolve from the directory `lifeboat run` was started in, and
/// a resume started elsewhere resolves them the same way.
#[test]
fn relative_programs_resolve_against_the_launch_directory_on_resume_too() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path().join("tools/bin")).unwrap();
    let tool = sb.write("tools/bin/mytool", "#!/bin/sh\necho \"mytool $1\"\n");
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = sb.write(
        "tools.yaml",
        &format!(
            r#"version: 1
name: tools
inputs:
  tool: {{ type: program, default: tools/bin/mytool }}
  shell: {{ type: program, default: sh }}
  data: {{ type: path, default: ./data.txt }}
steps:
  - id: argv
    kind: shell
    with: {{ run: ["tools/bin/mytool", "argv"] }}
  - id: script
    kind: shell
    with: {{ script: "{{{{ inputs.tool }}}} script; echo \"$LIFEBOAT_LAUNCH_DIR\"" }}
{FLAKY}    needs: [argv, script]
  - id: after_resume
    kind: shell
    needs: [flaky]
    with: {{ run: ["{{{{ inputs.tool }}}}", "resumed"] }}
  - id: check
    kind: assert
    needs: [argv, script, after_resume]
    with:
      that:
        - "steps.argv.outputs.stdout == 'mytool argv'"
        - "steps.script.outputs.stdout is startingwith('mytool script')"
        - "steps.after_resume.outputs.stdout == 'mytool resumed'"
        - "inputs.shell == 'sh'"
"#
        ),
    );
    let first = sb.run(&["run", file.to_str().unwrap()]);
    first.expect_code(1);
    let run_id = first.run_id();
    let launch = std::fs::canonicalize(sb.path()).unwrap();
    let started = sb.journal(&run_id).remove(0);
    assert_eq!(
        started["launch_dir"],
        launch.display().to_string(),
        "{started}"
    );
    assert_eq!(
        started["inputs"]["tool"],
        launch.join("tools/bin/mytool").display().to_string()
    );
    assert_eq!(
        started["inputs"]["data"],
        launch.join("data.txt").display().to_string()
    );
    let script_out = sb
        .journal(&run_id)
        .into_iter()
        .find(|r| r["type"] == "step_succeeded" && r["step"] == "script")
        .unwrap();
    assert_eq!(
        script_out["outputs"]["stdout"],
        format!("mytool script\n{}", launch.display())
    );

    // Resumed from another directory: the tool is still found.
    sb.test().args(["resume", &run_id]).current_dir("/").run();
}

/// Secrets are re-read on resume; a relative `file:` was read from the
/// directory the resume was started in, so a resume from elsewhere lost it.
#[test]
fn a_relative_secret_file_is_read_from_the_launch_directory_on_resume() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path().join(".sandbox")).unwrap();
    sb.write(".sandbox/root-token", "s.from-the-launch-dir\n");
    let file = sb.write(
        "secret.yaml",
        &format!(
            r#"version: 1
name: secret-file
inputs:
  token: {{ type: secret, file: .sandbox/root-token }}
steps:
{FLAKY}  - id: read
    kind: assert
    needs: [flaky]
    with: {{ that: ["inputs.token == 's.from-the-launch-dir'"] }}
"#
        ),
    );
    let first = sb.run(&["run", file.to_str().unwrap()]);
    first.expect_code(1);
    sb.test()
        .args(["resume", &first.run_id()])
        .current_dir("/")
        .run();
}
