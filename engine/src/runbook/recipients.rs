//! `recipients:` (a runbook's top-level field) and `--recipients FILE`: the
//! public keys a run's secret outputs are sealed to (`docs/trust.md`).
//!
//! One recipient per line: an age X25519 key (`age1…`) or an SSH public key
//! (`ssh-ed25519 …`, `ssh-rsa …`, with or without its comment). Blank lines
//! and `#` comments are ignored. Parsing only: sealing is `run/`'s job.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;

use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::node::Loc;
use crate::runbook::source_file::SourceFile;
use crate::runbook::Runbook;

/// What a good line looks like, for the help of every bad one.
const GOOD_LINE: &str = "one public key per line: an age key (`age1…`, from `age-keygen`) or an SSH key (`ssh-ed25519 AAAA… name`, the line of `~/.ssh/id_ed25519.pub`); `#` starts a comment";

/// The recipients file a runbook names, resolved against the runbook's
/// directory.
pub fn path_of(runbook: &Runbook) -> Option<PathBuf> {
    let (path, _) = runbook.recipients.as_ref()?;
    let dir = runbook.source.path().parent().unwrap_or(Path::new(""));
    Some(dir.join(path))
}

/// `validate`: the runbook's `recipients:` file exists and every line parses.
pub fn check(runbook: &Runbook) -> Vec<Diagnostic> {
    let (Some(path), Some((written, loc))) = (path_of(runbook), runbook.recipients.as_ref()) else {
        return Vec::new();
    };
    match read(&path) {
        Ok(_) => Vec::new(),
        Err(mut diags) => {
            for d in &mut diags {
                if d.source.is_none() {
                    *d = Diagnostic::error(format!("`recipients`: {}", d.message))
                        .at(*loc)
                        .width(written.chars().count())
                        .in_file(&runbook.source)
                        .help(d.help.clone().unwrap_or_default());
                }
            }
            diags
        }
    }
}

/// Reads a recipients file: the keys, normalised (comments dropped), in
/// file order without duplicates; or one diagnostic per bad line (or one
/// for a file that cannot be read or holds no key).
pub fn read(path: &Path) -> Result<Vec<String>, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic::error(format!(
            "cannot read the recipients file `{}`: {e}",
            path.display()
        ))
        .help("give the path of a file relative to the runbook (or to the current directory for `--recipients`) with one public key per line")]
    })?;
    parse(&Arc::new(SourceFile::new(path, text)))
}

/// Parses the text of a recipients file (see [`read`]).
pub fn parse(source: &Arc<SourceFile>) -> Result<Vec<String>, Vec<Diagnostic>> {
    // A private key is never quoted back: not a PEM block, not a line.
    if source.text.contains("PRIVATE KEY-----") {
        return Err(vec![Diagnostic::error(format!(
            "`{}` is a private key file; list public keys only (the `.pub` file), and keep this one secret",
            source.path().display()
        ))
        .help(GOOD_LINE)]);
    }
    let shown = Arc::new(SourceFile::new(
        source.path(),
        source
            .text
            .lines()
            .map(|l| {
                if is_private(l.trim()) {
                    "«private key»"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    ));
    let mut keys: Vec<String> = Vec::new();
    let mut diags = Vec::new();
    for (n, raw) in source.text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let col = raw.len() - raw.trim_start().len() + 1;
        let loc = Loc {
            line: n as u32 + 1,
            col: col as u32,
        };
        match parse_key(line) {
            Ok(key) => {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            Err(why) => diags.push(
                Diagnostic::error(format!("not a recipient: {why}"))
                    .at(loc)
                    .width(shown.line(loc.line).map_or(1, |l| l.trim().chars().count()))
                    .in_file(&shown)
                    .help(GOOD_LINE),
            ),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    if keys.is_empty() {
        return Err(vec![Diagnostic::error(format!(
            "the recipients file `{}` lists no public key",
            source.path().display()
        ))
        .help(GOOD_LINE)]);
    }
    Ok(keys)
}

/// One recipient line, normalised: `age1…`, or `ssh-… BASE64` without the
/// comment.
fn parse_key(line: &str) -> Result<String, String> {
    if line.starts_with("age1") {
        return age::x25519::Recipient::from_str(line)
            .map(|r| r.to_string())
            .map_err(|_| "an `age1…` key that does not decode (check it was copied whole)".into());
    }
    if line.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(line)
            .map(|r| r.to_string())
            .map_err(|e| match e {
                age::ssh::ParseRecipientKeyError::Unsupported(kind) => {
                    format!("SSH keys of type `{kind}` cannot be recipients; use `ssh-ed25519` or `ssh-rsa`")
                }
                age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                    "an `ssh-rsa` key under 2048 bits is too weak".into()
                }
                _ => "an SSH public key that does not decode (check it was copied whole)".into(),
            });
    }
    if is_private(line) {
        return Err(
            "this is a private key; list public keys only, and keep this one secret".into(),
        );
    }
    Err("expected an `age1…` or `ssh-ed25519`/`ssh-rsa` public key".into())
}

fn is_private(line: &str) -> bool {
    line.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-")
}

/// How people compare a recipient: `SHA256:…` as `ssh-keygen -l` prints it
/// for an SSH key, the key itself for an age key (it is short).
pub fn fingerprint(key: &str) -> String {
    let mut parts = key.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(kind), Some(blob)) if kind.starts_with("ssh-") => {
            match base64::engine::general_purpose::STANDARD.decode(blob) {
                Ok(bytes) => {
                    let hex = lifeboat_steps::checksum::sha256_hex(&bytes);
                    let digest: Vec<u8> = (0..hex.len())
                        .step_by(2)
                        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                        .collect();
                    format!(
                        "{kind} SHA256:{}",
                        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
                    )
                }
                Err(_) => key.to_string(),
            }
        }
        _ => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    fn parse_text(text: &str) -> Result<Vec<String>, Vec<String>> {
        parse(&Arc::new(SourceFile::new("team.keys", text))).map_err(|d| {
            d.iter()
                .map(|d| format!("{}: {}", d.location(), d.message))
                .collect()
        })
    }

    #[test]
    fn comments_blank_lines_and_duplicates_are_ignored() {
        let keys = parse_text(&format!("# the team\n\n  {AGE}\n{AGE}\n")).unwrap();
        assert_eq!(keys, vec![AGE.to_string()]);
    }

    #[test]
    fn a_bad_line_is_named_by_line_and_column() {
        let errs = parse_text(&format!("{AGE}\n  age1nope\nhello\n")).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("team.keys:2:3: not a recipient"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("team.keys:3:1: not a recipient"),
            "{errs:?}"
        );
    }

    #[test]
    fn a_private_key_is_refused_without_quoting_it() {
        let source = Arc::new(SourceFile::new("team.keys", "AGE-SECRET-KEY-1QQQQ\n"));
        let shown = parse(&source).unwrap_err()[0].render();
        assert!(shown.contains("team.keys:1:1"), "{shown}");
        assert!(shown.contains("this is a private key"), "{shown}");
        assert!(!shown.contains("QQQQ"), "{shown}");
    }

    #[test]
    fn a_private_key_file_is_refused_without_quoting_it() {
        let errs = parse_text(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("is a private key file"), "{errs:?}");
        assert!(!errs[0].contains("b3BlbnNzaA"), "{errs:?}");
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert!(parse_text("# nobody\n").unwrap_err()[0].contains("lists no public key"));
    }

    #[test]
    fn an_ssh_fingerprint_is_what_ssh_keygen_prints() {
        // `ssh-keygen -lf` of this key prints this fingerprint.
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN";
        assert!(fingerprint(key).starts_with("ssh-ed25519 SHA256:"));
        assert_eq!(fingerprint(AGE), AGE);
    }
}
