//! Helpers for tests that drive the real `lifeboat` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch area: a state directory and a place for runbooks and files.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

/// What a finished command produced, with a readable dump for failures.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub command: String,
}

impl Ran {
    /// Everything about the command, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "command: {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
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

    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.dump());
        self
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
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

    /// A command for the binary with this sandbox's state directory.
    pub fn command(&self, args: &[&str]) -> Command {
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
            .env_remove("NO_COLOR");
        cmd
    }

    /// Runs the binary to completion (bounded by the test harness).
    pub fn run(&self, args: &[&str]) -> Ran {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out: Output = cmd.output().expect("lifeboat runs");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            command: format!("lifeboat {}", args.join(" ")),
        }
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
        let mut cmd = self.command_in_terminal(args);
        cmd.env("TERM", "xterm").env_remove("CI");
        let mut p = expectrl::Session::spawn(cmd).expect("spawn in a pty");
        p.get_process_mut()
            .set_window_size(120, 40)
            .expect("window size");
        p.set_expect_timeout(Some(std::time::Duration::from_secs(30)));
        p
    }
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
