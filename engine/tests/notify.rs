//! Notifications (`notify:`, docs/war-room.md) against real HTTP receivers
//! on 127.0.0.1 (`lifeboat_harness::webhook_receiver`): every event with
//! its content in both formats, retries, a hung receiver that must not
//! slow the run, secrets, drills, validation.

mod util;

use std::time::Duration;

use lifeboat_harness::webhook_receiver::{Behaviour, WebhookReceiver};
use serde_json::Value;
use util::Sandbox;

const RECEIVE_WAIT: Duration = Duration::from_secs(20);

fn of_type<'a>(journal: &'a [Value], ty: &str) -> Vec<&'a Value> {
    journal.iter().filter(|r| r["type"] == ty).collect()
}

/// The `event` of each JSON body, in arrival order.
fn json_events(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// A gate, a checkpoint, a failing step that the run survives, and an
/// estimate that cannot fit the RTO target: every event fires. The run
/// pauses at the gate (no terminal), is approved from "another shell" and
/// resumed to its end, so `finished` comes from the second execution and
/// `rto_at_risk` is sent once across both.
#[test]
fn every_event_arrives_with_its_content_in_both_formats() {
    let slack = WebhookReceiver::start();
    let json = WebhookReceiver::start();
    let sb = Sandbox::new();
    sb.write(
        "war.yaml",
        &format!(
            r#"version: 1
name: war
title: Vault restore
rto: {{ target: 1m }}
inputs:
  slack_webhook: {{ type: secret, env: TEST_SLACK_WEBHOOK }}
notify:
  - url: "{{{{ inputs.slack_webhook }}}}"
    format: slack
    events: [run_started, waiting, step_failed, checkpoint, rto_at_risk, finished]
  - url: "{json_url}"
    format: json
    events: [run_started, waiting, step_failed, checkpoint, rto_at_risk, finished]
steps:
  - id: snapshot_taken
    kind: checkpoint
    with: {{ description: the snapshot is safe }}
  - id: flaky
    kind: shell
    needs: [snapshot_taken]
    continue_on_failure: true
    with: {{ run: ["bash", "-c", "echo disk full >&2; exit 4"] }}
  - id: restore
    kind: shell
    needs: [snapshot_taken]
    estimate: 10m
    with: {{ run: ["true"] }}
  - id: approve_cutover
    kind: approval
    needs: [restore, flaky]
    with: {{ prompt: Cut traffic over to the restored cluster? }}
"#,
            json_url = json.url("/json"),
        ),
    );
    let slack_url = slack.url("/slack/T000/B000/XXXX");
    let env = [("TEST_SLACK_WEBHOOK", slack_url.as_str())];
    let first = sb.run_with(&["run", "war.yaml"], &env);
    first.expect_code(3);
    let run = first.run_id();
    sb.run_with(&["approve", &run, "approve_cutover", "--as", "bob"], &env)
        .expect_code(0);
    sb.run_with(&["resume", &run], &env).expect_code(0);

    let journal = sb.journal(&run);
    let bodies: Vec<Value> = json
        .wait_for(6, RECEIVE_WAIT)
        .iter()
        .map(|r| r.json())
        .collect();
    let events = json_events(&bodies);
    let mut sorted = events.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "checkpoint",
            "finished",
            "rto_at_risk",
            "run_started",
            "step_failed",
            "waiting"
        ],
        "each event once: {events:?}"
    );
    // Messages are sent concurrently: `seq` orders them, not arrival.
    let body = |e: &str| bodies.iter().find(|b| b["event"] == e).unwrap().clone();
    for b in &bodies {
        assert_eq!(b["run_id"], run.as_str());
        assert_eq!(b["runbook"], "war");
        assert_eq!(b["title"], "Vault restore");
        assert_eq!(b["drill"], false);
    }

    let started = body("run_started");
    assert_eq!(started["operator"], "tester", "{started}");
    assert_eq!(started["rto_target_ms"], 60_000);
    assert_eq!(started["seq"], 1);

    // `waiting` carries exactly the commands the `waiting` record holds,
    // which `status` prints.
    let waiting_record = of_type(&journal, "waiting")[0];
    let waiting = body("waiting");
    assert_eq!(waiting["step"], "approve_cutover");
    assert_eq!(waiting["commands"], waiting_record["commands"]);
    assert_eq!(waiting["seq"], waiting_record["seq"]);
    let commands: Vec<&str> = waiting["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with(&format!("lifeboat approve {run} approve_cutover --as NAME"))),
        "{commands:?}"
    );
    for c in &commands {
        assert!(waiting["text"].as_str().unwrap().contains(c), "{waiting}");
    }

    let failed = body("step_failed");
    assert_eq!(failed["step"], "flaky");
    assert!(
        failed["error"].as_str().unwrap().contains("exit"),
        "{failed}"
    );

    let checkpoint = body("checkpoint");
    assert_eq!(checkpoint["step"], "snapshot_taken");
    assert_eq!(checkpoint["description"], "the snapshot is safe");

    let risk = body("rto_at_risk");
    assert_eq!(risk["rto_target_ms"], 60_000);
    assert!(
        risk["projected_rto_ms"].as_i64().unwrap() > 60_000,
        "{risk}"
    );
    assert!(
        risk["remaining"].as_str().unwrap().contains("restore (10m"),
        "{risk}"
    );
    assert!(
        risk["text"].as_str().unwrap().contains("RTO AT RISK"),
        "{risk}"
    );

    let finished = body("finished");
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert!(finished["verdict_line"]
        .as_str()
        .unwrap()
        .starts_with("RTO "));
    assert!(
        finished["split"]["human_ms"].as_i64().unwrap() > 0,
        "{finished}"
    );
    assert!(finished["split"]["machine_ms"].as_i64().is_some());
    let html = finished["timeline"]["html"].as_str().unwrap();
    assert_eq!(
        std::path::Path::new(html),
        sb.run_dir(&run).join("timeline.html")
    );
    assert!(std::path::Path::new(html).exists());
    assert_eq!(
        finished["timeline"]["command"],
        format!("lifeboat timeline {run}")
    );

    // Slack gets `text` alone, the same news in mrkdwn.
    let slack_bodies: Vec<Value> = slack
        .wait_for(6, RECEIVE_WAIT)
        .iter()
        .map(|r| r.json())
        .collect();
    assert_eq!(slack_bodies.len(), 6, "{slack_bodies:?}");
    for b in &slack_bodies {
        let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["text"], "{b}");
    }
    let texts: Vec<&str> = slack_bodies
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert!(
        texts[0].starts_with(&format!("*Vault restore*: run `{run}` started by tester")),
        "{texts:?}"
    );
    let wait_text = texts
        .iter()
        .find(|t| t.contains("is waiting at `approve_cutover`"))
        .unwrap();
    assert!(
        wait_text.contains(&format!(
            "```\nlifeboat approve {run} approve_cutover --as NAME"
        )),
        "{wait_text}"
    );
    assert!(
        texts.last().unwrap().contains("Time: machine "),
        "{texts:?}"
    );
    assert!(slack
        .received()
        .iter()
        .all(|r| r.path == "/slack/T000/B000/XXXX"
            && r.header("content-type") == Some("application/json")));

    // Each delivery is journalled: target, event, the record it told of,
    // one attempt, the status; never the URL.
    let notified = of_type(&journal, "notified");
    assert_eq!(notified.len(), 12, "{notified:?}");
    for n in &notified {
        assert_eq!(n["attempts"], 1);
        assert_eq!(n["http_status"], 204);
    }
    let risk_records: Vec<_> = notified
        .iter()
        .filter(|n| n["event"] == "rto_at_risk")
        .collect();
    assert_eq!(
        risk_records.len(),
        2,
        "once per target, over both executions"
    );
    let text = std::fs::read_to_string(sb.run_dir(&run).join("journal.jsonl")).unwrap();
    assert!(
        !text.contains("/slack/T000") && !text.contains("/json"),
        "no URL in the journal"
    );
    // The timeline counts them.
    let timeline = std::fs::read_to_string(sb.run_dir(&run).join("timeline.md")).unwrap();
    assert!(
        timeline.contains("| Notifications | 12 delivered, 0 failed |"),
        "{timeline}"
    );
}

/// A receiver that fails twice (503) then accepts gets the message on the
/// third attempt, and the journal says so.
#[test]
fn a_receiver_that_fails_twice_gets_it_on_the_third_try() {
    let receiver = WebhookReceiver::with(Behaviour::FailThenAccept {
        times: 2,
        status: 503,
    });
    let sb = Sandbox::new();
    sb.write(
        "retry.yaml",
        &format!(
            r#"version: 1
name: retry
notify:
  - url: "{url}"
    format: json
    events: [run_started]
    retry: {{ attempts: 3, delay: 100ms }}
steps:
  - {{ id: a, kind: shell, with: {{ run: ["sleep", "1"] }} }}
"#,
            url = receiver.url("/hook")
        ),
    );
    let ran = sb.run(&["run", "retry.yaml"]);
    ran.expect_code(0);
    let got = receiver.received();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [Some(503), Some(503), Some(204)]
    );
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "the same message each time"
    );
    let journal = sb.journal(&ran.run_id());
    let notified = of_type(&journal, "notified");
    assert_eq!(notified.len(), 1, "{journal:?}");
    assert_eq!(notified[0]["event"], "run_started");
    assert_eq!(notified[0]["target"], 0);
    assert_eq!(notified[0]["attempts"], 3);
    assert_eq!(notified[0]["http_status"], 204);
    assert_eq!(notified[0]["about_seq"], 1);
    assert!(of_type(&journal, "notify_failed").is_empty());
}

/// A receiver that never answers does not hold the run up: every step and
/// the run's end are journalled while its deliveries are still pending,
/// then each is journalled as not delivered; a second target that answers
/// gets everything meanwhile.
#[test]
fn a_hung_receiver_does_not_slow_the_run() {
    let hung = WebhookReceiver::with(Behaviour::Hang);
    let good = WebhookReceiver::start();
    let sb = Sandbox::new();
    let mut steps = String::new();
    for i in 0..5 {
        steps.push_str(&format!(
            "  - {{ id: c{i}, kind: checkpoint{} }}\n",
            if i > 0 {
                format!(", needs: [c{}]", i - 1)
            } else {
                String::new()
            }
        ));
    }
    sb.write(
        "hang.yaml",
        &format!(
            r#"version: 1
name: hang
notify:
  - url: "{hung}"
    format: json
    timeout: 2s
    retry: {{ attempts: 2, delay: 100ms }}
    events: [run_started, checkpoint, finished]
  - url: "{good}"
    format: slack
    events: [run_started, checkpoint, finished]
steps:
{steps}"#,
            hung = hung.url("/hung"),
            good = good.url("/good"),
        ),
    );
    let ran = sb.run(&["run", "hang.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    let finished_seq = of_type(&journal, "run_finished")[0]["seq"]
        .as_u64()
        .unwrap();
    let failed = of_type(&journal, "notify_failed");
    assert_eq!(
        failed.len(),
        7,
        "run_started, 5 checkpoints, finished: {journal:#?}"
    );
    for f in &failed {
        assert_eq!(f["target"], 0);
        assert!(
            f["seq"].as_u64().unwrap() > finished_seq,
            "a hung delivery settled before the run finished: the run waited for it: {journal:#?}"
        );
        assert!(f.get("http_status").is_none());
        let error = f["error"].as_str().unwrap();
        assert!(
            error.contains("not delivered when the engine exited")
                || error.contains("no answer within 2.0s"),
            "{error}"
        );
        assert!(!error.contains("127.0.0.1"), "no URL in the error: {error}");
    }
    // Nothing but outcomes follows the run's end.
    assert!(journal
        .iter()
        .filter(|r| r["seq"].as_u64().unwrap() > finished_seq)
        .all(|r| r["type"] == "notify_failed" || r["type"] == "notified"));
    let notified = of_type(&journal, "notified");
    assert_eq!(notified.len(), 7);
    assert!(notified.iter().all(|n| n["target"] == 1));
    assert_eq!(good.received().len(), 7);
    assert!(
        hung.received().len() >= 7,
        "every message reached the hung receiver"
    );
    let timeline = std::fs::read_to_string(sb.run_dir(&ran.run_id()).join("timeline.md")).unwrap();
    assert!(
        timeline.contains("| Notifications | 7 delivered, 7 failed |"),
        "{timeline}"
    );
}

/// A secret input in the URL and a secret output in a step's error never
/// appear in the journal, the timeline, the output or any body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_the_journal_timeline_and_bodies() {
    const URL_SECRET: &str = "T9zzHookToken4411aa";
    const VALUE: &str = "kv-pw-Notify77aQ";
    let bao = lifeboat_harness::openbao::OpenBaoDev::start().await;
    bao.kv_put("app/db", serde_json::json!({ "password": VALUE }))
        .await;
    let receiver = WebhookReceiver::start();
    let base = receiver.url("");
    let sb = Sandbox::new();
    sb.write(
        "secret.yaml",
        &format!(
            r#"version: 1
name: secret-notify
inputs:
  token: {{ type: secret, env: TEST_VAULT_TOKEN }}
  hook: {{ type: secret, env: TEST_HOOK }}
notify:
  - url: "{base}/hooks/{{{{ inputs.hook }}}}"
    format: json
    events: [run_started, step_failed, finished]
  - url: "{base}/slack/{{{{ inputs.hook }}}}"
    format: slack
    events: [step_failed]
steps:
  - id: get
    kind: vault.kv.get
    with: {{ addr: "{addr}", token: "{{{{ inputs.token }}}}", path: app/db }}
  - id: leak
    kind: shell
    needs: [get]
    with:
      script: |
        echo "denied with {{{{ steps.get.outputs.data.password }}}} via {{{{ inputs.hook }}}}" >&2
        exit 3
"#,
            addr = bao.addr()
        ),
    );
    let out = sb
        .test()
        .args(["run", "secret.yaml"])
        .env("TEST_VAULT_TOKEN", bao.token())
        .env("TEST_HOOK", URL_SECRET)
        .status(1)
        .run();
    let got = receiver.wait_for(4, RECEIVE_WAIT);
    assert_eq!(got.len(), 4, "{got:?}");
    // The secret URL was used...
    assert!(got
        .iter()
        .all(|r| r.path.ends_with(&format!("/{URL_SECRET}"))));
    // ...and no body holds either secret.
    let failed: Vec<&_> = got.iter().filter(|r| r.text().contains("leak")).collect();
    assert_eq!(failed.len(), 2, "{got:?}");
    for r in &got {
        let text = r.text();
        assert!(
            !text.contains(VALUE) && !text.contains(URL_SECRET),
            "a body leaked: {text}"
        );
    }
    assert!(
        failed
            .iter()
            .any(|r| r.text().contains("denied with «redacted»")),
        "{failed:?}"
    );
    let printed = out.printed();
    assert!(
        !printed.contains(VALUE) && !printed.contains(URL_SECRET),
        "{printed}"
    );
    for needle in [VALUE, URL_SECRET] {
        let mut hits = Vec::new();
        find_bytes(&sb.state_dir(), needle, &mut hits);
        assert!(hits.is_empty(), "`{needle}` reached disk in {hits:?}");
    }
    let journal = sb.journal(&out.run_id());
    assert_eq!(of_type(&journal, "notified").len(), 4, "{journal:#?}");
}

fn find_bytes(dir: &std::path::Path, needle: &str, hits: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            find_bytes(&path, needle, hits);
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            hits.push(path.display().to_string());
        }
    }
}

/// A drill sends nothing unless `--notify` asks, and then every message
/// says DRILL.
#[test]
fn a_drill_sends_only_with_notify_and_says_drill() {
    let receiver = WebhookReceiver::start();
    let sb = Sandbox::new();
    sb.write(
        "drill.yaml",
        &format!(
            r#"version: 1
name: drill
notify:
  - {{ url: "{json}", format: json, events: [run_started, checkpoint, finished] }}
  - {{ url: "{slack}", format: slack, events: [run_started] }}
steps:
  - {{ id: restored, kind: checkpoint }}
  - {{ id: wipe, kind: shell, needs: [restored], with: {{ run: ["rm", "-rf", "/nonexistent/x"] }} }}
"#,
            json = receiver.url("/json"),
            slack = receiver.url("/slack"),
        ),
    );
    let quiet = sb.run(&["run", "drill.yaml", "--dry-run"]);
    quiet.expect_code(0);
    assert!(
        quiet
            .printed()
            .contains("this drill sends no notifications (`--notify` sends them, marked DRILL)"),
        "{}",
        quiet.dump()
    );
    assert!(
        receiver.received().is_empty(),
        "a drill without --notify sent {:?}",
        receiver.received()
    );
    assert!(of_type(&sb.journal(&quiet.run_id()), "notified").is_empty());

    let loud = sb.run(&["run", "drill.yaml", "--dry-run", "--notify"]);
    loud.expect_code(0);
    let got = receiver.wait_for(4, RECEIVE_WAIT);
    assert_eq!(got.len(), 4, "{got:?}");
    for r in &got {
        let body = r.json();
        let text = body["text"].as_str().unwrap();
        assert!(text.starts_with("DRILL (nothing was changed): "), "{text}");
        if r.path == "/json" {
            assert_eq!(body["drill"], true);
        }
    }
    assert_eq!(of_type(&sb.journal(&loud.run_id()), "notified").len(), 4);
}

/// Bad `notify:` entries are refused by `validate` (and `run`) with where
/// and how to fix them; a URL that does not render to one refuses the run
/// before anything is created, naming the target but not the value.
#[test]
fn bad_notify_targets_are_refused_with_where_and_how() {
    let sb = Sandbox::new();
    sb.write(
        "bad.yaml",
        r#"version: 1
name: bad
inputs:
  hook: { type: secret, env: TEST_HOOK }
notify:
  - { url: "{{ inputs.hok }}", format: json, events: [finished] }
  - { url: "{{ steps.a.outputs.stdout }}", format: slack, events: [waiting] }
  - { url: "hooks.slack.com/x", format: json, events: [finished] }
  - { url: "{{ inputs.hook", format: json, events: [finished] }
  - { url: "{{ inputs.hook }}", format: teams, events: [started] }
steps:
  - { id: a, kind: shell, with: { run: ["true"] } }
"#,
    );
    let out = sb.run(&["validate", "bad.yaml"]);
    out.expect_code(2);
    let text = out.printed();
    for line in [
        "unknown notify format `teams`",
        "bad.yaml:10:41",
        "unknown notify event `started`",
        "bad.yaml:10:57",
        "the events are run_started, waiting, step_failed, checkpoint, rto_at_risk, finished",
    ] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }
    // The loader's errors come first; once they are fixed the validator's.
    sb.write(
        "bad.yaml",
        &std::fs::read_to_string(sb.path().join("bad.yaml"))
            .unwrap()
            .replace(
                "format: teams, events: [started]",
                "format: json, events: [finished]",
            ),
    );
    let out = sb.run(&["validate", "bad.yaml"]);
    out.expect_code(2);
    let text = out.printed();
    for line in [
        "`notify[0].url` reads `inputs.hok`, which is not declared",
        "did you mean `hook`?",
        "bad.yaml:6:12",
        "`notify[1].url` reads `steps`, but a notify URL sees only `inputs`",
        "`notify[2].url` is not an http:// or https:// URL",
        "bad.yaml:8:12",
        "`notify[3].url`:",
        "bad.yaml:9:12",
    ] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }
    // A URL input that is not a URL: refused at the start, nothing made.
    sb.write(
        "url.yaml",
        r#"version: 1
name: url
inputs:
  hook: { type: secret, env: TEST_HOOK }
notify:
  - { url: "{{ inputs.hook }}", format: slack, events: [finished] }
steps:
  - { id: a, kind: shell, with: { run: ["true"] } }
"#,
    );
    let out = sb.run_with(
        &["run", "url.yaml"],
        &[("TEST_HOOK", "not-a-url-secret-77")],
    );
    out.expect_code(2);
    let text = out.printed();
    assert!(text.contains("`notify[0].url` ("), "{text}");
    assert!(
        text.contains("url.yaml:6:12) renders to something that is not an http:// or https:// URL"),
        "{text}"
    );
    assert!(!text.contains("not-a-url-secret-77"), "{text}");
    assert!(
        !sb.state_dir().join("runs").exists()
            || std::fs::read_dir(sb.state_dir().join("runs"))
                .unwrap()
                .next()
                .is_none(),
        "a refused run left a run behind"
    );
}
