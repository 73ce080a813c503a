//! Issue 14, "no secret in clear at rest", for the one file a step writes
//! itself: `vault.init`'s `output_file`. With recipients it is sealed to
//! them (an ASCII-armoured age file, 0600, same name); a rerun of the step
//! that finds it opens it with the operator's identity and carries on, and
//! without an identity that opens it fails with one message naming the
//! file, the recipients and the fix. Without recipients it stays JSON in
//! clear (`regression_runbook_support.rs` reads it back as such).
//!
//! A real OpenBao node (the harness fails, never skips, without `bao`).

mod util;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use age::secrecy::ExposeSecret;
use lifeboat_harness::openbao::OpenBaoCluster;
use serde_json::Value;
use util::machine::Machine;
use util::sealing::{files_containing, init_secrets, open_sealed};
use util::Sandbox;

/// `init` saves its answer to `init.json`; the engine is killed in `hold`
/// (the first time it leaves a marker and sleeps; then it passes); the keys
/// unseal the node and the token is checked against it.
const RUNBOOK: &str = r#"version: 1
name: sealed-init-file
recipients: team.keys
inputs:
  addr: { type: string }
  marker: { type: string }
steps:
  - id: init
    kind: vault.init
    rerun: safe
    with: { addr: "{{ inputs.addr }}", secret_shares: 1, secret_threshold: 1, output_file: init.json }
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

/// An age identity file, as `age-keygen` writes one.
fn age_identity(path: &Path) -> age::x25519::Identity {
    let id = age::x25519::Identity::generate();
    std::fs::write(
        path,
        format!(
            "# public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        ),
    )
    .unwrap();
    id
}

/// The plaintext of an armoured age file, opened with `identity`.
fn open_with(sealed: &[u8], identity: &dyn age::Identity) -> Value {
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(sealed)).unwrap();
    let mut plain = Vec::new();
    decryptor
        .decrypt(std::iter::once(identity))
        .expect("a recipient opens the file")
        .read_to_end(&mut plain)
        .unwrap();
    serde_json::from_slice(&plain).unwrap()
}

fn last(journal: &[Value], kind: &str, step: &str) -> Option<Value> {
    journal
        .iter()
        .rfind(|r| r["type"] == kind && r["step"] == step)
        .cloned()
}

#[test]
fn a_rerun_of_vault_init_opens_its_sealed_output_file_and_without_an_identity_says_what_to_do() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = rt.block_on(OpenBaoCluster::start_uninitialized(1));
    let m = Machine {
        sb: Sandbox::new(),
        env: Vec::new(),
    };
    let sb = &m.sb;
    let key = sb.path().join("alice.agekey");
    let alice = age_identity(&key);
    sb.write("team.keys", &format!("{}\n", alice.to_public()));
    let file = sb.write("sealed.yaml", RUNBOOK);
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
    let mut engine = m.start("first", &args);
    let run = engine.run_id();
    engine.wait_until("`hold` to start", Duration::from_secs(60), || {
        marker.exists()
    });
    engine.child.kill().unwrap(); // SIGKILL
    let (code, printed) = engine.finish(Duration::from_secs(10));
    assert_eq!(code, -1, "not killed\n{printed}");

    // The file is an age file to the run's recipients, 0600, and holds
    // the answer the journal's sealed outputs hold; in clear nowhere.
    let secrets = init_secrets(&open_sealed(&sb.journal(&run), "init", &alice));
    let init_file = sb.work_dir(&run).join("init.json");
    let sealed = std::fs::read(&init_file).unwrap();
    assert!(
        sealed.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{}",
        String::from_utf8_lossy(&sealed)
    );
    let mode = std::fs::metadata(&init_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let opened = open_with(&sealed, &alice);
    assert_eq!(opened["root_token"].as_str(), Some(secrets[0].1.as_str()));
    assert_eq!(
        opened["unseal_keys_b64"][0].as_str(),
        Some(secrets[1].1.as_str())
    );
    assert_eq!(opened["unseal_shares"], 1);
    let found = files_containing(&sb.state_dir(), &secrets);
    assert!(found.is_empty(), "{found:#?}");

    // The step runs again and finds the file (the node is initialised, as
    // after a kill inside the step once the server answered). No identity
    // (HOME has no ~/.ssh): it fails, naming the file, the recipients and
    // what to do, and leaves the file as it was.
    let redo = ["resume", &run, "--redo", "init", "--reason", "the test"];
    let ran = sb.run(&redo);
    assert_eq!(ran.code, 1, "{}", ran.dump());
    let failed = last(&sb.journal(&run), "step_failed", "init")
        .unwrap_or_else(|| panic!("`init` did not fail\n{}", ran.dump()));
    assert_eq!(
        failed["error"],
        format!(
            "cannot open `{}`: it is sealed to the run's recipients ({}) and cannot be opened: no identity was given (`--identity FILE` or `LIFEBOAT_IDENTITY`) and neither `~/.ssh/id_ed25519` nor `~/.ssh/id_rsa` exists; resume with a recipient's key (`--identity FILE` or `LIFEBOAT_IDENTITY`), or ask a recipient to take over (`lifeboat resume {run} --take-over`)",
            init_file.display(),
            alice.to_public()
        ),
        "{}",
        ran.dump()
    );
    assert_eq!(std::fs::read(&init_file).unwrap(), sealed);

    // Someone else's identity: not a recipient.
    let mallory = sb.path().join("mallory.agekey");
    age_identity(&mallory);
    let ran = sb.run(&["resume", &run, "--identity", mallory.to_str().unwrap()]);
    assert_eq!(ran.code, 1, "{}", ran.dump());
    let failed = last(&sb.journal(&run), "step_failed", "init").unwrap();
    assert!(
        failed["error"].as_str().unwrap().contains(&format!(
            "and cannot be opened with `{}`: the identity is not one of the run's recipients; ",
            mallory.display()
        )),
        "{failed}"
    );

    // A recipient's identity: the step opens the file, says it used it,
    // and the run carries on with its keys and token.
    let ran = sb
        .test()
        .args(["resume", &run])
        .env("LIFEBOAT_IDENTITY", &key)
        .any_status()
        .run();
    assert_eq!(ran.code, 0, "{}", ran.dump());
    assert!(
        ran.printed().contains(&format!(
            "is already initialized; using the keys an earlier attempt saved in `{}`",
            init_file.display()
        )),
        "{}",
        ran.dump()
    );
    let journal = sb.journal(&run);
    let init = last(&journal, "step_succeeded", "init").unwrap();
    assert_eq!(init["outputs"]["recovered"], true, "{init}");
    for step in ["unseal", "token"] {
        assert!(last(&journal, "step_succeeded", step).is_some(), "{step}");
    }
    for (label, value) in &secrets {
        assert!(
            !ran.printed().contains(value.as_str()),
            "the {label} was printed"
        );
    }
    let found = files_containing(&sb.state_dir(), &secrets);
    assert!(found.is_empty(), "{found:#?}");
}
