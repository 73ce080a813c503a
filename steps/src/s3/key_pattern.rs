//! The `pattern` of `s3.list` and `s3.latest`: a glob over object keys.
//!
//! A glob rather than a regex because backup keys are named like files
//! (`*.enc`, `vault-*.snap`) and a glob reads the same in a runbook as in a
//! shell. It is matched against the key with the step's `prefix` removed,
//! and `*` also matches `/`, so `*.enc` under `daily/` finds
//! `daily/2026-11-21/vault.snap.enc`. `?`, `[abc]` and `{a,b}` work as in a
//! shell.

use globset::{GlobBuilder, GlobMatcher};

/// A compiled glob and its source text.
#[derive(Clone, Debug)]
pub struct KeyPattern {
    text: String,
    matcher: GlobMatcher,
}

impl KeyPattern {
    /// Compiles a glob, or says what is wrong with it.
    pub fn new(text: &str) -> Result<Self, String> {
        let glob = GlobBuilder::new(text)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("`{text}` is not a valid glob: {}", e.kind()))?;
        Ok(Self {
            text: text.to_string(),
            matcher: glob.compile_matcher(),
        })
    }

    /// Whether `key` matches once `prefix` is taken off its front.
    pub fn matches(&self, prefix: &str, key: &str) -> bool {
        let rest = key.strip_prefix(prefix).unwrap_or(key);
        self.matcher.is_match(rest)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Whether `key` passes an optional pattern.
pub fn passes(pattern: Option<&KeyPattern>, prefix: &str, key: &str) -> bool {
    pattern.is_none_or(|p| p.matches(prefix, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_crosses_slashes_after_the_prefix() {
        let p = KeyPattern::new("*.enc").unwrap();
        assert!(p.matches("daily/", "daily/2026-11-21/vault.snap.enc"));
        assert!(!p.matches("daily/", "daily/2026-11-21/vault.snap"));
        let anchored = KeyPattern::new("2026-11-*/vault*").unwrap();
        assert!(anchored.matches("daily/", "daily/2026-11-21/vault.snap.enc"));
        assert!(!anchored.matches("daily/", "daily/2026-10-21/vault.snap.enc"));
    }

    #[test]
    fn a_bad_glob_is_explained() {
        let err = KeyPattern::new("[unclosed").unwrap_err();
        assert!(err.contains("`[unclosed` is not a valid glob"), "{err}");
    }
}
