//! What the shared store costs per durable append, on moto:
//!
//! - 100 sequential one-record `append`s through `S3RunStore` (holding the
//!   run's lease, as a driving engine does);
//! - 100 `append`s on `LocalRunStore` (write + fsync);
//! - 100 bare conditional PUTs (`If-None-Match: *`) of the same size, from
//!   the same SDK: the floor.
//!
//! The target: `(s3 - local) / bare_put <= 1.2`, i.e. a step costs
//! at most the local cost plus 1.2 conditional PUTs. Three rounds are run,
//! interleaved, and the median of each figure is reported.
//!
//! `cargo bench -p lifeboat --bench s3_store` (needs `moto_server`, as the
//! tests do).

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use lifeboat::{
    Event, LocalRunStore, Record, RunStore, S3Location, S3RunStore, S3StoreOptions, JOURNAL_FILE,
    JOURNAL_VERSION,
};
use lifeboat_harness::s3_server::S3Server;
use lifeboat_steps::s3::connection::Connection;

const APPENDS: usize = 100;
const ROUNDS: usize = 3;

fn record(seq: u64) -> Record {
    Record {
        v: JOURNAL_VERSION,
        seq,
        ts: "2026-12-01T10:00:00.000Z".into(),
        actor: "bench".into(),
        inbox: None,
        signed: None,
        prev: None,
        event: Event::Note {
            text: format!("step {seq} finished"),
        },
    }
}

fn per_op(total: Duration) -> Duration {
    total / APPENDS as u32
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    std::env::set_var("AWS_ACCESS_KEY_ID", S3Server::ACCESS_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", S3Server::SECRET_ACCESS_KEY);
    std::env::set_var("AWS_REGION", S3Server::REGION);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let s3 = runtime
        .block_on(S3Server::start())
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("a temp dir");
    let location = S3Location {
        bucket: s3.bucket().to_string(),
        prefix: "bench".to_string(),
    };
    let bare = runtime.block_on(async {
        Connection {
            bucket: s3.bucket().to_string(),
            region: None,
            endpoint: Some(s3.endpoint()),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
        }
        .build_client()
        .await
    });

    let (mut local_times, mut s3_times, mut bare_times) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let run = format!("bench{round}");

        let local = LocalRunStore::create(&dir.path().join("runs"), &run).expect("a local run");
        local.append(&[record(1)]).expect("append");
        let started = Instant::now();
        for seq in 2..=APPENDS as u64 + 1 {
            local.append(&[record(seq)]).expect("append");
        }
        local_times.push(per_op(started.elapsed()));
        let line = std::fs::read_to_string(local.dir().join(JOURNAL_FILE))
            .expect("the journal")
            .lines()
            .nth(1)
            .expect("a line")
            .to_string()
            + "\n";

        let mut options = S3StoreOptions::new("bench", &dir.path().join("copy").join(&run));
        options.endpoint = Some(s3.endpoint());
        let shared = S3RunStore::create(&location, &run, options).expect("an S3 run");
        let _lease = shared.lock().expect("the lease");
        shared.append(&[record(1)]).expect("append");
        let started = Instant::now();
        for seq in 2..=APPENDS as u64 + 1 {
            shared.append(&[record(seq)]).expect("append");
        }
        s3_times.push(per_op(started.elapsed()));

        let elapsed = runtime.block_on(async {
            let started = Instant::now();
            for i in 0..APPENDS {
                bare.put_object()
                    .bucket(s3.bucket())
                    .key(format!("bare/{round}/{i:020}.jsonl"))
                    .if_none_match("*")
                    .body(ByteStream::from(line.clone().into_bytes()))
                    .send()
                    .await
                    .expect("a bare PUT");
            }
            started.elapsed()
        });
        bare_times.push(per_op(elapsed));
    }

    let (local, s3_store, bare_put) = (median(local_times), median(s3_times), median(bare_times));
    let ratio = (s3_store.as_secs_f64() - local.as_secs_f64()) / bare_put.as_secs_f64();
    println!("{APPENDS} sequential one-record appends, median of {ROUNDS} rounds, per op:");
    println!(
        "  S3RunStore on moto      {:>8.3} ms",
        s3_store.as_secs_f64() * 1e3
    );
    println!(
        "  LocalRunStore           {:>8.3} ms",
        local.as_secs_f64() * 1e3
    );
    println!(
        "  bare conditional PUT    {:>8.3} ms",
        bare_put.as_secs_f64() * 1e3
    );
    println!("  (s3 - local) / bare_put {ratio:>8.2}   (target <= 1.2)");
    println!(
        "  s3 store over a bare PUT {:>7.3} ms   (the store's own cost: thread hop, encoding, local copy)",
        (s3_store.as_secs_f64() - bare_put.as_secs_f64()) * 1e3
    );
}
