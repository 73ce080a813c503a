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
    // Read again before the resume's first record.
    let reread = resumed
        .stdout
        .find("read the secret outputs of `get` again (data)")
        .unwrap_or_else(|| panic!("{}", resumed.dump()));
    let first_record = resumed.stdout.find("resumed").unwrap();
    assert!(reread < first_record, "{}", resumed.dump());
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

/// Gap in finding 4: non-secret inputs are journalled exactly, so a secret
/// input's value typed into one (`--input dir=/data/<the password>`) was
/// written to disk in clear, with only a warning. A real run now refuses it
/// whatever the case, names both inputs, never the value, and leaves no run
/// directory; a drill warns.
#[test]
fn gap_a_secret_typed_into_a_non_secret_input_is_refused_in_a_real_run() {
    const VALUE: &str = "Hunter2-Long-Pw";
    let sandbox = Sandbox::new();
    let runbook = sandbox.write("exact.yaml", EXACT_INPUTS);
    let env = [("LIFEBOAT_TEST_ROOT", VALUE)];
    let input = format!("dir=/data/{}/x", VALUE.to_uppercase());
    let run = sandbox.run_with(&["run", runbook.to_str().unwrap(), "--input", &input], &env);
    run.expect_code(2);
    assert!(
        printed(&run).contains("`dir` contains the value of secret input `root`"),
        "{}",
        run.dump()
    );
    assert!(
        !printed(&run).to_lowercase().contains(&VALUE.to_lowercase()),
        "{}",
        run.dump()
    );
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
            &input,
            "--dry-run",
        ],
        &env,
    );
    assert!(
        printed(&drill).contains("input `dir` contains the value of secret input `root`")
            && printed(&drill).contains("(a real run refuses this)"),
        "{}",
        drill.dump()
    );
}

/// Finding 5: redaction matched only the exact text of a secret. Each form
/// that leaked in the issue is produced for real here: a password with `&`,
/// `<` and a space, and a numeric PIN, read from a real OpenBao; and a
/// secret input. Nothing under the state directory and nothing printed may
/// hold any piece of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_5_redaction_covers_the_common_encodings_of_a_secret() {
    const PASSWORD: &str = "kv&<Qm7>pw Hx2r";
    const PIN: u64 = 73519024;
    const INPUT: &str = "p@ss w/rd&<Zq9>-Kx7";
    let bao = lifeboat_harness::openbao::OpenBaoDev::start().await;
    let seeded = reqwest::Client::new()
        .post(format!("{}/v1/secret/data/app/db", bao.addr()))
        .header("X-Vault-Token", bao.token())
        .json(&serde_json::json!({ "data": { "password": PASSWORD, "pin": PIN } }))
        .send()
        .await
        .expect("seed the secret");
    assert!(seeded.status().is_success(), "{}", seeded.status());

    let sandbox = Sandbox::new();
    let runbook = sandbox.write(
        "forms.yaml",
        &format!(
            r#"version: 1
name: secret-forms
inputs:
  token: {{ type: secret, env: LIFEBOAT_TEST_VAULT_TOKEN }}
  pw: {{ type: secret, env: LIFEBOAT_TEST_PW }}
steps:
  - id: get
    kind: vault.kv.get
    with: {{ addr: "{addr}", token: "{{{{ inputs.token }}}}", path: app/db }}
  - id: json_cli
    kind: shell
    needs: [get]
    with:
      run: ["{bao}", "kv", "get", "-format=json", "secret/app/db"]
      env: {{ VAULT_ADDR: "{addr}", VAULT_TOKEN: "{{{{ inputs.token }}}}" }}
  - id: forms
    kind: shell
    needs: [get]
    with:
      env: {{ PW: "{{{{ inputs.pw }}}}" }}
      script: |
        printf '%s' "$PW" | base64
        printf 'user:%s' "$PW" | base64
        echo {{{{ inputs.pw | upper }}}}
        echo {{{{ inputs.pw | tojson }}}}
        echo {{{{ inputs.pw[:10] }}}}
        echo {{{{ steps.get.outputs.data.pin }}}}
        printf 'pw: %s ok\n' "$PW" | fold -w 14
  - id: url_in_error
    kind: http
    needs: [get]
    continue_on_failure: true
    with: {{ url: "http://127.0.0.1:1/login/{{{{ inputs.pw }}}}", timeout: 5s }}
  - id: echoed_in_body
    kind: http
    needs: [get]
    continue_on_failure: true
    with:
      method: POST
      url: "{addr}/v1/sys/mounts/echo"
      headers: {{ X-Vault-Token: "{{{{ inputs.token }}}}" }}
      json: {{ type: "{{{{ inputs.pw }}}}" }}
"#,
            addr = bao.addr(),
            bao = lifeboat_harness::openbao::bao_binary().unwrap().display(),
        ),
    );
    let env = [
        ("LIFEBOAT_TEST_VAULT_TOKEN", bao.token()),
        ("LIFEBOAT_TEST_PW", INPUT),
    ];
    let run = sandbox.run_with(&["run", runbook.to_str().unwrap()], &env);
    let id = run_id(&run, "secret-forms");
    let timeline = sandbox.run_with(&["timeline", &id, "--format", "json"], &env);
    let shown = format!("{}{}", printed(&run), printed(&timeline));

    // Every step produced its form: the redactor had something to find.
    let journal = sandbox.journal(&id);
    let record = |step: &str| {
        journal
            .iter()
            .rev()
            .find(|r| {
                r["step"] == step
                    && r["type"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("step_") && t != "step_started")
            })
            .unwrap_or_else(|| panic!("no result for `{step}`\n{}", run.dump()))
            .to_string()
    };
    for (step, at_least) in [
        ("json_cli", 2),
        ("forms", 8),
        ("url_in_error", 1),
        ("echoed_in_body", 1),
    ] {
        let text = record(step);
        assert!(
            text.matches(REDACTED).count() >= at_least,
            "`{step}` should show its secret redacted at least {at_least} times: {text}\n{}",
            run.dump()
        );
    }

    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    // Pieces that any of the forms would carry, in lower case.
    let needles = [
        "qm7".to_string(),
        "zq9".to_string(),
        "p@ss w/rd".to_string(),
        PIN.to_string(),
        b64.encode(INPUT)[4..20].to_lowercase(),
        b64.encode(format!("user:{INPUT}"))[8..24].to_lowercase(),
    ];
    let lower = shown.to_lowercase();
    for needle in &needles {
        assert!(
            !lower.contains(needle.as_str()),
            "`{needle}` was printed:\n{shown}"
        );
        let hits = files_containing_lowercase(&sandbox.state_dir(), needle);
        assert!(hits.is_empty(), "`{needle}` reached disk in {hits:?}");
    }
}

/// Like [`files_containing`], comparing in lower case.
fn files_containing_lowercase(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if String::from_utf8_lossy(&std::fs::read(&path).unwrap())
                .to_lowercase()
                .contains(needle)
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

/// Finding 11: a secret in `run` argv is readable by every local user
/// (`/proc/PID/cmdline`). `validate` warns where it happens and says how to
/// pass it in the environment instead; `script` and `env:` are not warned.
#[test]
fn finding_11_validate_warns_when_a_secret_reaches_run_argv() {
    let sandbox = Sandbox::new();
    let runbook = sandbox.write(
        "argv.yaml",
        r#"version: 1
name: argv-secret
inputs:
  token: { type: secret, env: LIFEBOAT_TEST_TOKEN }
  region: { type: string, default: eu-west-1 }
steps:
  - id: call
    kind: shell
    with:
      run: ["curl", "-H", "X-Token: {{ inputs.token }}", "https://{{ inputs.region }}.example"]
  - id: safe
    kind: shell
    with:
      env: { TOKEN: "{{ inputs.token }}" }
      script: |
        curl -H "X-Token: $TOKEN" https://example {{ inputs.token }}
"#,
    );
    let out = sandbox.run(&["validate", runbook.to_str().unwrap()]);
    out.expect_code(0);
    let dir = format!("{}/", sandbox.path().display());
    let shown = printed(&out).replace(&dir, "");
    assert_eq!(
        shown.matches("warning:").count(),
        1,
        "for `call` only\n{shown}"
    );
    assert!(
        shown.contains(
            r#"warning: step `call` passes secret input `token` in `run` arguments, which every local user can read (`ps`, `/proc/PID/cmdline`)
  --> argv.yaml:10:27
   |
10 |       run: ["curl", "-H", "X-Token: {{ inputs.token }}", "https://{{ inputs.region }}.example"]
   |                           ^^^^^^^^^^^^^^^^^^^^^^^^^^^
   = help: pass it in the environment instead: `env: { TOKEN: "{{ inputs.token }}" }`, and have the program read `$TOKEN` (or use `script`, which hands every value over in the environment)
"#
        ),
        "{shown}"
    );
}

/// Gap in finding 11: `validate` warned about a secret input in `run` argv,
/// but not about an output its step kind declares secret (`vault.kv.get`'s
/// `data`), nor about either in a `check` probe's `run`.
#[test]
fn gap_validate_warns_when_a_secret_output_reaches_run_argv() {
    let sandbox = Sandbox::new();
    let runbook = sandbox.write(
        "argv.yaml",
        r#"version: 1
name: argv-secret-output
inputs:
  token: { type: secret, env: LIFEBOAT_TEST_TOKEN }
steps:
  - id: get
    kind: vault.kv.get
    with: { addr: "http://127.0.0.1:8200", token: "{{ inputs.token }}", path: app/db }
  - id: use
    kind: shell
    needs: [get]
    rerun: check
    check:
      kind: shell
      read_only: true
      with: { run: ["probe", "--token={{ inputs.token }}"] }
    with:
      run: ["mysql", "-p{{ steps.get.outputs.data.password }}"]
"#,
    );
    let out = sandbox.run(&["validate", runbook.to_str().unwrap()]);
    out.expect_code(0);
    let dir = format!("{}/", sandbox.path().display());
    let shown = printed(&out).replace(&dir, "");
    assert!(
        shown.contains(
            r#"warning: step `use` passes secret output `data` of step `get` (`vault.kv.get`) in `run` arguments, which every local user can read (`ps`, `/proc/PID/cmdline`)
  --> argv.yaml:18:22
"#
        ),
        "{shown}"
    );
    assert!(
        shown.contains(
            r#"= help: pass it in the environment instead: `env: { GET_DATA: "{{ steps.get.outputs.data.password }}" }`, and have the program read `$GET_DATA`"#
        ),
        "{shown}"
    );
    assert!(
        shown.contains(
            "warning: step `use` passes secret input `token` in `check.with.run` arguments, which every local user can read"
        ),
        "{shown}"
    );
    assert_eq!(shown.matches("warning:").count(), 2, "{shown}");
}

/// Finding 11, second half: children inherit the engine's whole environment
/// (`VAULT_TOKEN` included). `env_clear: true` starts one with only `PATH`,
/// `HOME`, `LANG` and what the step declares, template variables included.
#[test]
fn finding_11_env_clear_starts_a_child_with_only_what_the_step_declares() {
    let sandbox = Sandbox::new();
    let runbook = sandbox.write(
        "env.yaml",
        r#"version: 1
name: env-clear
inputs:
  word: { type: string, default: hello }
steps:
  - id: inherited
    kind: shell
    with: { run: ["env"] }
  - id: cleared
    kind: shell
    with:
      env_clear: true
      env: { MINE: declared }
      script: |
        echo "word={{ inputs.word }}"
        env
"#,
    );
    let env = [("VAULT_TOKEN", "ambient-token-0000"), ("LANG", "C.UTF-8")];
    sandbox
        .run_with(&["run", runbook.to_str().unwrap()], &env)
        .expect_code(0);
    let run = sandbox.run(&["runs", "--output", "json"]);
    let runs: serde_json::Value = serde_json::from_str(&run.stdout).expect("runs json");
    let id = runs[0]["run_id"]
        .as_str()
        .or_else(|| runs[0]["id"].as_str())
        .unwrap_or_else(|| panic!("no run id in {runs}"))
        .to_string();
    let journal = sandbox.journal(&id);
    let stdout = |step: &str| {
        journal
            .iter()
            .find(|r| r["type"] == "step_succeeded" && r["step"] == step)
            .unwrap_or_else(|| panic!("`{step}` did not succeed: {journal:?}"))["outputs"]["stdout"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let inherited = stdout("inherited");
    assert!(
        inherited.contains("VAULT_TOKEN=ambient-token-0000"),
        "{inherited}"
    );
    let cleared = stdout("cleared");
    assert!(cleared.contains("word=hello"), "{cleared}");
    let names: Vec<&str> = cleared
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| *k != "word")
        .collect();
    for kept in ["PATH", "HOME", "LANG", "MINE", "LIFEBOAT_V1"] {
        assert!(names.contains(&kept), "`{kept}` missing:\n{cleared}");
    }
    // bash itself sets PWD, SHLVL and `_`.
    for name in &names {
        assert!(
            [
                "PATH",
                "HOME",
                "LANG",
                "MINE",
                "LIFEBOAT_V1",
                "PWD",
                "SHLVL",
                "_",
                "OLDPWD"
            ]
            .contains(name),
            "`{name}` reached the child:\n{cleared}"
        );
    }
}

/// Review of finding 5: a slice of a secret inside a longer parameter (a URL
/// with the token's first characters) is a secret too, while the runbook's
/// own literal text that happens to be a piece of a secret (a bucket named
/// like the start of a key) is not registered as one. (A whole line, or the
/// end of a line, that is a piece of a secret is still redacted: that is the
/// rule for secrets cut by `fold`.)
#[test]
fn finding_5_a_secret_slice_inside_a_longer_string_is_redacted_and_literals_are_not() {
    let sandbox = Sandbox::new();
    let runbook = sandbox.write(
        "slice.yaml",
        r#"version: 1
name: slice
inputs:
  token: { type: secret, env: LIFEBOAT_TEST_TOKEN }
steps:
  - id: show
    kind: shell
    with:
      run: ["echo", "url=https://example.invalid/?t={{ inputs.token[-12:] }}&x=1 in lifeboat-bucket now"]
"#,
    );
    let secret = "lifeboat-bucket-Zq9Wm3Kp7Rt2Vx5N";
    let ran = sandbox.run_with(
        &["run", runbook.to_str().unwrap()],
        &[("LIFEBOAT_TEST_TOKEN", secret)],
    );
    ran.expect_code(0);
    let slice = &secret[secret.len() - 12..];
    assert!(!printed(&ran).contains(slice), "{}", ran.dump());
    assert!(
        files_containing(&sandbox.state_dir(), slice).is_empty(),
        "the slice reached disk"
    );
    assert!(
        ran.stdout.contains("&x=1 in lifeboat-bucket now"),
        "literal runbook text is not a secret\n{}",
        ran.dump()
    );
}
