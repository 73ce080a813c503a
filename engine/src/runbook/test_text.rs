//! Text helpers for the unit tests of the loader and the validator: a
//! runbook written indented with the test's code, and diagnostics written
//! out one per line.

use crate::runbook::diagnostic::Diagnostic;

/// Strips the indentation common to every non-blank line (and the blank
/// lines before the first), so a runbook in a test starts at column 1.
pub fn unindent(text: &str) -> String {
    let text = text.trim_start_matches('\n');
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `error LINE:COL: message`, then `  help: …` when there is one.
pub fn diagnostics(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let severity = if d.is_error() { "error" } else { "warning" };
        out.push_str(&format!(
            "{severity} {}:{}: {}\n",
            d.loc.line, d.loc.col, d.message
        ));
        if let Some(help) = &d.help {
            out.push_str(&format!("  help: {help}\n"));
        }
    }
    out
}

/// Compares `actual` with an indented `expect`, showing `actual` whole.
pub fn assert_text(actual: &str, expect: &str) {
    assert_eq!(
        actual.trim(),
        unindent(expect).trim(),
        "\n--- actual ---\n{actual}"
    );
}
