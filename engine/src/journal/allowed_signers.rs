//! Who may decide: an OpenSSH `allowed_signers` file (see
//! `ssh-keygen(1)`, "ALLOWED SIGNERS"), parsed into the keys it trusts and
//! the principals it names for each.
//!
//! One line per key: `PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]`.
//! `PRINCIPALS` is a comma-separated list (quoted if it holds spaces);
//! `OPTIONS` a comma-separated list. Supported: `namespaces="a,b"` (the key
//! is trusted only for those signature namespaces, so a line without
//! `lifeboat` in it is not trusted by Lifeboat). Refused with a message
//! naming the line: `cert-authority` (certificate signers are not
//! supported), `valid-after`/`valid-before` (rotate by editing the file:
//! `docs/trust.md`), and any other option. Blank lines and `#` comments
//! are skipped.

use std::path::Path;

use ssh_key::{HashAlg, PublicKey};

/// One trusted key.
#[derive(Debug, Clone)]
pub struct AllowedSigner {
    /// The principals (people) this key speaks for; the first is the name
    /// decisions are counted under.
    pub principals: Vec<String>,
    /// `namespaces=`, if given: the key is trusted only for these.
    pub namespaces: Option<Vec<String>>,
    pub key: PublicKey,
    /// `SHA256:…`.
    pub fingerprint: String,
    /// The line it was read from (1-based).
    pub line: usize,
}

/// A parsed `allowed_signers` file, with the SHA-256 of its bytes (a run
/// records it, so every machine verifies against the same file).
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    pub signers: Vec<AllowedSigner>,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Where it was read from, for messages.
    pub source: String,
}

impl AllowedSigners {
    /// Reads and parses `path`; the error names the file (and the line).
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read the allowed signers file `{}`: {e}; give the team's file with --allowed-signers FILE or LIFEBOAT_ALLOWED_SIGNERS",
                path.display()
            )
        })?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| {
            format!(
                "the allowed signers file `{}` is not UTF-8 text",
                path.display()
            )
        })?;
        let mut parsed = Self::parse(&text, &path.display().to_string())?;
        parsed.sha256 = lifeboat_steps::checksum::sha256_hex(&bytes);
        Ok(parsed)
    }

    /// Parses the text of a file; `source` names it in errors
    /// (`source:line:col: problem`).
    pub fn parse(text: &str, source: &str) -> Result<Self, String> {
        let mut signers = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let col = raw.len() - trimmed.len() + 1;
            let at = |col: usize, problem: String| format!("{source}:{line}:{col}: {problem}");
            let (principals_text, rest) = token(trimmed);
            let principals: Vec<String> = principals_text
                .trim_matches('"')
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect();
            if principals.is_empty() {
                return Err(at(col, "a line needs one or more principals before its key, e.g. `alice@example.com ssh-ed25519 AAAA…`".into()));
            }
            let rest = rest.trim_start();
            let rest_col = raw.len() - rest.len() + 1;
            let (namespaces, key_text, key_col) = if is_key_type(first_word(rest)) {
                (None, rest, rest_col)
            } else {
                let (options, after) = token(rest);
                let after = after.trim_start();
                let namespaces =
                    options_namespaces(options).map_err(|problem| at(rest_col, problem))?;
                (namespaces, after, raw.len() - after.len() + 1)
            };
            if key_text.is_empty() {
                return Err(at(
                    key_col,
                    format!(
                        "no key after the principals `{}`; add the public key (`ssh-ed25519 AAAA…`, the contents of its .pub file)",
                        principals.join(",")
                    ),
                ));
            }
            let key = PublicKey::from_openssh(key_text.trim()).map_err(|e| {
                at(
                    key_col,
                    format!("not an OpenSSH public key ({e}); paste the whole line of the key's .pub file"),
                )
            })?;
            let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
            signers.push(AllowedSigner {
                principals,
                namespaces,
                key,
                fingerprint,
                line,
            });
        }
        Ok(Self {
            signers,
            sha256: lifeboat_steps::checksum::sha256_hex(text.as_bytes()),
            source: source.to_string(),
        })
    }

    /// The signer whose key this is, and whether it is trusted for
    /// `namespace` (the error says why not).
    pub fn find(
        &self,
        key: &ssh_key::public::KeyData,
        namespace: &str,
    ) -> Result<&AllowedSigner, String> {
        let Some(signer) = self.signers.iter().find(|s| s.key.key_data() == key) else {
            return Err(format!(
                "key {} is not in the allowed signers file `{}`",
                ssh_key::PublicKey::from(key.clone()).fingerprint(HashAlg::Sha256),
                self.source
            ));
        };
        match &signer.namespaces {
            Some(list) if !list.iter().any(|n| n == namespace) => Err(format!(
                "key {} of `{}` is allowed only for the namespaces {} (line {} of `{}`), not `{namespace}`",
                signer.fingerprint,
                signer.principals.join(","),
                list.join(","),
                signer.line,
                self.source
            )),
            _ => Ok(signer),
        }
    }
}

/// The allowed signers run `run_id` checks decisions against: the file it
/// started with, read again here (`given`, else the path recorded at the
/// start) and refused unless its SHA-256 is the one recorded, so every
/// machine verifies the same way. `None` when the run started without one
/// (a file given now is then not trusted: it could name anyone).
pub fn for_run(
    run_id: &str,
    recorded_path: Option<&str>,
    recorded_sha256: Option<&str>,
    given: Option<&Path>,
) -> Result<Option<AllowedSigners>, String> {
    let Some(sha256) = recorded_sha256 else {
        return Ok(None);
    };
    let short = &sha256[..sha256.len().min(16)];
    let path = match (given, recorded_path) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) if Path::new(p).exists() => p.into(),
        (None, recorded) => {
            return Err(format!(
                "run `{run_id}` checks decisions against the allowed signers file it started with ({}sha256 {short}…), which is not on this machine; give the team's copy with --allowed-signers FILE or LIFEBOAT_ALLOWED_SIGNERS",
                recorded.map(|p| format!("`{p}`, ")).unwrap_or_default()
            ))
        }
    };
    let signers = AllowedSigners::read(&path)?;
    if signers.sha256 != sha256 {
        return Err(format!(
            "the allowed signers file `{}` (sha256 {}…) is not the one run `{run_id}` started with (sha256 {short}…); every machine checks a run's decisions against the same file: use the team's copy as it was when the run started (a changed file applies to new runs; docs/trust.md, \"Key rotation\")",
            path.display(),
            &signers.sha256[..16]
        ));
    }
    Ok(Some(signers))
}

/// The first whitespace-separated token (quotes keep spaces), and the rest.
fn token(text: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&text[..i], &text[i..]),
            _ => {}
        }
    }
    (text, "")
}

fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or("")
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-")
        || word.starts_with("ecdsa-sha2-")
        || word.starts_with("sk-ssh-")
        || word.starts_with("sk-ecdsa-")
}

/// The `namespaces=` of an options field; any other option is refused.
fn options_namespaces(options: &str) -> Result<Option<Vec<String>>, String> {
    let mut namespaces = None;
    for option in split_options(options) {
        let (name, value) = match option.split_once('=') {
            Some((n, v)) => (n.to_ascii_lowercase(), Some(v.trim_matches('"'))),
            None => (option.to_ascii_lowercase(), None),
        };
        match (name.as_str(), value) {
            ("namespaces", Some(v)) => {
                namespaces = Some(
                    v.split(',')
                        .map(|n| n.trim().to_string())
                        .filter(|n| !n.is_empty())
                        .collect(),
                );
            }
            ("cert-authority", _) => {
                return Err("`cert-authority` lines are not supported: Lifeboat trusts plain keys only; list each person's public key instead".into())
            }
            ("valid-after" | "valid-before", _) => {
                return Err(format!("`{name}` is not supported: rotate a key by editing the file (docs/trust.md, \"Key rotation\"); remove the option"))
            }
            _ => {
                return Err(format!(
                    "unknown option `{option}`; the options Lifeboat reads are `namespaces=\"lifeboat\"` (the key type must follow: `ssh-ed25519 AAAA…`)"
                ))
            }
        }
    }
    Ok(namespaces)
}

/// Splits `a,b="c,d",e` at commas outside quotes.
fn split_options(options: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&options[start..]);
    out.into_iter().filter(|o| !o.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2sOi9HukcKidmGbZ7+gGG9Et52PRf9oN9SmXthXR8w alice@laptop";
    const BOB: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICGnQZXTG23cYLbB40dFQ76Olp28Yu9mtvOWsykLxoW3 bob";

    #[test]
    fn principals_options_and_keys_are_read() {
        let text = format!(
            "# the team\n\nalice@example.com,alice {ALICE}\n  \"bob smith\" namespaces=\"git,lifeboat\" {BOB}\n"
        );
        let s = AllowedSigners::parse(&text, "team").unwrap();
        assert_eq!(s.signers.len(), 2);
        assert_eq!(s.signers[0].principals, ["alice@example.com", "alice"]);
        assert_eq!(s.signers[0].namespaces, None);
        assert_eq!(s.signers[0].line, 3);
        assert!(s.signers[0].fingerprint.starts_with("SHA256:"));
        assert_eq!(s.signers[1].principals, ["bob smith"]);
        assert_eq!(
            s.signers[1].namespaces.as_deref(),
            Some(&["git".to_string(), "lifeboat".to_string()][..])
        );
        assert!(s.find(s.signers[1].key.key_data(), "lifeboat").is_ok());
        let err = s.find(s.signers[1].key.key_data(), "other").unwrap_err();
        assert!(
            err.contains("allowed only for the namespaces git,lifeboat"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_and_broken_lines_are_refused_with_their_place() {
        let cases = [
            (
                format!("ca@example.com cert-authority {ALICE}"),
                "team:1:16: `cert-authority` lines are not supported",
            ),
            (
                format!("a valid-before=20300101 {ALICE}"),
                "team:1:3: `valid-before` is not supported",
            ),
            (
                format!("a restrict {ALICE}"),
                "team:1:3: unknown option `restrict`",
            ),
            (
                "alice@example.com".to_string(),
                "team:1:18: no key after the principals `alice@example.com`",
            ),
            (
                "alice ssh-ed25519 AAAAnotbase64!".to_string(),
                "team:1:7: not an OpenSSH public key",
            ),
        ];
        for (text, expected) in cases {
            let err = AllowedSigners::parse(&text, "team").unwrap_err();
            assert!(err.starts_with(expected), "{text:?}: {err}");
            assert!(!err.contains("AAAAC3"), "no key material: {err}");
        }
    }

    #[test]
    fn an_unknown_key_is_named_by_fingerprint() {
        let s = AllowedSigners::parse(&format!("alice {ALICE}"), "team").unwrap();
        let bob = PublicKey::from_openssh(BOB).unwrap();
        let err = s.find(bob.key_data(), "lifeboat").unwrap_err();
        assert!(err.starts_with("key SHA256:"), "{err}");
        assert!(
            err.ends_with("is not in the allowed signers file `team`"),
            "{err}"
        );
    }
}
