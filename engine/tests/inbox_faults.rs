//! Faults around decisions from anywhere (issue 13 review): a secret pasted
//! into a comment, a resume refused with entries in the inbox, a post whose
//! answer was lost, two processes keeping one local copy of a run in S3, an
//! unreadable entry in the inbox, and reading only the journal's tail.
//!
//! Local runs go through the binary ([`Sandbox`], [`Test`]); the S3 store's
//! faults are driven through its API against moto on 127.0.0.1 (`S3Server`
//! fails, never skips, when moto is missing), as in `s3_store.rs`.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeboat::{
    parse_journal, Event, InboxEntry, RunStore, S3Location, S3RunStore, StoreEvent, JOURNAL_FILE,
};
use lifeboat_harness::s3_server::S3Server;
use serde_json::Value;
use util::s3_api::{aws_env, location, moto, note, options, texts};
use util::{Sandbox, Test, RUNBOOK};

const SECRET: &str = "tok-8d1fQz7Wv3pXk2Lm";
const SECRET_ENV: &str = "LIFEBOAT_TEST_TOKEN";

/// A gate in a run with a secret input.
const SECRET_GATE: &str = r#"version: 1
name: secret-gate
title: Restore after approval
inputs:
  token:
    type: secret
    env: LIFEBOAT_TEST_TOKEN
    description: an API token
steps:
  - id: inspect
    kind: shell
    with: { script: "echo checked" }
  - id: approve_restore
    kind: approval
    needs: [inspect]
    with:
      prompt: "Restore snapshot?"
  - id: restore
    kind: shell
    needs: [approve_restore]
    with: { script: "echo restored" }
"#;

/// `lifeboat ARGS` in `sb`, with the secret input in the environment.
fn with_secret(sb: &Sandbox, args: &[&str]) -> Test {
    sb.test().args(args).env(SECRET_ENV, SECRET)
}

/// Another operator's shell on the same machine: the same state
/// directory, without the run's secret.
fn bob(sb: &Sandbox, args: &[&str]) -> Test {
    sb.test()
        .args(args)
        .env("LIFEBOAT_OPERATOR", "bob")
        .env_remove(SECRET_ENV)
}

fn inbox_entries(sb: &Sandbox, run: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sb.run_dir(run).join("inbox"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn of_type<'a>(journal: &'a [Value], ty: &str) -> Vec<&'a Value> {
    journal.iter().filter(|r| r["type"] == ty).collect()
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

/// A run paused at its gate (no terminal, no `--wait`): its id.
fn paused_secret_run(sb: &Sandbox) -> String {
    with_secret(sb, &["run", RUNBOOK]).status(3).run().run_id()
}

/// A comment or a note that holds the run's secret, given while no engine
/// drives the run, is never journalled by the command (which does not hold
/// the secret): it waits in the inbox, and the resume, which does, journals
/// it redacted. The command said so. The command used to journal it in
/// clear, and resume took the inbox with an empty redactor.
#[test]
fn typed_text_with_a_secret_is_journalled_redacted_by_the_resume() {
    let sb = Sandbox::new();
    std::fs::write(sb.path().join(RUNBOOK), SECRET_GATE).unwrap();
    let run = paused_secret_run(&sb);
    let note = bob(&sb, &["note", &run, &format!("the token is {SECRET}")]).run();
    assert!(
        note.stdout.starts_with(&format!(
            "noted in run {run} (queued for the next `lifeboat resume {run}`: the run has secret inputs and its inbox holds typed text, which only an engine that holds them may journal, redacted; until then that text is kept in the run's inbox as typed, for as long as no engine takes it)"
        )),
        "{}",
        note.dump()
    );
    let approve = bob(
        &sb,
        &[
            "approve",
            &run,
            "approve_restore",
            "--as",
            "bob",
            "--comment",
            &format!("checked with {SECRET}"),
        ],
    )
    .run();
    assert!(
        approve
            .stdout
            .contains("(queued for the next `lifeboat resume "),
        "{}",
        approve.dump()
    );
    assert_eq!(inbox_entries(&sb, &run).len(), 2);
    assert!(
        !std::fs::read_to_string(sb.run_dir(&run).join(JOURNAL_FILE))
            .unwrap()
            .contains(SECRET),
        "the command journalled the secret"
    );

    let resumed = with_secret(&sb, &["resume", &run]).run();
    assert!(
        resumed
            .printed()
            .contains("took a note by bob from the run's inbox")
            && resumed
                .printed()
                .contains("took the approval of `approve_restore` by bob from the run's inbox"),
        "{}",
        resumed.dump()
    );
    let journal = sb.journal(&run);
    let notes = of_type(&journal, "note");
    assert_eq!(notes.len(), 1, "{journal:#?}");
    assert_eq!(notes[0]["text"], "the token is «redacted»");
    assert_eq!(notes[0]["actor"], "bob");
    let approvals = of_type(&journal, "approval");
    assert_eq!(approvals.len(), 1, "{journal:#?}");
    assert_eq!(approvals[0]["comment"], "checked with «redacted»");
    assert_eq!(of_type(&journal, "run_finished").len(), 1, "{journal:#?}");
    assert!(inbox_entries(&sb, &run).is_empty());
    let hits = files_holding(&sb.state_dir(), SECRET);
    assert!(hits.is_empty(), "the secret reached: {hits:?}");
    assert!(!resumed.printed().contains(SECRET), "{}", resumed.dump());
}

/// A resume that is refused (a secret input missing, the run's runbook
/// copy changed) journals nothing from the inbox and leaves it as it was;
/// it used to take the inbox first, before any of its checks.
#[test]
fn a_refused_resume_leaves_the_inbox_untouched() {
    let sb = Sandbox::new();
    std::fs::write(sb.path().join(RUNBOOK), SECRET_GATE).unwrap();
    let run = paused_secret_run(&sb);
    bob(&sb, &["note", &run, "paged the DBA"]).run();
    let queued = inbox_entries(&sb, &run);
    assert_eq!(queued.len(), 1);
    let journal = std::fs::read(sb.run_dir(&run).join(JOURNAL_FILE)).unwrap();

    let no_secret = sb
        .test()
        .args(["resume", &run])
        .env_remove(SECRET_ENV)
        .status(2)
        .run();
    assert!(
        no_secret.stderr.contains(SECRET_ENV),
        "{}",
        no_secret.dump()
    );
    assert_eq!(inbox_entries(&sb, &run), queued);
    assert_eq!(
        std::fs::read(sb.run_dir(&run).join(JOURNAL_FILE)).unwrap(),
        journal
    );

    let copy = sb.run_dir(&run).join("runbook.yaml");
    let original = std::fs::read_to_string(&copy).unwrap();
    std::fs::write(&copy, format!("{original}# edited\n")).unwrap();
    let changed = with_secret(&sb, &["resume", &run]).status(2).run();
    assert!(changed.stderr.contains("error: "), "{}", changed.dump());
    assert_eq!(inbox_entries(&sb, &run), queued);
    assert_eq!(
        std::fs::read(sb.run_dir(&run).join(JOURNAL_FILE)).unwrap(),
        journal
    );

    std::fs::write(&copy, original).unwrap();
    with_secret(&sb, &["resume", &run]).status(3).run();
    let journal = sb.journal(&run);
    assert_eq!(of_type(&journal, "note")[0]["text"], "paged the DBA");
    assert!(inbox_entries(&sb, &run).is_empty());
}

/// A gate, driven with `--wait` by an engine without a terminal.
const GATE: &str = r#"version: 1
name: gate
title: Restore after approval
steps:
  - id: approve_restore
    kind: approval
    with:
      prompt: "Restore snapshot?"
  - id: restore
    kind: shell
    needs: [approve_restore]
    with: { script: "echo restored by {{ steps.approve_restore.outputs.approvers | join(',') }}" }
"#;

/// An unreadable entry in the inbox (hand-made, or from another version)
/// is journalled as a refusal, without its content, and removed; the
/// approval posted after it reaches the engine. It used to stop the engine
/// reading its inbox at all.
#[test]
fn an_unreadable_inbox_entry_does_not_block_the_others() {
    let sb = Sandbox::new();
    let mut child: Child = sb
        .test()
        .runbook(GATE)
        .args(["run", RUNBOOK, "--wait"])
        .spawn();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let run = first.trim().to_string();
    let started = Instant::now();
    while !sb.run_dir(&run).join(JOURNAL_FILE).is_file()
        || of_type(&sb.journal(&run), "waiting").is_empty()
    {
        assert!(started.elapsed() < Duration::from_secs(30), "no `waiting`");
        std::thread::sleep(Duration::from_millis(50));
    }
    let inbox = sb.run_dir(&run).join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let bad = "00000000T000000.000000000Z-0000000000000000.json";
    // Written whole, then linked in: the engine never sees half of it.
    let cut_short = format!("{{\"v\": 1, \"actor\": \"{SECRET}");
    std::fs::write(inbox.join(".bad.tmp"), cut_short).unwrap();
    std::fs::rename(inbox.join(".bad.tmp"), inbox.join(bad)).unwrap();

    let approve = bob(&sb, &["approve", &run, "approve_restore", "--as", "bob"]).run();
    assert!(
        approve
            .stdout
            .contains("(recorded by the engine driving the run)"),
        "{}",
        approve.dump()
    );
    let exited = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(exited.elapsed() < Duration::from_secs(30), "no exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let journal = sb.journal(&run);
    let refused: Vec<&Value> = of_type(&journal, "note")
        .into_iter()
        .filter(|r| r["actor"] == "lifeboat")
        .collect();
    assert_eq!(refused.len(), 1, "{journal:#?}");
    assert_eq!(refused[0]["inbox"], bad);
    assert_eq!(
        refused[0]["text"],
        format!("refused the inbox entry `{bad}`: it ends early, at line 1 column 39; it was removed and nothing was recorded from it: post the decision again with `lifeboat approve`, `reject`, `confirm`, `mark` or `note`")
    );
    assert_eq!(of_type(&journal, "approval")[0]["actor"], "bob");
    assert!(inbox_entries(&sb, &run).is_empty());
    assert!(files_holding(&sb.state_dir(), SECRET).is_empty());
}

// ---- the S3 store, through its API -------------------------------------

/// A TCP proxy in front of moto that keeps every request line it passes
/// on and, once, lets a PUT whose request line contains `lose` reach the
/// server, then drops the connection instead of passing the answer on: the
/// write landed, its answer was lost.
struct Proxy {
    endpoint: String,
    dropped: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start(upstream: &str, lose: Option<&'static str>) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let armed = Arc::new(AtomicBool::new(lose.is_some()));
        let dropped = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (counter, seen) = (dropped.clone(), requests.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let server = TcpStream::connect(&upstream).unwrap();
                let lose_this = Arc::new(AtomicBool::new(false));
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (armed, flag, seen) = (armed.clone(), lose_this.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let head = &buf[..n];
                        let line = head
                            .windows(2)
                            .position(|w| w == b"\r\n")
                            .map_or(head, |end| &head[..end]);
                        let line = String::from_utf8_lossy(line).to_string();
                        if ["GET ", "PUT ", "HEAD ", "DELETE "]
                            .iter()
                            .any(|m| line.starts_with(m))
                        {
                            if line.starts_with("PUT ")
                                && lose.is_some_and(|l| line.contains(l))
                                && armed.swap(false, Ordering::SeqCst)
                            {
                                flag.store(true, Ordering::SeqCst);
                            }
                            seen.lock().unwrap().push(line);
                        }
                        if s_out.write_all(head).is_err() {
                            break;
                        }
                    }
                });
                let (mut s_in, mut c_out) = (server, client);
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = s_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if lose_this.load(Ordering::SeqCst) {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let _ = c_out.shutdown(std::net::Shutdown::Both);
                            let _ = s_in.shutdown(std::net::Shutdown::Both);
                            break;
                        }
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self {
            endpoint,
            dropped,
            requests,
        }
    }

    /// The requests passed on so far whose line starts with `method` and
    /// contains `part`.
    fn count(&self, method: &str, part: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(method) && l.contains(part))
            .count()
    }
}

/// An inbox post whose PUT landed but whose answer was lost is retried by
/// the store; the retry finds its own entry (412, the same bytes) and
/// posts nothing more. It used to post the decision again under a second
/// name.
#[tokio::test(flavor = "multi_thread")]
async fn a_post_retried_after_its_answer_was_lost_posts_once() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let direct = S3RunStore::create(
        &location(&s3),
        "r1",
        options(&s3.endpoint(), "alice", &sandbox.path().join("a")),
    )
    .unwrap();
    direct.append(&[note(1, "start")]).unwrap();
    let proxy = Proxy::start(&s3.endpoint(), Some("/inbox/"));
    let poster = S3RunStore::open(
        &location(&s3),
        "r1",
        options(&proxy.endpoint, "bob", &sandbox.path().join("b")),
    )
    .unwrap();
    let entry = InboxEntry::new(
        "bob",
        Event::Note {
            text: "paged the DBA".into(),
        },
    );
    let name = tokio::task::spawn_blocking(move || poster.post_decision(&entry))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        proxy.dropped.load(Ordering::SeqCst),
        1,
        "no answer was lost"
    );
    let listed = direct.list_inbox().unwrap();
    let names: Vec<&str> = listed.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, [name.as_str()], "posted more than once");
}

/// Several processes on one machine keep the local copy of a run in S3:
/// readers (`status`, `timeline` in other shells) install what they read,
/// the driver appends what it commits, and the copy stays whole and
/// complete. A reader used to rename its copy over the driver's open file
/// (whose later appends then went nowhere), through one temporary name all
/// readers shared.
#[tokio::test(flavor = "multi_thread")]
async fn readers_and_the_driver_keep_one_whole_local_copy() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("machine").join("r1");
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let opts = |holder: &str| {
        let mut o = options(&s3.endpoint(), holder, &dir);
        let seen = failures.clone();
        o.observer = Some(Arc::new(move |e: &StoreEvent| {
            if let StoreEvent::LocalCopyFailed { .. } = e {
                seen.lock().unwrap().push(e.to_string());
            }
        }));
        o
    };
    let location = location(&s3);
    let driver = S3RunStore::create(&location, "r1", opts("alice")).unwrap();
    driver.append(&[note(1, "one")]).unwrap();
    // One reader: its copy replaces the file the driver appends to.
    let reader = S3RunStore::open(&location, "r1", opts("bob")).unwrap();
    assert_eq!(reader.read().unwrap().records.len(), 1);
    driver.append(&[note(2, "two")]).unwrap();
    let copy = || {
        let bytes = std::fs::read(dir.join(JOURNAL_FILE)).unwrap();
        parse_journal(&bytes, "copy").unwrap().records
    };
    assert_eq!(texts(&copy()), ["one", "two"]);

    // Six readers at once, while the driver commits.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|i| {
            let store = S3RunStore::open(&location, "r1", opts(&format!("reader{i}"))).unwrap();
            let stop = stop.clone();
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::SeqCst) || reads < 3 {
                    store.read().unwrap();
                    let bytes = std::fs::read(dir.join(JOURNAL_FILE)).unwrap();
                    parse_journal(&bytes, "copy").expect("the copy is whole");
                    reads += 1;
                }
            })
        })
        .collect();
    let writer = std::thread::spawn(move || {
        for seq in 3..=30 {
            driver.append(&[note(seq, &seq.to_string())]).unwrap();
        }
        driver
    });
    let driver = writer.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(copy(), driver.read().unwrap().records);
    assert_eq!(copy().len(), 30);
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// An unreadable object in the S3 inbox is listed as what it is, without
/// its content, beside the entries after it.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_s3_inbox_entry_is_listed_beside_the_others() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let store = S3RunStore::create(
        &location(&s3),
        "r1",
        options(&s3.endpoint(), "alice", &sandbox.path().join("a")),
    )
    .unwrap();
    store.append(&[note(1, "start")]).unwrap();
    let bad = "00000000T000000.000000000Z-0000000000000000.json";
    let url = format!(
        "{}/{}/team/dr/runs/r1/inbox/{bad}",
        s3.endpoint(),
        s3.bucket()
    );
    let put = reqwest::Client::new()
        .put(&url)
        .body(format!("{{\"type\": \"{SECRET}\"}}"))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
    let good = InboxEntry::new("bob", Event::Note { text: "hi".into() });
    let listed = tokio::task::spawn_blocking(move || {
        store.post_decision(&good).unwrap();
        store.list_inbox().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, bad);
    let problem = listed[0].entry.as_ref().unwrap_err();
    assert!(!problem.contains(SECRET), "{problem}");
    assert!(
        problem.starts_with("it is JSON but not a decision"),
        "{problem}"
    );
    assert!(listed[1].entry.is_ok());
}

/// `read_after` (what a decision command polls while it waits for the
/// engine) reads only the objects written since the last read: one LIST
/// and a GET per new object, never the objects before them again.
#[tokio::test(flavor = "multi_thread")]
async fn waiting_for_the_engine_reads_only_the_journals_tail() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let writer = S3RunStore::create(
        &location(&s3),
        "r1",
        options(&s3.endpoint(), "alice", &sandbox.path().join("a")),
    )
    .unwrap();
    for seq in 1..=3 {
        writer.append(&[note(seq, &seq.to_string())]).unwrap();
    }
    let proxy = Proxy::start(&s3.endpoint(), None);
    let poller = S3RunStore::open(
        &location(&s3),
        "r1",
        options(&proxy.endpoint, "bob", &sandbox.path().join("b")),
    )
    .unwrap();
    let read = tokio::task::spawn_blocking(move || {
        let whole = poller.read().unwrap().records.len();
        (poller, whole)
    });
    let (poller, whole) = read.await.unwrap();
    assert_eq!(whole, 3);
    assert_eq!(proxy.count("GET ", "/journal/0"), 3);
    writer.append(&[note(4, "4"), note(5, "5")]).unwrap();
    writer.append(&[note(6, "6")]).unwrap();
    let (poller, tail, nothing) = tokio::task::spawn_blocking(move || {
        let tail = poller.read_after(3).unwrap();
        let nothing = poller.read_after(6).unwrap();
        (poller, tail, nothing)
    })
    .await
    .unwrap();
    assert_eq!(texts(&tail), ["4", "5", "6"]);
    assert!(nothing.is_empty());
    assert_eq!(
        proxy.count("GET ", "/journal/0"),
        5,
        "the tail is two objects: {:#?}",
        proxy.requests.lock().unwrap()
    );
    // Asked from another point than the last read ended at: the whole
    // journal, and the same records.
    let again = tokio::task::spawn_blocking(move || poller.read_after(2).unwrap())
        .await
        .unwrap();
    assert_eq!(texts(&again), ["3", "4", "5", "6"]);
}

/// `lifeboat ARGS` on a machine of its own that reaches the store at
/// `endpoint` (moto, or a proxy in front of it).
fn on_s3(sb: &Sandbox, s3: &S3Server, endpoint: &str, operator: &str, args: &[&str]) -> Test {
    sb.test()
        .args(args)
        .env("LIFEBOAT_STORE", format!("s3://{}/tail", s3.bucket()))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", S3Server::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", S3Server::SECRET_ACCESS_KEY)
        .env("AWS_REGION", S3Server::REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("LIFEBOAT_OPERATOR", operator)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
}

/// A decision command waiting for the engine of a run in S3 reads each
/// journal object once: the journal when it opens the run, then only what
/// the engine writes after it. It used to read the whole journal (a LIST
/// and a GET per object) every 100 ms.
#[test]
fn a_decision_command_waiting_on_s3_reads_each_journal_object_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = rt
        .block_on(S3Server::start())
        .unwrap_or_else(|e| panic!("{e}"));
    // Twenty steps before the gate: a journal of twenty-odd objects.
    let mut yaml = String::from("version: 1\nname: tail\nsteps:\n");
    for i in 0..20 {
        let needs = if i == 0 {
            String::new()
        } else {
            format!(", needs: [s{}]", i - 1)
        };
        yaml.push_str(&format!(
            "  - {{ id: s{i}, kind: shell, with: {{ script: \"true\" }}{needs} }}\n"
        ));
    }
    yaml.push_str(
        "  - id: approve_restore\n    kind: approval\n    needs: [s19]\n    with: { prompt: \"Restore?\" }\n  - { id: restore, kind: shell, needs: [approve_restore], with: { script: \"true\" } }\n",
    );
    let a = Sandbox::new();
    let mut child = on_s3(
        &a,
        &s3,
        &s3.endpoint(),
        "alice",
        &["run", RUNBOOK, "--wait"],
    )
    .runbook(&yaml)
    .spawn();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let run = first.trim().to_string();
    let started = Instant::now();
    while !std::fs::read_to_string(a.run_dir(&run).join(JOURNAL_FILE))
        .is_ok_and(|j| j.contains("\"type\":\"waiting\""))
    {
        assert!(started.elapsed() < Duration::from_secs(60), "no `waiting`");
        std::thread::sleep(Duration::from_millis(50));
    }
    let proxy = Proxy::start(&s3.endpoint(), None);
    let b = Sandbox::new();
    let approve = on_s3(
        &b,
        &s3,
        &proxy.endpoint,
        "bob",
        &["approve", &run, "approve_restore", "--as", "bob"],
    )
    .run();
    assert!(
        approve
            .stdout
            .contains("(recorded by the engine driving the run)"),
        "{}",
        approve.dump()
    );
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(started.elapsed() < Duration::from_secs(90), "no exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    let url = format!(
        "{}/{}?list-type=2&prefix=tail/runs/{run}/journal/",
        s3.endpoint(),
        s3.bucket()
    );
    let listing = rt.block_on(async { reqwest::get(&url).await.unwrap().text().await.unwrap() });
    let objects = listing.matches("<Key>").count();
    assert!(objects > 20, "{objects} journal objects");
    let gets = proxy.count("GET ", "/journal/0");
    assert!(
        gets <= objects,
        "{gets} journal reads for {objects} objects: {:#?}",
        proxy.requests.lock().unwrap()
    );
}

/// The same in S3: a note holding the secret, left from another machine
/// while no engine drives, is in no journal object; the resume on the
/// machine that holds the secret journals it redacted and empties the inbox.
#[test]
fn typed_text_with_a_secret_never_reaches_a_journal_object_in_s3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = rt
        .block_on(S3Server::start())
        .unwrap_or_else(|e| panic!("{e}"));
    let a = Sandbox::new();
    let run = on_s3(&a, &s3, &s3.endpoint(), "alice", &["run", RUNBOOK])
        .runbook(SECRET_GATE)
        .env(SECRET_ENV, SECRET)
        .status(3)
        .run()
        .run_id();
    let b = Sandbox::new();
    let note = on_s3(
        &b,
        &s3,
        &s3.endpoint(),
        "bob",
        &["note", &run, &format!("the token is {SECRET}")],
    )
    .env_remove(SECRET_ENV)
    .run();
    assert!(
        note.stdout
            .contains(&format!("(queued for the next `lifeboat resume {run}`: ")),
        "{}",
        note.dump()
    );
    // What the store holds, read by a third machine: the journal's
    // objects (their bytes, as its local copy has them) and the inbox.
    aws_env();
    let look = Sandbox::new();
    let stored = || {
        let store = S3RunStore::open(
            &S3Location {
                bucket: s3.bucket().to_string(),
                prefix: "tail".to_string(),
            },
            &run,
            options(&s3.endpoint(), "carol", &look.path().join("copy")),
        )
        .unwrap();
        let records = store.read().unwrap().records;
        let bytes = std::fs::read_to_string(look.path().join("copy").join(JOURNAL_FILE)).unwrap();
        (records, bytes, store.list_inbox().unwrap().len())
    };
    let (_, bytes, queued) = stored();
    assert_eq!(queued, 1);
    assert!(!bytes.contains(SECRET), "{bytes}");
    on_s3(&a, &s3, &s3.endpoint(), "alice", &["resume", &run])
        .env(SECRET_ENV, SECRET)
        .status(3)
        .run();
    let (records, bytes, queued) = stored();
    assert_eq!(queued, 0);
    assert!(!bytes.contains(SECRET), "{bytes}");
    assert!(
        texts(&records).contains(&"the token is «redacted»".to_string()),
        "{:?}",
        texts(&records)
    );
    assert!(files_holding(&a.state_dir(), SECRET).is_empty());
    assert!(files_holding(&b.state_dir(), SECRET).is_empty());
}
