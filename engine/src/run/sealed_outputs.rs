//! Secret outputs sealed to the team (`docs/trust.md`): age encryption to
//! the run's recipients when a step succeeds, and opening with the
//! operator's identity when a resume or a takeover needs them again.
//!
//! The `age` crate does the cryptography; nothing here is hand-written.
//! Plaintext exists in memory only: it is never written, logged or put in
//! an error message.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use lifeboat_steps::FileSealer;
use serde_json::{Map, Value};

use crate::runbook::recipients::fingerprint;

/// How a run seals and opens secret outputs.
#[derive(Clone, Default)]
pub struct Sealing {
    /// The public keys journalled in `run_started`; empty: nothing is sealed.
    pub recipients: Vec<String>,
    /// `--identity` / `LIFEBOAT_IDENTITY`; else the SSH defaults.
    pub identity: Option<PathBuf>,
}

impl Sealing {
    pub fn is_on(&self) -> bool {
        !self.recipients.is_empty()
    }

    /// The recipients as people compare them, one per line.
    pub fn fingerprints(&self) -> Vec<String> {
        self.recipients.iter().map(|k| fingerprint(k)).collect()
    }

    /// Encrypts `values` (the secret outputs of one step) to every recipient,
    /// as one ASCII-armoured age file.
    pub fn seal(&self, values: &Map<String, Value>) -> Result<String, String> {
        let plain = serde_json::to_vec(values).map_err(|e| e.to_string())?;
        self.seal_bytes(&plain)
    }

    /// Encrypts `plain` to every recipient, as one ASCII-armoured age file
    /// (what `age -e -a` writes, and `age -d` opens).
    pub fn seal_bytes(&self, plain: &[u8]) -> Result<String, String> {
        let recipients: Vec<Box<dyn age::Recipient + Send>> = self
            .recipients
            .iter()
            .map(|k| recipient(k))
            .collect::<Result<_, _>>()?;
        let encryptor = age::Encryptor::with_recipients(
            recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
        )
        .map_err(|e| format!("cannot seal to the run's recipients: {e}"))?;
        let mut armored = Vec::new();
        let io = |e: std::io::Error| format!("cannot seal: {e}");
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
                .map_err(io)?;
        let mut writer = encryptor.wrap_output(armor).map_err(io)?;
        writer.write_all(plain).map_err(io)?;
        writer.finish().and_then(|a| a.finish()).map_err(io)?;
        String::from_utf8(armored).map_err(|e| e.to_string())
    }

    /// The identity file to open sealed outputs with: `--identity`, else
    /// `~/.ssh/id_ed25519`, else `~/.ssh/id_rsa`, whichever exists first.
    pub fn identity_path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.identity {
            return Some(p.clone());
        }
        let home = std::env::var_os("HOME").map(PathBuf::from)?;
        ["id_ed25519", "id_rsa"]
            .into_iter()
            .map(|name| home.join(".ssh").join(name))
            .find(|p| p.is_file())
    }

    /// The operator's identity ([`Self::identity_path`]), loaded, and its
    /// path; `Err` says why there is none or it does not load.
    pub fn opener(&self) -> (Option<PathBuf>, Result<Opener, String>) {
        let path = self.identity_path();
        let opener = match &path {
            Some(p) => Opener::load(p),
            None => Err("no identity was given (`--identity FILE` or `LIFEBOAT_IDENTITY`) and neither `~/.ssh/id_ed25519` nor `~/.ssh/id_rsa` exists".into()),
        };
        (path, opener)
    }

    /// Why something sealed to the run's recipients cannot be opened, and
    /// what to do: "sealed to the run's recipients (…) and cannot be opened
    /// with `…`: WHY; resume with a recipient's key …". The one wording for
    /// sealed outputs and sealed files.
    pub fn cannot_open(&self, identity: Option<&Path>, why: &str, run_id: &str) -> String {
        let with = identity
            .map(|p| format!(" with `{}`", p.display()))
            .unwrap_or_default();
        format!(
            "sealed to the run's recipients ({}) and cannot be opened{with}: {why}; resume with a recipient's key (`--identity FILE` or `LIFEBOAT_IDENTITY`), or ask a recipient to take over (`lifeboat resume {run_id} --take-over`)",
            self.fingerprints().join(", "),
        )
    }
}

/// The [`FileSealer`] a step of a run with recipients gets: files such as
/// `vault.init`'s `output_file` sealed like secret outputs, and opened with
/// the operator's identity (loaded at each opening, which is rare: a rerun
/// after an interruption).
pub struct FileSealing {
    pub sealing: Sealing,
    pub run_id: String,
}

impl FileSealer for FileSealing {
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, String> {
        self.sealing.seal_bytes(plain).map(String::into_bytes)
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let (path, opener) = self.sealing.opener();
        opener.and_then(|o| o.open_bytes(sealed)).map_err(|why| {
            format!(
                "it is {}",
                self.sealing
                    .cannot_open(path.as_deref(), &why, &self.run_id)
            )
        })
    }
}

fn recipient(key: &str) -> Result<Box<dyn age::Recipient + Send>, String> {
    let bad = || format!("recipient `{}` does not parse", fingerprint(key));
    if key.starts_with("age1") {
        age::x25519::Recipient::from_str(key)
            .map(|r| Box::new(r) as _)
            .map_err(|_| bad())
    } else {
        age::ssh::Recipient::from_str(key)
            .map(|r| Box::new(r) as _)
            .map_err(|_| bad())
    }
}

/// The operator's identity, loaded once per execution.
pub struct Opener {
    identities: Vec<Box<dyn age::Identity>>,
}

impl Opener {
    /// Loads the identity at `path`: an age identity file
    /// (`AGE-SECRET-KEY-1…`) or an OpenSSH private key. An encrypted SSH
    /// key asks for its passphrase at a terminal; without one it is refused.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(|e| format!("cannot read the identity `{shown}`: {e}"))?;
        if text.contains("AGE-SECRET-KEY-") {
            let file = age::IdentityFile::from_buffer(text.as_bytes()).map_err(|_| {
                format!("`{shown}` is not an age identity file (lines `AGE-SECRET-KEY-1…`)")
            })?;
            let identities = file
                .into_identities()
                .map_err(|_| format!("`{shown}` holds an identity this build cannot use"))?;
            let identities = identities
                .into_iter()
                .map(|i| i as Box<dyn age::Identity>)
                .collect();
            return Ok(Self { identities });
        }
        let ssh = age::ssh::Identity::from_buffer(text.as_bytes(), Some(shown.to_string()))
            .map_err(|_| {
                format!("`{shown}` is neither an age identity nor an OpenSSH private key")
            })?;
        let identity: Box<dyn age::Identity> = match ssh {
            age::ssh::Identity::Unencrypted(_) => Box::new(ssh),
            age::ssh::Identity::Encrypted(_) if std::io::stdin().is_terminal() => {
                Box::new(ssh.with_callbacks(Passphrase))
            }
            age::ssh::Identity::Encrypted(_) => {
                return Err(format!(
                    "the SSH key `{shown}` is protected by a passphrase and there is no terminal to ask it at; resume at a terminal, or give an unencrypted key or an age identity with `--identity FILE`"
                ))
            }
            age::ssh::Identity::Unsupported(_) => {
                return Err(format!(
                    "the SSH key `{shown}` is of a type age cannot use; use an `ssh-ed25519` or `ssh-rsa` key, or an age identity"
                ))
            }
        };
        Ok(Self {
            identities: vec![identity],
        })
    }

    /// Opens one step's sealed outputs; `Err` when this identity is not
    /// one of the recipients (or the text is not an age file).
    pub fn open(&self, armored: &str) -> Result<Map<String, Value>, String> {
        let plain = self.open_bytes(armored.as_bytes())?;
        serde_json::from_slice(&plain)
            .map_err(|_| "the opened outputs are not a JSON object".into())
    }

    /// The plaintext of an age file, armoured or binary; `Err` when this
    /// identity is not one of its recipients, or it is not an age file.
    pub fn open_bytes(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(sealed))
            .map_err(|e| format!("not an age file: {e}"))?;
        let mut reader = decryptor
            .decrypt(self.identities.iter().map(|i| i.as_ref()))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => {
                    "the identity is not one of the run's recipients".to_string()
                }
                age::DecryptError::KeyDecryptionFailed => {
                    "the identity's passphrase was not given or is wrong".to_string()
                }
                other => format!("cannot open them: {other}"),
            })?;
        let mut plain = Vec::new();
        reader
            .read_to_end(&mut plain)
            .map_err(|e| format!("cannot open them: {e}"))?;
        Ok(plain)
    }
}

/// Asks for an encrypted SSH key's passphrase at the terminal.
#[derive(Clone)]
struct Passphrase;

impl age::Callbacks for Passphrase {
    fn display_message(&self, message: &str) {
        crate::operator::passphrase::show(message);
    }

    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<age::secrecy::SecretString> {
        crate::operator::passphrase::ask(description).map(age::secrecy::SecretString::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn sealed_outputs_open_with_a_recipient_identity_only() {
        let alice = age::x25519::Identity::generate();
        let mallory = age::x25519::Identity::generate();
        let sealing = Sealing {
            recipients: vec![alice.to_public().to_string()],
            identity: None,
        };
        let mut values = Map::new();
        values.insert("token".into(), "s.very-secret-value".into());
        let armored = sealing.seal(&values).unwrap();
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(!armored.contains("very-secret"));
        let dir = tempfile::tempdir().unwrap();
        let key = |name: &str, id: &age::x25519::Identity| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("{}\n", id.to_string().expose_secret())).unwrap();
            p
        };
        let opened = Opener::load(&key("alice", &alice)).unwrap().open(&armored);
        assert_eq!(opened.unwrap(), values);
        let refused = Opener::load(&key("mallory", &mallory))
            .unwrap()
            .open(&armored)
            .unwrap_err();
        assert!(
            refused.contains("not one of the run's recipients"),
            "{refused}"
        );
    }
}
