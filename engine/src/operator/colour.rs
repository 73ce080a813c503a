//! Whether output is styled: the no-color.org convention, `NO_COLOR`
//! present and not empty turns colours and styles off.
//!
//! The `console` crate (under indicatif and dialoguer) treats any `NO_COLOR`,
//! even an empty one, as "off", so the decision is taken here once, before
//! anything is drawn.

use std::io::IsTerminal;

/// Applies `NO_COLOR` (and, when it is set but empty, the `console`
/// crate's own rules without it) to stdout and stderr.
pub fn configure_from_env() {
    let Some(no_color) = std::env::var_os("NO_COLOR") else {
        return;
    };
    if !no_color.is_empty() {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
        return;
    }
    console::set_colors_enabled(styled(std::io::stdout().is_terminal()));
    console::set_colors_enabled_stderr(styled(std::io::stderr().is_terminal()));
}

/// The `console` crate's default for a stream, as if `NO_COLOR` were unset.
fn styled(terminal: bool) -> bool {
    let var = |name: &str| std::env::var(name).ok();
    let dumb = var("TERM").is_none_or(|t| t == "dumb");
    let clicolor = var("CLICOLOR").is_none_or(|v| v != "0");
    let forced = var("CLICOLOR_FORCE").is_some_and(|v| v != "0");
    (terminal && !dumb && clicolor) || forced
}
