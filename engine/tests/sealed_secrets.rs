//! Issue 14, "Secrets the next driver can open, and nobody else": secret
//! outputs sealed with age to the run's `recipients`, opened by a resume or
//! a takeover with a recipient's key, and in clear nowhere at rest.
//!
//! The secret outputs are real: `vault.init` on an uninitialised OpenBao
//! node (the harness fails, never skips, without `bao`); a later step
//! unseals it with the keys and checks the root token. Keys are generated
//! in the test: `ssh-keygen -t ed25519 -N ''` and an age X25519 identity
//! from the `age` crate.

mod util;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use age::secrecy::ExposeSecret;
use lifeboat_harness::openbao::OpenBaoCluster;
use lifeboat_harness::s3_server::S3Server;
use serde_json::Value;
use util::machine::Machine;
use util::sealing::{files_containing, init_secrets, objects_containing, open_sealed, ssh_keygen};
use util::Sandbox;

/// `vault.init` makes the secrets; `hold` is where the engine is killed
/// (the first time it runs it leaves a marker and sleeps; run again, it
/// finds the marker and passes); then the keys unseal the node and the
/// token is checked against it.
const RUNBOOK: &str = r#"version: 1
name: sealed
RECIPIENTS
inputs:
  addr: { type: string }
  marker: { type: string }
steps:
  - id: init
    kind: vault.init
    with: { addr: "{{ inputs.addr }}", secret_shares: 1, secret_threshold: 1 }
  - id: hold
    kind: shell
    read_only: true
    needs: [init]
    with:
      script: |
        if [ -e "{{ inputs.marker }}" ]; then exit 0; fi
        touch "{{ inputs.marker }}"
        sleep 120
  - id: unseal
    kind: vault.unseal
    needs: [hold]
    with: { addr: "{{ inputs.addr }}", keys: "{{ steps.init.outputs.keys }}" }
  - id: token
    kind: vault.token.check
    needs: [unseal]
    with: { addr: "{{ inputs.addr }}", token: "{{ steps.init.outputs.root_token }}" }
"#;

fn runbook(recipients: Option<&str>) -> String {
    RUNBOOK.replace(
        "RECIPIENTS\n",
        &recipients
            .map(|r| format!("recipients: {r}\n"))
            .unwrap_or_default(),
    )
}

/// `ssh-keygen -lf`'s fingerprint of a public key file (`SHA256:…`).
fn ssh_fingerprint(public: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// An age identity, written as `age-keygen` writes one.
fn age_identity(path: &Path) -> age::x25519::Identity {
    let id = age::x25519::Identity::generate();
    std::fs::write(
        path,
        format!(
            "# created by the test\n# public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        ),
    )
    .unwrap();
    id
}

/// The throwaway root token and unseal keys, opened by the test from the
/// journal's sealed copy with a recipient's identity: what must be in clear
/// nowhere at rest.
fn throwaway_secrets(journal: &[Value], id: &age::x25519::Identity) -> Vec<(String, String)> {
    init_secrets(&open_sealed(journal, "init", id))
}

fn step_succeeded(journal: &[Value], step: &str) -> bool {
    journal
        .iter()
        .any(|r| r["type"] == "step_succeeded" && r["step"] == step)
}

fn node() -> (tokio::runtime::Runtime, OpenBaoCluster) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt.block_on(OpenBaoCluster::start_uninitialized(1));
    (rt, node)
}

/// Starts `args` on `machine` and SIGKILLs it once `hold` runs (its marker).
fn run_and_kill_at_hold(machine: &Machine, args: &[String], marker: &Path) -> String {
    let mut engine = machine.start("first", args);
    let run = engine.run_id();
    engine.wait_until("`hold` to start", Duration::from_secs(60), || {
        marker.exists()
    });
    engine.child.kill().unwrap(); // SIGKILL
    let (code, printed) = engine.finish(Duration::from_secs(10));
    assert_eq!(code, -1, "not killed\n{printed}");
    run
}

/// A machine on the local store: its own sandbox, no S3.
fn local_machine() -> Machine {
    Machine {
        sb: Sandbox::new(),
        env: Vec::new(),
    }
}

#[test]
fn a_resume_opens_the_sealed_outputs_with_a_recipients_key_and_without_one_says_what_to_do() {
    let (_rt, node) = node();
    let m = local_machine();
    let sb = &m.sb;
    let age_key = sb.path().join("alice.agekey");
    let alice = age_identity(&age_key);
    let bob_pub = ssh_keygen(&sb.path().join("keys/bob"), "");
    sb.write(
        "team.keys",
        &format!("# the DR team\n{}\n\n{bob_pub}", alice.to_public()),
    );
    let file = sb.write("sealed.yaml", &runbook(Some("team.keys")));
    let marker = sb.path().join("hold.marker");
    let args: Vec<String> = [
        "run",
        file.to_str().unwrap(),
        "--input",
        &format!("addr={}", node.addr(0)),
        "--input",
        &format!("marker={}", marker.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = run_and_kill_at_hold(&m, &args, &marker);

    // Every engine seals to the set journalled at the start.
    let journal = sb.journal(&run);
    assert_eq!(
        journal[0]["recipients"],
        serde_json::json!([
            alice.to_public().to_string(),
            bob_pub.trim().rsplit_once(' ').unwrap().0
        ]),
        "{}",
        journal[0]
    );
    let secrets = throwaway_secrets(&journal, &alice);

    // No identity (HOME has no ~/.ssh): the step that needs the keys fails
    // before it runs, saying whose keys open them and what to do.
    let ran = sb.run(&["resume", &run]);
    assert_eq!(ran.code, 1, "{}", ran.dump());
    let bob_fp = ssh_fingerprint(&sb.path().join("keys/bob.pub"));
    let why = format!(
        "they are sealed to the run's recipients ({}, ssh-ed25519 {bob_fp}) and cannot be opened: no identity was given (`--identity FILE` or `LIFEBOAT_IDENTITY`) and neither `~/.ssh/id_ed25519` nor `~/.ssh/id_rsa` exists; resume with a recipient's key (`--identity FILE` or `LIFEBOAT_IDENTITY`), or ask a recipient to take over (`lifeboat resume {run} --take-over`)",
        alice.to_public()
    );
    assert!(
        ran.printed().contains(&format!(
            "warning  init: this engine does not have its secret outputs (keys, root_token): {why}; `unseal`, `token` read them and will fail when they start: "
        )),
        "{}",
        ran.dump()
    );
    let failed = sb
        .journal(&run)
        .into_iter()
        .rfind(|r| r["type"] == "step_failed")
        .expect("a failed step");
    assert_eq!(failed["step"], "unseal", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains(&why), "{failed}");

    // Someone else's key: not one of the recipients.
    let other = sb.path().join("mallory.agekey");
    age_identity(&other);
    let ran = sb.run(&["resume", &run, "--identity", other.to_str().unwrap()]);
    assert_eq!(ran.code, 1, "{}", ran.dump());
    assert!(
        ran.printed().contains(&format!(
            "cannot be opened with `{}`: the identity is not one of the run's recipients; ",
            other.display()
        )),
        "{}",
        ran.dump()
    );

    // A recipient's SSH key protected by a passphrase, without a terminal:
    // refused, saying why and what to do.
    ssh_keygen(&sb.path().join("keys/carol"), "correct horse");
    let carol = sb.path().join("keys/carol");
    let ran = sb.run(&["resume", &run, "--identity", carol.to_str().unwrap()]);
    assert_eq!(ran.code, 1, "{}", ran.dump());
    assert!(
        ran.printed().contains(&format!(
            "the SSH key `{}` is protected by a passphrase and there is no terminal to ask it at; resume at a terminal, or give an unencrypted key or an age identity with `--identity FILE`",
            carol.display()
        )),
        "{}",
        ran.dump()
    );

    // A recipient's age identity (from the environment): the run goes on
    // with the values, which unseal the node and are its root token.
    let ran = sb
        .test()
        .args(["resume", &run])
        .env("LIFEBOAT_IDENTITY", &age_key)
        .any_status()
        .run();
    assert_eq!(ran.code, 0, "{}", ran.dump());
    let journal = sb.journal(&run);
    assert!(step_succeeded(&journal, "unseal") && step_succeeded(&journal, "token"));
    let inits = journal
        .iter()
        .filter(|r| r["type"] == "step_started" && r["step"] == "init")
        .count();
    assert_eq!(inits, 1, "`init` ran again");
    for (label, value) in &secrets {
        assert!(
            !ran.printed().contains(value.as_str()),
            "the {label} was printed"
        );
    }

    // In clear nowhere under the state directory (journal, timeline, work).
    let found = files_containing(&sb.state_dir(), &secrets);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_takeover_on_another_machine_opens_them_with_its_own_ssh_key_and_the_bucket_holds_no_secret() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = rt
        .block_on(S3Server::start())
        .unwrap_or_else(|e| panic!("{e}"));
    let node = rt.block_on(OpenBaoCluster::start_uninitialized(1));
    let a = Machine::new(&s3, "sealed", "alice");
    let b = Machine::new(&s3, "sealed", "bob");
    // Bob's key is where ssh-keygen puts it: the default identity.
    let bob_pub = ssh_keygen(&b.sb.home().join(".ssh/id_ed25519"), "");
    let age_key = a.sb.path().join("auditor.agekey");
    let auditor = age_identity(&age_key);
    let keys =
        a.sb.write("team.keys", &format!("{bob_pub}{}\n", auditor.to_public()));
    let file = a.sb.write("sealed.yaml", &runbook(None));
    let marker = a.sb.path().join("hold.marker");
    let args: Vec<String> = [
        "run",
        file.to_str().unwrap(),
        "--recipients",
        keys.to_str().unwrap(),
        "--input",
        &format!("addr={}", node.addr(0)),
        "--input",
        &format!("marker={}", marker.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = run_and_kill_at_hold(&a, &args, &marker);
    let secrets = throwaway_secrets(&a.sb.journal(&run), &auditor);

    // A resume with another set of recipients is refused, changing nothing.
    let other =
        b.sb.write("other.keys", &format!("{}\n", auditor.to_public()));
    let refused = b.run(&[
        "resume",
        &run,
        "--take-over",
        "--yes",
        "--recipients",
        other.to_str().unwrap(),
    ]);
    assert_eq!(refused.code, 2, "{}", refused.dump());
    assert!(
        refused.stderr.contains(&format!(
            "is not the set run `{run}` seals its secret outputs to (fixed when it started: ssh-ed25519 SHA256:"
        )) && refused.stderr.contains("resume without `--recipients` to keep sealing to the run's set"),
        "{}",
        refused.dump()
    );
    // The lease was not taken: alice's (dead) engine still holds it.
    let status = b.run(&["status", &run]);
    assert!(
        status.stdout.contains("driver:   `alice` on "),
        "{}",
        status.dump()
    );

    // Bob takes over: `hold` runs again and passes (its marker is there).
    let ran = b.run(&["resume", &run, "--take-over", "--yes"]);
    assert_eq!(ran.code, 0, "{}", ran.dump());
    let journal = b.sb.journal(&run);
    assert!(step_succeeded(&journal, "unseal") && step_succeeded(&journal, "token"));
    let takeover = journal.iter().find(|r| r["type"] == "resumed").unwrap();
    assert_eq!(takeover["actor"], "bob", "{takeover}");

    // In clear nowhere: not in the bucket, not on either machine.
    let (objects, found) = rt.block_on(objects_containing(&s3, &secrets));
    assert!(objects > 5, "{objects} objects");
    assert!(found.is_empty(), "{found:?}");
    for machine in [&a, &b] {
        let found = files_containing(&machine.sb.state_dir(), &secrets);
        assert!(found.is_empty(), "{found:?}");
    }
}

#[test]
fn validate_names_a_missing_recipients_file_and_each_bad_line() {
    let sb = Sandbox::new();
    let file = sb.write("sealed.yaml", &runbook(Some("team.keys")));
    let ran = sb.run(&["validate", file.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{}", ran.dump());
    assert!(
        ran.stderr
            .contains("`recipients`: cannot read the recipients file `")
            && ran.stderr.contains("sealed.yaml:3:13"),
        "{}",
        ran.dump()
    );

    let public = ssh_keygen(&sb.path().join("keys/ops"), "");
    sb.write(
        "team.keys",
        &format!("# ops\n{public}ssh-ed25519 AAAAnotakey ops@x\nAGE-SECRET-KEY-1QQQQ\n"),
    );
    let ran = sb.run(&["validate", file.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{}", ran.dump());
    let err = &ran.stderr;
    assert!(
        err.contains("error: not a recipient: an SSH public key that does not decode")
            && err.contains("team.keys:3:1")
            && err.contains("error: not a recipient: this is a private key")
            && err.contains("team.keys:4:1")
            && err.contains("one public key per line: an age key (`age1…`"),
        "{}",
        ran.dump()
    );
    assert!(!err.contains("QQQQ"), "{}", ran.dump());

    sb.write("team.keys", &public);
    sb.run(&["validate", file.to_str().unwrap()]).expect_code(0);
}

/// A recipient's SSH key protected by a passphrase: at a terminal the
/// resume asks for it (without echo) and goes on with the opened values.
#[test]
fn an_encrypted_ssh_key_is_asked_for_its_passphrase_at_a_terminal() {
    let (_rt, node) = node();
    let m = local_machine();
    let sb = &m.sb;
    let carol = sb.path().join("keys/carol");
    let carol_pub = ssh_keygen(&carol, "correct horse");
    sb.write("team.keys", &carol_pub);
    let file = sb.write("sealed.yaml", &runbook(Some("team.keys")));
    let marker = sb.path().join("hold.marker");
    let args: Vec<String> = [
        "run",
        file.to_str().unwrap(),
        "--input",
        &format!("addr={}", node.addr(0)),
        "--input",
        &format!("marker={}", marker.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = run_and_kill_at_hold(&m, &args, &marker);

    let mut p = sb.pty(&["resume", &run, "--identity", carol.to_str().unwrap()]);
    util::expect(&mut p, "passphrase");
    util::send(&mut p, "correct horse\r");
    util::expect(&mut p, "ok       token");
    assert_eq!(util::exit_code(p), 0);
    let journal = sb.journal(&run);
    assert!(step_succeeded(&journal, "unseal") && step_succeeded(&journal, "token"));
}
