//! Text from steps, servers and runbooks made safe to show on a terminal.
//!
//! A step's output, a server's error or a runbook string can hold escape
//! sequences: a title change, a clear-screen, or a `\r` that rewinds the
//! line so `FAKE: all good` overwrites what was printed. Every console line
//! and the timeline's summaries go through [`printable`], which writes such
//! characters out the way Rust's `{:?}` does (`\u{1b}`, `\r`), so they are
//! visible and inert.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1) except tab, and every
/// bidirectional override, escaped; `\n` too, so the result is one line.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Like [`printable`], but keeps line breaks (`\n`): for multi-line console
/// text built from lines.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| needs_escape(c) && !(keep_newlines && c == '\n');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_written_out() {
        assert_eq!(printable("ok\tfine"), "ok\tfine");
        assert_eq!(
            printable("\u{1b}]0;owned\u{7}\u{1b}[2Jx\rFAKE\u{9b}\u{202e}"),
            r"\u{1b}]0;owned\u{7}\u{1b}[2Jx\rFAKE\u{9b}\u{202e}"
        );
        assert_eq!(printable("a\nb"), r"a\nb");
        assert_eq!(printable_lines("a\nb\r"), "a\nb\\r");
    }
}
