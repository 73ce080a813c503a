//! `shell`: run a program (argv, no shell) or a bash script.
//!
//! Template values never become shell syntax. In `run` each list element is
//! one argument; a number or boolean is passed as its text (`3`, `true`).
//! In `script`, the engine renders every `{{ }}` value as a reference to an
//! environment variable (`"${LIFEBOAT_V1}"`, or `${LIFEBOAT_V1}` inside
//! double quotes) and hands the value over in the environment (see
//! [`crate::StepKind::script_fields`]), so an output holding `; rm -rf /`
//! stays one harmless word.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::{
    params, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct Shell;

/// How much of stdout and stderr is kept as outputs; the rest is dropped from
/// the front, keeping the tail where errors usually are.
const OUTPUT_CAP: usize = 1 << 20;

/// How long a child gets between SIGTERM and SIGKILL when cancelled.
const KILL_GRACE: Duration = Duration::from_secs(3);

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ShellParams {
    /// Program and arguments, run without a shell.
    #[serde(default)]
    run: Option<Vec<String>>,
    /// A bash script, run with `set -euo pipefail`.
    #[serde(default)]
    script: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Working directory; relative paths are against the run's work directory.
    #[serde(default)]
    cwd: Option<String>,
    /// Exit codes that count as success.
    #[serde(default = "default_expect_exit")]
    expect_exit: Vec<i32>,
    /// Start the child with only [`KEPT_ENV`] and what the step declares,
    /// not the engine's whole environment (`VAULT_TOKEN`, cloud keys).
    #[serde(default)]
    env_clear: bool,
}

/// What `env_clear: true` keeps of the engine's environment.
pub const KEPT_ENV: &[&str] = &["PATH", "HOME", "LANG"];

fn default_expect_exit() -> Vec<i32> {
    vec![0]
}

#[async_trait]
impl StepKind for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn summary(&self) -> &'static str {
        "run a program (argv, no shell) or a bash script with set -euo pipefail"
    }

    fn parameters(&self) -> Value {
        params::schema::<ShellParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = params::check::<ShellParams>(with);
        let has_run = with.get("run").is_some();
        let has_script = with.get("script").is_some();
        match (has_run, has_script) {
            (false, false) => problems.push(ParamProblem::new(
                vec![],
                "a shell step needs `run` (an argv list) or `script` (a bash script)",
            )),
            (true, true) => problems.push(ParamProblem::field(
                "script",
                "give either `run` or `script`, not both",
            )),
            _ => {}
        }
        if let Some(Value::Array(argv)) = with.get("run") {
            if argv.is_empty() {
                problems.push(ParamProblem::field(
                    "run",
                    "`run` is empty; give the program and its arguments, e.g. [\"vault\", \"status\"]",
                ));
            }
        }
        if let Some(Value::String(run)) = with.get("run") {
            if !params::is_template(run) {
                problems.retain(|p| p.path_string() != "run");
                problems.push(ParamProblem::field(
                    "run",
                    format!("`run` is an argv list, not a string; write [\"{}\"] or use `script` for shell syntax", run.split_whitespace().collect::<Vec<_>>().join("\", \"")),
                ));
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    fn script_fields(&self) -> &'static [&'static str] {
        &["script"]
    }

    fn describe(&self, with: &Value) -> String {
        let mut out = String::new();
        // Scalars show as `run` receives them: `3`, `true`, empty for null.
        let word =
            |v: &Value| shell_quote(&params::scalar_text(v).unwrap_or_else(|| v.to_string()));
        if let Some(Value::Object(env)) = with.get("env") {
            for (k, v) in env {
                out.push_str(&format!("{k}={} ", word(v)));
            }
        }
        if let Some(Value::Array(argv)) = with.get("run") {
            let words: Vec<String> = argv.iter().map(word).collect();
            out.push_str(&words.join(" "));
        } else if let Some(Value::String(script)) = with.get("script") {
            out.push_str("bash -euo pipefail <<'SCRIPT'\n");
            out.push_str(script.trim_end());
            out.push_str("\nSCRIPT");
        }
        if let Some(Value::String(cwd)) = with.get("cwd") {
            out.push_str(&format!("    (in {cwd})"));
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::integer("exit_code", "the exit status"),
            OutputDecl::string("stdout", "standard output (last 1 MiB)"),
            OutputDecl::string("stderr", "standard error (last 1 MiB)"),
            OutputDecl::json(
                "json",
                "stdout parsed, when it is a JSON object or list; keys below it are free",
            ),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let p: ShellParams = params::parse(self.name(), with)?;
        let path_var = p
            .env
            .get("PATH")
            .map(|p| std::ffi::OsString::from(p.as_str()))
            .or_else(|| std::env::var_os("PATH"));
        let find = |program: &str| {
            find_program(program, &ctx.launch_dir, path_var.as_deref())
                .map_err(|e| StepError::new(format!("could not start `{program}`: {e}")))
        };
        let mut cmd = match (&p.run, &p.script) {
            (Some(argv), None) if !argv.is_empty() => {
                let mut cmd = Command::new(find(&argv[0])?);
                cmd.args(&argv[1..]);
                cmd
            }
            (None, Some(script)) => {
                let mut cmd = Command::new(find("bash")?);
                cmd.arg("-euo").arg("pipefail").arg("-c").arg(script);
                cmd
            }
            _ => {
                return Err(StepError::new(
                    "a shell step needs exactly one of `run` or `script`",
                ))
            }
        };
        let dir = match &p.cwd {
            Some(cwd) => ctx.path(cwd),
            None => ctx.work_dir.clone(),
        };
        if p.env_clear {
            cmd.env_clear();
            for name in KEPT_ENV {
                if let Some(value) = std::env::var_os(name) {
                    cmd.env(name, value);
                }
            }
        }
        if !p.env_clear {
            cmd.env("LIFEBOAT_LAUNCH_DIR", &ctx.launch_dir);
        }
        cmd.envs(&p.env)
            .envs(ctx.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group: the terminal's Ctrl-C reaches the engine
            // only, and cancellation can stop the whole tree.
            .process_group(0);
        let program = p
            .run
            .as_ref()
            .and_then(|a| a.first().cloned())
            .unwrap_or_else(|| "bash".into());
        let mut child = cmd.spawn().map_err(|e| {
            // The OS reports a missing working directory as a missing program.
            if !dir.is_dir() {
                let what = if dir.exists() { "is not a directory" } else { "does not exist" };
                return StepError::new(format!(
                    "could not start `{program}`: the working directory `{}` (`cwd`) {what}; create it in an earlier step or fix `cwd`",
                    dir.display()
                ));
            }
            StepError::new(format!("could not start `{program}`: {e}"))
        })?;
        let pid = child.id();
        if let Some(pid) = pid {
            ctx.progress.process_started(
                &ctx.step_id,
                crate::process_group::ProcessGroup::of_child(pid),
            );
        }
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        let out_task = collect(stdout, ctx.clone());
        let err_task = collect(stderr, ctx.clone());
        let waited = async {
            let (out, err, status) = tokio::join!(out_task, err_task, child.wait());
            (out, err, status)
        };
        tokio::pin!(waited);
        let (stdout, stderr, status) = tokio::select! {
            res = &mut waited => res,
            _ = ctx.cancel.cancelled() => {
                if let Some(pid) = pid {
                    terminate_group(pid, &mut waited).await;
                }
                return Err(StepError::cancelled(format!("`{program}` was stopped")));
            }
        };
        let status = status?;
        let code = status.code().unwrap_or(-1);
        let mut outputs = Map::new();
        // Redacted before the cut to the cap, so no secret is cut in two.
        let stdout = last_bytes(ctx.redactor.redact(&stdout), OUTPUT_CAP);
        let stderr = last_bytes(ctx.redactor.redact(&stderr), OUTPUT_CAP);
        if let Ok(json) = serde_json::from_str::<Value>(&stdout) {
            if json.is_object() || json.is_array() {
                outputs.insert("json".into(), json);
            }
        }
        outputs.insert(
            "stdout".into(),
            Value::String(stdout.trim_end().to_string()),
        );
        outputs.insert(
            "stderr".into(),
            Value::String(stderr.trim_end().to_string()),
        );
        outputs.insert("exit_code".into(), Value::from(code));
        if p.expect_exit.contains(&code) {
            Ok(StepOutput {
                outputs,
                secret: Default::default(),
            })
        } else {
            let detail = if status.code().is_none() {
                "was killed by a signal".to_string()
            } else {
                format!("exited with {code}")
            };
            let tail = last_line(outputs["stderr"].as_str().unwrap_or(""));
            let expected = if p.expect_exit == [0] {
                String::new()
            } else {
                format!(" (expected one of {:?})", p.expect_exit)
            };
            let mut msg = format!("`{program}` {detail}{expected}");
            if !tail.is_empty() {
                msg.push_str(&format!(": {tail}"));
            }
            Err(StepError::new(msg).with_outputs(outputs))
        }
    }
}

/// Where the program `program` is, found the way the operator's shell
/// would find it from the directory `lifeboat` was started in, whatever
/// directory the step runs in:
/// - a name with a `/` is a path; a relative one is relative to `launch_dir`;
/// - a bare name is looked up in `path_var` (`PATH`), in order; relative
///   and empty entries are relative to `launch_dir`.
///
/// The error says what was searched and how to fix it.
pub fn find_program(
    program: &str,
    launch_dir: &Path,
    path_var: Option<&OsStr>,
) -> Result<PathBuf, String> {
    if program.is_empty() {
        return Err("the program name is empty".into());
    }
    if program.contains('/') {
        let path = launch_dir.join(program);
        return match std::fs::metadata(&path) {
            Ok(meta) if is_executable(&meta) => Ok(path),
            Ok(_) => Err(format!(
                "`{}` is not an executable file (check its permissions, e.g. chmod +x)",
                path.display()
            )),
            Err(_) if Path::new(program).is_absolute() => {
                Err(format!("`{program}` does not exist"))
            }
            Err(_) => Err(format!(
                "`{program}` does not exist (a relative path is resolved against `{}`, the directory lifeboat was started from)",
                launch_dir.display()
            )),
        };
    }
    let searched = path_var.unwrap_or_default();
    for dir in std::env::split_paths(searched) {
        let candidate = launch_dir.join(dir).join(program);
        if std::fs::metadata(&candidate).is_ok_and(|m| is_executable(&m)) {
            return Ok(candidate);
        }
    }
    Err(format!(
        "`{program}` is not on PATH ({}); install it, or give its path (relative to the directory lifeboat was started from)",
        if searched.is_empty() {
            "PATH is empty".to_string()
        } else {
            format!("PATH={}", searched.to_string_lossy())
        }
    ))
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// Bytes kept beyond a cap so that redaction, which runs before the cut,
/// sees every secret of up to this length whole.
const REDACTION_SLACK: usize = 64 << 10;

/// Reads a child's stream in chunks, reporting each line as progress and
/// keeping the last [`OUTPUT_CAP`] bytes (plus [`REDACTION_SLACK`], cut
/// after redaction). Memory stays bounded whatever the line structure: a
/// line is never buffered whole (a step printing a GiB without a newline
/// costs at most twice the cap), and the progress line shows the first
/// [`PROGRESS_LINE_CAP`] bytes of a longer line.
async fn collect(mut stream: impl AsyncRead + Unpin, ctx: StepContext) -> String {
    let mut buf = vec![0u8; 64 << 10];
    let mut tail: Vec<u8> = Vec::new();
    let mut line = ProgressLine::default();
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        tail.extend_from_slice(chunk);
        if tail.len() > (OUTPUT_CAP + REDACTION_SLACK) * 2 {
            tail.drain(..tail.len() - OUTPUT_CAP - REDACTION_SLACK);
        }
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            match piece.strip_suffix(b"\n") {
                Some(body) => {
                    line.push(body);
                    line.emit(&ctx);
                }
                None => line.push(piece),
            }
        }
    }
    line.emit(&ctx);
    if tail.len() > OUTPUT_CAP + REDACTION_SLACK {
        tail.drain(..tail.len() - OUTPUT_CAP - REDACTION_SLACK);
        // Start at a character, not inside one.
        let skip = tail
            .iter()
            .take(3)
            .take_while(|b| (**b & 0xc0) == 0x80)
            .count();
        tail.drain(..skip);
    }
    String::from_utf8_lossy(&tail).into_owned()
}

/// The last `cap` bytes of `text`, starting at a character.
fn last_bytes(mut text: String, cap: usize) -> String {
    if text.len() > cap {
        let cut = (text.len() - cap..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text.drain(..cut);
    }
    text
}

/// The first `cap` bytes of `text`, ending at a character.
fn first_bytes(text: &str, cap: usize) -> &str {
    let end = (0..=cap.min(text.len()))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[..end]
}

/// The longest part of one output line shown as live progress.
const PROGRESS_LINE_CAP: usize = 16 << 10;

/// The line being read: its first [`PROGRESS_LINE_CAP`] bytes and its length.
#[derive(Default)]
struct ProgressLine {
    head: Vec<u8>,
    len: usize,
    /// Whether any part of a line (even an empty one) was read.
    started: bool,
}

impl ProgressLine {
    fn push(&mut self, bytes: &[u8]) {
        let room = (PROGRESS_LINE_CAP + REDACTION_SLACK).saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
        self.len += bytes.len();
        self.started = true;
    }

    /// Reports the line (if any) and starts the next.
    fn emit(&mut self, ctx: &StepContext) {
        if !self.started {
            return;
        }
        // Redacted before the cut, so no secret is cut in two.
        let redacted = ctx.redactor.redact(&String::from_utf8_lossy(&self.head));
        let mut text = first_bytes(&redacted, PROGRESS_LINE_CAP)
            .trim_end()
            .to_string();
        if self.len > PROGRESS_LINE_CAP {
            text.push_str(&format!(" … ({} more bytes)", self.len - PROGRESS_LINE_CAP));
        }
        ctx.progress.line(&ctx.step_id, &text);
        self.head.clear();
        self.len = 0;
        self.started = false;
    }
}

/// SIGTERM to the child's process group, then SIGKILL after a grace period.
async fn terminate_group<F: std::future::Future + Unpin>(pid: u32, waited: &mut F) {
    let pgid = -(pid as i32);
    // SAFETY: kill(2) with a negative pid signals a process group; it has no
    // memory-safety preconditions.
    unsafe { libc::kill(pgid, libc::SIGTERM) };
    if tokio::time::timeout(KILL_GRACE, waited).await.is_err() {
        // SAFETY: as above.
        unsafe { libc::kill(pgid, libc::SIGKILL) };
    }
}

fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let line = line.trim();
    if line.chars().count() > 300 {
        format!("{}…", line.chars().take(300).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Quotes a word for display in a POSIX shell, only when it needs it.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> (tempfile::TempDir, StepContext) {
        let dir = tempfile::tempdir().unwrap();
        let ctx = StepContext::standalone("t", dir.path());
        (dir, ctx)
    }

    #[tokio::test]
    async fn argv_runs_without_a_shell() {
        let (_d, ctx) = ctx();
        let out = Shell
            .run(&ctx, json!({"run": ["echo", "; rm -rf /"]}))
            .await
            .unwrap();
        assert_eq!(out.outputs["stdout"], "; rm -rf /");
        assert_eq!(out.outputs["exit_code"], 0);
    }

    #[tokio::test]
    async fn script_reads_values_from_the_environment() {
        let (_d, mut ctx) = ctx();
        ctx.env = vec![("LIFEBOAT_V1".into(), "a b; echo pwned".into())];
        let out = Shell
            .run(
                &ctx,
                json!({"script": "printf '%s\\n' \"${LIFEBOAT_V1}\" | wc -l"}),
            )
            .await
            .unwrap();
        assert_eq!(out.outputs["stdout"].as_str().unwrap().trim(), "1");
    }

    #[tokio::test]
    async fn unexpected_exit_fails_with_stderr_tail_and_outputs() {
        let (_d, ctx) = ctx();
        let err = Shell
            .run(&ctx, json!({"script": "echo doomed >&2; exit 4"}))
            .await
            .unwrap_err();
        assert_eq!(err.message, "`bash` exited with 4: doomed");
        assert_eq!(err.outputs["exit_code"], 4);
    }

    #[tokio::test]
    async fn json_stdout_is_parsed() {
        let (_d, ctx) = ctx();
        let out = Shell
            .run(&ctx, json!({"run": ["echo", "{\"sealed\": false}"]}))
            .await
            .unwrap();
        assert_eq!(out.outputs["json"]["sealed"], false);
    }

    #[tokio::test]
    async fn cancellation_kills_the_child() {
        let (_d, ctx) = ctx();
        let cancel = ctx.cancel.clone();
        let started = std::time::Instant::now();
        let task =
            tokio::spawn(async move { Shell.run(&ctx, json!({"run": ["sleep", "30"]})).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
        let err = task.await.unwrap().unwrap_err();
        assert!(err.cancelled);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn missing_program_and_string_run_are_reported() {
        assert_eq!(Shell.check(&json!({})).len(), 1);
        let p = Shell.check(&json!({"run": "vault status"}));
        assert!(p[0].message.contains("[\"vault\", \"status\"]"), "{p:?}");
    }

    #[derive(Default)]
    struct Lines(std::sync::Mutex<Vec<String>>);

    impl crate::Progress for Lines {
        fn line(&self, _step: &str, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    #[tokio::test]
    async fn a_secret_across_a_cap_is_redacted_whole() {
        let (_d, mut ctx) = ctx();
        let lines = std::sync::Arc::new(Lines::default());
        ctx.progress = lines.clone();
        let secret = "s3cr3t-".repeat(20);
        ctx.redactor.add(&secret);
        // On stderr a line whose secret straddles the progress cap; on
        // stdout a secret that straddles the start of the kept tail.
        let head = PROGRESS_LINE_CAP - 10;
        let tail = OUTPUT_CAP - 10;
        ctx.env = vec![("SECRET".into(), secret.clone())];
        let script = format!(
            "head -c {head} /dev/zero | tr '\\0' a >&2; printf '%s\\n' \"$SECRET\" >&2; printf '%s' \"$SECRET\"; head -c {tail} /dev/zero | tr '\\0' b"
        );
        let out = Shell.run(&ctx, json!({ "script": script })).await.unwrap();
        let stdout = out.outputs["stdout"].as_str().unwrap();
        assert_eq!(stdout.len(), OUTPUT_CAP);
        assert!(
            !stdout.contains("s3cr3t") && !stdout.contains("cr3t-"),
            "{}",
            &stdout[..40]
        );
        let shown = lines.0.lock().unwrap().join("\n");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("cr3t"),
            "{}",
            &shown[shown.len() - 200..]
        );
        assert!(
            shown.contains("«redacted … (130 more bytes)"),
            "{}",
            &shown[shown.len() - 200..]
        );
    }

    #[test]
    fn describe_shows_scalars_as_run_receives_them() {
        let shown =
            Shell.describe(&json!({"run": ["echo", 3, true, null, "a b"], "env": {"N": 3}}));
        assert_eq!(shown, "N=3 echo 3 true '' 'a b'");
    }

    #[tokio::test]
    async fn typed_argv_items_run_as_text() {
        let (_d, ctx) = ctx();
        let out = Shell
            .run(
                &ctx,
                json!({"run": ["echo", 3, true, false], "env": {"N": 3}}),
            )
            .await
            .unwrap();
        assert_eq!(out.outputs["stdout"], "3 true false");
    }

    #[tokio::test]
    async fn a_relative_program_path_resolves_against_the_launch_directory() {
        let (_d, mut ctx) = ctx();
        let launch = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(launch.path().join("tools/bin")).unwrap();
        let tool = launch.path().join("tools/bin/hello");
        std::fs::write(&tool, "#!/bin/sh\necho \"hello from $PWD\"\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        ctx.launch_dir = launch.path().to_path_buf();
        let out = Shell
            .run(&ctx, json!({"run": ["tools/bin/hello"]}))
            .await
            .unwrap();
        // Found from the launch directory, run in the work directory.
        assert_eq!(
            out.outputs["stdout"],
            format!("hello from {}", ctx.work_dir.display())
        );
        // A script learns the launch directory.
        let out = Shell
            .run(
                &ctx,
                json!({"script": "\"$LIFEBOAT_LAUNCH_DIR/tools/bin/hello\" >/dev/null && echo \"$LIFEBOAT_LAUNCH_DIR\""}),
            )
            .await
            .unwrap();
        assert_eq!(out.outputs["stdout"], launch.path().display().to_string());
        // A relative PATH entry is relative to the launch directory too.
        let out = Shell
            .run(
                &ctx,
                json!({"run": ["hello"], "env": {"PATH": format!("tools/bin:{}", std::env::var("PATH").unwrap())}}),
            )
            .await
            .unwrap();
        assert_eq!(out.outputs["exit_code"], 0);
    }

    #[tokio::test]
    async fn a_missing_program_says_what_was_searched() {
        let (_d, ctx) = ctx();
        let err = Shell
            .run(
                &ctx,
                json!({"run": ["no-such-tool-xyz"], "env": {"PATH": "/usr/bin:/bin"}}),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.message,
            "could not start `no-such-tool-xyz`: `no-such-tool-xyz` is not on PATH (PATH=/usr/bin:/bin); install it, or give its path (relative to the directory lifeboat was started from)"
        );
        let err = Shell
            .run(&ctx, json!({"run": ["target/none/bao"]}))
            .await
            .unwrap_err();
        assert!(
            err.message.starts_with("could not start `target/none/bao`: `target/none/bao` does not exist (a relative path is resolved against `"),
            "{}",
            err.message
        );
        let plain = ctx.work_dir.join("plain.txt");
        std::fs::write(&plain, "x").unwrap();
        let err = find_program(plain.to_str().unwrap(), &ctx.launch_dir, None).unwrap_err();
        assert!(err.contains("is not an executable file"), "{err}");
    }

    #[test]
    fn quoting_for_display() {
        assert_eq!(shell_quote("plain"), "plain");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
