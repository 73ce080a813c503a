//! The one driver of the `lifeboat` binary for end-to-end tests: a builder
//! in the style of just's `Test`. A test states the session it expects,
//! runbook, arguments and environment, then the exit status, stdout and
//! stderr:
//!
//! ```ignore
//! Test::new()
//!     .runbook("version: 1\nname: drill\n…")
//!     .args(["validate", RUNBOOK])
//!     .status(0)
//!     .stderr("")
//!     .run();
//! ```
//!
//! Every command runs in a [`Sandbox`]: its own temporary directory as the
//! working directory and `HOME`, a private state directory
//! (`LIFEBOAT_STATE_DIR`), a fixed operator and stdin from `/dev/null`
//! unless [`Test::stdin`] gives text. [`Test::run`] returns a [`Ran`] that
//! keeps the sandbox, so a test can go on in the same state directory
//! (`ran.test().args(["status", &id])`). On a mismatch the failure names the
//! command, its directory and environment, lists the sandbox's files and
//! prints both streams.
//!
//! What users read is pinned with insta snapshots through
//! [`Ran::snapshot_settings`] (one set of filters for times, durations, run
//! ids and paths; see [`snapshot_settings`]).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{workspace, Ran, Sandbox};

/// The file [`Test::runbook`] writes, to name in arguments.
pub const RUNBOOK: &str = "runbook.yaml";

type CommandHook = Box<dyn FnOnce(&mut Command)>;

/// One invocation of the binary and what it must produce.
#[must_use]
pub struct Test {
    sandbox: Sandbox,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    stdin: Option<String>,
    current_dir: Option<PathBuf>,
    status: Option<i32>,
    stdout: Option<String>,
    stderr: Option<String>,
    hooks: Vec<CommandHook>,
    note: Option<String>,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    /// A test in a fresh sandbox, expecting exit status 0.
    pub fn new() -> Self {
        Self::in_sandbox(&Sandbox::new())
    }

    /// A test in an existing sandbox (the same state directory and files).
    pub fn in_sandbox(sandbox: &Sandbox) -> Self {
        Self {
            sandbox: sandbox.clone(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            current_dir: None,
            status: Some(0),
            stdout: None,
            stderr: None,
            hooks: Vec::new(),
            note: None,
        }
    }

    /// The sandbox the command will run in, for paths before the run.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Writes `yaml` to [`RUNBOOK`] in the sandbox.
    pub fn runbook(self, yaml: &str) -> Self {
        self.file(RUNBOOK, yaml)
    }

    /// Writes `text` to `path` (relative to the sandbox), creating folders.
    pub fn file(self, path: &str, text: &str) -> Self {
        let path = self.sandbox.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the file's folder");
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for this command only.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), Some(value.into())));
        self
    }

    /// Sets several environment variables.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Removes a variable the sandbox sets or the test process has.
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env.push((key.into(), None));
        self
    }

    /// Text written to the command's stdin (otherwise stdin is `/dev/null`).
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_string());
        self
    }

    /// The working directory, relative to the sandbox (default: the sandbox).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The exit status the command must end with (default 0).
    pub fn status(mut self, code: i32) -> Self {
        self.status = Some(code);
        self
    }

    /// Any exit status will do (the test checks `Ran::code` itself).
    pub fn any_status(mut self) -> Self {
        self.status = None;
        self
    }

    /// The exact stdout the command must print.
    pub fn stdout(mut self, text: &str) -> Self {
        self.stdout = Some(text.to_string());
        self
    }

    /// The exact stderr the command must print.
    pub fn stderr(mut self, text: &str) -> Self {
        self.stderr = Some(text.to_string());
        self
    }

    /// Adjusts the `Command` before it starts (resource limits, stdio of a
    /// spawned child). Runs after everything else is set.
    pub fn with_command(mut self, hook: impl FnOnce(&mut Command) + 'static) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// A note shown with the command in failure messages, e.g. a limit a
    /// hook sets.
    pub fn note(mut self, note: &str) -> Self {
        self.note = Some(note.to_string());
        self
    }

    /// The command line as a person would type it, with what else applies.
    fn describe(&self) -> String {
        let mut text = String::from("lifeboat");
        for arg in &self.args {
            text.push(' ');
            text.push_str(&arg.to_string_lossy());
        }
        if let Some(note) = &self.note {
            text.push_str(&format!(" ({note})"));
        }
        text
    }

    fn context(&self) -> String {
        let dir = self.working_dir();
        let mut text = format!("  in: {}\n", dir.display());
        for (key, value) in &self.env {
            let key = key.to_string_lossy();
            match value {
                None => text.push_str(&format!("  env: -{key}\n")),
                Some(_) if looks_secret(&key) => text.push_str(&format!("  env: {key}=«hidden»\n")),
                Some(v) => text.push_str(&format!("  env: {key}={}\n", v.to_string_lossy())),
            }
        }
        if let Some(stdin) = &self.stdin {
            text.push_str(&format!("  stdin: {stdin:?}\n"));
        }
        text
    }

    fn working_dir(&self) -> PathBuf {
        match &self.current_dir {
            Some(dir) => self.sandbox.path().join(dir),
            None => self.sandbox.path().to_path_buf(),
        }
    }

    /// Starts the binary: the one place a test spawns it without a
    /// terminal. `stdout` and `stderr` apply unless a hook changes them;
    /// stdin text is written from a thread, so a command that prints much
    /// before reading cannot deadlock with the writer.
    fn start(&mut self, stdout: Stdio, stderr: Stdio) -> Child {
        let mut cmd = self.sandbox.command(&[]);
        cmd.args(&self.args).current_dir(self.working_dir());
        for (key, value) in &self.env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        if self.stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        cmd.stdout(stdout).stderr(stderr);
        for hook in std::mem::take(&mut self.hooks) {
            hook(&mut cmd);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()));
        if let Some(text) = self.stdin.clone() {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            // A command that exits without reading closes the pipe: fine.
            std::thread::spawn(move || {
                let _ = pipe.write_all(text.as_bytes());
            });
        }
        child
    }

    /// Runs the command to completion and checks status, stdout and stderr.
    #[track_caller]
    pub fn run(mut self) -> Ran {
        let child = self.start(Stdio::piped(), Stdio::piped());
        let out = child.wait_with_output().expect("lifeboat runs");
        let ran = Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            command: self.describe(),
            context: self.context().trim_end().to_string(),
            sandbox: self.sandbox.clone(),
        };
        let mut wrong = Vec::new();
        if let Some(code) = self.status {
            if ran.code != code {
                wrong.push(format!("exit status: expected {code}, got {}", ran.code));
            }
        }
        for (name, want, have) in [
            ("stdout", &self.stdout, &ran.stdout),
            ("stderr", &self.stderr, &ran.stderr),
        ] {
            if let Some(want) = want {
                if want != have {
                    wrong.push(format!(
                        "{name} differs, expected:\n--- expected {name} ---\n{want}\n--- end of expected {name} ---"
                    ));
                }
            }
        }
        if !wrong.is_empty() {
            panic!(
                "mismatch: {}\n{}\n--- files ---\n{}",
                wrong.join("\nmismatch: "),
                ran.dump(),
                listing(self.sandbox.path())
            );
        }
        ran
    }

    /// Starts the command and returns at once, for tests that kill it or
    /// read its output as it comes. stdout is piped and stderr goes to
    /// `/dev/null` unless a [`Test::with_command`] hook says otherwise; the
    /// expected status and streams are not checked.
    pub fn spawn(mut self) -> Child {
        self.start(Stdio::piped(), Stdio::null())
    }
}

/// Whether an environment variable's value should stay out of messages.
fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "KEY"]
        .iter()
        .any(|w| key.contains(w))
}

/// Every file and folder under `root`, one relative path a line, sorted.
pub fn listing(root: &Path) -> String {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            if path.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    if out.len() > 200 {
        let more = out.len() - 200;
        out.truncate(200);
        out.push(format!("… and {more} more"));
    }
    out.join("\n")
}

/// The one set of insta filters for what users read, so snapshots hold
/// still from run to run and machine to machine:
/// - the sandbox and the workspace become `[SANDBOX]` and `[WORKSPACE]`,
///   any other temporary path `[TMP]`;
/// - run ids keep their runbook's name: `drill-[RUN]`;
/// - RFC 3339 timestamps become `[TIMESTAMP]`, clock times `[TIME]`;
/// - measured durations become `[DURATION]`: every sub-minute one the
///   console prints (`850ms`, `12.3s`; a test's run takes less than a
///   minute) except examples quoted in backticks, and the margin of an RTO
///   verdict (`9m59s to spare`, `MISSED by 4m01s`), which is target minus
///   measured; JSON's measured `…_ms` figures become `[MS]`;
/// - a journal's chain head (`chain head sha256:…`) becomes `sha256:[HASH]`.
///
/// Minute-scale durations otherwise stay (`RTO target 10m00s`): they are
/// what the runbook declares. Use as
/// `settings.bind(|| insta::assert_snapshot!(…))`.
pub fn snapshot_settings(sandbox: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    let mut paths = vec![(sandbox.to_path_buf(), "[SANDBOX]")];
    if let Ok(real) = sandbox.canonicalize() {
        paths.push((real, "[SANDBOX]"));
    }
    paths.push((workspace(), "[WORKSPACE]"));
    for (path, name) in paths {
        settings.add_filter(&regex_escape(&path.display().to_string()), name);
    }
    settings.add_filter(r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]");
    settings.add_filter(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b", "[RUN]");
    settings.add_filter(
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?",
        "[TIMESTAMP]",
    );
    settings.add_filter(r"\b\d{2}:\d{2}:\d{2}(\.\d+)?\b", "[TIME]");
    // A journal's chain head hashes its timestamps.
    settings.add_filter(r"(chain head:? +)sha256:[0-9a-f]{64}", "${1}sha256:[HASH]");
    const DURATION: &str = r"(\d+h\d{2}m|\d+m\d{2}s|\d+\.\d+s|\d+ms)";
    settings.add_filter(&format!(r"\b{DURATION} to spare\b"), "[DURATION] to spare");
    settings.add_filter(&format!(r"\bMISSED by {DURATION}"), "MISSED by [DURATION]");
    settings.add_filter(r"(?m)(^|[^`\w.])(\d+\.\d+s|\d+ms)\b", "${1}[DURATION]");
    settings.add_filter(
        r#""((elapsed|achieved|margin|duration|gap_before|before_start|human|interrupted|machine|projected_rto|remaining)_ms)": -?\d+"#,
        r#""$1": [MS]"#,
    );
    settings
}

/// `text` as a regex that matches it literally.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Ran {
    /// Another command in the same sandbox (state directory, files).
    pub fn test(&self) -> Test {
        Test::in_sandbox(&self.sandbox)
    }

    /// [`snapshot_settings`] for this command's sandbox.
    pub fn snapshot_settings(&self) -> insta::Settings {
        snapshot_settings(self.sandbox.path())
    }

    /// Exit status and both streams in one text, for a snapshot of the
    /// whole of what a user saw.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}
