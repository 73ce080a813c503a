//! A problem found in a runbook: severity, message, location, caret width
//! and a suggested fix, rendered with the source line like rustc does.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::runbook::node::Loc;
use crate::runbook::source_file::SourceFile;

/// One problem found in a runbook, with where it is and how to fix it.
///
/// Rendered like a compiler error:
///
/// ```text
/// error: step `restore` needs `helth`, which is not a step
///   --> runbooks/drill.yaml:14:13
///    |
/// 14 |     needs: [helth]
///    |             ^^^^^
///    = help: did you mean `health`?
/// ```
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub loc: Loc,
    /// How long the underline is, in characters (at least 1).
    pub width: u32,
    pub help: Option<String>,
    /// For a problem in a called runbook (`kind: runbook`): the call that
    /// led to its file, `file:line:col (step `id`)`.
    pub called_from: Option<String>,
    pub source: Option<Arc<SourceFile>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            loc: Loc::UNKNOWN,
            width: 1,
            help: None,
            called_from: None,
            source: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(message)
        }
    }

    pub fn at(mut self, loc: Loc) -> Self {
        self.loc = loc;
        self
    }

    pub fn width(mut self, width: usize) -> Self {
        self.width = width.max(1) as u32;
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn in_file(mut self, source: &Arc<SourceFile>) -> Self {
        self.source = Some(source.clone());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col`, or just the file when the location is unknown.
    pub fn location(&self) -> String {
        let file = self
            .source
            .as_ref()
            .map(|s| s.path.display().to_string())
            .unwrap_or_else(|| "<input>".into());
        if self.loc.is_known() {
            format!("{file}:{}:{}", self.loc.line, self.loc.col)
        } else {
            file
        }
    }

    /// The human form: message, location, source line, caret and help.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}: {}", self.message);
        let _ = writeln!(out, "  --> {}", self.location());
        if let (Some(source), true) = (&self.source, self.loc.is_known()) {
            if let Some(line) = source.line(self.loc.line) {
                let num = self.loc.line.to_string();
                let pad = " ".repeat(num.len());
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{num} | {line}");
                let caret_pad: String = line
                    .chars()
                    .take(self.loc.col.saturating_sub(1) as usize)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let _ = writeln!(
                    out,
                    "{pad} | {caret_pad}{}",
                    "^".repeat(self.width as usize)
                );
            }
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "   = help: {help}");
        }
        if let Some(at) = &self.called_from {
            let _ = writeln!(out, "   = note: called from {at}");
        }
        out
    }

    /// The machine form for `--output json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({
            "severity": self.severity,
            "message": self.message,
            "file": self.source.as_ref().map(|s| s.path.display().to_string()),
            "line": self.loc.line,
            "column": self.loc.col,
            "help": self.help,
        });
        if let Some(at) = &self.called_from {
            json["called_from"] = at.clone().into();
        }
        json
    }
}

/// "did you mean" for a misspelt name: the closest candidate within a small
/// edit distance.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let d = edit_distance(name, candidate);
        let limit = (name.len().max(candidate.len()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Edits between two names, where swapping two neighbouring letters
/// (`titel` for `title`) counts as one edit, like a typo does.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_source_line_and_caret() {
        let src = Arc::new(SourceFile::new(
            "rb.yaml",
            "steps:\n  - id: a\n    needs: [helth]\n",
        ));
        let d = Diagnostic::error("step `a` needs `helth`, which is not a step")
            .at(Loc { line: 3, col: 13 })
            .width(5)
            .help("did you mean `health`?")
            .in_file(&src);
        assert_eq!(
            d.render(),
            "error: step `a` needs `helth`, which is not a step\n  --> rb.yaml:3:13\n  |\n3 |     needs: [helth]\n  |             ^^^^^\n   = help: did you mean `health`?\n"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("helth", ["health", "restore"]).unwrap(),
            "did you mean `health`?"
        );
        assert_eq!(did_you_mean("zzz", ["health", "restore"]), None);
        assert_eq!(
            did_you_mean("titel", ["name", "title"]).unwrap(),
            "did you mean `title`?"
        );
    }
}
