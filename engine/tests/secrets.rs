//! A secret input's value never reaches disk or output: a run passes a known
//! secret through a shell step's argv, environment, stdout, and a failing
//! step's stderr and error message; the run fails, is resumed (fails again),
//! and its timeline, status and run list are printed. Then every file under
//! the state directory and everything the commands printed is searched for
//! the secret's bytes.

mod util;

use std::path::Path;

use util::{Sandbox, Test, RUNBOOK};

const SECRET: &str = "tok-8d1fQz7Wv3pXk2Lm";
const REDACTED: &str = "«redacted»";

const DRILL: &str = r#"version: 1
name: secret-drill
title: Secret handling drill
rto: { target: 10m }
inputs:
  token:
    type: secret
    env: LIFEBOAT_TEST_TOKEN
    description: an API token
  region:
    type: string
    default: eu-west-1
steps:
  - id: use_argv
    kind: shell
    with:
      run: ["bash", "-c", "echo argv=$1 env=$TOKEN_ENV", "x", "{{ inputs.token }}"]
      env: { TOKEN_ENV: "{{ inputs.token }}" }
  - id: print_stdout
    kind: shell
    needs: [use_argv]
    with:
      script: |
        echo "the token is {{ inputs.token }}"
        echo "{\"token\": \"{{ inputs.token }}\"}"
  - id: fail_stderr
    kind: shell
    needs: [print_stdout]
    with:
      script: |
        echo "denied for {{ inputs.token }}" >&2
        exit 7
on_failure:
  - id: report
    kind: shell
    with: { run: ["echo", "failed at {{ run.failed_step }}: {{ run.error }}"] }
"#;

/// `lifeboat ARGS` as alice, with the secret in the environment.
fn lifeboat(sb: &Sandbox, args: &[&str]) -> Test {
    sb.test()
        .args(args)
        .env("LIFEBOAT_TEST_TOKEN", SECRET)
        .env("LIFEBOAT_OPERATOR", "alice")
}

fn find_secret(dir: &Path, hits: &mut Vec<String>, files: &mut usize) {
    find_bytes(dir, SECRET, hits, files);
}

fn find_bytes(dir: &Path, needle: &str, hits: &mut Vec<String>, files: &mut usize) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            find_bytes(&path, needle, hits, files);
        } else {
            *files += 1;
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(path.display().to_string());
            }
        }
    }
}

#[test]
fn a_secret_input_appears_nowhere_under_the_state_dir_or_in_output() {
    let sb = Sandbox::new();
    let state = sb.state_dir();
    sb.write(RUNBOOK, DRILL);

    let mut printed = String::new();
    let run = lifeboat(&sb, &["run", RUNBOOK]).status(1).run();
    printed.push_str(&run.printed());
    let run_id = run.run_id();

    let resumed = lifeboat(&sb, &["resume", &run_id]).status(1).run();
    printed.push_str(&resumed.printed());

    for args in [
        vec!["timeline", &run_id, "--format", "md"],
        vec!["timeline", &run_id, "--format", "json"],
        vec!["timeline", &run_id, "--format", "html"],
        vec!["status", &run_id],
        vec!["status", &run_id, "--output", "json"],
        vec!["runs", "--output", "json"],
    ] {
        let out = lifeboat(&sb, &args).run();
        printed.push_str(&out.printed());
    }

    // The step really saw the secret: its output was redacted, not empty.
    let dir = state.join("runs").join(&run_id);
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert!(
        journal.contains(&format!("argv={REDACTED} env={REDACTED}")),
        "argv and env output should be redacted in the journal:\n{journal}"
    );
    assert!(
        journal.contains(&format!("denied for {REDACTED}")),
        "the failing step's stderr should be redacted in the journal:\n{journal}"
    );
    let timeline = std::fs::read_to_string(dir.join("timeline.md")).unwrap();
    assert!(
        timeline.contains(&format!("`token`: {REDACTED}")),
        "the secret input is listed by name, redacted:\n{timeline}"
    );
    assert!(
        timeline.contains(&format!("denied for {REDACTED}")),
        "{timeline}"
    );
    assert!(printed.contains(REDACTED), "{printed}");

    let mut hits = Vec::new();
    let mut files = 0;
    find_secret(&state, &mut hits, &mut files);
    assert!(files >= 8, "expected the run's files, found {files}");
    assert!(
        hits.is_empty(),
        "the secret was written to: {}",
        hits.join(", ")
    );
    assert!(
        !printed.contains(SECRET),
        "the secret was printed:\n{printed}"
    );
}

/// A value that only a step kind's secret output carries (`vault.kv.get`'s
/// `data`, read from a real OpenBao dev server) is as protected as a secret
/// input: a later step prints it to stdout and stderr and fails, and no file
/// under the state directory and nothing printed holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_output_appears_nowhere_under_the_state_dir_or_in_output() {
    const VALUE: &str = "kv-pw-Zq81xLr0Tt5mYw";
    let bao = lifeboat_harness::openbao::OpenBaoDev::start().await;
    let seeded = reqwest::Client::new()
        .post(format!("{}/v1/secret/data/app/db", bao.addr()))
        .header("X-Vault-Token", bao.token())
        .json(&serde_json::json!({ "data": { "password": VALUE } }))
        .send()
        .await
        .expect("seed the secret");
    assert!(
        seeded.status().is_success(),
        "seeding failed: {}",
        seeded.status()
    );

    let sb = Sandbox::new();
    let state = sb.state_dir();
    sb.write(
        RUNBOOK,
        &format!(
            r#"version: 1
name: secret-output
inputs:
  token: {{ type: secret, env: LIFEBOAT_TEST_VAULT_TOKEN }}
steps:
  - id: get
    kind: vault.kv.get
    with: {{ addr: "{addr}", token: "{{{{ inputs.token }}}}", path: app/db }}
  - id: leak
    kind: shell
    needs: [get]
    with:
      script: |
        echo "password={{{{ steps.get.outputs.data.password }}}}"
        echo "denied with {{{{ steps.get.outputs.data.password }}}}" >&2
        exit 3
"#,
            addr = bao.addr()
        ),
    );
    let out = sb
        .test()
        .args(["run", RUNBOOK])
        .env("LIFEBOAT_TEST_VAULT_TOKEN", bao.token())
        .status(1)
        .run();
    let printed = out.printed();
    assert!(printed.contains("password=«redacted»"), "{printed}");
    assert!(
        !printed.contains(VALUE),
        "the secret output was printed: {printed}"
    );
    let (mut hits, mut files) = (Vec::new(), 0);
    find_bytes(&state, VALUE, &mut hits, &mut files);
    assert!(
        files > 3,
        "expected a run directory with files, found {files}"
    );
    assert!(
        hits.is_empty(),
        "the secret output reached disk in: {hits:?}"
    );
}
