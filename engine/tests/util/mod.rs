//! Helpers for tests that drive the real `lifeboat` binary. [`Test`]
//! (`test.rs`) is the one driver; [`Sandbox`] is the place it runs in;
//! [`machine::Machine`] is a sandbox that shares an S3 run store.
#![allow(dead_code)]

pub mod chromium;
pub mod machine;
pub mod s3_api;
pub mod sealing;
mod test;
pub mod war_room;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

#[allow(unused_imports)]
pub use test::{listing, snapshot_settings, Test, RUNBOOK};

/// A scratch area: a state directory, a `HOME` and a place for runbooks
/// and files. Clones share the directory; it is removed when the last
/// clone (a [`Test`] or [`Ran`] holds one) is dropped.
#[derive(Clone)]
pub struct Sandbox {
    pub dir: Arc<tempfile::TempDir>,
}

/// What a finished command produced, with a readable dump for failures.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The command line, as typed.
    pub command: String,
    /// Where and with what environment and stdin it ran, for failures.
    pub context: String,
    /// Where it ran; [`Ran::test`] runs another command there.
    pub sandbox: Sandbox,
}

impl Ran {
    /// Everything about the command, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "command: {}\n{}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.context, self.code, self.stdout, self.stderr
        )
    }

    /// stdout then stderr: everything the command printed.
    pub fn printed(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The run id: the first line of `run`'s stdout.
    pub fn run_id(&self) -> String {
        self.stdout
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Asserts that the engine was killed (a step sent it `kill -9`), as a
    /// crash test's first run is; the run id.
    pub fn killed(&self) -> String {
        assert_eq!(
            self.code,
            -1,
            "the engine should have been killed\n{}",
            self.dump()
        );
        self.run_id()
    }

    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.dump());
        self
    }
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("home")).expect("create HOME");
        Self { dir: Arc::new(dir) }
    }

    /// A [`Test`] in this sandbox.
    pub fn test(&self) -> Test {
        Test::in_sandbox(self)
    }

    /// The `HOME` commands get, so nothing reads or writes the real one.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes a file under the sandbox and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// A run's directory under the state directory.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.state_dir().join("runs").join(run_id)
    }

    /// A run's work directory, where steps run and write files.
    pub fn work_dir(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join("work")
    }

    /// A command for the binary with this sandbox's state directory, `HOME`
    /// and operator, stdin from `/dev/null`: the one place the binary's
    /// environment is set ([`Test`] and [`Sandbox::pty`] build on it).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command_in_terminal(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// The same, with stdin left alone (for a pseudo-terminal).
    fn command_in_terminal(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("LIFEBOAT_STATE_DIR", self.state_dir())
            .env("LIFEBOAT_OPERATOR", "tester")
            .env("HOME", self.home())
            .env_remove("NO_COLOR")
            // Nothing signs or verifies unless a test says so.
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("LIFEBOAT_ALLOWED_SIGNERS")
            // clap wraps help at `COLUMNS`; without it, at 100 columns.
            .env_remove("COLUMNS");
        cmd
    }

    /// Runs the binary to completion, whatever its exit status (bounded by
    /// the test harness): `self.test().args(args).any_status().run()`.
    pub fn run(&self, args: &[&str]) -> Ran {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        self.test()
            .args(args)
            .envs(env.iter().copied())
            .any_status()
            .run()
    }

    /// The journal of a run still being written, for polling: no file yet
    /// is no record, and a last line not yet ended is left out.
    pub fn journal_so_far(&self, run_id: &str) -> Vec<serde_json::Value> {
        let path = self
            .state_dir()
            .join("runs")
            .join(run_id)
            .join("journal.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        whole
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| v["rec"].clone())
            .collect()
    }

    /// The journal of a run, one parsed record per line (the `rec` part).
    pub fn journal(&self, run_id: &str) -> Vec<serde_json::Value> {
        let path = self
            .state_dir()
            .join("runs")
            .join(run_id)
            .join("journal.jsonl");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("journal line is JSON")["rec"]
                    .clone()
            })
            .collect()
    }
}

/// The workspace root, for shipped runbooks.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("engine/ has a parent")
        .to_path_buf()
}

/// The binary in a pseudo-terminal, driven by keystrokes (expectrl).
pub type Pty = expectrl::session::OsSession;

impl Sandbox {
    /// Starts the binary in a pseudo-terminal, as an operator at a terminal.
    pub fn pty(&self, args: &[&str]) -> Pty {
        start_pty(self.pty_command(args), 120)
    }

    /// The command [`Sandbox::pty`] starts, to adjust its environment first
    /// (then [`start_pty`]): the sandbox's environment, `TERM=xterm`, not CI.
    pub fn pty_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command_in_terminal(args);
        cmd.env("TERM", "xterm").env_remove("CI");
        cmd
    }
}

/// Starts `cmd` in a pseudo-terminal `columns` wide and 40 lines high, with
/// 30 seconds for each expectation.
pub fn start_pty(cmd: Command, columns: u16) -> Pty {
    let mut p = expectrl::Session::spawn(cmd).expect("spawn in a pty");
    p.get_process_mut()
        .set_window_size(columns, 40)
        .expect("window size");
    p.set_expect_timeout(Some(std::time::Duration::from_secs(30)));
    p
}

/// Waits for `needle` on the terminal.
pub fn expect(p: &mut Pty, needle: &str) {
    use expectrl::Expect;
    if let Err(e) = p.expect(needle) {
        panic!("did not see `{needle}` on the terminal: {e}");
    }
}

/// Types `keys` (`\r` is Enter, `j` moves down a menu).
pub fn send(p: &mut Pty, keys: &str) {
    use expectrl::Expect;
    p.send(keys).expect("send keys");
}

/// Reads to the end and returns the exit code.
pub fn exit_code(mut p: Pty) -> i32 {
    use expectrl::Expect;
    let _ = p.expect(expectrl::Eof);
    match p.get_process().wait().expect("wait") {
        expectrl::process::unix::WaitStatus::Exited(_, code) => code,
        other => panic!("lifeboat did not exit normally: {other:?}"),
    }
}

/// Files under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
            {
                hits.push(path);
            }
        }
    }
    hits
}
