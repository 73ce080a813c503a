//! [`TtyPrompt`], the terminal [`OperatorPrompt`]: approvals and manual
//! checklists read line by line (`line_question.rs`), so that a decision
//! from another shell or machine closes them; step-through and interruption
//! questions through dialoguer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dialoguer::{Confirm, Input, Select};

use crate::journal::record::MarkOutcome;
use crate::operator::console::Console;
use crate::operator::line_question::LineQuestion;
use crate::operator::markdown_text::render_markdown;
use crate::operator::question::OperatorPrompt;
use crate::operator::question::{
    ApprovalAnswer, ApprovalQuestion, InterruptChoice, ManualAnswer, ManualQuestion,
    StepThroughChoice,
};
use crate::runbook::step::Step;
use crate::terminal_text::printable;

/// Asks at the terminal (dialoguer, on stderr). Progress bars are suspended
/// while a question is on screen, so the two never draw over each other.
pub struct TtyPrompt {
    console: Option<Arc<dyn Console>>,
    /// True while the Ctrl-C question is asked: a gate's question gives
    /// the terminal up to it (`line_question.rs`).
    interrupting: Arc<AtomicBool>,
}

/// What a gate question borrows: when it is closed, and whether the Ctrl-C
/// question wants the terminal.
struct GateAsk<'a> {
    closed: &'a dyn Fn() -> Option<String>,
    yield_terminal: Box<dyn Fn() -> bool + 'a>,
}

impl GateAsk<'_> {
    fn as_question(&self) -> LineQuestion<'_> {
        LineQuestion {
            closed: self.closed,
            yield_terminal: &*self.yield_terminal,
        }
    }
}

/// The line saying which key signs the answer, before the question.
fn signing(key: Option<&str>) -> String {
    match key {
        Some(k) => format!("\n  your decision will be signed with {}", printable(k)),
        None => String::new(),
    }
}

/// The line under a gate's header naming the commands that decide it from
/// elsewhere (the `waiting` record's commands).
fn elsewhere(commands: &[String]) -> String {
    if commands.is_empty() {
        return String::new();
    }
    let mut text = "\n  the decision may also come from another shell or machine:".to_string();
    for c in commands {
        text.push_str(&format!("\n    {}", printable(c)));
    }
    text
}

impl TtyPrompt {
    /// `console` is suspended while asking (pass the progress console).
    pub fn new(console: Option<Arc<dyn Console>>) -> Self {
        Self {
            console,
            interrupting: Arc::new(AtomicBool::new(false)),
        }
    }

    fn line_question<'a>(&self, closed: &'a dyn Fn() -> Option<String>) -> GateAsk<'a> {
        let interrupting = self.interrupting.clone();
        GateAsk {
            closed,
            yield_terminal: Box::new(move || interrupting.load(Ordering::SeqCst)),
        }
    }

    fn asking<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut f = Some(f);
        let mut out = None;
        match &self.console {
            Some(c) => c.suspend(&mut || {
                if let Some(f) = f.take() {
                    out = Some(f());
                }
            }),
            None => out = f.take().map(|f| f()),
        }
        match out {
            Some(v) => v,
            // A console that does not run the closure: ask without it.
            None => f.take().map(|f| f()).expect("asked once"),
        }
    }
}

fn say(text: &str) {
    let term = console::Term::stderr();
    for line in text.lines() {
        let _ = term.write_line(line);
    }
}

impl OperatorPrompt for TtyPrompt {
    fn take_over(&self, run_id: &str, driver: &str) -> bool {
        let prompt = format!(
            "Run `{run_id}` is driven by {}. Take it over? Only if that engine is gone: its next write fails, but a step it is running goes on until it ends",
            printable(driver)
        );
        self.asking(|| {
            Confirm::new()
                .with_prompt(prompt)
                .default(false)
                .interact_opt()
                .ok()
                .flatten()
                .unwrap_or(false)
        })
    }

    fn interrupted_step(&self, step: &Step, description: &str) -> Option<MarkOutcome> {
        let prompt = format!(
            "Step `{}` ({}) was interrupted and is unsafe to repeat. Did it complete?",
            step.id,
            printable(description)
        );
        let choice = self.asking(|| {
            Select::new()
                .with_prompt(prompt)
                .items([
                    "it completed (mark done)",
                    "it did not complete (mark failed)",
                    "decide later (pause)",
                ])
                .default(2)
                .interact_opt()
                .ok()
                .flatten()
        })?;
        match choice {
            0 => Some(MarkOutcome::Done),
            1 => Some(MarkOutcome::Failed),
            _ => None,
        }
    }

    fn approval(
        &self,
        q: &ApprovalQuestion,
        check: &dyn Fn(&str, bool) -> Result<(), String>,
        closed: &dyn Fn() -> Option<String>,
    ) -> Option<ApprovalAnswer> {
        let ask = self.line_question(closed);
        let ask = ask.as_question();
        self.asking(|| {
            // The prompt and details were rendered from step outputs: each
            // line is written out (`terminal_text`) before it is shown.
            let mut header = format!("\nAPPROVAL NEEDED  {} (`{}`)", printable(&q.title), q.step);
            for l in q.prompt.lines() {
                header.push_str(&format!("\n  {}", printable(l)));
            }
            if let Some(d) = &q.details {
                for l in d.lines() {
                    header.push_str(&format!("\n  {}", printable(l)));
                }
            }
            header.push_str(&format!(
                "\n  approvals: {} of {}{}",
                q.approved_by.len(),
                q.min_approvals,
                if q.approved_by.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", printable(&q.approved_by.join(", ")))
                }
            ));
            header.push_str(&elsewhere(&q.elsewhere));
            header.push_str(&signing(q.signing.as_deref()));
            say(&header);
            let choice = ask
                .choose(
                    "Decision",
                    &[
                        "approve",
                        "reject",
                        "decide later (pause; decide with `lifeboat approve` from another shell)",
                    ],
                    0,
                )
                .ok()?;
            let approved = match choice {
                0 => true,
                1 => false,
                _ => return None,
            };
            let default = check(&q.default_identity, approved)
                .is_ok()
                .then_some(q.default_identity.as_str());
            let identity = ask
                .text("Your name (approver)", default, &|who| {
                    check(who.trim(), approved)
                })
                .ok()?;
            let comment = ask.text("Comment (optional)", None, &|_| Ok(())).ok()?;
            Some(ApprovalAnswer {
                approved,
                identity: identity.trim().to_string(),
                comment: Some(comment).filter(|c| !c.trim().is_empty()),
            })
        })
    }

    fn manual(
        &self,
        q: &ManualQuestion,
        closed: &dyn Fn() -> Option<String>,
    ) -> Option<ManualAnswer> {
        let ask = self.line_question(closed);
        let ask = ask.as_question();
        self.asking(|| {
            // `render_markdown` writes out control characters itself, so
            // that its own styles are the only escape codes.
            say(&format!(
                "\nMANUAL STEP  {} (`{}`)\n{}{}{}",
                printable(&q.title),
                q.step,
                render_markdown(&q.instructions),
                elsewhere(&q.elsewhere),
                signing(q.signing.as_deref())
            ));
            for item in &q.checklist {
                let done = ask
                    .confirm(&format!("[ ] {} — done?", printable(item)), false)
                    .ok()?;
                if !done {
                    say("not confirmed; the run pauses here (confirm later with `lifeboat confirm`)");
                    return None;
                }
            }
            if q.checklist.is_empty() {
                let done = ask
                    .choose(
                        "Is it done?",
                        &[
                            "done",
                            "not yet (pause; confirm later with `lifeboat confirm`)",
                        ],
                        0,
                    )
                    .ok()?;
                if done != 0 {
                    return None;
                }
            }
            let identity = ask
                .text("Your name", Some(&q.default_identity), &|_| Ok(()))
                .ok()?;
            let note = ask
                .text(
                    "Note as evidence (optional, e.g. \"changed the A record at 14:02\")",
                    None,
                    &|_| Ok(()),
                )
                .ok()?;
            Some(ManualAnswer {
                identity: identity.trim().to_string(),
                note: Some(note).filter(|n| !n.trim().is_empty()),
                checklist: q.checklist.clone(),
            })
        })
    }

    fn step_through(&self, step: &Step) -> StepThroughChoice {
        self.asking(|| {
            let choice = Select::new()
                .with_prompt(format!(
                    "Next: {} (`{}`, {})",
                    printable(step.title()),
                    step.id,
                    step.kind
                ))
                .items([
                    "run",
                    "skip (with a reason)",
                    "show the rendered command",
                    "quit (resume later)",
                ])
                .default(0)
                .interact_opt()
                .ok()
                .flatten();
            match choice {
                Some(0) => StepThroughChoice::Run,
                Some(1) => {
                    let reason = Input::<String>::new()
                        .with_prompt("Why skip it?")
                        .interact_text()
                        .unwrap_or_default();
                    StepThroughChoice::Skip { reason }
                }
                Some(2) => StepThroughChoice::Show,
                _ => StepThroughChoice::Quit,
            }
        })
    }

    fn interruption(&self) -> InterruptChoice {
        // A gate's open question ends (decide later) and gives the
        // terminal up to this one.
        self.interrupting.store(true, Ordering::SeqCst);
        let _done = ClearOnDrop(&self.interrupting);
        self.asking(|| {
            let choice = Select::new()
                .with_prompt("Ctrl-C: pause or abort? (Ctrl-C again aborts at once)")
                .items([
                    "pause: start nothing new, let running steps finish, exit (resumable)",
                    "abort: stop running steps now, exit (resumable)",
                    "continue the run",
                ])
                .default(0)
                .interact_opt();
            match choice {
                Ok(Some(0)) => InterruptChoice::Pause,
                Ok(Some(1)) => InterruptChoice::Abort,
                Ok(_) => InterruptChoice::Continue,
                // The prompt holds the terminal in raw mode, so a second
                // Ctrl-C arrives as a key and ends the prompt with an error
                // instead of a signal: it still means "abort at once".
                Err(_) => InterruptChoice::Abort,
            }
        })
    }
}

/// Clears a flag when dropped.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}
