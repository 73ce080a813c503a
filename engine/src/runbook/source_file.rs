//! A runbook's text and path, shared by every diagnostic that points into it.

use std::path::{Path, PathBuf};

use crate::runbook::node::Loc;

/// A loaded runbook file: its path as the user wrote it and its text, for
/// diagnostics that quote the offending line.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The text of a 1-based line, without its newline.
    pub fn line(&self, line: u32) -> Option<&str> {
        if line == 0 {
            return None;
        }
        self.text.lines().nth(line as usize - 1)
    }

    /// The width of the scalar starting at `loc`: through the closing quote
    /// for a quoted scalar, else `plain_len` characters.
    pub fn scalar_width(&self, loc: Loc, plain_len: usize) -> usize {
        let Some(line) = self.line(loc.line) else {
            return plain_len.max(1);
        };
        let rest: String = line
            .chars()
            .skip(loc.col.saturating_sub(1) as usize)
            .collect();
        match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..]
                .find(q)
                .map(|end| end + 2)
                .unwrap_or(plain_len + 2),
            _ => plain_len.max(1),
        }
    }

    /// Where the end of `prefix` lands in a block scalar (`|`) whose
    /// content starts at `start`: content line k is source line
    /// `start.line + k`, after the block's indentation. Falls back to
    /// `start` when the source does not read that way.
    fn offset_in_block(&self, start: Loc, prefix: &str) -> Loc {
        let indent = start.col.saturating_sub(1) as usize;
        let target = start.line + prefix.matches('\n').count() as u32;
        let last = prefix.rsplit('\n').next().unwrap_or("");
        match self.line(target) {
            Some(text)
                if text.get(..indent).is_some_and(|i| i.trim().is_empty())
                    && text[indent..].starts_with(last) =>
            {
                Loc {
                    line: target,
                    col: start.col + last.chars().count() as u32,
                }
            }
            _ => start,
        }
    }

    /// Where a byte offset into a template that starts at `start` lands, for
    /// pointing inside a long string. Exact for plain and quoted single-line
    /// scalars and for block scalars (`script: |`); otherwise the template's
    /// own start is returned.
    pub fn offset_within(&self, start: Loc, template: &str, byte_offset: usize) -> Loc {
        let Some(line) = self.line(start.line) else {
            return start;
        };
        let prefix = &template[..byte_offset.min(template.len())];
        if prefix.contains('\n') {
            return self.offset_in_block(start, prefix);
        }
        let col0 = start.col as usize - 1;
        let rest: String = line.chars().skip(col0).collect();
        let skip = if rest.starts_with('"') || rest.starts_with('\'') {
            1
        } else {
            0
        };
        let candidate: String = rest.chars().skip(skip).collect();
        if candidate.starts_with(prefix) {
            Loc {
                line: start.line,
                col: start.col + skip as u32 + prefix.chars().count() as u32,
            }
        } else {
            start
        }
    }
}
