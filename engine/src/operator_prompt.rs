use dialoguer::Select;

use crate::journal_record::MarkOutcome;
use crate::scheduler::OperatorPrompt;
use crate::step::Step;

/// Asks at the terminal (dialoguer).
pub struct TtyPrompt;

impl OperatorPrompt for TtyPrompt {
    fn interrupted_step(&self, step: &Step, description: &str) -> Option<MarkOutcome> {
        let prompt = format!(
            "Step `{}` ({description}) was interrupted and is unsafe to repeat. Did it complete?",
            step.id
        );
        let choice = Select::new()
            .with_prompt(prompt)
            .items([
                "it completed (mark done)",
                "it did not complete (mark failed)",
                "decide later (pause)",
            ])
            .default(2)
            .interact_opt()
            .ok()
            .flatten()?;
        match choice {
            0 => Some(MarkOutcome::Done),
            1 => Some(MarkOutcome::Failed),
            _ => None,
        }
    }
}
