//! One test per finding of the "Security hardening" issue about secrets and
//! redaction (findings 3, 4, 5 and 11). Each failed before its fix.

mod util;

use std::path::Path;

use util::{Ran, Sandbox};

const REDACTED: &str = "«redacted»";

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

/// Everything a command printed (warnings go to stdout or stderr).
fn printed(ran: &Ran) -> String {
    format!("{}{}", ran.stdout, ran.stderr)
}

/// The run id `run` printed: the first line that starts with the runbook's
/// name (a warning may come before it).
fn run_id(ran: &Ran, runbook: &str) -> String {
    ran.stdout
        .lines()
        .find(|l| l.starts_with(&format!("{runbook}-")))
        .unwrap_or_else(|| panic!("no run id in\n{}", ran.dump()))
        .trim()
        .to_string()
}

/// Finding 3: a `vault.kv.get` output, an approval, then a step that prints
/// it. After `approve` and `resume`, the password was printed and journalled
/// in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_3_a_secret_output_stays_redacted_after_an_approval_and_resume() {
    const VALUE: &str = "kv-pw-Hn4vQ9sLr2Xc";
    let bao = lifeboat_harness::openbao::OpenBaoDev::start().await;
    let seeded = reqwest::Client::new()
        .post(format!("{}/v1/secret/data/app/db", bao.addr()))
        .header("X-Vault-Token", bao.token())
        .json(&serde_json::json!({ "data": { "password": VALUE } }))
        .send()
        .await
        .expect("seed the secret");
    assert!(seeded.status().is_success(), "{}", seeded.status());

    let sandbox = Sandbox::new();
    let runbook = sandbox.write(
        "gate.yaml",
        &format!(
            r#"version: 1
name: gated-secret
inputs:
  token: {{ type: secret, env: LIFEBOAT_TEST_VAULT_TOKEN }}
steps:
  - id: get
    kind: vault.kv.get
    with: {{ addr: "{addr}", token: "{{{{ inputs.token }}}}", path: app/db }}
  - id: gate
    kind: approval
    needs: [get]
    with: {{ prompt: "Print it?", approvers: [bob] }}
  - id: leak
    kind: shell
    needs: [gate]
    with:
      run: ["{bao}", "kv", "get", "-field=password", "secret/app/db"]
      env: {{ VAULT_ADDR: "{addr}", VAULT_TOKEN: "{{{{ inputs.token }}}}" }}
  - id: template
    kind: shell
    needs: [leak]
    with:
      script: echo "templated={{{{ steps.get.outputs.data.password }}}}"
"#,
            addr = bao.addr(),
            bao = lifeboat_harness::openbao::bao_binary().unwrap().display(),
        ),
    );
    let env = [("LIFEBOAT_TEST_VAULT_TOKEN", bao.token())];
    let run = sandbox.run_with(&["run", runbook.to_str().unwrap()], &env);
    run.expect_code(3);
    let id = run_id(&run, "gated-secret");
    let approve = sandbox.run_with(&["approve", &id, "gate", "--as", "bob"], &env);
    approve.expect_code(0);
    let resumed = sandbox.run_with(&["resume", &id], &env);
    let printed = format!(
        "{}{}{}{}",
        run.stdout, run.stderr, resumed.stdout, resumed.stderr
    );
    assert!(
        !printed.contains(VALUE),
        "printed in clear:\n{}",
        resumed.dump()
    );
    resumed.expect_code(0);
    // The step really printed it, and the template could read it again.
    assert!(
        resumed.stdout.contains(&format!("leak: {REDACTED}")),
        "{}",
        resumed.dump()
    );
    assert!(
        resumed.stdout.contains(&format!("templated={REDACTED}")),
        "{}",
        resumed.dump()
    );
    let hits = files_containing(&sandbox.state_dir(), VALUE);
    assert!(
        hits.is_empty(),
        "the secret output reached disk in: {hits:?}"
    );
}

const EXACT_INPUTS: &str = r#"version: 1
name: exact-inputs
inputs:
  root: { type: secret, env: LIFEBOAT_TEST_ROOT }
  dir: { type: string }
steps:
  - id: before
    kind: shell
    with: { run: ["test", "-d", "{{ inputs.dir }}"] }
  - id: gate
    kind: approval
    needs: [before]
    with: { prompt: "Go on?", approvers: [bob] }
  - id: after
    kind: shell
    needs: [gate]
    with: { run: ["test", "-d", "{{ inputs.dir }}"] }
"#;

/// Finding 4: with the secret `root`, the input `dir=/data/rootdir` was
/// journalled as `/data/«redacted»dir` and the resume ran with that value:
/// the first execution saw the directory, the resumed one did not.
#[test]
fn finding_4_resume_runs_with_the_exact_non_secret_inputs() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("rootdir");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.to_str().unwrap();
    let runbook = sandbox.write("exact.yaml", EXACT_INPUTS);
    let env = [("LIFEBOAT_TEST_ROOT", "root")];
    let input = format!("dir={dir}");
    let run = sandbox.run_with(&["run", runbook.to_str().unwrap(), "--input", &input], &env);
    run.expect_code(3);
    assert!(
        printed(&run).contains("secret input `root` is only 4 characters long"),
        "{}",
        run.dump()
    );
    assert!(
        printed(&run).contains("input `dir` contains the value of secret input `root`"),
        "{}",
        run.dump()
    );
    let id = run_id(&run, "exact-inputs");
    let started = &sandbox.journal(&id)[0];
    assert_eq!(started["inputs"]["dir"], dir, "journalled exactly");
    sandbox
        .run_with(&["approve", &id, "gate", "--as", "bob"], &env)
        .expect_code(0);
    let resumed = sandbox.run_with(&["resume", &id], &env);
    resumed.expect_code(0);
    assert!(
        resumed.stdout.contains("ok       after"),
        "{}",
        resumed.dump()
    );
}

/// Finding 4, second half: a secret input shorter than four characters was
/// silently left unredacted. A real run refuses it, naming the input, and
/// leaves no run behind; a drill warns.
#[test]
fn finding_4_a_secret_input_under_four_characters_is_refused_in_a_real_run() {
    let sandbox = Sandbox::new();
    let runbook = sandbox.write("exact.yaml", EXACT_INPUTS);
    let env = [("LIFEBOAT_TEST_ROOT", "abc")];
    let run = sandbox.run_with(
        &["run", runbook.to_str().unwrap(), "--input", "dir=/tmp"],
        &env,
    );
    run.expect_code(2);
    assert!(
        printed(&run).contains("secret input `root` is 3 characters long; secrets shorter than 4 characters cannot be redacted reliably"),
        "{}",
        run.dump()
    );
    assert!(!printed(&run).contains("abc"), "{}", run.dump());
    assert!(
        !sandbox.state_dir().join("runs").exists()
            || std::fs::read_dir(sandbox.state_dir().join("runs"))
                .unwrap()
                .next()
                .is_none(),
        "a refused run leaves no run directory"
    );
    let drill = sandbox.run_with(
        &[
            "run",
            runbook.to_str().unwrap(),
            "--input",
            "dir=/tmp",
            "--dry-run",
        ],
        &env,
    );
    assert!(
        printed(&drill).contains("(a real run stops here)"),
        "{}",
        drill.dump()
    );
}
