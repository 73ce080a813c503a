//! What a shared run costs per step, end to end: 100 sequential `/bin/true`
//! steps run by the `lifeboat` binary
//!
//! - with the S3 store on moto (`LIFEBOAT_STORE=s3://…`),
//! - with the local store (the same runbook),
//! - against 100 bare conditional PUTs (`If-None-Match: *`) of a journal
//!   object's size, from the same SDK: the floor.
//!
//! The target: `(s3 - local) / put <= 1.2`, i.e. a step costs at
//! most the local cost plus 1.2 conditional PUTs. Three rounds are run,
//! interleaved, and the median of each figure is reported per step: the
//! time of a 100-step run less that of a 1-step run, over 99, so that what
//! a run costs whatever its length (start, lease, files, timeline) is left
//! out.
//!
//! `cargo bench -p lifeboat --bench shared_overhead` (needs `moto_server`,
//! as the tests do).

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use lifeboat_harness::s3_server::S3Server;
use lifeboat_steps::s3::connection::Connection;

const STEPS: usize = 100;
const ROUNDS: usize = 3;

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let s3 = runtime
        .block_on(S3Server::start())
        .unwrap_or_else(|e| panic!("{e}"));
    std::env::set_var("AWS_ACCESS_KEY_ID", S3Server::ACCESS_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", S3Server::SECRET_ACCESS_KEY);
    std::env::set_var("AWS_REGION", S3Server::REGION);
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
    // About one group commit of a step: its start and its predecessor's
    // result.
    let object = "x".repeat(600) + "\n";
    let dir = tempfile::tempdir().expect("a temp dir");
    let bin = env!("CARGO_BIN_EXE_lifeboat");
    for (label, rerun) in [
        (
            "default rerun (never: a durable write before and after each step)",
            "",
        ),
        (
            "rerun: safe (the start shares the next durable write: one per step)",
            "    rerun: safe\n",
        ),
    ] {
        // A run of one step measures what a run costs whatever its length
        // (starting, the lease, the run's files, the timeline at the end);
        // the per-step figure leaves it out.
        let write = |steps: usize| {
            let mut yaml = String::from("version: 1\nname: shared-overhead\nsteps:\n");
            for i in 0..steps {
                yaml.push_str(&format!(
                    "  - id: s{i}\n    kind: shell\n{rerun}    with: {{ run: [\"/bin/true\"] }}\n"
                ));
                if i > 0 {
                    yaml.push_str(&format!("    needs: [s{}]\n", i - 1));
                }
            }
            let runbook = dir.path().join(format!("overhead{steps}.yaml"));
            std::fs::write(&runbook, yaml).unwrap();
            runbook
        };
        let (long, short) = (write(STEPS), write(1));
        let once = |runbook: &std::path::Path, store: &Option<String>| {
            let mut cmd = Command::new(bin);
            cmd.args([
                "run",
                runbook.to_str().unwrap(),
                "--new",
                "--output",
                "json",
            ])
            .env("LIFEBOAT_STATE_DIR", dir.path().join("state"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", s3.endpoint());
            match store {
                Some(url) => cmd.env("LIFEBOAT_STORE", url),
                None => cmd.env_remove("LIFEBOAT_STORE"),
            };
            let started = Instant::now();
            let out = cmd.output().expect("lifeboat runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            started.elapsed()
        };
        let run = |store: Option<String>| {
            let whole = once(&long, &store);
            let fixed = once(&short, &store);
            whole.saturating_sub(fixed) / (STEPS - 1) as u32
        };
        let (mut local, mut shared, mut puts) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            local.push(run(None));
            let prefix = format!("bench{}-{round}", rerun.len());
            shared.push(run(Some(format!("s3://{}/{prefix}", s3.bucket()))));
            let elapsed = runtime.block_on(async {
                let started = Instant::now();
                for i in 0..STEPS {
                    bare.put_object()
                        .bucket(s3.bucket())
                        .key(format!("bare/{prefix}/{i:020}.jsonl"))
                        .if_none_match("*")
                        .body(ByteStream::from(object.clone().into_bytes()))
                        .send()
                        .await
                        .expect("a bare PUT");
                }
                started.elapsed()
            });
            puts.push(elapsed / STEPS as u32);
        }
        let (local, shared, put) = (median(local), median(shared), median(puts));
        let ratio = (shared.as_secs_f64() - local.as_secs_f64()) / put.as_secs_f64();
        println!(
            "{STEPS} sequential /bin/true steps, {label}; median of {ROUNDS} rounds, per step:"
        );
        println!("  lifeboat run, S3 store on moto {:>8.3} ms", ms(shared));
        println!("  lifeboat run, local store      {:>8.3} ms", ms(local));
        println!("  bare conditional PUT           {:>8.3} ms", ms(put));
        println!("  (s3 - local) / put             {ratio:>8.2}   (target <= 1.2 for one durable write per step)");
    }
}
