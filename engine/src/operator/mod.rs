//! The operator at a terminal: the consoles a run reports to (plain lines,
//! JSON, a TTY progress display) and the questions it asks (approvals,
//! manual checklists, step-through).
//!
//! Architecture invariant: consoles see journal records and the run's
//! projection, never the scheduler's internals; they never decide anything
//! themselves, they ask and pass the answer back.

pub mod colour;
pub mod console;
pub mod json_console;
pub mod line_question;
pub mod markdown_text;
pub mod passphrase;
pub mod plain_console;
pub mod progress_plan;
pub mod prompt;
pub mod question;
pub mod tty_console;
