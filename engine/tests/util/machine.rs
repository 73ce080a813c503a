//! One operator's "machine" for shared runs: its own [`Sandbox`] (HOME and
//! state directory) and the environment that reaches the S3 store (moto on
//! 127.0.0.1). Machines share nothing but that store.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lifeboat_harness::s3_server::S3Server;

use super::{Ran, Sandbox, Test};

/// One operator's machine: a sandbox, the store and a name.
pub struct Machine {
    pub sb: Sandbox,
    pub env: Vec<(String, String)>,
}

impl Machine {
    /// A machine in a new sandbox whose store is `s3://BUCKET/prefix`.
    pub fn new(s3: &S3Server, prefix: &str, operator: &str) -> Self {
        Self::in_sandbox(Sandbox::new(), s3, prefix, operator)
    }

    /// The same, in an existing sandbox (with the files it already holds).
    pub fn in_sandbox(sb: Sandbox, s3: &S3Server, prefix: &str, operator: &str) -> Self {
        let env = vec![
            ("LIFEBOAT_STORE".to_string(), Self::store(s3, prefix)),
            ("AWS_ENDPOINT_URL".into(), s3.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), s3.access_key_id().into()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                s3.secret_access_key().into(),
            ),
            ("AWS_REGION".into(), s3.region().into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("LIFEBOAT_OPERATOR".into(), operator.into()),
        ];
        Self { sb, env }
    }

    /// The store's URL, as `--store` takes it.
    pub fn store(s3: &S3Server, prefix: &str) -> String {
        format!("s3://{}/{prefix}", s3.bucket())
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn test(&self, args: &[&str]) -> Test {
        self.sb
            .test()
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        self.test(args).any_status().run()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.test(args)
            .with_command(|cmd| {
                cmd.stderr(Stdio::piped());
            })
            .spawn()
    }

    /// Starts `lifeboat ARGS` on this machine; `name` names its output
    /// files (`NAME.stdout`, `NAME.stderr`) in the sandbox.
    pub fn start(&self, name: &str, args: &[String]) -> Engine {
        let out = self.sb.path().join(format!("{name}.stdout"));
        let err = self.sb.path().join(format!("{name}.stderr"));
        let (o, e) = (
            std::fs::File::create(&out).unwrap(),
            std::fs::File::create(&err).unwrap(),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = self
            .test(&args)
            .with_command(move |cmd| {
                cmd.stdout(o).stderr(e);
            })
            .spawn();
        Engine { child, out, err }
    }
}

/// A spawned engine whose stdout and stderr go to files in its sandbox, so
/// that it never blocks on a pipe and its output is there after a kill.
pub struct Engine {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Engine {
    /// What it printed so far: stdout, then stderr.
    pub fn printed(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("{}\n--- stderr ---\n{}", read(&self.out), read(&self.err))
    }

    /// The run id: the first line of `run`'s stdout.
    pub fn run_id(&mut self) -> String {
        let mut id = String::new();
        let out = self.out.clone();
        self.wait_until("the run id", Duration::from_secs(30), || {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if let Some((first, _)) = text.split_once('\n') {
                id = first.trim().to_string();
            }
            !id.is_empty()
        });
        id
    }

    /// Polls `done` (bounded by `limit`) while the engine runs; an engine
    /// that exits first, or a timeout, fails the test with its output.
    pub fn wait_until(&mut self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let until = Instant::now() + limit;
        loop {
            if done() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the engine exited ({status}) before {what}\n{}",
                    self.printed()
                );
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("timed out waiting for {what}\n{}", self.printed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (bounded) for the engine to exit; its code and output.
    pub fn finish(mut self, limit: Duration) -> (i32, String) {
        let until = Instant::now() + limit;
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the engine did not finish in {limit:?}\n{}", self.printed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        (code, self.printed())
    }
}

/// The output of a finished child, stdout then stderr.
pub fn output(child: Child) -> (i32, String) {
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Reads the first line (the run id) of a spawned `run`.
pub fn read_run_id(child: &mut Child) -> String {
    let mut stdout = child.stdout.take().expect("stdout piped");
    let mut id = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        id.push(byte[0]);
    }
    // Keep draining, so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });
    String::from_utf8(id).expect("utf-8 run id")
}

pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
