//! [`TtyPrompt`], the terminal [`OperatorPrompt`]: approvals, manual
//! checklists, step-through and interruption questions through dialoguer.

use std::sync::Arc;

use dialoguer::{Confirm, Input, Select};

use crate::journal::record::MarkOutcome;
use crate::operator::console::Console;
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
}

impl TtyPrompt {
    /// `console` is suspended while asking (pass the progress console).
    pub fn new(console: Option<Arc<dyn Console>>) -> Self {
        Self { console }
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
    ) -> Option<ApprovalAnswer> {
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
            say(&header);
            let choice = Select::new()
                .with_prompt("Decision")
                .items([
                    "approve",
                    "reject",
                    "decide later (pause; decide with `lifeboat approve` from another shell)",
                ])
                .default(0)
                .interact_opt()
                .ok()
                .flatten()?;
            let approved = match choice {
                0 => true,
                1 => false,
                _ => return None,
            };
            let mut input = Input::<String>::new().with_prompt("Your name (approver)");
            if check(&q.default_identity, approved).is_ok() {
                input = input.default(q.default_identity.clone());
            }
            let identity = input
                .validate_with(|who: &String| check(who.trim(), approved))
                .interact_text()
                .ok()?;
            let comment = Input::<String>::new()
                .with_prompt("Comment (optional)")
                .allow_empty(true)
                .interact_text()
                .ok()?;
            Some(ApprovalAnswer {
                approved,
                identity: identity.trim().to_string(),
                comment: Some(comment).filter(|c| !c.trim().is_empty()),
            })
        })
    }

    fn manual(&self, q: &ManualQuestion) -> Option<ManualAnswer> {
        self.asking(|| {
            // `render_markdown` writes out control characters itself, so
            // that its own styles are the only escape codes.
            say(&format!(
                "\nMANUAL STEP  {} (`{}`)\n{}",
                printable(&q.title),
                q.step,
                render_markdown(&q.instructions)
            ));
            for item in &q.checklist {
                let done = Confirm::new()
                    .with_prompt(format!("[ ] {} — done?", printable(item)))
                    .default(false)
                    .wait_for_newline(true)
                    .interact_opt()
                    .ok()
                    .flatten()?;
                if !done {
                    say("not confirmed; the run pauses here (confirm later with `lifeboat confirm`)");
                    return None;
                }
            }
            if q.checklist.is_empty() {
                let done = Select::new()
                    .with_prompt("Is it done?")
                    .items([
                        "done",
                        "not yet (pause; confirm later with `lifeboat confirm`)",
                    ])
                    .default(0)
                    .interact_opt()
                    .ok()
                    .flatten()?;
                if done != 0 {
                    return None;
                }
            }
            let identity = Input::<String>::new()
                .with_prompt("Your name")
                .default(q.default_identity.clone())
                .interact_text()
                .ok()?;
            let note = Input::<String>::new()
                .with_prompt("Note as evidence (optional, e.g. \"changed the A record at 14:02\")")
                .allow_empty(true)
                .interact_text()
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
