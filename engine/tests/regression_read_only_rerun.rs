//! A step declared `read_only: true` is safe to repeat: after a crash mid-step
//! a resume runs it again without asking (docs/runbook-format.md, "Resume
//! policies"). It stayed at the kind's `rerun: never` and paused the run.

mod util;

use util::Sandbox;

/// The step appends to `runs` and kills the engine that runs it the first
/// time (`$PPID` is the engine: the script is bash's own).
const READ_ONLY_CRASH: &str = r#"version: 1
name: readcrash
steps:
  - id: look
    kind: shell
    read_only: true
    with:
      script: |
        echo ran >> runs
        if [ ! -e crashed ]; then touch crashed; kill -9 $PPID; sleep 5; fi
        echo seen
  - id: after
    kind: shell
    needs: [look]
    with: { run: ["echo", "{{ steps.look.outputs.stdout }}"] }
"#;

#[test]
fn a_read_only_step_interrupted_by_a_crash_runs_again_on_resume_without_asking() {
    let sb = Sandbox::new();
    sb.write("read.yaml", READ_ONLY_CRASH);
    let ran = sb.run(&["run", "read.yaml"]);
    assert_eq!(
        ran.code,
        -1,
        "the engine should have been killed\n{}",
        ran.dump()
    );
    let id = ran.run_id();

    let resumed = sb.run(&["resume", &id]);
    resumed.expect_code(0);
    assert!(
        !resumed.stdout.contains("WAITING") && resumed.stdout.contains("ok       look"),
        "{}",
        resumed.dump()
    );
    let runs = std::fs::read_to_string(sb.work_dir(&id).join("runs")).expect("runs");
    assert_eq!(runs.lines().count(), 2, "{}", resumed.dump());
    let journal = sb.journal(&id);
    assert!(
        !journal
            .iter()
            .any(|r| r["type"] == "waiting" || r["type"] == "marked"),
        "{journal:#?}"
    );
    assert!(
        journal
            .iter()
            .any(|r| r["type"] == "run_finished" && r["status"] == "succeeded"),
        "{journal:#?}"
    );
}

/// The other side: `http` is safe to repeat because a GET only reads, but a
/// POST is not (docs/runbook-format.md, `http`). A POST in flight when the
/// engine died was sent again by the resume.
#[test]
fn an_http_post_interrupted_by_a_crash_is_not_sent_again_on_resume() {
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    let sb = Sandbox::new();
    // A hook that takes the request and never answers.
    let hook = TcpListener::bind("127.0.0.1:0").expect("bind");
    hook.set_nonblocking(true).expect("nonblocking");
    let port = hook.local_addr().expect("addr").port();
    sb.write(
        "post.yaml",
        &format!(
            "version: 1\nname: postcrash\nsteps:\n  - id: notify\n    kind: http\n    with:\n      method: POST\n      url: http://127.0.0.1:{port}/hook\n      json: {{ text: restored }}\n      timeout: 2s\n"
        ),
    );
    let mut engine = sb.test().args(["run", "post.yaml"]).spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let _request = loop {
        match hook.accept() {
            Ok((conn, _)) => break conn,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("the POST never arrived: {e}"),
        }
    };
    // The request is on the wire: the engine dies mid-step.
    engine.kill().expect("SIGKILL");
    engine.wait().expect("wait");
    let mut stdout = String::new();
    engine
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    let id = stdout.lines().next().unwrap_or_default().trim().to_string();

    let resumed = sb.run(&["resume", &id]);
    resumed.expect_code(3);
    assert!(
        resumed.stdout.contains("WAITING  notify") && resumed.stdout.contains("rerun: never"),
        "{}",
        resumed.dump()
    );
    assert!(
        hook.accept().is_err(),
        "the resume sent the POST again\n{}",
        resumed.dump()
    );
}
