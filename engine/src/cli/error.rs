//! The one place that decides what the process reports and exits with:
//! the exit code table (`--help` is generated from it), the error the
//! commands return, and the mapping from each library error and run
//! outcome to its exit code.

use crate::journal::run_store::StoreError;
use crate::run::input_values::InputError;
use crate::run::launcher::LaunchError;
use crate::run::scheduler::RunOutcome;
use crate::runbook::diagnostic::Diagnostic;

/// An error the CLI reports and exits with. The message says what went
/// wrong, where, and how to fix it; it never holds a secret value.
#[derive(Debug)]
pub struct CliError {
    /// Printed as it is before the message: the rendered diagnostics of an
    /// invalid runbook, which carry their own `error:` labels.
    pub details: String,
    pub message: String,
    pub exit_code: i32,
}

/// Exit codes, documented in the README, `docs/operator-console.md`,
/// `docs/runbook-format.md` and `lifeboat --help` (generated from
/// [`TABLE`](exit::TABLE)).
pub mod exit {
    pub const SUCCESS: i32 = 0;
    /// A step failed.
    pub const STEP_FAILED: i32 = 1;
    /// Invalid runbook, bad input or bad usage.
    pub const INVALID: i32 = 2;
    /// Paused, waiting for a human.
    pub const PAUSED: i32 = 3;
    /// Interrupted (Ctrl-C, a lost lease, an unreachable store); resumable.
    pub const INTERRUPTED: i32 = 130;

    /// Every exit code and what it means, in the words of `lifeboat --help`.
    pub const TABLE: [(i32, &str); 5] = [
        (SUCCESS, "success"),
        (
            STEP_FAILED,
            "a step failed (the run's on_failure and finally steps have run)",
        ),
        (INVALID, "invalid runbook, bad input or bad usage"),
        (
            PAUSED,
            "paused, waiting for a human (the output says which command continues)",
        ),
        (
            INTERRUPTED,
            "interrupted (Ctrl-C, lost lease, store unreachable); `lifeboat resume RUN_ID` continues",
        ),
    ];

    /// The "Exit codes:" section of `lifeboat --help`, from [`TABLE`].
    pub fn help() -> String {
        let mut text = String::from("Exit codes:");
        for (code, meaning) in TABLE {
            text.push_str(&format!("\n  {code:<5}{meaning}"));
        }
        text
    }
}

impl CliError {
    /// Bad input or usage: exit 2.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            details: String::new(),
            message: message.into(),
            exit_code: exit::INVALID,
        }
    }

    /// A failure at run time (storage, environment): exit 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            details: String::new(),
            message: message.into(),
            exit_code: exit::STEP_FAILED,
        }
    }

    /// What the binary prints on stderr: the details, then one `error:`
    /// line (the message says what, where and how to fix it).
    /// What the binary prints: the diagnostics, then one `error:` line.
    /// The message may quote a runbook, a file or a server: control
    /// characters are written out so it cannot steer the terminal.
    pub fn report(&self) -> String {
        format!(
            "{}error: {}\n",
            self.details,
            crate::terminal_text::printable_lines(&self.message)
        )
    }
}

/// The exit code of a finished execution.
pub fn outcome_exit_code(outcome: RunOutcome) -> i32 {
    match outcome {
        RunOutcome::Succeeded => exit::SUCCESS,
        RunOutcome::Failed => exit::STEP_FAILED,
        RunOutcome::Paused => exit::PAUSED,
        RunOutcome::Interrupted => exit::INTERRUPTED,
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) | StoreError::Corrupt { .. } | StoreError::Locked { .. } => {
                CliError::invalid(e.to_string())
            }
            StoreError::Io(_) => CliError::failed(e.to_string()),
            // The shared store's failures (journal/s3); their exit codes
            // (130, resumable, for `Unreachable`) are wired with `--store`.
            // Another engine drives the run now, or the store could not be
            // reached in time: this engine stopped and nothing is lost;
            // the run is resumable.
            StoreError::LostRace { .. }
            | StoreError::Fenced { .. }
            | StoreError::Unreachable { .. } => CliError {
                details: String::new(),
                message: e.to_string(),
                exit_code: exit::INTERRUPTED,
            },
            // A bad `--store`, credentials, bucket or endpoint: fix and retry.
            StoreError::Misconfigured(_) => CliError::invalid(e.to_string()),
        }
    }
}

impl From<InputError> for CliError {
    /// Every input problem is found before anything runs: bad input.
    fn from(e: InputError) -> Self {
        CliError::invalid(e.to_string())
    }
}

impl From<LaunchError> for CliError {
    /// A run that cannot start or resume has run nothing: bad input, except
    /// a store that cannot be written.
    fn from(e: LaunchError) -> Self {
        match e {
            LaunchError::Store(e) => e.into(),
            LaunchError::Inputs(e) => e.into(),
            LaunchError::InvalidRunbook {
                ref diagnostics, ..
            }
            | LaunchError::CopyInvalid { ref diagnostics }
            | LaunchError::RecipientsInvalid {
                ref diagnostics, ..
            } => CliError {
                details: rendered(diagnostics),
                ..CliError::invalid(e.to_string())
            },
            LaunchError::DeclaredAtNotATime { .. }
            | LaunchError::CallItems { .. }
            | LaunchError::DeclaredAtInFuture { .. }
            | LaunchError::NoStartRecord { .. }
            | LaunchError::NotACheckpoint { .. }
            | LaunchError::NoSuchCheckpoint { .. }
            | LaunchError::CheckpointNotReached { .. }
            | LaunchError::RedoWithoutReason { .. }
            | LaunchError::RedoUnknownStep { .. }
            | LaunchError::RedoInterrupted { .. }
            | LaunchError::RedoNotRun { .. }
            | LaunchError::RedoUnsafe { .. }
            | LaunchError::RedoWaiting { .. }
            | LaunchError::CopyNotUtf8
            | LaunchError::CopyNotRecorded(_)
            | LaunchError::Signing(_)
            | LaunchError::Notify(_)
            | LaunchError::SourceChanged { .. }
            | LaunchError::RecipientsChanged { .. }
            | LaunchError::JournalBroken { .. } => CliError::invalid(e.to_string()),
        }
    }
}

/// Diagnostics as `lifeboat validate` prints them: each followed by a
/// blank line.
pub fn rendered(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| format!("{}\n", d.render()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `lifeboat --help` as the user reads it, without wrapping.
    fn help() -> String {
        crate::cli::Cli::command()
            .term_width(1000)
            .render_help()
            .to_string()
    }

    #[test]
    fn help_lists_every_exit_code_in_the_table() {
        let help = help();
        for (code, meaning) in exit::TABLE {
            let line = format!("\n  {code:<5}{meaning}\n");
            assert!(help.contains(&line), "`{line}` missing from:\n{help}");
        }
        assert!(help.contains(&format!("{}\n\nEnvironment:", exit::help())));
    }

    #[test]
    fn the_table_has_each_code_once() {
        let mut codes: Vec<i32> = exit::TABLE.iter().map(|(c, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), exit::TABLE.len());
        for code in [
            exit::SUCCESS,
            exit::STEP_FAILED,
            exit::INVALID,
            exit::PAUSED,
            exit::INTERRUPTED,
        ] {
            assert!(codes.contains(&code), "{code} is not in the table");
        }
    }

    #[test]
    fn each_run_outcome_has_its_exit_code() {
        assert_eq!(outcome_exit_code(RunOutcome::Succeeded), 0);
        assert_eq!(outcome_exit_code(RunOutcome::Failed), 1);
        assert_eq!(outcome_exit_code(RunOutcome::Paused), 3);
        assert_eq!(outcome_exit_code(RunOutcome::Interrupted), 130);
    }

    #[test]
    fn store_errors_are_bad_input_except_io_failures() {
        let code = |e: StoreError| CliError::from(e).exit_code;
        assert_eq!(code(StoreError::NotFound("r".into())), exit::INVALID);
        assert_eq!(
            code(StoreError::Locked {
                run: "r".into(),
                driver: None
            }),
            exit::INVALID
        );
        assert_eq!(
            code(StoreError::Unreachable {
                store: "s3://b/p".into(),
                waited: std::time::Duration::from_secs(120),
                cause: "connection refused".into()
            }),
            exit::INTERRUPTED
        );
        assert_eq!(code(StoreError::Misconfigured("bad".into())), exit::INVALID);
        let corrupt = StoreError::Corrupt {
            path: "j".into(),
            line: 1,
            problem: "p".into(),
        };
        assert_eq!(code(corrupt), exit::INVALID);
        assert_eq!(code(StoreError::Io("disk full".into())), exit::STEP_FAILED);
        // Through a launch, the same.
        let launch = |e: StoreError| CliError::from(LaunchError::Store(e)).exit_code;
        assert_eq!(
            launch(StoreError::Io("disk full".into())),
            exit::STEP_FAILED
        );
        assert_eq!(launch(StoreError::NotFound("r".into())), exit::INVALID);
    }

    /// One of each launch refusal (a store failure aside): all bad input.
    fn launch_refusals() -> Vec<LaunchError> {
        let step = || "a".to_string();
        vec![
            LaunchError::InvalidRunbook {
                file: "rb.yaml".into(),
                diagnostics: vec![Diagnostic::error("duplicate step id `a`")],
            },
            LaunchError::DeclaredAtNotATime {
                text: "noon".into(),
                problem: "p".into(),
            },
            LaunchError::DeclaredAtInFuture {
                text: "t".into(),
                ahead: "1h".into(),
                now: "n".into(),
            },
            LaunchError::CallItems {
                step: step(),
                problem: "p".into(),
            },
            LaunchError::Inputs(InputError::NotNameValue { flag: "x".into() }),
            LaunchError::NoStartRecord { run_id: "r".into() },
            LaunchError::NotACheckpoint { step: step() },
            LaunchError::NoSuchCheckpoint {
                step: step(),
                checkpoints: vec![],
            },
            LaunchError::CheckpointNotReached {
                run_id: "r".into(),
                checkpoint: step(),
            },
            LaunchError::RedoWithoutReason {
                steps: vec![step()],
            },
            LaunchError::RedoUnknownStep {
                step: step(),
                runbook: "rb".into(),
                hint: "h".into(),
            },
            LaunchError::RedoInterrupted {
                step: step(),
                run_id: "r".into(),
            },
            LaunchError::RedoNotRun { step: step() },
            LaunchError::RedoUnsafe {
                step: step(),
                policy: "never",
            },
            LaunchError::RedoWaiting {
                step: step(),
                run_id: "r".into(),
            },
            LaunchError::CopyNotUtf8,
            LaunchError::CopyNotRecorded("m".into()),
            LaunchError::SourceChanged {
                path: "rb.yaml".into(),
                run_id: "r".into(),
                summary: "s".into(),
            },
            LaunchError::CopyInvalid {
                diagnostics: vec![Diagnostic::error("unknown kind `shel`")],
            },
            LaunchError::RecipientsInvalid {
                file: "team.keys".into(),
                diagnostics: vec![Diagnostic::error("not a recipient: …")],
            },
            LaunchError::RecipientsChanged {
                file: "team.keys".into(),
                run_id: "r".into(),
                journalled: vec!["age1…".into()],
            },
            LaunchError::Signing("s".into()),
            LaunchError::Notify(crate::run::notifier::NotifyError::new("n")),
            LaunchError::JournalBroken {
                run_id: "r".into(),
                finding: "seq 2 was removed: seq 3 follows seq 1".into(),
                at: "journal.jsonl:2".into(),
            },
        ]
    }

    #[test]
    fn launch_refusals_are_bad_input_reported_once() {
        for e in launch_refusals() {
            let shown = e.to_string();
            let err = CliError::from(e);
            assert_eq!(err.exit_code, exit::INVALID, "{shown}");
            let report = err.report();
            assert!(
                !report.contains("error: error:") && !err.message.starts_with("error"),
                "labelled twice:\n{report}"
            );
            assert_eq!(
                report.lines().filter(|l| l.starts_with("error: ")).count(),
                1 + usize::from(!err.details.is_empty()),
                "{report}"
            );
            assert!(report.ends_with(&format!("error: {shown}\n")), "{report}");
        }
    }

    #[test]
    fn an_invalid_runbook_prints_its_diagnostics_then_one_error_line() {
        let err = CliError::from(LaunchError::InvalidRunbook {
            file: "rb.yaml".into(),
            diagnostics: vec![
                Diagnostic::error("duplicate step id `a`"),
                Diagnostic::error("unknown kind `shel`"),
            ],
        });
        assert_eq!(
            err.report(),
            "error: duplicate step id `a`\n  --> <input>\n\nerror: unknown kind `shel`\n  --> <input>\n\nerror: the runbook is invalid; fix it and run again (`lifeboat validate rb.yaml` shows the same)\n"
        );
    }

    #[test]
    fn input_errors_are_bad_input() {
        let errors = [
            InputError::Missing(vec!["`a` (string)".into()]),
            InputError::SecretsMissingOnResume(vec!["s".into()]),
            InputError::FileNotMapping {
                path: "in.yaml".into(),
            },
            InputError::WrongType("`n` must be an integer".into()),
            InputError::SecretTooShort {
                name: "token".into(),
                chars: 1,
            },
            InputError::SecretInClear(vec!["x".into()]),
        ];
        for e in errors {
            assert_eq!(CliError::from(e).exit_code, exit::INVALID);
        }
    }

    #[test]
    fn input_messages_keep_their_wording() {
        assert_eq!(
            InputError::Missing(vec!["a".into(), "b".into()]).to_string(),
            "missing inputs:\n  a\n  b"
        );
        assert_eq!(
            InputError::Missing(vec!["a".into()]).to_string(),
            "missing input:\n  a"
        );
        assert_eq!(
            InputError::SecretTooShort {
                name: "pin".into(),
                chars: 1
            }
            .to_string(),
            format!("secret input `pin` is 1 character long; secrets shorter than {} characters cannot be redacted reliably, so Lifeboat refuses them: use a longer value, or declare `pin` `type: string` if it is not secret", lifeboat_steps::MIN_SECRET_CHARS)
        );
        assert_eq!(
            InputError::SecretGiven {
                name: "token".into(),
                env: Some("TOKEN".into())
            }
            .to_string(),
            "`token` is a secret input and cannot be passed in arguments or input files (they end up in shell history and process lists); export TOKEN=... instead"
        );
    }

    #[test]
    fn a_message_cannot_steer_the_terminal() {
        let err = CliError::invalid("cannot read `evil\u{1b}]0;owned\u{7}.yaml`: not found\rok");
        assert_eq!(
            err.report(),
            "error: cannot read `evil\\u{1b}]0;owned\\u{7}.yaml`: not found\\rok\n"
        );
    }
}
