//! One test per finding of the "Security hardening" issue about secrets and
//! redaction (findings 3, 4, 5 and 11). Each failed before its fix.

mod util;

use std::path::Path;

use util::Sandbox;

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
    let id = run.run_id();
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
