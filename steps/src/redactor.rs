use std::sync::{Arc, RwLock};

/// Replaces every known secret value in a piece of text with `«redacted»`.
///
/// The engine registers each secret input and each secret output as soon as
/// it is known; everything that leaves memory (journal records, timeline,
/// log lines, error messages) goes through [`Redactor::redact`]. Cloning
/// shares the same set of secrets.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

/// What a secret is replaced with.
pub const REDACTED: &str = "«redacted»";

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret value. Values shorter than four characters are
    /// ignored: redacting every `1` or `ok` would destroy the text and protect
    /// nothing.
    pub fn add(&self, secret: &str) {
        let secret = secret.trim();
        // Output is streamed and redacted line by line: each line of a
        // multi-line secret (a PEM key, pretty JSON) is a secret too.
        if secret.contains('\n') {
            for line in secret.lines() {
                self.add(line);
            }
        }
        if secret.chars().count() < 4 {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        if !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_string());
            // Longest first, so a secret that contains another is replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Registers every string found inside a JSON value.
    pub fn add_value(&self, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.add(s),
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.add_value(v)),
            serde_json::Value::Object(map) => map.values().for_each(|v| self.add_value(v)),
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.read().map(|s| s.is_empty()).unwrap_or(true)
    }

    /// Returns `text` with every registered secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts every string inside a JSON value.
    pub fn redact_value(&self, value: &serde_json::Value) -> serde_json::Value {
        if self.is_empty() {
            return value.clone();
        }
        match value {
            serde_json::Value::String(s) => serde_json::Value::String(self.redact(s)),
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(|v| self.redact_value(v)).collect())
            }
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.redact_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_registered_secret_longest_first() {
        let redactor = Redactor::new();
        redactor.add("hunter2-token");
        redactor.add("hunter2-token-extended");
        redactor.add("ab");
        let text = "a=hunter2-token-extended b=hunter2-token c=ab";
        assert_eq!(
            redactor.redact(text),
            "a=«redacted» b=«redacted» c=ab",
            "short values are not secrets worth redacting"
        );
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_redacted() {
        let redactor = Redactor::new();
        redactor.add("-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----");
        assert_eq!(redactor.redact("line: MIIEvQIBADANBg"), "line: «redacted»");
    }

    #[test]
    fn redacts_inside_json() {
        let redactor = Redactor::new();
        redactor.add_value(&serde_json::json!({"keys": ["k1-secret", "k2-secret"]}));
        let out = redactor.redact_value(&serde_json::json!({"msg": "got k2-secret"}));
        assert_eq!(out, serde_json::json!({"msg": "got «redacted»"}));
    }
}
