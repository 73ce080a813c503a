//! The plain console: one line per event, for logs, CI and pipes (no TTY).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::journal::record::{Event, Record};
use crate::operator::console::Console;
use crate::report::projection::ProjectedFinish;
use crate::terminal_text::printable_lines;

/// Plain timestamped lines, one per event, no escape codes (control
/// characters in step output and messages are written out, see
/// [`crate::terminal_text`]): for logs, CI and terminals that are not TTYs.
pub struct PlainConsole {
    out: Mutex<Box<dyn Write + Send>>,
    /// Show each step's live output lines.
    pub show_output: bool,
    /// Warnings go to stderr, so that stdout starts with the run id and
    /// carries only the run's record.
    warnings_to_stderr: bool,
    /// The reader went away: stop writing, let the run carry on.
    closed: AtomicBool,
}

impl PlainConsole {
    pub fn stdout() -> Self {
        Self {
            out: Mutex::new(Box::new(std::io::stdout())),
            show_output: true,
            warnings_to_stderr: true,
            closed: AtomicBool::new(false),
        }
    }

    /// Lines to any writer (the progress console sends them above its bars).
    pub fn with_writer(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: Mutex::new(out),
            show_output: true,
            warnings_to_stderr: false,
            closed: AtomicBool::new(false),
        }
    }

    /// Every line goes out through [`printable_lines`]: nothing a step or
    /// a server wrote can steer the terminal.
    fn line(&self, text: &str) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let text = printable_lines(text);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let written = writeln!(out, "{text}").and_then(|_| out.flush());
        if written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
            self.closed.store(true, Ordering::Relaxed);
        }
    }
}

fn clock(ts: &str) -> &str {
    // "2026-11-21T10:15:02.123Z" -> "10:15:02"
    ts.get(11..19).unwrap_or(ts)
}

fn now_clock() -> String {
    jiff::Timestamp::now().strftime("%H:%M:%S").to_string()
}

impl Console for PlainConsole {
    fn record(&self, r: &Record) {
        let t = clock(&r.ts);
        let text = match &r.event {
            Event::RunStarted {
                run_id,
                title,
                dry_run,
                ..
            } => {
                let mode = match dry_run.as_deref() {
                    Some(m) => format!(" [DRILL: dry-run={m}]"),
                    None => String::new(),
                };
                // The run id alone comes first, for scripts.
                format!(
                    "{run_id}\n{t} run      {title}{mode} (times are UTC; operator {})",
                    r.actor
                )
            }
            // Bookkeeping for resume, not news for the operator.
            Event::ProcessStarted { .. } => return,
            Event::StepStarted {
                step,
                attempt,
                description,
            } => {
                let first = description.lines().next().unwrap_or("");
                if *attempt > 1 {
                    format!("{t} start    {step} (attempt {attempt}) {first}")
                } else {
                    format!("{t} start    {step} {first}")
                }
            }
            Event::AttemptFailed {
                step,
                attempt,
                error,
                retry_in_ms,
            } => {
                format!(
                    "{t} retry    {step} attempt {attempt} failed: {error}; next in {}",
                    lifeboat_steps::duration::format(std::time::Duration::from_millis(
                        *retry_in_ms
                    ))
                )
            }
            Event::StepSucceeded {
                step,
                duration_ms,
                simulated,
                ..
            } => {
                let d = lifeboat_steps::duration::format(std::time::Duration::from_millis(
                    *duration_ms,
                ));
                if *simulated {
                    format!("{t} simulated {step}")
                } else {
                    format!("{t} ok       {step} ({d})")
                }
            }
            Event::StepFailed { step, error, .. } => format!("{t} FAILED   {step}: {error}"),
            Event::StepSkipped { step, reason } => format!("{t} skip     {step}: {reason}"),
            Event::Checkpoint { step, description } => match description {
                Some(d) => format!("{t} checkpoint {step}: {d}"),
                None => format!("{t} checkpoint {step}"),
            },
            Event::Waiting {
                step,
                reason,
                commands,
            } => {
                let mut s = format!("{t} WAITING  {step}: {reason}");
                for c in commands {
                    s.push_str(&format!("\n           {c}"));
                }
                s
            }
            Event::Marked { step, outcome } => {
                format!("{t} marked   {step} {outcome:?} by {}", r.actor)
            }
            Event::Note { text } => format!("{t} note     {} — {text}", r.actor),
            Event::Interrupted { reason } => format!("{t} interrupted: {reason}"),
            Event::Resumed {
                from_checkpoint,
                redo,
                reason,
                took_over_from,
                ..
            } => {
                let mut s = match from_checkpoint {
                    Some(cp) => format!("{t} resumed  from checkpoint {cp} by {}", r.actor),
                    None => format!("{t} resumed  by {}", r.actor),
                };
                if !redo.is_empty() {
                    s.push_str(&format!(
                        "; running again: {} ({})",
                        redo.join(", "),
                        reason.as_deref().unwrap_or("no reason given")
                    ));
                }
                if let Some(from) = took_over_from {
                    s.push_str(&format!("; took over from {from}"));
                }
                s
            }
            Event::RunFinished { status } => format!("{t} finished {status:?}").to_lowercase(),
            Event::ApprovalRequested {
                step,
                prompt,
                details,
                min_approvals,
                ..
            } => {
                let mut s = format!("{t} APPROVAL {step}: {prompt}");
                if let Some(d) = details {
                    for l in d.lines() {
                        s.push_str(&format!("\n           {l}"));
                    }
                }
                if *min_approvals > 1 {
                    s.push_str(&format!(
                        "\n           needs {min_approvals} approvals from different people"
                    ));
                }
                s
            }
            Event::Approval {
                step,
                decision,
                comment,
                ..
            } => {
                let verb = match decision {
                    crate::journal::record::Decision::Approved => "approved",
                    crate::journal::record::Decision::Rejected => "REJECTED",
                };
                match comment {
                    Some(c) => format!("{t} {verb:<8} {step} by {} — {c}", r.actor),
                    None => format!("{t} {verb:<8} {step} by {}", r.actor),
                }
            }
            Event::ManualRequested {
                step,
                instructions,
                checklist,
                ..
            } => {
                let mut s = format!("{t} MANUAL   {step}:");
                for l in instructions.lines() {
                    s.push_str(&format!("\n           {l}"));
                }
                for c in checklist {
                    s.push_str(&format!("\n           [ ] {c}"));
                }
                s
            }
            Event::ManualConfirmed { step, note, .. } => match note {
                Some(n) => format!("{t} confirmed {step} by {} — {n}", r.actor),
                None => format!("{t} confirmed {step} by {}", r.actor),
            },
            Event::StepThroughSkipped { step, reason } => {
                format!(
                    "{t} skip     {step} by {} (step-through): {reason}",
                    r.actor
                )
            }
            Event::Notified {
                target,
                event,
                attempts,
                http_status,
                ..
            } => format!(
                "{t} notified notify[{target}] of {event} (HTTP {http_status}, attempt {attempts})"
            ),
            Event::NotifyFailed {
                target,
                event,
                attempts,
                error,
                ..
            } => format!(
                "{t} NOT NOTIFIED notify[{target}] of {event} after {attempts} attempt(s): {error}"
            ),
        };
        self.line(&text);
    }

    fn output_line(&self, step: &str, line: &str) {
        if self.show_output {
            self.line(&format!("{}   | {step}: {line}", now_clock()));
        }
    }

    fn warn(&self, step: Option<&str>, message: &str) {
        let text = match step {
            Some(s) => format!("{} warning  {s}: {message}", now_clock()),
            None => format!("{} warning  {message}", now_clock()),
        };
        if self.warnings_to_stderr {
            let _ = writeln!(std::io::stderr(), "{}", printable_lines(&text));
        } else {
            self.line(&text);
        }
    }

    fn describe(&self, step: &str, text: &str) {
        let mut s = format!("{} would run {step}:", now_clock());
        for l in text.lines() {
            s.push_str(&format!("\n    {l}"));
        }
        self.line(&s);
    }

    fn info(&self, message: &str) {
        self.line(message);
    }

    fn output_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn projection(&self, p: &ProjectedFinish) {
        self.line(&format!(
            "{} projection remaining critical path: {}; projected finish: {}",
            now_clock(),
            p.path_text(),
            p.finish_text()
        ));
    }
}
