//! Runs one `s3.*` step (any kind, in fact) outside the engine, for the
//! `benches/s3_get.sh` benchmark and for trying parameters by hand:
//!
//! ```text
//! cargo run --release -p lifeboat-steps --example s3_step -- s3.get \
//!   '{"bucket": "b", "endpoint": "http://127.0.0.1:9000", "key": "k", "path": "/tmp/k"}'
//! ```
//!
//! Prints the step's outputs as JSON on stdout and the wall time on stderr.

use std::time::Instant;

use lifeboat_steps::{Registry, StepContext};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, params] = args.as_slice() else {
        eprintln!("usage: s3_step <kind> '<params as JSON>'");
        std::process::exit(2);
    };
    let registry = Registry::builtin();
    let Some(step) = registry.get(kind) else {
        eprintln!("unknown kind `{kind}`");
        std::process::exit(2);
    };
    let params: serde_json::Value = match serde_json::from_str(params) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("the parameters are not JSON: {e}");
            std::process::exit(2);
        }
    };
    let cwd = std::env::current_dir().expect("a current directory");
    let ctx = StepContext::standalone("s3_step", cwd);
    let started = Instant::now();
    let result = step.run(&ctx, params).await;
    let elapsed = started.elapsed().as_secs_f64();
    match result {
        Ok(out) => {
            println!("{}", serde_json::Value::Object(out.outputs));
            eprintln!("{kind}: {elapsed:.3} s");
        }
        Err(e) => {
            eprintln!("{kind} failed after {elapsed:.3} s: {}", e.message);
            std::process::exit(1);
        }
    }
}
