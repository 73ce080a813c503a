//! One test per finding of the "Security hardening" review that the step
//! kinds answer (findings 7 and 9), and the gaps a later review found in them, named after it. Each failed before its
//! fix. Vault and S3 run against real servers (OpenBao, moto); redirects
//! come from tiny HTTP servers on 127.0.0.1 started here, which record what
//! they received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use lifeboat_harness::openbao::{OpenBaoCluster, OpenBaoDev};
use lifeboat_harness::s3_server::S3Server;
use lifeboat_steps::{Progress, StepContext};
use serde_json::{json, Value};

mod kind_driver;

use kind_driver::run;

/// Every request a tiny server received, as text (head and body).
type Log = Arc<Mutex<Vec<String>>>;

/// Starts an HTTP/1.1 server on 127.0.0.1 that answers every request with
/// `answer(base, path)` and records it. Returns its base URL and its log.
fn tiny_server(answer: impl Fn(&str, &str) -> String + Send + Sync + 'static) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let answer = Arc::new(answer);
    let seen = log.clone();
    let own = base.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (seen, answer, own) = (seen.clone(), answer.clone(), own.clone());
            std::thread::spawn(move || {
                let mut writer = conn.try_clone().expect("clone stream");
                let mut reader = BufReader::new(conn);
                // One connection may carry several requests (keep-alive).
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        head.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    seen.lock()
                        .unwrap()
                        .push(format!("{head}{}", String::from_utf8_lossy(&body)));
                    if writer.write_all(answer(&own, &path).as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, log)
}

/// A server that records requests and answers `{}`.
fn recorder() -> (String, Log) {
    tiny_server(|_, _| {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}".into()
    })
}

/// A server that answers every request with a 307 to the same path at
/// `target`.
fn redirector(target: &str) -> (String, Log) {
    let target = target.to_string();
    tiny_server(move |_, path| {
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}{path}\r\ncontent-length: 0\r\n\r\n"
        )
    })
}

#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);

impl Progress for Warnings {
    fn warn(&self, _step: &str, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

fn ctx(dir: &std::path::Path) -> (StepContext, Arc<Warnings>) {
    let mut ctx = StepContext::standalone("t", dir);
    let warnings = Arc::new(Warnings::default());
    ctx.progress = warnings.clone();
    (ctx, warnings)
}

async fn refused(ctx: &StepContext, kind: &str, with: Value) -> String {
    match run(ctx, kind, with.clone()).await {
        Ok(out) => panic!("{kind} {with} followed the redirect: {:?}", out.outputs),
        Err(e) => e.message,
    }
}

/// Finding 7: a 307 to another address received `X-Vault-Token`, an unseal
/// key and a `kv.put` body. Vault kinds now follow redirects only within
/// the address they were given, and say where the server pointed.
#[tokio::test]
async fn finding_7_vault_kinds_do_not_follow_a_redirect_to_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = ctx(dir.path());
    let (other, other_log) = recorder();
    let (node, node_log) = redirector(&other);
    let token = "s.redirect-test-token";

    let message = refused(
        &ctx,
        "vault.kv.put",
        json!({"addr": node, "token": token, "path": "app", "data": {"password": "hunter2-body"}}),
    )
    .await;
    assert!(
        message.contains(&format!(
            "redirected POST /v1/secret/data/app to `{other}/v1/secret/data/app`"
        )),
        "{message}"
    );
    assert!(message.contains("set `addr` to it"), "{message}");
    assert!(!message.contains(token), "{message}");
    let message = refused(
        &ctx,
        "vault.unseal",
        json!({"addr": node, "keys": ["unseal-key-never-forwarded"]}),
    )
    .await;
    assert!(message.contains(&format!("`{other}/v1/sys/")), "{message}");
    let _ = refused(
        &ctx,
        "vault.kv.get",
        json!({"addr": node, "token": token, "path": "app"}),
    )
    .await;

    assert!(
        !node_log.lock().unwrap().is_empty(),
        "the named node was asked"
    );

    // A redirect within the node's own address is followed.
    let (itself, itself_log) = tiny_server(|base, path| {
        if path.ends_with("?moved") {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
                .into()
        } else {
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {base}{path}?moved\r\ncontent-length: 0\r\n\r\n")
        }
    });
    run(
        &ctx,
        "vault.kv.put",
        json!({"addr": itself, "token": token, "path": "app", "data": {"k": "v"}}),
    )
    .await
    .unwrap_or_else(|e| panic!("a same-origin redirect is followed: {}", e.message));
    let seen = itself_log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert!(
        seen[1].contains("?moved") && seen[1].contains(token),
        "{seen:#?}"
    );
    let leaked = other_log.lock().unwrap().clone();
    assert!(leaked.is_empty(), "the other host received: {leaked:#?}");

    // The same against a real OpenBao as the other host: the write does not
    // land there.
    let bao = OpenBaoDev::start().await;
    let (to_bao, _) = redirector(bao.addr());
    let message = refused(
        &ctx,
        "vault.kv.put",
        json!({"addr": to_bao, "token": bao.token(), "path": "moved", "data": {"v": "1"}}),
    )
    .await;
    assert!(
        message.contains(&format!("`{}/v1/secret/data/moved`", bao.addr())),
        "{message}"
    );
    let read = run(
        &ctx,
        "vault.kv.get",
        json!({"addr": bao.addr(), "token": bao.token(), "path": "moved"}),
    )
    .await;
    assert!(
        read.is_err(),
        "the redirected write reached OpenBao: {:?}",
        read.ok().map(|o| o.outputs)
    );
}

/// Finding 7, the `http` kind: a request with credentials (a sensitive
/// header) or a body is not redirected to another origin; a plain GET is,
/// without any credentials.
#[tokio::test]
async fn finding_7_the_http_kind_keeps_credentials_on_the_named_host() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = ctx(dir.path());
    let (other, other_log) = recorder();
    let (named, _) = redirector(&other);

    for headers in [
        json!({"Authorization": "Bearer never-forwarded"}),
        json!({"X-Vault-Token": "never-forwarded"}),
        json!({"X-Api-Key": "never-forwarded"}),
    ] {
        let message = refused(
            &ctx,
            "http",
            json!({"url": format!("{named}/health"), "headers": headers}),
        )
        .await;
        assert!(
            message.contains(&format!(
                "was redirected to `{other}/health`, another origin; not followed"
            )),
            "{message}"
        );
    }
    let message = refused(
        &ctx,
        "http",
        json!({"method": "POST", "url": format!("{named}/write"), "json": {"secret": "never-forwarded"}}),
    )
    .await;
    assert!(message.contains("not followed"), "{message}");
    assert!(
        other_log.lock().unwrap().is_empty(),
        "the other host received: {:#?}",
        other_log.lock().unwrap()
    );

    let out = run(&ctx, "http", json!({"url": format!("{named}/plain")}))
        .await
        .unwrap_or_else(|e| panic!("a plain GET follows the redirect: {}", e.message));
    assert_eq!(out.outputs["status"], 200);
    let seen = other_log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert!(seen[0].starts_with("GET /plain "), "{seen:#?}");
    assert!(!seen[0].contains("never-forwarded"), "{seen:#?}");
}

/// Gap in finding 7: `http` decided "carries credentials" by header name
/// alone, so a secret in `X-Auth: {{ inputs.pw }}` or in the URL followed a
/// 307 to another host. A registered secret anywhere in a header value or
/// the URL now keeps the request on the named origin.
#[tokio::test]
async fn gap_http_keeps_a_secret_in_any_header_or_the_url_on_the_named_host() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = ctx(dir.path());
    let secret = "pw-by-content-7731";
    ctx.redactor.add(secret);
    let (other, other_log) = recorder();
    let (named, _) = redirector(&other);

    let message = refused(
        &ctx,
        "http",
        json!({"url": format!("{named}/health"), "headers": {"X-Auth": secret}}),
    )
    .await;
    assert!(
        message.contains(&format!(
            "was redirected to `{other}/health`, another origin; not followed"
        )),
        "{message}"
    );
    let message = refused(
        &ctx,
        "http",
        json!({"url": format!("{named}/health?key={secret}")}),
    )
    .await;
    assert!(message.contains("not followed"), "{message}");
    assert!(!message.contains(secret), "{message}");
    assert!(
        other_log.lock().unwrap().is_empty(),
        "the other host received: {:#?}",
        other_log.lock().unwrap()
    );

    // A header that holds no secret does not stop the redirect.
    let out = run(
        &ctx,
        "http",
        json!({"url": format!("{named}/plain"), "headers": {"X-Trace": "abc"}}),
    )
    .await
    .unwrap_or_else(|e| panic!("a plain GET follows the redirect: {}", e.message));
    assert_eq!(out.outputs["status"], 200);
}

/// Finding 9: `vault.snapshot.save` opened `.snap.partial-<pid>` with
/// create+truncate, so a planted symlink redirected the snapshot into
/// another file (left 0644).
#[tokio::test]
async fn finding_9_snapshot_save_does_not_follow_a_planted_symlink() {
    let cluster = OpenBaoCluster::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = ctx(dir.path());
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    // The old predictable name, and a few more pids around ours.
    let pid = std::process::id();
    for p in [pid, pid + 1, pid.saturating_sub(1)] {
        std::os::unix::fs::symlink(&victim, dir.path().join(format!(".snap.bin.partial-{p}")))
            .unwrap();
    }
    let active = cluster.wait_active_addr().await.unwrap();
    let out = run(
        &ctx,
        "vault.snapshot.save",
        json!({"addr": active, "token": cluster.root_token(), "path": "snap.bin"}),
    )
    .await
    .unwrap_or_else(|e| panic!("snapshot.save: {}", e.message));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    let target = dir.path().join("snap.bin");
    let meta = std::fs::symlink_metadata(&target).unwrap();
    assert!(meta.file_type().is_file(), "the snapshot is a regular file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), out.outputs["bytes"].as_u64().unwrap());
    let partials: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lifeboat-partial"))
        .collect();
    assert!(partials.is_empty(), "{partials:?}");
}

/// Finding 9: `s3.get` resumed into an existing `.part`: a planted symlink
/// plus a matching `.part.etag` made it append the object to another file.
#[tokio::test]
async fn finding_9_s3_get_never_resumes_into_a_file_it_did_not_create() {
    let server = S3Server::start().await.unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let (ctx, warnings) = ctx(dir.path());
    let object: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("src.bin"), &object).unwrap();
    let connection = |own: Value| {
        let mut all = server.connection();
        for (k, v) in own.as_object().unwrap() {
            all[k] = v.clone();
        }
        all
    };
    let put = run(
        &ctx,
        "s3.put",
        connection(json!({"key": "obj", "path": "src.bin"})),
    )
    .await
    .unwrap_or_else(|e| panic!("put: {}", e.message));
    let etag = put.outputs["etag"].as_str().unwrap().to_string();

    let victim = dir.path().join("victim");
    std::fs::write(&victim, "ATTACKER").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("out.bin.part")).unwrap();
    std::fs::write(dir.path().join("out.bin.part.etag"), &etag).unwrap();
    std::fs::set_permissions(
        dir.path().join("out.bin.part.etag"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    let out = run(
        &ctx,
        "s3.get",
        connection(json!({"key": "obj", "path": "out.bin"})),
    )
    .await
    .unwrap_or_else(|e| panic!("get: {}", e.message));
    assert_eq!(out.outputs["resumed_from"], 0, "nothing was resumed");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "ATTACKER");
    assert_eq!(std::fs::read(dir.path().join("out.bin")).unwrap(), object);
    let mode = std::fs::metadata(dir.path().join("out.bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!dir.path().join("out.bin.part").exists());
    assert!(std::fs::symlink_metadata(dir.path().join("out.bin.part")).is_err());
    let warned = warnings.0.lock().unwrap().clone();
    assert!(
        warned
            .iter()
            .any(|w| w.contains("out.bin.part` was not created by this user")),
        "{warned:?}"
    );

    // A partial file shared with group or others is not continued either.
    std::fs::write(dir.path().join("out2.bin.part"), &object[..1000]).unwrap();
    std::fs::set_permissions(
        dir.path().join("out2.bin.part"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    std::fs::write(dir.path().join("out2.bin.part.etag"), &etag).unwrap();
    std::fs::set_permissions(
        dir.path().join("out2.bin.part.etag"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = run(
        &ctx,
        "s3.get",
        connection(json!({"key": "obj", "path": "out2.bin"})),
    )
    .await
    .unwrap_or_else(|e| panic!("get: {}", e.message));
    assert_eq!(out.outputs["resumed_from"], 0);
    assert_eq!(std::fs::read(dir.path().join("out2.bin")).unwrap(), object);
}
