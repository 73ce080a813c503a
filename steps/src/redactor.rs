use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;

/// Replaces every known secret value in a piece of text with `«redacted»`.
///
/// The engine registers each secret input and each secret output as soon as
/// it is known; everything that leaves memory (journal records, timeline,
/// log lines, error messages) goes through [`Redactor::redact`]. Cloning
/// shares the same set of secrets.
///
/// A secret is found in the forms it commonly takes on its way out, not only
/// as its exact text: in any ASCII letter case (`| upper`), percent-encoded
/// (a URL in an error), JSON-escaped (`\u0026`, `| tojson`, `bao -format=json`),
/// base64 at any alignment, and cut at a line boundary (`fold`, a truncated
/// error body). `docs/security.md` lists what is not covered.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<RwLock<Patterns>>,
}

/// What a secret is replaced with.
pub const REDACTED: &str = "«redacted»";

/// Secrets shorter than this many characters are not registered: redacting
/// every `1` or `ok` would destroy the text and protect nothing. The engine
/// refuses secret inputs this short in a real run.
pub const MIN_SECRET_CHARS: usize = 4;

/// The shortest piece of a secret that is redacted at the start or end of a
/// line, where `fold` or a truncated message cut it. Pieces made of letters
/// only are left alone: they are words (`region` of `region-failover`) more
/// often than secrets.
const FRAGMENT_CHARS: usize = 8;

/// The shortest value registered because it is a piece of a secret (a slice
/// taken by a template, see [`Redactor::add_derived`]).
const DERIVED_CHARS: usize = 8;

#[derive(Default)]
struct Patterns {
    /// The secrets as registered (trimmed), for pieces and fragments.
    secrets: Vec<String>,
    /// The same in ASCII lower case.
    lower: Vec<String>,
    /// Text forms (exact, URL, JSON), matched in any ASCII case.
    text: Vec<String>,
    /// Base64 forms, matched exactly.
    base64: Vec<String>,
    text_matcher: Option<AhoCorasick>,
    base64_matcher: Option<AhoCorasick>,
    /// The first and last [`FRAGMENT_CHARS`] characters of each secret
    /// longer than that, and which secret each belongs to.
    heads: Option<AhoCorasick>,
    tails: Option<AhoCorasick>,
    /// The secret of each head and tail pattern.
    owner: Vec<usize>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret value and its common encodings. Values shorter
    /// than [`MIN_SECRET_CHARS`] are ignored.
    pub fn add(&self, secret: &str) {
        let secret = secret.trim();
        // Output is streamed and redacted line by line: each line of a
        // multi-line secret (a PEM key, pretty JSON) is a secret too.
        if secret.contains('\n') {
            for line in secret.lines() {
                self.add(line);
            }
        }
        if secret.chars().count() < MIN_SECRET_CHARS {
            return;
        }
        let mut p = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if p.secrets.iter().any(|s| s == secret) {
            return;
        }
        p.secrets.push(secret.to_string());
        p.lower.push(secret.to_ascii_lowercase());
        let mut text = vec![
            secret.to_string(),
            secret.to_uppercase(),
            secret.to_lowercase(),
        ];
        text.extend(url_forms(secret));
        text.extend(json_forms(secret));
        for form in text {
            if !p.text.contains(&form) {
                p.text.push(form);
            }
        }
        for form in base64_forms(secret) {
            if !p.base64.contains(&form) {
                p.base64.push(form);
            }
        }
        p.text_matcher = build(&p.text, true);
        p.base64_matcher = build(&p.base64, false);
        let (mut heads, mut tails, mut owners) = (Vec::new(), Vec::new(), Vec::new());
        for (i, s) in p.secrets.iter().enumerate() {
            let chars: Vec<(usize, char)> = s.char_indices().collect();
            if chars.len() <= FRAGMENT_CHARS {
                continue;
            }
            heads.push(s[..chars[FRAGMENT_CHARS].0].to_string());
            tails.push(s[chars[chars.len() - FRAGMENT_CHARS].0..].to_string());
            owners.push(i);
        }
        p.heads = build_overlapping(&heads);
        p.tails = build_overlapping(&tails);
        p.owner = owners;
    }

    /// Registers every string, number and string form of a number found
    /// inside a JSON value (a numeric PIN is as secret as a password).
    pub fn add_value(&self, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.add(s),
            serde_json::Value::Number(n) => self.add(&n.to_string()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.add_value(v)),
            serde_json::Value::Object(map) => map.values().for_each(|v| self.add_value(v)),
            serde_json::Value::Bool(_) | serde_json::Value::Null => {}
        }
    }

    /// Registers `value` as a secret if it is a piece of one (in any ASCII
    /// case) at least eight characters long: what a template slice such as
    /// `{{ inputs.token[:12] }}` hands to a step. Returns whether it did.
    pub fn add_derived(&self, value: &str) -> bool {
        let value = value.trim();
        if value.chars().count() < DERIVED_CHARS {
            return false;
        }
        let derived = {
            let p = self.inner.read().unwrap_or_else(|e| e.into_inner());
            let lower = value.to_ascii_lowercase();
            !p.secrets.iter().any(|s| s == value) && p.lower.iter().any(|s| s.contains(&lower))
        };
        if derived {
            self.add(value);
        }
        derived
    }

    pub fn is_empty(&self) -> bool {
        self.inner
            .read()
            .map(|p| p.secrets.is_empty())
            .unwrap_or(true)
    }

    /// Returns `text` with every registered secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let p = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if p.secrets.is_empty() {
            return text.to_string();
        }
        // Pieces first: a shorter secret inside a piece (a slice of the
        // same secret) must not hide the piece from the boundary rules.
        let text = if text.contains('\n') {
            text.split('\n')
                .map(|line| redact_fragments(&p, line))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            redact_fragments(&p, text)
        };
        let out = replace(p.text_matcher.as_ref(), &text);
        match p.base64_matcher.as_ref() {
            Some(b64) if b64.is_match(&out) => replace(Some(b64), &out),
            _ => out,
        }
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

/// One automaton for many patterns: a line costs one pass, whatever the
/// number of secrets. Leftmost-longest, so a secret that contains another
/// is replaced whole.
fn build(patterns: &[String], ascii_case_insensitive: bool) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .ascii_case_insensitive(ascii_case_insensitive)
        .build(patterns)
        .ok()
}

/// An automaton that reports every match, overlapping ones too.
fn build_overlapping(patterns: &[String]) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .ascii_case_insensitive(true)
        .build(patterns)
        .ok()
}

fn replace(matcher: Option<&AhoCorasick>, text: &str) -> String {
    match matcher {
        Some(m) => {
            let mut out = String::with_capacity(text.len());
            m.replace_all_with(text, &mut out, |_, _, dst| {
                dst.push_str(REDACTED);
                true
            });
            out
        }
        None => text.to_string(),
    }
}

/// A secret cut at a line boundary (`fold`, a message truncated to N
/// characters, a wrapped terminal line): the line ends with the secret's
/// first characters, starts with its last ones, or is a piece of it.
fn redact_fragments(p: &Patterns, line: &str) -> String {
    let (Some(heads), Some(tails)) = (&p.heads, &p.tails) else {
        return line.to_string();
    };
    let body = line.trim();
    let (lead, body_end) = (line.len() - line.trim_start().len(), line.trim_end().len());
    if body.len() < FRAGMENT_CHARS {
        return line.to_string();
    }
    // A whole line that is a piece of a secret.
    if not_a_word(body.as_bytes()) {
        let lower = body.to_ascii_lowercase();
        if p.lower
            .iter()
            .any(|s| s.len() > lower.len() && s.contains(&lower))
        {
            return format!("{}{REDACTED}{}", &line[..lead], &line[body_end..]);
        }
    }
    // A piece inside a whole occurrence of a secret is left to the whole
    // match: a secret that repeats itself (`abcabc…`) has prefixes and
    // suffixes that are also its own beginning and end, and cutting there
    // would leave the rest of the occurrence in clear.
    let whole: Vec<(usize, usize)> = p
        .text_matcher
        .as_ref()
        .map(|m| m.find_iter(body).map(|w| (w.start(), w.end())).collect())
        .unwrap_or_default();
    let inside_whole =
        |start: usize, end: usize| whole.iter().any(|&(s, e)| s <= start && end <= e);
    // The earliest start of a proper prefix of a secret that runs to the end.
    let head_start = heads
        .find_overlapping_iter(body)
        .filter(|m| !inside_whole(m.start(), body.len()))
        .filter(|m| {
            let secret = p.secrets[p.owner[m.pattern().as_usize()]].as_bytes();
            let rest = &body.as_bytes()[m.start()..];
            rest.len() < secret.len()
                && secret[..rest.len()].eq_ignore_ascii_case(rest)
                && not_a_word(rest)
        })
        .map(|m| m.start())
        .min();
    // The latest end of a proper suffix of a secret that starts the line.
    let tail_end = tails
        .find_overlapping_iter(body)
        .filter(|m| !inside_whole(0, m.end()))
        .filter(|m| {
            let secret = p.secrets[p.owner[m.pattern().as_usize()]].as_bytes();
            let piece = &body.as_bytes()[..m.end()];
            piece.len() < secret.len()
                && secret[secret.len() - piece.len()..].eq_ignore_ascii_case(piece)
                && not_a_word(piece)
        })
        .map(|m| m.end())
        .max();
    let mut out = String::with_capacity(line.len());
    out.push_str(&line[..lead]);
    let mut from = 0;
    if let Some(end) = tail_end {
        out.push_str(REDACTED);
        from = end;
    }
    match head_start {
        Some(start) if start >= from => {
            out.push_str(&body[from..start]);
            out.push_str(REDACTED);
        }
        _ => out.push_str(&body[from..]),
    }
    out.push_str(&line[body_end..]);
    out
}

/// Whether a piece of text holds something other than letters and spaces.
fn not_a_word(piece: &[u8]) -> bool {
    !piece.iter().all(|b| b.is_ascii_alphabetic() || *b == b' ')
}

/// The percent-encodings a secret takes in URLs: every reserved byte encoded
/// (`%40` for `@`), the WHATWG sets `url`/reqwest use for the path, query
/// and user info (error messages quote the URL so), and form encoding
/// (`+` for a space).
fn url_forms(secret: &str) -> Vec<String> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    let query = |b: u8| b > 0x20 && b < 0x7f && !b"\"#<>'".contains(&b);
    let path = |b: u8| query(b) && !b"?`{}".contains(&b);
    let userinfo = |b: u8| path(b) && !b"/:;=@[\\]^|".contains(&b);
    let mut forms = Vec::new();
    for keep in [&unreserved as &dyn Fn(u8) -> bool, &query, &path, &userinfo] {
        forms.push(percent_encode(secret, keep, false));
    }
    forms.push(percent_encode(
        secret,
        &|b| b.is_ascii_alphanumeric() || b"*-._".contains(&b),
        true,
    ));
    forms
}

fn percent_encode(secret: &str, keep: &dyn Fn(u8) -> bool, plus_for_space: bool) -> String {
    let mut out = String::with_capacity(secret.len() * 3);
    for b in secret.bytes() {
        if keep(b) {
            out.push(b as char);
        } else if plus_for_space && b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The ways JSON encoders escape a string (without the quotes): serde_json,
/// Go's `encoding/json` (`<`, `>`, `&` as `\u003c`…, what `bao -format=json`
/// prints), minijinja's `tojson` (also `'`), and ASCII-only encoders
/// (Python's `json.dumps`).
fn json_forms(secret: &str) -> Vec<String> {
    let plain = serde_json::to_string(secret).unwrap_or_default();
    let plain = plain[1..plain.len().saturating_sub(1).max(1)].to_string();
    let html = |s: &str, apostrophe: bool| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                '\'' if apostrophe => out.push_str("\\u0027"),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        }
        out
    };
    let ascii = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        out
    };
    let go = html(&plain, false);
    let jinja = html(&plain, true);
    vec![
        ascii(&plain),
        ascii(&go),
        ascii(&jinja),
        plain,
        go,
        jinja,
        // `/` escaped as `\/` (PHP, some Java encoders).
        serde_json::to_string(secret)
            .unwrap_or_default()
            .trim_matches('"')
            .replace('/', "\\/"),
    ]
}

/// The base64 text of a secret at each of the three alignments it can have
/// inside a longer encoded stream (`user:password` in a Basic header), in
/// the standard and URL-safe alphabets: only the characters that depend on
/// the secret's bytes alone. The whole padded encoding of the secret on its
/// own comes first.
fn base64_forms(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = secret.as_bytes();
    let mut forms = vec![STANDARD.encode(bytes), URL_SAFE.encode(bytes)];
    for offset in 0..3usize {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(bytes);
        let start = (8 * offset).div_ceil(6);
        let end = 8 * (offset + bytes.len()) / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&shifted);
            if end > start && end - start > MIN_SECRET_CHARS && end <= encoded.len() {
                forms.push(encoded[start..end].to_string());
            }
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(secrets: &[&str]) -> Redactor {
        let r = Redactor::new();
        for s in secrets {
            r.add(s);
        }
        r
    }

    #[test]
    fn a_repeating_secret_at_a_line_boundary_is_redacted_whole() {
        let secret = "s3cr3t-".repeat(20);
        let redactor = redactor(&[secret.as_str()]);
        assert_eq!(redactor.redact(&format!("{secret}bbbb")), "«redacted»bbbb");
        assert_eq!(redactor.redact(&format!("aaaa{secret}")), "aaaa«redacted»");
    }

    #[test]
    fn replaces_every_registered_secret_longest_first() {
        let redactor = redactor(&["hunter2-token", "hunter2-token-extended", "ab"]);
        let text = "a=hunter2-token-extended b=hunter2-token c=ab";
        assert_eq!(
            redactor.redact(text),
            "a=«redacted» b=«redacted» c=ab",
            "short values are not secrets worth redacting"
        );
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_redacted() {
        let redactor = redactor(&["-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----"]);
        assert_eq!(redactor.redact("line: MIIEvQIBADANBg"), "line: «redacted»");
    }

    #[test]
    fn redacts_inside_json() {
        let redactor = Redactor::new();
        redactor.add_value(&serde_json::json!({"keys": ["k1-secret", "k2-secret"]}));
        let out = redactor.redact_value(&serde_json::json!({"msg": "got k2-secret"}));
        assert_eq!(out, serde_json::json!({"msg": "got «redacted»"}));
    }

    /// Each form a secret took on its way into the journal, timeline or
    /// console in the issue, and what must be left of it.
    #[test]
    fn redacts_the_encoded_forms_of_a_secret() {
        let secret = "p@ss w/rd&<Zq9>ü";
        let r = redactor(&[secret]);
        let cases = [
            ("exact", format!("got {secret}!")),
            ("upper", format!("got {}!", secret.to_uppercase())),
            ("lower", format!("got {}!", secret.to_lowercase())),
            (
                "percent-encoded",
                "got p%40ss%20w%2Frd%26%3CZq9%3E%C3%BC!".to_string(),
            ),
            (
                "lower-case hex",
                "got p%40ss%20w%2frd%26%3cZq9%3e%c3%bc!".to_string(),
            ),
            (
                "query (reqwest)",
                "got p@ss%20w/rd&%3CZq9%3E%C3%BC!".to_string(),
            ),
            ("form", "got p%40ss+w%2Frd%26%3CZq9%3E%C3%BC!".to_string()),
            (
                "go json",
                "got p@ss w/rd\\u0026\\u003cZq9\\u003eü!".to_string(),
            ),
            (
                "serde json",
                format!("got {}!", serde_json::to_string(secret).unwrap()),
            ),
            ("ascii json", "got p@ss w/rd&<Zq9>\\u00fc!".to_string()),
            ("base64", format!("got {}!", STANDARD.encode(secret))),
        ];
        use base64::engine::general_purpose::STANDARD;
        for (what, text) in cases {
            let out = r.redact(&text);
            assert!(out.contains(REDACTED), "{what}: not redacted: {out}");
            assert!(
                out.starts_with("got ") && out.ends_with('!'),
                "{what}: {out}"
            );
            assert!(!out.contains("Zq9"), "{what}: {out}");
        }
    }

    #[test]
    fn base64_is_found_at_any_alignment_inside_a_longer_encoding() {
        use base64::engine::general_purpose::STANDARD;
        let secret = "s3cr3t-Pa55word";
        let r = redactor(&[secret]);
        for prefix in ["", "u:", "us:", "use:"] {
            let encoded = STANDARD.encode(format!("{prefix}{secret}"));
            let out = r.redact(&format!("Authorization: Basic {encoded}"));
            assert!(out.contains(REDACTED), "prefix {prefix:?}: {out}");
            // The prefix's own characters and at most the boundary ones,
            // which mix in other bytes, stay.
            let left = out
                .trim_start_matches("Authorization: Basic ")
                .replace(REDACTED, "");
            assert!(
                left.len() <= prefix.len() * 4 / 3 + 5,
                "prefix {prefix:?}: {out}"
            );
        }
    }

    #[test]
    fn a_secret_cut_at_a_line_boundary_is_redacted() {
        let secret = "tok-8d1fQz7Wv3pXk2Lm";
        let r = redactor(&[secret]);
        // `fold -w 12` of "password=tok-8d1fQz7Wv3pXk2Lm done"
        let folded = "password=tok\n-8d1fQz7Wv3p\nXk2Lm done";
        let out = r.redact(folded);
        assert!(!out.contains("8d1fQz7Wv3p"), "{out}");
        // A message truncated after 200 characters.
        let truncated = format!("{}error: {}", "x".repeat(10), &secret[..12]);
        assert_eq!(
            r.redact(&truncated),
            format!("{}error: {REDACTED}", "x".repeat(10))
        );
        assert_eq!(
            r.redact(&format!("{} end", &secret[7..])),
            format!("{REDACTED} end")
        );
        // A slice of the same secret registered too does not hide the piece.
        r.add(&secret[..10]);
        assert_eq!(r.redact("pw: tok-8d1fQz7W"), format!("pw: {REDACTED}"));
        // Ordinary text that shares a few characters is left alone.
        assert_eq!(r.redact("tok-8d1f is fine"), "tok-8d1f is fine");
        // So is a word at a line boundary that begins a wordy secret.
        let wordy = redactor(&["region-failover-canary"]);
        let text = "failing over to the DR region\nfailover-canary done";
        assert_eq!(
            wordy.redact(text),
            format!("failing over to the DR region\n{REDACTED} done")
        );
    }

    #[test]
    fn numeric_secrets_are_redacted_and_booleans_ignored() {
        let r = Redactor::new();
        r.add_value(&serde_json::json!({"pin": 73519024, "enabled": true, "n": 7}));
        assert_eq!(r.redact("pin 73519024 true 7"), "pin «redacted» true 7");
    }

    #[test]
    fn a_piece_of_a_secret_is_registered_as_one() {
        let r = redactor(&["tok-8d1fQz7Wv3pXk2Lm"]);
        assert!(r.add_derived("8D1FQZ7W"), "a slice, upper-cased");
        assert!(!r.add_derived("tok-8d"), "too short to be worth it");
        assert!(!r.add_derived("unrelated-value"));
        assert_eq!(r.redact("id 8d1fQz7W"), "id «redacted»");
    }

    #[test]
    fn text_without_secrets_is_unchanged() {
        let r = redactor(&["tok-8d1fQz7Wv3pXk2Lm", "another-Secret-1"]);
        let text = "2026-12-01 step ok: wrote 42 bytes to /data/out (Tok-8 is not it)";
        assert_eq!(r.redact(text), text);
    }
}
