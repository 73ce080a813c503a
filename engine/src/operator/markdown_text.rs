//! Just enough Markdown for a manual step's instructions at a terminal:
//! headings, emphasis, inline code, bullets and numbered lists. Anything
//! else is shown as written, which is still readable. Styles follow the
//! `console` crate's colour switch, so `NO_COLOR` gives plain text.
//! Control characters in the text are written out first
//! ([`crate::terminal_text`]): the styles are the only escape codes.

use console::style;

use crate::terminal_text::printable;

/// Renders Markdown for the terminal, indented by two spaces.
pub fn render_markdown(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = printable(line);
        let line = line.as_ref();
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let rendered = if let Some(h) = heading(trimmed) {
            style(inline(h)).bold().underlined().to_string()
        } else if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            format!("{indent}• {}", inline(item))
        } else {
            format!("{indent}{}", inline(trimmed))
        };
        out.push(format!("  {rendered}"));
    }
    out.join("\n")
}

fn heading(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
        Some(line[hashes..].trim())
    } else {
        None
    }
}

/// `**bold**` and `` `code` `` become styles; the markers go.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**") {
                out.push_str(&style(&after[..end]).bold().to_string());
                rest = &after[end + 2..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`') {
                out.push_str(&style(&after[..end]).cyan().to_string());
                rest = &after[end + 1..];
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_go_and_text_stays() {
        console::set_colors_enabled(false);
        let shown =
            render_markdown("## Switch DNS\nChange the **A record** of `vault`.\n- one\n1. two");
        assert_eq!(
            shown,
            "  Switch DNS\n  Change the A record of vault.\n  • one\n  1. two"
        );
    }

    #[test]
    fn control_characters_are_written_out() {
        console::set_colors_enabled(false);
        let shown =
            render_markdown("# Title \u{1b}]0;owned\u{7}\n\u{1b}[2Jcleared\rFAKE: all good");
        assert_eq!(
            shown,
            "  Title \\u{1b}]0;owned\\u{7}\n  \\u{1b}[2Jcleared\\rFAKE: all good"
        );
    }
}
