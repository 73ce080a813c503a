//! `lifeboat serve`, end to end: the real binary serves a real state
//! directory while real runs progress, and real headless Chromium reads the
//! pages (over the DevTools protocol, `util::chromium::Browser`). A step
//! turns from running to done and a gate from waiting to approved on the
//! open page, without a reload; with JavaScript disabled the page falls
//! back to a refresh; POST gets 405; a secret never appears in a page or
//! an event stream; a bind elsewhere than loopback warns; a port in use is
//! one clear error; SIGINT stops the server at once, open streams included.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::chromium::Browser;
use util::{Sandbox, Test};

/// `lifeboat ARGS` as alice.
fn lifeboat(sb: &Sandbox, args: &[&str]) -> Test {
    sb.test().args(args).env("LIFEBOAT_OPERATOR", "alice")
}

/// A `lifeboat serve` on a free 127.0.0.1 port; stopped when dropped.
struct Server {
    child: Child,
    /// `127.0.0.1:PORT`
    addr: String,
}

impl Server {
    fn start(sb: &Sandbox, extra: &[&str]) -> Self {
        let mut args = vec!["serve", "--bind", "127.0.0.1:0", "--interval", "200ms"];
        args.extend_from_slice(extra);
        let mut child = lifeboat(sb, &args).spawn();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("`lifeboat serve` printed its URL within 30s");
        let addr = line
            .trim()
            .strip_prefix("http://")
            .and_then(|s| s.strip_suffix('/'))
            .unwrap_or_else(|| panic!("the first line is the URL, got {line:?}"))
            .to_string();
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str) -> Response {
        request(&self.addr, "GET", path, &[])
    }

    fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.body))
    }

    /// What an event stream sends in `duration`.
    fn stream(&self, path: &str, duration: Duration) -> String {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + duration;
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    head: String,
    body: String,
}

/// One HTTP/1.1 request, `Connection: close`, bounded in time.
fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        text.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        text.push_str("Content-Length: 2\r\n\r\n{}");
    } else {
        text.push_str("\r\n");
    }
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    Response {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// Waits (bounded) until `check` holds.
fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {timeout:?}");
}

/// The only run in the store, once it exists.
fn only_run(server: &Server) -> String {
    let mut id = String::new();
    wait_until("a run is listed", Duration::from_secs(30), || {
        let runs = server.json("/runs.json");
        match runs.as_array().map(|a| a.as_slice()) {
            Some([run]) => {
                id = run["run_id"].as_str().unwrap().to_string();
                true
            }
            _ => false,
        }
    });
    id
}

/// Where the tests keep what they show people: `target/serve-artifacts/`.
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("serve-artifacts")
}

/// A restore that waits for a file (so the test decides when `fetch`
/// ends), then for an approval, then restores.
fn live_runbook(go: &Path) -> String {
    format!(
        r#"version: 1
name: vault-restore
title: Restore the Vault cluster
scenario: full-cluster-loss
rto: {{ target: 30m }}
steps:
  - id: fetch_snapshot
    kind: shell
    with:
      run: ["bash", "-c", "for i in $(seq 1 1200); do [ -f \"$1\" ] && exit 0; sleep 0.05; done; exit 1", "x", "{go}"]
    estimate: 2m
  - id: approve_restore
    kind: approval
    needs: [fetch_snapshot]
    with: {{ prompt: "Restore the snapshot onto the new cluster?" }}
  - id: restore
    kind: shell
    needs: [approve_restore]
    with: {{ run: ["true"] }}
    estimate: 5m
  - id: verify
    kind: shell
    needs: [restore]
    with: {{ run: ["true"] }}
"#,
        go = go.display()
    )
}

/// The state of a step in the open page's steps table.
fn outcome_is(step: &str, outcome: &str) -> String {
    format!(
        "(function(){{var r=document.querySelector('#steps tr[data-step=\"{step}\"]');return !!r && r.getAttribute('data-outcome')==='{outcome}';}})()"
    )
}

#[test]
fn the_open_page_follows_the_run_without_a_reload() {
    let sb = Sandbox::new();
    let go = sb.path().join("go");
    let file = sb.write("restore.yaml", &live_runbook(&go));
    let server = Server::start(&sb, &[]);
    let mut run = lifeboat(&sb, &["run", file.to_str().unwrap()])
        .with_command(|cmd| {
            cmd.stdout(Stdio::null());
        })
        .spawn();
    let id = only_run(&server);
    wait_until("fetch_snapshot runs", Duration::from_secs(30), || {
        server.json(&format!("/runs/{id}/status.json"))["running"][0]["step"] == "fetch_snapshot"
    });

    let mut browser = Browser::open(&server.url(&format!("/runs/{id}")));
    browser.wait_for(
        &outcome_is("fetch_snapshot", "running"),
        Duration::from_secs(60),
        "the page shows fetch_snapshot running",
    );
    browser.wait_for(
        "document.querySelector('#connection').className==='live'",
        Duration::from_secs(30),
        "the page says it is live",
    );
    // A mark on this very document: a reload would lose it.
    browser.eval("window.__sameDocument = 'yes'; true");
    let updates_before = browser.eval("Number(document.body.getAttribute('data-updates')||'0')");

    // fetch_snapshot ends; the gate waits, with the commands that resolve it.
    std::fs::write(&go, "").unwrap();
    browser.wait_for(
        &outcome_is("fetch_snapshot", "succeeded"),
        Duration::from_secs(60),
        "fetch_snapshot turns to succeeded on the open page",
    );
    browser.wait_for(
        "!!document.querySelector('#waiting li[data-step=\"approve_restore\"]')",
        Duration::from_secs(60),
        "the page shows the approval waiting",
    );
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(3), "the run pauses at the approval");
    let commands = browser.eval(
        "Array.from(document.querySelectorAll('#waiting code.command')).map(function(c){return c.textContent})",
    );
    let status_json = server.json(&format!("/runs/{id}/status.json"));
    assert_eq!(
        commands, status_json["waiting"][0]["commands"],
        "the page shows the exact commands `status` prints"
    );
    let printed = lifeboat(&sb, &["status", &id]).run();
    let status_text = browser.eval("document.querySelector('#status-text').textContent");
    let page_lines: Vec<&str> = status_text.as_str().unwrap().lines().collect();
    for line in printed
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("lifeboat "))
    {
        assert!(
            page_lines.contains(&line),
            "`status` prints {line:?}; the page shows {page_lines:?}"
        );
    }
    browser.screenshot(&artifacts().join("run-waiting.png"));

    // Approved from another shell and resumed: the rest turns to done.
    lifeboat(&sb, &["approve", &id, "approve_restore", "--as", "bob"]).run();
    lifeboat(&sb, &["resume", &id]).run();
    browser.wait_for(
        &outcome_is("verify", "succeeded"),
        Duration::from_secs(60),
        "verify turns to succeeded on the open page",
    );
    browser.wait_for(
        "document.querySelector('h1').getAttribute('data-status')==='succeeded'",
        Duration::from_secs(30),
        "the page says the run succeeded",
    );
    assert_eq!(
        browser.eval("window.__sameDocument"),
        "yes",
        "the page was updated in place, not reloaded"
    );
    let updates_after = browser.eval("Number(document.body.getAttribute('data-updates')||'0')");
    assert!(
        updates_after.as_u64() > updates_before.as_u64(),
        "updates came through the event stream: {updates_before} then {updates_after}"
    );
    assert!(
        browser.eval("!!document.querySelector('#gantt g.row[data-step=\"verify\"] rect.bar')")
            == true,
        "the Gantt chart has verify's bar"
    );
    browser.screenshot(&artifacts().join("run-succeeded.png"));

    // The list of runs shows it, with its RTO against the target.
    let mut list = Browser::open(&server.url("/"));
    list.wait_for(
        &format!(
            "!!document.querySelector('#runs tr[data-run=\"{id}\"][data-status=\"succeeded\"]')"
        ),
        Duration::from_secs(60),
        "the list shows the run succeeded",
    );
    let row = list.eval(&format!(
        "document.querySelector('#runs tr[data-run=\"{id}\"]').innerText"
    ));
    assert!(row.as_str().unwrap().contains("/ 30m00s met"), "{row}");
    list.screenshot(&artifacts().join("runs.png"));
}

/// A sandbox with one finished run of one step, and a server over it.
fn one_finished_run() -> (Sandbox, Server, String) {
    let sb = Sandbox::new();
    let file = sb.write(
        "quick.yaml",
        "version: 1\nname: quick\nrto: { target: 1m }\nsteps:\n  - id: only\n    kind: shell\n    with: { run: [\"true\"] }\n",
    );
    lifeboat(&sb, &["run", file.to_str().unwrap()]).run();
    let server = Server::start(&sb, &[]);
    let id = only_run(&server);
    (sb, server, id)
}

#[test]
fn without_javascript_the_page_refreshes_itself() {
    let (_sb, server, id) = one_finished_run();
    for path in ["/".to_string(), format!("/runs/{id}")] {
        let mut browser = Browser::open_without_scripts(&server.url(&path));
        let dom = browser.dom_once("</body>", Duration::from_secs(60));
        assert!(
            dom.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"),
            "{path}: the refresh fallback is in the page:\n{dom}"
        );
        assert!(
            dom.contains("this page reloads itself every 5s"),
            "{path}: the page says it reloads (no script changed it):\n{dom}"
        );
        assert!(
            dom.contains(&id),
            "{path}: the content is rendered by the server:\n{dom}"
        );
        if path != "/" {
            assert!(
                dom.contains("data-step=\"only\" data-outcome=\"succeeded\""),
                "the steps' states are there without a script:\n{dom}"
            );
        }
    }
}

#[test]
fn only_get_and_head_are_answered() {
    let (sb, server, id) = one_finished_run();
    let journal_before =
        std::fs::read(sb.state_dir().join("runs").join(&id).join("journal.jsonl")).unwrap();
    for path in [
        "/".to_string(),
        format!("/runs/{id}"),
        format!("/runs/{id}/events"),
        "/runs.json".into(),
    ] {
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let r = request(&server.addr, method, &path, &[]);
            assert_eq!(r.status, 405, "{method} {path}: {}\n{}", r.head, r.body);
            assert!(
                r.head.to_ascii_lowercase().contains("allow: get, head"),
                "{}",
                r.head
            );
            assert!(r.body.contains("read-only"), "{}", r.body);
        }
        let head = request(&server.addr, "HEAD", &path, &[]);
        assert_eq!(head.status, 200, "HEAD {path}: {}", head.head);
        assert_eq!(head.body, "", "HEAD {path} has no body");
    }
    let journal_after =
        std::fs::read(sb.state_dir().join("runs").join(&id).join("journal.jsonl")).unwrap();
    assert_eq!(journal_before, journal_after, "nothing was written");

    // A request for another host name (a DNS-rebinding page) is refused.
    let r = request(
        &server.addr,
        "GET",
        "/runs.json",
        &[("Host", "attacker.example:80")],
    );
    assert_eq!(r.status, 421, "{}", r.body);
    assert!(!r.body.contains(&id));
    let r = request(
        &server.addr,
        "GET",
        "/runs.json",
        &[("Host", "localhost:9000")],
    );
    assert_eq!(r.status, 200, "a tunnel's localhost is fine: {}", r.body);

    // A mistyped run is a clear 404; a path is never a run id.
    let r = server.get("/runs/no-such-run");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("no run `no-such-run`"), "{}", r.body);
    assert_eq!(server.get("/runs/..%2F..%2Fetc").status, 404);
    assert_eq!(server.get("/runs/../runs.json").status, 404);
}

const SECRET: &str = "tok-Vq8Zr2Xw5Lp9Kd3M";

#[test]
fn no_secret_reaches_a_page_or_an_event_stream() {
    let sb = Sandbox::new();
    let file = sb.write(
        "secret.yaml",
        r#"version: 1
name: secret-page
rto: { target: 10m }
inputs:
  token:
    type: secret
    env: LIFEBOAT_TEST_TOKEN
steps:
  - id: show
    kind: shell
    with:
      run: ["bash", "-c", "echo token=$1; echo \"{\\\"token\\\": \\\"$1\\\"}\"", "x", "{{ inputs.token }}"]
  - id: gate
    kind: approval
    needs: [show]
    with: { prompt: "go on?" }
  - id: fail
    kind: shell
    needs: [gate]
    with: { run: ["bash", "-c", "echo denied for $1 >&2; exit 3", "x", "{{ inputs.token }}"] }
"#,
    );
    let run = lifeboat(&sb, &["run", file.to_str().unwrap()])
        .env("LIFEBOAT_TEST_TOKEN", SECRET)
        .status(3)
        .run();
    let id = run.run_id();
    let server = Server::start(&sb, &[]);
    let mut seen = String::new();
    let paused = server.get(&format!("/runs/{id}")).body;
    assert!(
        paused.contains("«redacted»"),
        "the step's output is on the page, redacted:\n{paused}"
    );
    seen.push_str(&paused);
    seen.push_str(&server.stream(&format!("/runs/{id}/events"), Duration::from_millis(800)));
    lifeboat(&sb, &["approve", &id, "gate", "--as", "bob"]).run();
    lifeboat(&sb, &["resume", &id])
        .env("LIFEBOAT_TEST_TOKEN", SECRET)
        .status(1)
        .run();
    let stream = server.stream(&format!("/runs/{id}/events"), Duration::from_millis(800));
    assert!(stream.contains("event: update"), "{stream}");
    seen.push_str(&stream);
    seen.push_str(&server.stream("/events", Duration::from_millis(600)));
    for path in [
        "/".to_string(),
        format!("/runs/{id}"),
        format!("/runs/{id}/status.json"),
        "/runs.json".into(),
    ] {
        seen.push_str(&server.get(&path).body);
    }
    let failed = server.get(&format!("/runs/{id}")).body;
    assert!(
        failed.contains("data-step=\"fail\" data-outcome=\"failed\""),
        "{failed}"
    );
    for form in [
        SECRET.to_string(),
        SECRET.to_ascii_uppercase(),
        SECRET.replace('-', "%2D"),
    ] {
        assert!(
            !seen.contains(&form),
            "the secret ({form}) is served:\n{seen}"
        );
    }
}

#[test]
fn a_bind_beyond_loopback_warns_and_a_port_in_use_is_one_clear_error() {
    let sb = Sandbox::new();
    // 192.0.2.1 is TEST-NET-1, never this machine's: the warning comes
    // before the bind, and the bind fails without serving anything.
    let ran = lifeboat(&sb, &["serve", "--bind", "192.0.2.1:8080"])
        .status(2)
        .run();
    assert!(
        ran.stderr
            .starts_with("warning: serving on 192.0.2.1:8080, which other machines can reach"),
        "{}",
        ran.dump()
    );
    assert!(
        ran.stderr.contains(
            "error: cannot listen on 192.0.2.1:8080: this machine has no address 192.0.2.1"
        ),
        "{}",
        ran.dump()
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    lifeboat(&sb, &["serve", "--bind", &addr])
        .status(2)
        .stdout("")
        .stderr(&format!(
            "error: cannot listen on {addr}: the port is already in use (another `lifeboat serve`, or another server); pick another with `--bind 127.0.0.1:{}`, or `--bind 127.0.0.1:0` for any free port\n",
            (port.wrapping_add(1)).max(1024)
        ))
        .run();
    lifeboat(&sb, &["serve", "--bind", "nonsense"])
        .status(2)
        .stderr("error: --bind `nonsense`: no port; write an address and a port, e.g. `127.0.0.1:8080` (this machine only) or `0.0.0.0:8080` (every interface)\n")
        .run();
}

#[test]
fn sigint_stops_the_server_at_once_with_streams_open() {
    let sb = Sandbox::new();
    let mut server = Server::start(&sb, &[]);
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "GET /events HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut first = [0u8; 256];
    let n = stream.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("text/event-stream"));
    let pid = server.child.id() as i32;
    let started = Instant::now();
    // SAFETY: signalling the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let mut status = None;
    while started.elapsed() < Duration::from_secs(10) {
        if let Some(s) = server.child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = status.expect("serve stopped within 10s of SIGINT");
    assert_eq!(status.code(), Some(0), "a clean stop");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it stopped at once, not after draining: {:?}",
        started.elapsed()
    );
}
