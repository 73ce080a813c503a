//! Asking for a key's passphrase at the terminal (an encrypted SSH identity
//! that opens sealed secret outputs, `run/sealed_outputs.rs`).

use crate::terminal_text::printable;

/// Shows `message` on stderr, written out so it cannot steer the terminal.
pub fn show(message: &str) {
    eprintln!("{}", printable(message));
}

/// Asks for a passphrase without echoing it; `None` when nothing could be
/// read (no terminal, Ctrl-D).
pub fn ask(description: &str) -> Option<String> {
    dialoguer::Password::new()
        .with_prompt(printable(description).to_string())
        .interact()
        .ok()
}
