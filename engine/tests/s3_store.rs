//! The shared run store against a real S3 server (moto on 127.0.0.1):
//! group commit, positions that fence writers, the lease, the inbox,
//! an unreachable store and refused credentials.
//!
//! Each test starts its own moto (`S3Server` fails, never skips, when moto
//! is missing). Stores are driven from plain threads, as the scheduler's
//! thread drives them: every store call blocks until the store answered.

mod util;

use std::path::Path;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use lifeboat::{
    parse_journal, Event, InboxEntry, LocalRunStore, RunStore, S3Location, S3RunStore,
    S3StoreOptions, StoreError, StoreEvent, JOURNAL_FILE,
};
use lifeboat_harness::s3_server::S3Server;
use util::s3_api::{aws_env, location, moto, note, options, texts};
use util::Sandbox;

/// The keys under `prefix` in the server's bucket, listed without the
/// store (moto does not check signatures).
async fn keys(s3: &S3Server, prefix: &str) -> Vec<String> {
    let url = format!(
        "{}/{}?list-type=2&prefix={prefix}",
        s3.endpoint(),
        s3.bucket()
    );
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    body.split("<Key>")
        .skip(1)
        .filter_map(|part| part.split("</Key>").next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_commit_is_one_object_and_reads_back_in_order() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let local = sandbox.path().join("a");
    let store = S3RunStore::create(
        &location(&s3),
        "r1",
        options(&s3.endpoint(), "alice", &local),
    )
    .unwrap();
    store.append_lazy(&[note(1, "one")]).unwrap();
    store.append_lazy(&[note(2, "two")]).unwrap();
    store.append(&[note(3, "three")]).unwrap();
    store.append_lazy(&[note(4, "four")]).unwrap();
    store.sync().unwrap();
    store.sync().unwrap();
    let objects = keys(&s3, "team/dr/runs/r1/journal/").await;
    assert_eq!(
        objects,
        [
            "team/dr/runs/r1/journal/00000000000000000001.jsonl",
            "team/dr/runs/r1/journal/00000000000000000002.jsonl"
        ],
        "three records in one commit, one in the next, and nothing for an empty sync"
    );

    let other = S3RunStore::open(
        &location(&s3),
        "r1",
        options(&s3.endpoint(), "bob", &sandbox.path().join("b")),
    )
    .unwrap();
    let read = other.read().unwrap();
    assert_eq!(texts(&read.records), ["one", "two", "three", "four"]);
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);

    // Both machines have the record in front of them, in the local format,
    // private to the operator.
    for dir in [local, sandbox.path().join("b")] {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(JOURNAL_FILE)), 0o600);
        let bytes = std::fs::read(dir.join(JOURNAL_FILE)).unwrap();
        let copy = parse_journal(&bytes, "copy").unwrap();
        assert_eq!(texts(&copy.records), ["one", "two", "three", "four"]);
    }

    store.put_file("runbook.yaml", b"title: t\n").unwrap();
    assert_eq!(other.get_file("runbook.yaml").unwrap(), b"title: t\n");
    assert!(matches!(
        S3RunStore::open(
            &location(&s3),
            "nope",
            options(&s3.endpoint(), "bob", &sandbox.path().join("c"))
        ),
        Err(StoreError::NotFound(_))
    ));
    assert!(
        !sandbox.path().join("c").exists(),
        "a run that cannot be opened leaves nothing behind"
    );
    let err = S3RunStore::create(
        &location(&s3),
        "r1",
        options(&s3.endpoint(), "carol", &sandbox.path().join("d")),
    )
    .err()
    .expect("a second create of r1 is refused")
    .to_string();
    assert!(err.contains("run `r1` already exists"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_writers_racing_for_a_position_one_wins_and_the_other_stops() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    for round in 0..20 {
        let run = format!("race{round}");
        let alice = S3RunStore::create(
            &location(&s3),
            &run,
            options(
                &s3.endpoint(),
                "alice",
                &sandbox.path().join(format!("a{round}")),
            ),
        )
        .unwrap();
        alice.append(&[note(1, "start")]).unwrap();
        let bob = S3RunStore::open(
            &location(&s3),
            &run,
            options(
                &s3.endpoint(),
                "bob",
                &sandbox.path().join(format!("b{round}")),
            ),
        )
        .unwrap();
        alice.read().unwrap();
        bob.read().unwrap();

        let barrier = Barrier::new(2);
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                barrier.wait();
                alice.append(&[note(2, "alice")])
            });
            let b = scope.spawn(|| {
                barrier.wait();
                bob.append(&[note(2, "bob")])
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        let (winner, loser, loser_store, lost) = match (a, b) {
            (Ok(()), Err(e)) => ("alice", "bob", &bob, e),
            (Err(e), Ok(())) => ("bob", "alice", &alice, e),
            (a, b) => panic!("round {round}: exactly one must win: alice {a:?}, bob {b:?}"),
        };
        let message = lost.to_string();
        assert!(
            matches!(lost, StoreError::LostRace { position: 2, .. }),
            "{message}"
        );
        assert!(
            message.contains(&format!("({winner} on ")) && message.contains("position 2 first"),
            "round {round}: the loser's error names the winner: {message}"
        );
        let again = loser_store.append(&[note(2, loser)]).unwrap_err();
        assert!(
            matches!(again, StoreError::Fenced { .. }),
            "the loser refuses every later write: {again}"
        );
        assert!(loser_store.append_lazy(&[note(2, loser)]).is_err());

        let read = S3RunStore::open(
            &location(&s3),
            &run,
            options(
                &s3.endpoint(),
                "carol",
                &sandbox.path().join(format!("c{round}")),
            ),
        )
        .unwrap()
        .read()
        .unwrap();
        assert_eq!(texts(&read.records), ["start", winner]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_lease_acquisitions_have_exactly_one_holder() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let first = S3RunStore::create(
        &location(&s3),
        "leased",
        options(&s3.endpoint(), "origin", &sandbox.path().join("origin")),
    )
    .unwrap();
    first.append(&[note(1, "start")]).unwrap();
    let stores: Vec<S3RunStore> = (0..20)
        .map(|i| {
            S3RunStore::open(
                &location(&s3),
                "leased",
                options(
                    &s3.endpoint(),
                    &format!("op{i}"),
                    &sandbox.path().join(format!("op{i}")),
                ),
            )
            .unwrap()
        })
        .collect();
    let barrier = Barrier::new(stores.len());
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                scope.spawn(|| {
                    barrier.wait();
                    store.lock()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let holders: Vec<usize> = (0..results.len()).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(holders.len(), 1, "exactly one holder: {holders:?}");
    let holder = format!("op{}", holders[0]);
    for result in &results {
        if let Err(e) = result {
            match e {
                StoreError::Locked {
                    driver: Some(driver),
                    ..
                } => assert_eq!(driver.holder, holder, "{e}"),
                other => panic!("a loser is told who holds the lease: {other}"),
            }
            let message = e.to_string();
            assert!(
                message.contains(&format!("driven by `{holder}` on `"))
                    && message.contains("lease until")
                    && message.contains("--take-over"),
                "{message}"
            );
        }
    }
    let lease = first.lease().unwrap().expect("a lease");
    assert_eq!(lease.holder, holder);
    assert_eq!(lease.epoch, 1);
    drop(results);
    // Released on drop: the next engine takes it without waiting.
    let lease = first.lease().unwrap().expect("a lease");
    assert!(lease.released, "{lease:?}");
    let _guard = first.lock().unwrap();
    assert_eq!(first.lease().unwrap().unwrap().epoch, 2);
}

/// Writes `lease.json` as a holder that died without releasing it would
/// have left it.
async fn plant_lease(s3: &S3Server, run: &str, holder: &str, expires_at: &str) {
    let body = serde_json::json!({
        "holder": holder, "machine": "ghost-host", "pid": 1, "epoch": 7,
        "expires_at": expires_at,
    });
    let url = format!(
        "{}/{}/team/dr/runs/{run}/lease.json",
        s3.endpoint(),
        s3.bucket()
    );
    let response = reqwest::Client::new()
        .put(&url)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_lease_is_taken_by_exactly_one_compare_and_swap() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let origin = S3RunStore::create(
        &location(&s3),
        "expired",
        options(&s3.endpoint(), "origin", &sandbox.path().join("origin")),
    )
    .unwrap();
    origin.append(&[note(1, "start")]).unwrap();
    plant_lease(&s3, "expired", "ghost", "2026-01-01T00:00:00.000Z").await;

    let stores: Vec<S3RunStore> = (0..10)
        .map(|i| {
            S3RunStore::open(
                &location(&s3),
                "expired",
                options(
                    &s3.endpoint(),
                    &format!("op{i}"),
                    &sandbox.path().join(format!("op{i}")),
                ),
            )
            .unwrap()
        })
        .collect();
    let barrier = Barrier::new(stores.len());
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                scope.spawn(|| {
                    barrier.wait();
                    store.take_over(false)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..results.len()).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "one compare-and-swap wins: {winners:?}");
    let won = results[winners[0]].as_ref().unwrap();
    assert_eq!(won.previous, None, "an expired lease is not a live driver");
    let lease = origin.lease().unwrap().unwrap();
    assert_eq!(lease.holder, format!("op{}", winners[0]));
    assert_eq!(lease.epoch, 8, "a new holder is a new epoch");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_lease_is_refused_and_taken_over_only_when_forced() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let alice = S3RunStore::create(
        &location(&s3),
        "live",
        options(&s3.endpoint(), "alice", &sandbox.path().join("a")),
    )
    .unwrap();
    alice.append(&[note(1, "start")]).unwrap();
    let _held = alice.lock().unwrap();
    let bob = S3RunStore::open(
        &location(&s3),
        "live",
        options(&s3.endpoint(), "bob", &sandbox.path().join("b")),
    )
    .unwrap();
    let refused = bob.take_over(false).err().expect("a live lease is refused");
    let message = refused.to_string();
    assert!(
        message.starts_with("run `live` is driven by `alice` on `")
            && message.contains("lease until 20"),
        "{message}"
    );
    let taken = bob.take_over(true).unwrap();
    let previous = taken.previous.clone().expect("taken from a live driver");
    assert_eq!(previous.holder, "alice");
    assert_eq!(bob.lease().unwrap().unwrap().holder, "bob");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_holder_is_fenced_after_a_take_over() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let mut alice_options = options(&s3.endpoint(), "alice", &sandbox.path().join("a"));
    alice_options.lease_ttl = Duration::from_secs(3);
    let alice = S3RunStore::create(&location(&s3), "stale", alice_options).unwrap();
    let _alice_lease = alice.lock().unwrap();
    alice.append(&[note(1, "start")]).unwrap();

    let bob = S3RunStore::open(
        &location(&s3),
        "stale",
        options(&s3.endpoint(), "bob", &sandbox.path().join("b")),
    )
    .unwrap();
    let taken = bob.take_over(true).unwrap();
    assert_eq!(
        taken.previous.as_ref().map(|d| d.holder.as_str()),
        Some("alice")
    );
    let read = bob.read().unwrap();
    assert_eq!(texts(&read.records), ["start"]);

    // Alice's next renewal (every second) fails its compare-and-swap; from
    // then on she refuses to write, without asking the store.
    let deadline = Instant::now() + Duration::from_secs(20);
    let fenced = loop {
        match alice.append_lazy(&[note(2, "alice after the take-over")]) {
            Err(e) => break e,
            Ok(()) if Instant::now() > deadline => panic!("alice was never fenced"),
            Ok(()) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let message = fenced.to_string();
    assert!(
        matches!(fenced, StoreError::Fenced { .. })
            && message.contains("lost the run's lease")
            && message.contains("`bob` on `"),
        "{message}"
    );
    assert!(matches!(
        alice.append(&[note(2, "alice")]),
        Err(StoreError::Fenced { .. })
    ));

    bob.append(&[note(2, "bob drives")]).unwrap();
    assert_eq!(texts(&bob.read().unwrap().records), ["start", "bob drives"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_writer_fails_at_the_store_even_before_its_renewal() {
    // The lease keeps two drivers apart; the position claimed at the take-over is what
    // keeps the journal safe when the old driver has not noticed yet.
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let alice = S3RunStore::create(
        &location(&s3),
        "claimed",
        options(&s3.endpoint(), "alice", &sandbox.path().join("a")),
    )
    .unwrap();
    let _alice_lease = alice.lock().unwrap();
    alice.append(&[note(1, "start")]).unwrap();
    let bob = S3RunStore::open(
        &location(&s3),
        "claimed",
        options(&s3.endpoint(), "bob", &sandbox.path().join("b")),
    )
    .unwrap();
    let _bob_lease = bob.take_over(true).unwrap();
    let lost = alice.append(&[note(2, "alice")]).unwrap_err();
    let message = lost.to_string();
    assert!(
        matches!(lost, StoreError::LostRace { .. })
            && message.contains("(bob on ")
            && message.contains("`bob` on `")
            && message.contains("drives the run now"),
        "{message}"
    );
    assert_eq!(texts(&bob.read().unwrap().records), ["start"]);
}

fn inbox_round_trip(store: &dyn RunStore) {
    assert!(store.list_inbox().unwrap().is_empty());
    let first = InboxEntry::new(
        "bob",
        Event::Note {
            text: "restore approved by phone".into(),
        },
    );
    let second = InboxEntry::new(
        "carol",
        Event::Note {
            text: "second".into(),
        },
    );
    let a = store.post_decision(&first).unwrap();
    let b = store.post_decision(&second).unwrap();
    assert_ne!(a, b);
    let listed = store.list_inbox().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, a);
    assert_eq!(listed[0].entry.as_ref(), Ok(&first));
    assert_eq!(listed[1].entry.as_ref(), Ok(&second));
    store.remove_inbox(&[a]).unwrap();
    let listed = store.list_inbox().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, b);
    assert!(store.remove_inbox(&["../journal.jsonl".into()]).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_go_through_the_inbox_on_both_stores() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let local = LocalRunStore::create(&sandbox.path().join("runs"), "r1").unwrap();
    let _driver = local.lock().unwrap();
    inbox_round_trip(&local);

    let shared = S3RunStore::create(
        &location(&s3),
        "r1",
        options(&s3.endpoint(), "alice", &sandbox.path().join("s3")),
    )
    .unwrap();
    shared.append(&[note(1, "start")]).unwrap();
    let _lease = shared.lock().unwrap();
    let poster = S3RunStore::open(
        &location(&s3),
        "r1",
        options(&s3.endpoint(), "bob", &sandbox.path().join("poster")),
    )
    .unwrap();
    // Posting needs no lease, and the driver sees it.
    let name = poster
        .post_decision(&InboxEntry::new("bob", Event::Note { text: "hi".into() }))
        .unwrap();
    assert_eq!(shared.list_inbox().unwrap()[0].name, name);
    shared.remove_inbox(&[name]).unwrap();
    inbox_round_trip(&shared);
}

fn recording_observer(options: &mut S3StoreOptions) -> Arc<Mutex<Vec<StoreEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    options.observer = Some(Arc::new(move |e: &StoreEvent| {
        seen.lock().unwrap().push(e.clone())
    }));
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_while_the_store_is_paused_retries_and_succeeds() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let mut opts = options(&s3.endpoint(), "alice", &sandbox.path().join("a"));
    let events = recording_observer(&mut opts);
    let store = S3RunStore::create(&location(&s3), "paused", opts).unwrap();
    store.append(&[note(1, "before")]).unwrap();

    // Longer than one attempt may take (5 s): the first attempt times out
    // while its request waits in the paused server's socket, and moto
    // handles it on SIGCONT; the retry then finds its own object there.
    s3.pause();
    let appended = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_secs(8));
            s3.resume();
        });
        store.append(&[note(2, "during")])
    });
    appended.unwrap();
    let events = events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StoreEvent::Retrying { .. })),
        "each retry is reported: {events:?}"
    );
    let shown = events[0].to_string();
    assert!(shown.starts_with("store unreachable ("), "{shown}");
    assert!(events
        .iter()
        .any(|e| matches!(e, StoreEvent::Recovered { .. })));
    assert_eq!(texts(&store.read().unwrap().records), ["before", "during"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_paused_past_its_timeout_is_unreachable_and_resumable() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let mut opts = options(&s3.endpoint(), "alice", &sandbox.path().join("a"));
    opts.store_timeout = Duration::from_secs(2);
    let store = S3RunStore::create(&location(&s3), "gone", opts).unwrap();
    store.append(&[note(1, "before")]).unwrap();

    s3.pause();
    let result = store.append(&[note(2, "during")]);
    s3.resume();
    let err = result.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{message}");
    assert!(
        message.starts_with(&format!(
            "the store `s3://{}/team/dr` at endpoint `{}` did not answer for ",
            s3.bucket(),
            s3.endpoint()
        )) && message.contains("`lifeboat resume`"),
        "{message}"
    );
    // The write may or may not have landed: this store never writes again,
    // and the journal reads back whole either way.
    assert!(matches!(
        store.append(&[note(2, "after")]),
        Err(StoreError::Fenced { .. })
    ));
    let read = S3RunStore::open(
        &location(&s3),
        "gone",
        options(&s3.endpoint(), "bob", &sandbox.path().join("b")),
    )
    .unwrap()
    .read()
    .unwrap();
    let texts = texts(&read.records);
    assert!(
        texts == ["before"] || texts == ["before", "during"],
        "{texts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_a_missing_bucket_and_a_wrong_endpoint_each_say_the_fix() {
    aws_env();
    let refusing = S3Server::start_refusing_credentials()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sandbox = Sandbox::new();
    let err = S3RunStore::create(
        &location(&refusing),
        "r1",
        options(&refusing.endpoint(), "alice", &sandbox.path().join("a")),
    )
    .err()
    .expect("refused");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Misconfigured(_)), "{message}");
    assert!(
        message.starts_with(&format!(
            "access to bucket `{}` at endpoint `{}` was denied (",
            refusing.bucket(),
            refusing.endpoint()
        )) && message.contains(&format!(
            "using access key `{}` from `AWS_ACCESS_KEY_ID`; check `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`",
            S3Server::ACCESS_KEY_ID
        )),
        "{message}"
    );
    assert!(!message.contains(S3Server::SECRET_ACCESS_KEY), "{message}");

    let s3 = moto().await;
    let missing = S3Location {
        bucket: "no-such-bucket".into(),
        prefix: String::new(),
    };
    let message = S3RunStore::create(
        &missing,
        "r1",
        options(&s3.endpoint(), "alice", &sandbox.path().join("b")),
    )
    .err()
    .expect("no bucket")
    .to_string();
    assert_eq!(
        message,
        format!(
            "bucket `no-such-bucket` does not exist at endpoint `{}`; create it, or fix the bucket in `--store s3://BUCKET/PREFIX` (or `LIFEBOAT_STORE`) and the endpoint in `AWS_ENDPOINT_URL`",
            s3.endpoint()
        )
    );

    let mut wrong = options(&s3.endpoint(), "alice", &sandbox.path().join("c"));
    let nothing = format!("http://127.0.0.1:{}", lifeboat_harness::tools::free_port());
    wrong.endpoint = Some(nothing.clone());
    let message = S3RunStore::create(&location(&s3), "r1", wrong)
        .err()
        .expect("nothing listens there")
        .to_string();
    assert!(
        message.starts_with(&format!(
            "cannot reach the store `s3://{}/team/dr` at endpoint `{nothing}` (",
            s3.bucket()
        )) && message.ends_with(
            "); check `AWS_ENDPOINT_URL` and that the server is running, then run the command again"
        ),
        "{message}"
    );
    assert!(!message.contains(S3Server::SECRET_ACCESS_KEY), "{message}");
}

/// PUTs an object straight into the bucket, as a damaged or foreign writer
/// would have left it.
async fn plant(s3: &S3Server, key: &str, body: &str) {
    let url = format!("{}/{}/{key}", s3.endpoint(), s3.bucket());
    let response = reqwest::Client::new()
        .put(&url)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn damage_names_the_object_and_the_line_inside_it() {
    let s3 = moto().await;
    let sandbox = Sandbox::new();
    let store = S3RunStore::create(
        &location(&s3),
        "damaged",
        options(&s3.endpoint(), "alice", &sandbox.path().join("a")),
    )
    .unwrap();
    store.append(&[note(1, "one"), note(2, "two")]).unwrap();
    let journal = "team/dr/runs/damaged/journal";
    plant(
        &s3,
        &format!("{journal}/00000000000000000002.jsonl"),
        "{\"crc\":\"00000000\",\"rec\":{}}\n",
    )
    .await;
    let err = store.read().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "the journal `s3://{}/{journal}/00000000000000000002.jsonl` is damaged at line 1: checksum mismatch",
            s3.bucket()
        )),
        "{err}"
    );

    plant(&s3, &format!("{journal}/00000000000000000004.jsonl"), "").await;
    let err = store.read().unwrap_err().to_string();
    assert!(
        err.contains("position 3 is missing (the next object is position 4)"),
        "{err}"
    );
}
