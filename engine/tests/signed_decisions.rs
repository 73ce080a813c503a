//! Signed decisions (issue 14): real keys made by `ssh-keygen` here, a
//! real `ssh-agent` started by the test (killed when it ends), and the
//! signatures checked by `ssh-keygen -Y verify` as well as by Lifeboat.

mod util;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{Ran, Sandbox, Test};

/// A four-eyes gate that requires signatures, then a step that says who
/// approved it.
const FOUR_EYES: &str = r#"
version: 1
name: signed
title: Restore after a signed four-eyes approval
approvers: { allowed_signers: allowed_signers }
steps:
  - id: inspect
    kind: shell
    with: { script: "echo 42" }
  - id: approve_restore
    kind: approval
    needs: [inspect]
    with:
      prompt: "Restore snapshot 42?"
      min_approvals: 2
      approvers: [alice, bob, carol]
      distinct_from_initiator: true
      require_signed: true
  - id: restore
    kind: shell
    needs: [approve_restore]
    with: { script: "echo restored after {{ steps.approve_restore.outputs.approvers | join(',') }}" }
"#;

/// One approval, signed, at a terminal.
const ONE_SIGNED: &str = r#"
version: 1
name: signed-one
approvers: { allowed_signers: allowed_signers }
steps:
  - id: approve_restore
    kind: approval
    with:
      prompt: "Restore now?"
      require_signed: true
  - id: restore
    kind: shell
    needs: [approve_restore]
    with: { script: "echo restored" }
"#;

/// A key pair made by `ssh-keygen -t ed25519 -N ''`.
struct Key {
    private: PathBuf,
    public_line: String,
}

impl Key {
    fn new(dir: &Path, name: &str) -> Self {
        Self::with_passphrase(dir, name, "")
    }

    fn with_passphrase(dir: &Path, name: &str, passphrase: &str) -> Self {
        let private = dir.join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f"])
            .arg(&private)
            .output()
            .expect("ssh-keygen must be installed (openssh-client)");
        assert!(out.status.success(), "ssh-keygen: {out:?}");
        let public_line = std::fs::read_to_string(private.with_extension("pub"))
            .expect("public key")
            .trim()
            .to_string();
        Self {
            private,
            public_line,
        }
    }

    fn path(&self) -> &str {
        self.private.to_str().unwrap()
    }

    fn public_path(&self) -> String {
        format!("{}.pub", self.path())
    }
}

/// The team: alice starts runs, bob and carol approve; mallory is not in
/// the allowed signers file.
struct Team {
    alice: Key,
    bob: Key,
    carol: Key,
    /// In the file, but not one of the gate's `approvers`.
    dave: Key,
    mallory: Key,
    _dir: tempfile::TempDir,
}

impl Team {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            alice: Key::new(dir.path(), "alice"),
            bob: Key::new(dir.path(), "bob"),
            carol: Key::new(dir.path(), "carol"),
            dave: Key::new(dir.path(), "dave"),
            mallory: Key::new(dir.path(), "mallory"),
            _dir: dir,
        }
    }

    /// The allowed_signers file: principal, then the public key.
    fn allowed_signers(&self) -> String {
        format!(
            "# the recovery team\nalice {}\nbob {}\ncarol namespaces=\"git,lifeboat\" {}\ndave@example.com,dave {}\n",
            self.alice.public_line,
            self.bob.public_line,
            self.carol.public_line,
            self.dave.public_line
        )
    }
}

/// A real `ssh-agent` on a socket of its own, killed when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent must be installed (openssh-client)");
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "ssh-agent did not open its socket in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            socket,
            _dir: dir,
        }
    }

    /// `ssh-add KEY`.
    fn add(&self, key: &Key) -> &Self {
        let out = Command::new("ssh-add")
            .arg(&key.private)
            .env("SSH_AUTH_SOCK", &self.socket)
            .output()
            .expect("ssh-add");
        assert!(out.status.success(), "ssh-add: {out:?}");
        self
    }

    fn sock(&self) -> &str {
        self.socket.to_str().unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sandbox with the team's allowed_signers file beside the runbook.
fn sandbox(team: &Team) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("allowed_signers", &team.allowed_signers());
    sandbox
}

/// `lifeboat run RUNBOOK` by alice, signed by her agent's key: paused at
/// the gate (exit 3).
fn start_paused(sandbox: &Sandbox, yaml: &str, alice: &Agent) -> String {
    let ran = sandbox
        .test()
        .runbook(yaml)
        .args(["run", util::RUNBOOK])
        .env("SSH_AUTH_SOCK", alice.sock())
        .env("LIFEBOAT_OPERATOR", "alice")
        .status(3)
        .run();
    ran.run_id()
}

fn decide(sandbox: &Sandbox, args: &[&str]) -> Test {
    sandbox.test().args(args)
}

fn of_type<'a>(journal: &'a [Value], ty: &str) -> Vec<&'a Value> {
    journal.iter().filter(|r| r["type"] == ty).collect()
}

/// The gate's current digest, from its `approval_requested` record.
fn gate_digest(journal: &[Value]) -> String {
    of_type(journal, "approval_requested")
        .last()
        .expect("approval_requested")["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn assert_refused(ran: &Ran, needle: &str) {
    assert!(ran.stderr.contains(needle), "{}", ran.dump());
    assert!(
        ran.stderr.contains("nothing was recorded"),
        "{}",
        ran.dump()
    );
    assert!(
        !ran.stderr.contains("AAAAC3"),
        "no key material: {}",
        ran.dump()
    );
}

#[test]
fn a_signed_four_eyes_gate_counts_only_distinct_verified_principals() {
    let team = Team::new();
    let sandbox = sandbox(&team);
    let alice = Agent::start();
    alice.add(&team.alice);
    let run = start_paused(&sandbox, FOUR_EYES, &alice);
    let start = &sandbox.journal(&run)[0];
    assert_eq!(start["signed"]["principal"], "alice", "{start:#}");
    assert_eq!(start["require_signed"], Value::Null);
    assert!(start["allowed_signers_sha256"].as_str().unwrap().len() == 64);

    // Unsigned: refused, though an agent with an allowed key is there.
    let carol = Agent::start();
    // Her agent holds dave's key first: `--sign-with` picks hers.
    carol.add(&team.dave).add(&team.carol);
    let ran = decide(
        &sandbox,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "carol",
            "--no-sign",
        ],
    )
    .env("SSH_AUTH_SOCK", carol.sock())
    .status(2)
    .run();
    assert_refused(&ran, "requires a decision signed with an SSH key of the allowed signers file, and this one is not signed");

    // Signed by a key that is not in the file: refused, named by fingerprint.
    let ran = decide(
        &sandbox,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "bob",
            "--sign-with",
            team.mallory.path(),
        ],
    )
    .status(2)
    .run();
    assert_refused(&ran, "is not in the allowed signers file");
    assert!(ran.stderr.contains("key SHA256:"), "{}", ran.dump());

    // An allowed key whose principal is not one of the gate's approvers
    // (typed as one that is): refused.
    let ran = decide(
        &sandbox,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "bob",
            "--sign-with",
            team.dave.path(),
        ],
    )
    .status(2)
    .run();
    assert_refused(
        &ran,
        "`dave@example.com` is not an approver of `approve_restore`; the runbook allows: alice, bob, carol",
    );

    // The initiator's own key, under another name: refused (four eyes).
    let ran = decide(
        &sandbox,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "not-alice",
            "--sign-with",
            team.alice.path(),
        ],
    )
    .status(2)
    .run();
    assert_refused(
        &ran,
        "`alice` started this run and cannot approve `approve_restore`",
    );

    // Bob, with his key file: 1 of 2.
    let ran = decide(
        &sandbox,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "bob",
            "--sign-with",
            team.bob.path(),
        ],
    )
    .run();
    assert!(ran.stdout.contains("1 of 2"), "{}", ran.dump());
    assert!(
        ran.stdout.contains("verified as `bob`") && ran.stdout.contains("(ED25519, from "),
        "{}",
        ran.dump()
    );

    // The same key again, under another typed name: counted once.
    let ran = decide(
        &sandbox,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "robert",
            "--sign-with",
            team.bob.path(),
        ],
    )
    .status(2)
    .run();
    assert_refused(&ran, "`bob` already approved `approve_restore`");

    // Carol, from her agent (the key of her `.pub` file), under a name of
    // her own: 2 of 2; the run continues, and the gate's outputs name
    // principals.
    let carol_pub = team.carol.public_path();
    let ran = decide(
        &sandbox,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "carol on call",
            "--sign-with",
            &carol_pub,
        ],
    )
    .env("SSH_AUTH_SOCK", carol.sock())
    .run();
    assert!(ran.stdout.contains("2 of 2"), "{}", ran.dump());
    assert!(
        ran.stdout
            .contains("(ED25519, from ssh-agent), verified as `carol`"),
        "{}",
        ran.dump()
    );
    let ran = sandbox.test().args(["resume", &run]).run();
    assert!(
        ran.stdout.contains("restored after bob,carol"),
        "{}",
        ran.dump()
    );

    let journal = sandbox.journal(&run);
    let approvals = of_type(&journal, "approval");
    let principals: Vec<&str> = approvals
        .iter()
        .map(|r| r["signed"]["principal"].as_str().unwrap())
        .collect();
    assert_eq!(principals, ["bob", "carol"], "{journal:#?}");

    // The timeline names each decision's verified principal and key.
    let timeline = sandbox.test().args(["timeline", &run]).run();
    assert!(
        timeline.stdout.contains("| bob [verified: bob (SHA256:"),
        "{}",
        timeline.stdout
    );
    assert!(
        timeline
            .stdout
            .contains("| carol on call [verified: carol (SHA256:"),
        "{}",
        timeline.stdout
    );
}

/// What Lifeboat signed verifies with `ssh-keygen -Y verify`, from the
/// message rebuilt from the journal record; and Lifeboat's own verifier
/// (the function `lifeboat verify` calls) agrees, and refuses the record
/// once a byte of what was signed changes.
#[test]
fn ssh_keygen_verifies_what_lifeboat_signed() {
    let team = Team::new();
    let sandbox = sandbox(&team);
    let alice = Agent::start();
    alice.add(&team.alice);
    let run = start_paused(&sandbox, FOUR_EYES, &alice);
    decide(
        &sandbox,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "bob",
            "--comment",
            "snapshot\nchecked",
            "--sign-with",
            team.bob.path(),
        ],
    )
    .run();
    let journal = sandbox.journal(&run);
    let files = tempfile::tempdir().unwrap();
    let signers = files.path().join("allowed_signers");
    std::fs::write(&signers, team.allowed_signers()).unwrap();
    let parsed = lifeboat::AllowedSigners::read(&signers).unwrap();
    for (record, principal) in [
        (&journal[0], "alice"),
        (of_type(&journal, "approval")[0], "bob"),
    ] {
        let record: lifeboat::Record = serde_json::from_value(record.clone()).unwrap();
        let message = lifeboat::Message::of_record(&record, &run).expect("a signed record");
        let msg = files.path().join("message");
        let sig = files.path().join("message.sig");
        std::fs::write(&msg, message.bytes()).unwrap();
        std::fs::write(&sig, &record.signed.as_ref().unwrap().signature).unwrap();
        let out = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&signers)
            .args(["-I", principal, "-n", "lifeboat", "-s"])
            .arg(&sig)
            .stdin(std::fs::File::open(&msg).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ssh-keygen -Y verify refused the signature of {principal}: {}\n{}\nmessage:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&message.bytes())
        );
        assert!(matches!(
            lifeboat::verify_signature(&record, &run, &parsed),
            lifeboat::Verdict::Verified { principal: p, .. } if p == principal
        ));
        // The same signature over a changed comment does not verify.
        let mut changed = record.clone();
        if let lifeboat::Event::Approval { comment, .. } = &mut changed.event {
            *comment = Some("snapshot checked!".into());
        } else {
            changed.actor = "mallory".into();
        }
        assert!(matches!(
            lifeboat::verify_signature(&changed, &run, &parsed),
            lifeboat::Verdict::Unverified { .. }
        ));
    }
}

/// A decision signed over another digest (the question it answers is not
/// the one shown now), left in the run's inbox with an allowed key's valid
/// signature: `resume` refuses it in a note and the gate still waits.
#[test]
fn a_decision_signed_over_another_digest_is_refused() {
    let team = Team::new();
    let sandbox = sandbox(&team);
    let alice = Agent::start();
    alice.add(&team.alice);
    let run = start_paused(&sandbox, FOUR_EYES, &alice);
    let digest = gate_digest(&sandbox.journal(&run));
    // Bob signs the documented message for an older question with
    // ssh-keygen itself; the entry claims the current digest.
    let signed_at = "2026-01-01T12:00:00.000Z";
    let message = format!(
        "lifeboat-decision-v1\nrun_id: \"{run}\"\nstep: \"approve_restore\"\ndecision: \"approved\"\ndigest: \"{}\"\ncomment: null\nactor: \"bob\"\nsigned_at: \"{signed_at}\"\n",
        "0".repeat(64)
    );
    let files = tempfile::tempdir().unwrap();
    let msg = files.path().join("message");
    std::fs::write(&msg, &message).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "lifeboat", "-f", team.bob.path()])
        .arg(&msg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let armored = std::fs::read_to_string(files.path().join("message.sig")).unwrap();
    let fingerprint = fingerprint(&team.bob);
    let entry = serde_json::json!({
        "v": 1, "posted_at": signed_at, "actor": "bob", "machine": "elsewhere",
        "signed": { "signature": armored, "signed_at": signed_at, "key": fingerprint },
        "type": "approval", "step": "approve_restore", "decision": "approved", "digest": digest,
    });
    let inbox = sandbox.run_dir(&run).join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join("20260101T120000.000000000Z-0123456789abcdef.json"),
        entry.to_string(),
    )
    .unwrap();
    sandbox.test().args(["resume", &run]).status(3).run();
    let journal = sandbox.journal(&run);
    assert!(of_type(&journal, "approval").is_empty(), "{journal:#?}");
    let notes = of_type(&journal, "note");
    let text = notes[0]["text"].as_str().unwrap();
    assert!(
        text.contains("refused the approval of `approve_restore` by `bob`")
            && text.contains("the signature does not match this decision"),
        "{text}"
    );
}

/// An approval posted through the inbox while an engine waits with
/// `--wait` is verified by the engine: a forged unsigned entry is refused
/// in a note, the signed ones count under their principals.
#[test]
fn the_engine_verifies_approvals_posted_while_it_waits() {
    let team = Team::new();
    let sandbox = sandbox(&team);
    sandbox.write(util::RUNBOOK, FOUR_EYES);
    let alice = Agent::start();
    alice.add(&team.alice);
    let mut child = sandbox
        .test()
        .args(["run", util::RUNBOOK, "--wait"])
        .env("SSH_AUTH_SOCK", alice.sock())
        .env("LIFEBOAT_OPERATOR", "alice")
        .spawn();
    let run = wait_for_run(&sandbox);
    wait_for_record(&sandbox, &run, "waiting");
    // An unsigned entry written straight into the inbox (no command would
    // post it): the engine refuses it.
    let digest = gate_digest(&sandbox.journal(&run));
    let forged = serde_json::json!({
        "v": 1, "posted_at": "2026-01-01T12:00:00.000Z", "actor": "eve", "machine": "elsewhere",
        "type": "approval", "step": "approve_restore", "decision": "approved", "digest": digest,
    });
    std::fs::write(
        sandbox
            .run_dir(&run)
            .join("inbox")
            .join("20260101T120000.000000000Z-00000000000000ee.json"),
        forged.to_string(),
    )
    .or_else(|_| {
        std::fs::create_dir_all(sandbox.run_dir(&run).join("inbox"))?;
        std::fs::write(
            sandbox
                .run_dir(&run)
                .join("inbox")
                .join("20260101T120000.000000000Z-00000000000000ee.json"),
            forged.to_string(),
        )
    })
    .unwrap();
    wait_for_record(&sandbox, &run, "note");
    // Carol's agent holds dave's key first; she names hers by fingerprint.
    let carol = Agent::start();
    carol.add(&team.dave).add(&team.carol);
    let carol_fingerprint = fingerprint(&team.carol);
    for (who, sign) in [
        ("bob", team.bob.path()),
        ("carol", carol_fingerprint.as_str()),
    ] {
        let ran = decide(
            &sandbox,
            &[
                "approve",
                &run,
                "approve_restore",
                "--as",
                who,
                "--sign-with",
                sign,
            ],
        )
        .env("SSH_AUTH_SOCK", carol.sock())
        .run();
        assert!(
            ran.stdout
                .contains("(recorded by the engine driving the run)"),
            "{}",
            ran.dump()
        );
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the engine did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let journal = sandbox.journal(&run);
    let note = of_type(&journal, "note")[0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("refused the approval of `approve_restore` by `eve`"),
        "{note}"
    );
    assert!(note.contains("this one is not signed"), "{note}");
    let approvals = of_type(&journal, "approval");
    let signed: Vec<(&str, &str)> = approvals
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap(),
                r["signed"]["principal"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(signed, [("bob", "bob"), ("carol", "carol")]);
    assert!(approvals.iter().all(|r| r["inbox"].is_string()));
}

/// The terminal question says which key signs the answer before it asks,
/// and the journalled answer carries the signature, verified.
#[test]
fn the_terminal_prompt_signs_with_the_agents_key() {
    let team = Team::new();
    let sandbox = sandbox(&team);
    sandbox.write(util::RUNBOOK, ONE_SIGNED);
    let bob = Agent::start();
    bob.add(&team.bob);
    let mut cmd = sandbox.pty_command(&["run", util::RUNBOOK]);
    cmd.env("SSH_AUTH_SOCK", bob.sock());
    let mut p = util::start_pty(cmd, 120);
    util::expect(&mut p, "your decision will be signed with SHA256:");
    util::expect(&mut p, "(ED25519, from ssh-agent)");
    util::expect(&mut p, "Decision [1]: ");
    util::send(&mut p, "\r");
    util::expect(&mut p, "Your name (approver)");
    util::send(&mut p, "bob\r");
    util::expect(&mut p, "Comment (optional)");
    util::send(&mut p, "looks right\r");
    util::expect(&mut p, "finished succeeded");
    assert_eq!(util::exit_code(p), 0);
    let run = wait_for_run(&sandbox);
    let journal = sandbox.journal(&run);
    let approval = of_type(&journal, "approval")[0];
    assert_eq!(approval["signed"]["principal"], "bob", "{approval:#}");
    assert_eq!(approval["comment"], "looks right");
}

/// A runbook that requires signatures starts only signed, by a key of its
/// allowed signers file; an encrypted key file is refused with the fix; a
/// changed allowed signers file is refused on a later decision.
#[test]
fn signing_refusals_say_what_to_do() {
    let team = Team::new();
    let sandbox = sandbox(&team);
    let ran = sandbox
        .test()
        .runbook(FOUR_EYES)
        .args(["run", util::RUNBOOK])
        .status(2)
        .run();
    assert!(
        ran.stderr.contains("the run's start (the runbook's `require_signed`) requires a decision signed with an SSH key of the allowed signers file, and this one is not signed")
            && ran
                .stderr
                .contains("load your key into ssh-agent (`ssh-add`) or pass --sign-with KEYFILE"),
        "{}",
        ran.dump()
    );
    assert!(
        !sandbox.state_dir().join("runs").exists()
            || std::fs::read_dir(sandbox.state_dir().join("runs"))
                .unwrap()
                .count()
                == 0,
        "nothing was created"
    );
    let ran = sandbox
        .test()
        .args(["run", util::RUNBOOK, "--sign-with", team.mallory.path()])
        .status(2)
        .run();
    assert!(
        ran.stderr.contains("is not in the allowed signers file"),
        "{}",
        ran.dump()
    );

    let dir = tempfile::tempdir().unwrap();
    let locked = Key::with_passphrase(dir.path(), "locked", "correct horse");
    let ran = sandbox
        .test()
        .args(["run", util::RUNBOOK, "--sign-with", locked.path()])
        .status(2)
        .run();
    assert!(
        ran.stderr
            .contains("is encrypted with a passphrase; load it into ssh-agent"),
        "{}",
        ran.dump()
    );

    let run = sandbox
        .test()
        .args(["run", util::RUNBOOK, "--sign-with", team.alice.path()])
        .env("LIFEBOAT_OPERATOR", "alice")
        .status(3)
        .run()
        .run_id();
    // The team's file changes after the start: decisions are refused
    // rather than checked against a different file.
    sandbox.write(
        "allowed_signers",
        &format!(
            "{}mallory {}\n",
            team.allowed_signers(),
            team.mallory.public_line
        ),
    );
    let ran = decide(
        &sandbox,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "bob",
            "--sign-with",
            team.bob.path(),
        ],
    )
    .status(2)
    .run();
    assert!(
        ran.stderr.contains("is not the one run `") && ran.stderr.contains("started with"),
        "{}",
        ran.dump()
    );
}

/// A key's `SHA256:` fingerprint, as `ssh-keygen -l` prints it.
fn fingerprint(key: &Key) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f", &key.public_path()])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// The run id of the sandbox's only run.
fn wait_for_run(sandbox: &Sandbox) -> String {
    let started = Instant::now();
    loop {
        if let Some(entry) = std::fs::read_dir(sandbox.state_dir().join("runs"))
            .ok()
            .and_then(|mut d| d.next())
        {
            return entry.unwrap().file_name().to_string_lossy().into_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no run started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_record(sandbox: &Sandbox, run: &str, ty: &str) {
    let started = Instant::now();
    let journal = sandbox.run_dir(run).join("journal.jsonl");
    loop {
        if journal.exists() && sandbox.journal_so_far(run).iter().any(|r| r["type"] == ty) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no `{ty}` record in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A runbook that requires signatures, on the S3 store: another machine
/// takes the run over only signed, by a key of the team's file (its own
/// copy, checked against the SHA-256 the run started with), and the
/// take-over is journalled with its verified principal.
#[test]
fn a_take_over_is_signed_and_refused_unsigned() {
    let team = Team::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s3 = rt
        .block_on(lifeboat_harness::s3_server::S3Server::start())
        .unwrap_or_else(|e| panic!("{e}"));
    let shared = |test: Test, operator: &str| {
        test.env("LIFEBOAT_STORE", format!("s3://{}/signed", s3.bucket()))
            .env("AWS_ENDPOINT_URL", s3.endpoint())
            .env("AWS_ACCESS_KEY_ID", s3.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", s3.secret_access_key())
            .env("AWS_REGION", s3.region())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env("LIFEBOAT_OPERATOR", operator)
    };
    let a = sandbox(&team);
    let b = sandbox(&team);
    let b_signers = b.path().join("allowed_signers");
    a.write(
        util::RUNBOOK,
        "version: 1\nname: signed-takeover\nrequire_signed: true\napprovers: { allowed_signers: allowed_signers }\nsteps:\n  - id: slow\n    kind: shell\n    read_only: true\n    with: { script: \"sleep 3\" }\n  - id: after\n    kind: shell\n    needs: [slow]\n    with: { script: \"true\" }\n",
    );
    let mut child = shared(a.test(), "alice")
        .args(["run", util::RUNBOOK, "--sign-with", team.alice.path()])
        .spawn();
    let run = {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        line.trim().to_string()
    };
    let started = Instant::now();
    while !std::fs::read_to_string(a.run_dir(&run).join("journal.jsonl"))
        .is_ok_and(|j| j.contains("\"step_started\""))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the slow step did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let resume = ["resume", run.as_str(), "--take-over", "--yes"];
    let unsigned = shared(b.test(), "bob")
        .args(resume)
        .env("LIFEBOAT_ALLOWED_SIGNERS", &b_signers)
        .status(2)
        .run();
    assert!(
        unsigned.stderr.contains("so the take-over must be signed")
            && unsigned.stderr.contains("nothing changed"),
        "{}",
        unsigned.dump()
    );
    let unknown = shared(b.test(), "bob")
        .args(resume)
        .args(["--sign-with", team.mallory.path()])
        .env("LIFEBOAT_ALLOWED_SIGNERS", &b_signers)
        .status(2)
        .run();
    assert!(
        unknown
            .stderr
            .contains("is not in the allowed signers file"),
        "{}",
        unknown.dump()
    );
    // Alice's engine still drives: both refusals left its lease alone.
    assert_eq!(child.try_wait().unwrap(), None, "alice's engine stopped");
    let taken = shared(b.test(), "bob")
        .args(resume)
        .args(["--sign-with", team.bob.path()])
        .env("LIFEBOAT_ALLOWED_SIGNERS", &b_signers)
        .run();
    assert!(
        taken.stdout.contains("took over from alice on "),
        "{}",
        taken.dump()
    );
    let _ = child.kill();
    let _ = child.wait();
    let journal = b.journal(&run);
    let resumed = of_type(&journal, "resumed");
    let take_over = resumed.last().unwrap();
    assert_eq!(take_over["signed"]["principal"], "bob", "{take_over:#}");
    assert_eq!(journal[0]["signed"]["principal"], "alice");
    let timeline = shared(b.test(), "bob")
        .args(["timeline", &run])
        .env("LIFEBOAT_ALLOWED_SIGNERS", &b_signers)
        .run();
    assert!(
        timeline.stdout.contains("| bob [verified: bob (SHA256:"),
        "{}",
        timeline.stdout
    );
}

/// An RSA key in the agent signs with `rsa-sha2-512` (never SHA-1), and
/// `ssh-keygen -Y verify` accepts it.
#[test]
fn an_rsa_key_in_the_agent_signs_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = dir.path().join("rsa");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "ops", "-f"])
        .arg(&rsa)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let key = Key {
        public_line: std::fs::read_to_string(rsa.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string(),
        private: rsa,
    };
    let sandbox = Sandbox::new();
    sandbox.write("allowed_signers", &format!("ops {}\n", key.public_line));
    let agent = Agent::start();
    agent.add(&key);
    let run = start_paused(&sandbox, ONE_SIGNED, &agent);
    let start: lifeboat::Record = serde_json::from_value(sandbox.journal(&run)[0].clone()).unwrap();
    let signed = start.signed.as_ref().expect("the start is signed");
    assert_eq!(signed.principal.as_deref(), Some("ops"));
    let msg = dir.path().join("message");
    let sig = dir.path().join("message.sig");
    std::fs::write(
        &msg,
        lifeboat::Message::of_record(&start, &run).unwrap().bytes(),
    )
    .unwrap();
    std::fs::write(&sig, &signed.signature).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(sandbox.path().join("allowed_signers"))
        .args(["-I", "ops", "-n", "lifeboat", "-s"])
        .arg(&sig)
        .stdin(std::fs::File::open(&msg).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let armored: String = signed
        .signature
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let blob = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, armored).unwrap();
    let text = String::from_utf8_lossy(&blob);
    assert!(
        text.contains("rsa-sha2-512"),
        "the signature names rsa-sha2-512"
    );
}

/// Under a top-level `require_signed`, `lifeboat mark` is a decision like
/// any other: refused unsigned, journalled signed with its principal.
#[test]
fn a_mark_under_a_signed_runbook_must_be_signed() {
    let team = Team::new();
    let sandbox = sandbox(&team);
    sandbox.write(
        util::RUNBOOK,
        "version: 1\nname: signed-mark\nrequire_signed: true\napprovers: { allowed_signers: allowed_signers }\nsteps:\n  - id: cutover\n    kind: shell\n    rerun: never\n    with: { script: \"sleep 5\" }\n",
    );
    let mut child = sandbox
        .test()
        .args(["run", util::RUNBOOK, "--sign-with", team.alice.path()])
        .env("LIFEBOAT_OPERATOR", "alice")
        .spawn();
    let run = wait_for_run(&sandbox);
    wait_for_record(&sandbox, &run, "step_started");
    child.kill().unwrap();
    child.wait().unwrap();
    let ran = decide(&sandbox, &["mark", &run, "cutover", "done", "--as", "bob"])
        .status(2)
        .run();
    assert_refused(&ran, "requires a decision signed with an SSH key of the allowed signers file, and this one is not signed");
    let ran = decide(
        &sandbox,
        &[
            "mark",
            &run,
            "cutover",
            "done",
            "--as",
            "bob",
            "--sign-with",
            team.bob.path(),
        ],
    )
    .run();
    assert!(ran.stdout.contains("verified as `bob`"), "{}", ran.dump());
    let journal = sandbox.journal(&run);
    assert_eq!(of_type(&journal, "marked")[0]["signed"]["principal"], "bob");
}

/// `lifeboat verify` checks every decision's signature: each is named with
/// its verified principal and key; and a decision edited with the whole
/// chain after it rewritten (checksums and links recomputed, which the
/// chain alone cannot show) is a break named by seq, through its
/// signature.
#[test]
fn verify_checks_every_signature_even_where_the_chain_was_rewritten() {
    let team = Team::new();
    let sandbox = sandbox(&team);
    let alice = Agent::start();
    alice.add(&team.alice);
    let run = start_paused(&sandbox, FOUR_EYES, &alice);
    for (who, key) in [("bob", &team.bob), ("carol", &team.carol)] {
        decide(
            &sandbox,
            &[
                "approve",
                &run,
                "approve_restore",
                "--as",
                who,
                "--sign-with",
                key.path(),
            ],
        )
        .run();
    }
    sandbox.test().args(["resume", &run]).run();
    let verify = |sandbox: &Sandbox| sandbox.test().args(["verify", &run]).any_status().run();
    let ran = verify(&sandbox);
    ran.expect_code(0);
    for principal in ["alice", "bob", "carol"] {
        assert!(
            ran.stdout
                .contains(&format!("verified principal `{principal}`, key SHA256:")),
            "{}",
            ran.dump()
        );
    }
    assert!(ran.stdout.contains("verdict:    intact"), "{}", ran.dump());

    // Bob's approval now says another digest; every record from it on is
    // written again with a new checksum and link.
    let path = sandbox.run_dir(&run).join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let journal = sandbox.journal(&run);
    let bob = journal
        .iter()
        .find(|r| r["type"] == "approval" && r["actor"] == "bob")
        .expect("bob's approval");
    let seq = bob["seq"].as_u64().unwrap();
    let digest = bob["digest"].as_str().unwrap().to_string();
    let forged = format!("{}0", &digest[..digest.len() - 1]);
    let mut prev: Option<String> = None;
    let mut out = String::new();
    for line in text.lines() {
        let stored = &line[line.find("\"rec\":").unwrap() + 6..line.len() - 1];
        let mut rec: Value = serde_json::from_str(stored).unwrap();
        let this = rec["seq"].as_u64().unwrap();
        let bytes = if this < seq {
            stored.to_string()
        } else {
            if this == seq {
                rec["digest"] = Value::String(forged.clone());
            }
            rec["prev"] = Value::String(prev.clone().unwrap());
            serde_json::to_string(&rec).unwrap()
        };
        prev = Some(format!(
            "sha256:{}",
            lifeboat_steps::checksum::sha256_hex(bytes.as_bytes())
        ));
        out.push_str(&format!(
            "{{\"crc\":\"{:08x}\",\"rec\":{bytes}}}\n",
            crc32fast::hash(bytes.as_bytes())
        ));
    }
    std::fs::write(&path, out).unwrap();
    let ran = verify(&sandbox);
    ran.expect_code(1);
    assert!(
        ran.stdout.contains(&format!("break  seq {seq}"))
            && ran.stdout.contains("signature the approval of seq"),
        "{}",
        ran.dump()
    );
    assert!(
        ran.stdout
            .contains("the signature does not match this decision"),
        "{}",
        ran.dump()
    );
    // The chain itself holds: only the signature shows the edit.
    assert!(!ran.stdout.contains(" chain "), "{}", ran.dump());
}
