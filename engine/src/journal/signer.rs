//! The key a decision is signed with: one held by `ssh-agent`
//! (`SSH_AUTH_SOCK`), or an unencrypted private key file (`--sign-with
//! KEYFILE`). Signatures are `sshsig` over the canonical message
//! (`journal/signature.rs`), made by the `ssh-key` crate or by the agent;
//! Lifeboat has no cryptography of its own.
//!
//! Which key: `--sign-with` names a private key file (signed with it
//! directly), a public key file (`KEY.pub`: that key, from the agent) or a
//! fingerprint (`SHA256:…`, from the agent). Without it, the agent's first
//! key. `--no-sign` signs nothing.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use crate::journal::record::{Event, Signed};
use crate::journal::signature::{Message, NAMESPACE};

/// How long the agent may take to answer one request.
const AGENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A key that can sign.
pub struct Signer {
    public: PublicKey,
    fingerprint: String,
    held: Held,
}

enum Held {
    Agent(PathBuf),
    File(Box<PrivateKey>, PathBuf),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Signer {
    /// The signer `--sign-with`/`--no-sign` and the environment name:
    /// `None` when there is nothing to sign with (no agent, or no key in
    /// it) or `--no-sign`. `agent_socket` is `SSH_AUTH_SOCK`.
    pub fn choose(
        sign_with: Option<&str>,
        no_sign: bool,
        agent_socket: Option<&Path>,
    ) -> Result<Option<Self>, String> {
        if no_sign {
            return Ok(None);
        }
        let Some(choice) = sign_with else {
            let Some(socket) = agent_socket else {
                return Ok(None);
            };
            // An agent that cannot be reached signs nothing: the decision
            // is unsigned, which a `require_signed` gate refuses by name.
            let Ok(keys) = agent_keys(socket) else {
                return Ok(None);
            };
            return Ok(keys
                .into_iter()
                .next()
                .map(|public| Self::agent(public, socket)));
        };
        if let Some(fingerprint) = choice.strip_prefix("SHA256:").map(|_| choice) {
            return Self::from_agent(agent_socket, |k| fingerprint_of(k) == fingerprint, choice);
        }
        let path = Path::new(choice);
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the key file `{choice}` given with --sign-with: {e}; give a private key file, its `.pub` file (the key is then taken from ssh-agent) or a fingerprint `SHA256:…`"
            )
        })?;
        if let Ok(public) = PublicKey::from_openssh(text.trim()) {
            let want = public.key_data().clone();
            return Self::from_agent(agent_socket, |k| *k.key_data() == want, choice);
        }
        let private = PrivateKey::from_openssh(text.trim()).map_err(|e| {
            format!("`{choice}` (--sign-with) is not an OpenSSH private or public key file ({e})")
        })?;
        if private.is_encrypted() {
            return Err(format!(
                "the key file `{choice}` is encrypted with a passphrase; load it into ssh-agent (`ssh-add {choice}`) and sign from there: give --sign-with {choice}.pub, or its fingerprint, or nothing to take the agent's first key"
            ));
        }
        let public = private.public_key().clone();
        Ok(Some(Self {
            fingerprint: fingerprint_of(&public),
            public,
            held: Held::File(Box::new(private), path.to_path_buf()),
        }))
    }

    fn agent(public: PublicKey, socket: &Path) -> Self {
        Self {
            fingerprint: fingerprint_of(&public),
            public,
            held: Held::Agent(socket.to_path_buf()),
        }
    }

    fn from_agent(
        socket: Option<&Path>,
        wanted: impl Fn(&PublicKey) -> bool,
        choice: &str,
    ) -> Result<Option<Self>, String> {
        let Some(socket) = socket else {
            return Err(format!(
                "--sign-with {choice} takes the key from ssh-agent, but SSH_AUTH_SOCK is not set; start the agent and `ssh-add` the key, or give the private key file"
            ));
        };
        let keys = agent_keys(socket)?;
        match keys.into_iter().find(|k| wanted(k)) {
            Some(public) => Ok(Some(Self::agent(public, socket))),
            None => Err(format!(
                "ssh-agent holds no key matching --sign-with {choice}; add it with `ssh-add`, or list what it holds with `ssh-add -l`"
            )),
        }
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// `SHA256:…`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// `SHA256:… (ED25519, from ssh-agent)`, for the console.
    pub fn describe(&self) -> String {
        let kind = match self.public.algorithm() {
            ssh_key::Algorithm::Ed25519 => "ED25519".to_string(),
            ssh_key::Algorithm::Rsa { .. } => "RSA".to_string(),
            ssh_key::Algorithm::Ecdsa { curve } => format!("ECDSA {curve}"),
            other => other.as_str().to_ascii_uppercase(),
        };
        let from = match &self.held {
            Held::Agent(_) => "from ssh-agent".to_string(),
            Held::File(_, path) => format!("from {}", path.display()),
        };
        format!("{} ({kind}, {from})", self.fingerprint)
    }

    /// Signs `event` by `actor` in run `run_id` now: the record's
    /// [`Signed`] (without a principal: the check adds it).
    pub fn sign_event(&self, run_id: &str, actor: &str, event: &Event) -> Result<Signed, String> {
        let signed_at = crate::journal::timestamp::now_rfc3339();
        let Some(message) = Message::of(run_id, actor, event, &signed_at) else {
            return Err(format!("a `{}` record is not signed", event.name()));
        };
        Ok(Signed {
            signature: self.sign(&message.bytes())?,
            signed_at,
            key: self.fingerprint.clone(),
            principal: None,
        })
    }

    /// The armored `sshsig` of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<String, String> {
        let sig = match &self.held {
            Held::File(key, path) => key
                .sign(NAMESPACE, HashAlg::Sha512, message)
                .map_err(|e| format!("cannot sign with `{}`: {e}", path.display()))?,
            Held::Agent(socket) => {
                let data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, message)
                    .map_err(|e| format!("cannot prepare the signature: {e}"))?;
                let mut client = agent_client(socket)?;
                let signature = client.sign(&self.public, &data).map_err(|e| {
                    format!(
                        "ssh-agent did not sign with {} ({e}); is the key still loaded (`ssh-add -l`), or does it wait for a confirmation?",
                        self.fingerprint
                    )
                })?;
                SshSig::new(
                    self.public.key_data().clone(),
                    NAMESPACE,
                    HashAlg::Sha512,
                    signature,
                )
                .map_err(|e| format!("ssh-agent returned an unusable signature: {e}"))?
            }
        };
        sig.to_pem(LineEnding::LF)
            .map_err(|e| format!("cannot armor the signature: {e}"))
    }
}

fn fingerprint_of(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn agent_client(socket: &Path) -> Result<ssh_agent_client_rs::Client, String> {
    let stream = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot reach ssh-agent at SSH_AUTH_SOCK `{}`: {e}",
            socket.display()
        )
    })?;
    let _ = stream.set_read_timeout(Some(AGENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(AGENT_TIMEOUT));
    Ok(ssh_agent_client_rs::Client::with_read_write(Box::new(
        stream,
    )))
}

/// The plain keys (not certificates) the agent holds, in its order.
fn agent_keys(socket: &Path) -> Result<Vec<PublicKey>, String> {
    let mut client = agent_client(socket)?;
    let identities = client.list_all_identities().map_err(|e| {
        format!(
            "ssh-agent at `{}` did not list its keys: {e}",
            socket.display()
        )
    })?;
    Ok(identities
        .into_iter()
        .filter_map(|i| match i {
            ssh_agent_client_rs::Identity::PublicKey(k) => Some(k.into_owned()),
            ssh_agent_client_rs::Identity::Certificate(_) => None,
        })
        .collect())
}
