//! Signed decisions: the canonical message a decision's signature covers,
//! and the one verification of a record's signature against an allowed
//! signers file ([`verify`]), for the decision check
//! (`journal/decision.rs`), the engine, the timeline and `lifeboat verify`.
//!
//! The message is text, one field per line in this order, each value a
//! JSON string (or `null`), every line ending in `\n` (docs/trust.md has
//! an example):
//!
//! ```text
//! lifeboat-decision-v1
//! run_id: "restore-20260101-120000-ab12"
//! step: "approve_restore"
//! decision: "approved"
//! digest: "9f86d0…"
//! comment: "checked the snapshot"
//! actor: "bob"
//! signed_at: "2026-01-01T12:05:00.123Z"
//! ```
//!
//! `decision` is `approved`, `rejected`, `confirmed`, `marked done`,
//! `marked failed`, `take-over` or `started` (a run's start, which names
//! its initiator). `digest` is the SHA-256 of exactly what was shown: an
//! approval's or a manual step's question digest, the runbook's digest for
//! a start or a take-over, `null` for a mark. `comment` is the approver's
//! comment, a confirmation's note, whom a take-over took over from, or,
//! for a start, `allowed_signers sha256:<hex>` of the file the run checks
//! decisions against. The signature is an `sshsig` in namespace
//! [`NAMESPACE`] with SHA-512, so
//! `ssh-keygen -Y verify -f allowed_signers -I PRINCIPAL -n lifeboat -s SIG < MESSAGE`
//! accepts it.

use ssh_key::{HashAlg, PublicKey, SshSig};

use crate::journal::allowed_signers::AllowedSigners;
use crate::journal::record::{Decision, Event, MarkOutcome, Record, Signed};

/// The `sshsig` namespace of every Lifeboat signature.
pub const NAMESPACE: &str = "lifeboat";

/// The first line of a message, which versions its format.
const HEADER: &str = "lifeboat-decision-v1";

/// The fields of a canonical message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub run_id: String,
    pub step: Option<String>,
    pub decision: String,
    pub digest: Option<String>,
    pub comment: Option<String>,
    pub actor: String,
    pub signed_at: String,
}

impl Message {
    /// The message for `event` by `actor` in run `run_id`, signed at
    /// `signed_at`; `None` for a record that is not signed (a step's
    /// result, a note, a plain resume).
    pub fn of(run_id: &str, actor: &str, event: &Event, signed_at: &str) -> Option<Self> {
        let (step, decision, digest, comment) = match event {
            Event::Approval {
                step,
                decision,
                digest,
                comment,
                ..
            } => (
                Some(step.clone()),
                match decision {
                    Decision::Approved => "approved",
                    Decision::Rejected => "rejected",
                },
                Some(digest.clone()),
                comment.clone(),
            ),
            Event::ManualConfirmed {
                step, digest, note, ..
            } => (
                Some(step.clone()),
                "confirmed",
                Some(digest.clone()),
                note.clone(),
            ),
            Event::Marked { step, outcome } => (
                Some(step.clone()),
                match outcome {
                    MarkOutcome::Done => "marked done",
                    MarkOutcome::Failed => "marked failed",
                },
                None,
                None,
            ),
            Event::Resumed {
                digest,
                took_over_from: Some(from),
                ..
            } => (None, "take-over", digest.clone(), Some(from.clone())),
            Event::RunStarted {
                digest,
                allowed_signers_sha256,
                ..
            } => (
                None,
                "started",
                Some(digest.clone()),
                allowed_signers_sha256
                    .as_ref()
                    .map(|h| format!("allowed_signers sha256:{h}")),
            ),
            _ => return None,
        };
        Some(Self {
            run_id: run_id.to_string(),
            step,
            decision: decision.to_string(),
            digest,
            comment,
            actor: actor.trim().to_string(),
            signed_at: signed_at.to_string(),
        })
    }

    /// The message a journalled record's signature covers, rebuilt from
    /// the record (`None` when it is unsigned or not signable).
    pub fn of_record(record: &Record, run_id: &str) -> Option<Self> {
        let signed = record.signed.as_ref()?;
        Self::of(run_id, &record.actor, &record.event, &signed.signed_at)
    }

    /// The exact bytes that are signed.
    pub fn bytes(&self) -> Vec<u8> {
        let json = |v: Option<&str>| serde_json::to_string(&v).unwrap_or_else(|_| "null".into());
        let mut text = String::from(HEADER);
        text.push('\n');
        for (name, value) in [
            ("run_id", Some(self.run_id.as_str())),
            ("step", self.step.as_deref()),
            ("decision", Some(self.decision.as_str())),
            ("digest", self.digest.as_deref()),
            ("comment", self.comment.as_deref()),
            ("actor", Some(self.actor.as_str())),
            ("signed_at", Some(self.signed_at.as_str())),
        ] {
            text.push_str(&format!("{name}: {}\n", json(value)));
        }
        text.into_bytes()
    }
}

/// What a record's signature proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by a key of the allowed signers file, over this record.
    Verified {
        /// The first principal the file names for the key.
        principal: String,
        /// `SHA256:…`.
        key: String,
    },
    /// No signature.
    Unsigned,
    /// Signed, but not provably by an allowed key over this record.
    Unverified {
        /// The fingerprint of the key it carries, when readable.
        key: Option<String>,
        /// Why, for a human (no key material beyond fingerprints).
        reason: String,
    },
}

impl Verdict {
    /// One line for people: `verified: bob (SHA256:…)`, `unsigned`,
    /// `unverified (SHA256:…): why`.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Verified { principal, key } => format!("verified: {principal} ({key})"),
            Verdict::Unsigned => "unsigned".to_string(),
            Verdict::Unverified {
                key: Some(k),
                reason,
            } => format!("unverified ({k}): {reason}"),
            Verdict::Unverified { key: None, reason } => format!("unverified: {reason}"),
        }
    }
}

/// Verifies one journalled record's signature against `signers`: the
/// function `lifeboat verify` and the timeline call for each decision.
pub fn verify(record: &Record, run_id: &str, signers: &AllowedSigners) -> Verdict {
    verify_event(
        run_id,
        &record.actor,
        &record.event,
        record.signed.as_ref(),
        signers,
    )
}

/// Verifies the signature `signed` of `event` by `actor` (a record not yet
/// journalled, such as an inbox entry).
pub fn verify_event(
    run_id: &str,
    actor: &str,
    event: &Event,
    signed: Option<&Signed>,
    signers: &AllowedSigners,
) -> Verdict {
    let Some(signed) = signed else {
        return Verdict::Unsigned;
    };
    let unverified = |key: Option<String>, reason: String| Verdict::Unverified { key, reason };
    let sig = match SshSig::from_pem(signed.signature.as_bytes()) {
        Ok(sig) => sig,
        Err(e) => {
            return unverified(
                Some(signed.key.clone()),
                format!("the signature is not an armored SSH signature ({e})"),
            )
        }
    };
    let public = PublicKey::from(sig.public_key().clone());
    let key = public.fingerprint(HashAlg::Sha256).to_string();
    if sig.namespace() != NAMESPACE {
        return unverified(
            Some(key),
            format!(
                "the signature is for namespace `{}`, not `{NAMESPACE}`",
                sig.namespace()
            ),
        );
    }
    if key != signed.key {
        return unverified(
            Some(key.clone()),
            format!(
                "the record names key {} but the signature was made by {key}",
                signed.key
            ),
        );
    }
    let signer = match signers.find(sig.public_key(), NAMESPACE) {
        Ok(signer) => signer,
        Err(reason) => return unverified(Some(key), reason),
    };
    let Some(message) = Message::of(run_id, actor, event, &signed.signed_at) else {
        return unverified(
            Some(key),
            format!("a `{}` record is not a signed decision", event.name()),
        );
    };
    match public.verify(NAMESPACE, &message.bytes(), &sig) {
        Ok(()) => Verdict::Verified {
            principal: signer.principals[0].clone(),
            key,
        },
        Err(_) => unverified(
            Some(key),
            "the signature does not match this decision: it was signed over a different run, step, decision, digest (what was shown), comment, name or time".to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(digest: &str, comment: Option<&str>) -> Event {
        Event::Approval {
            step: "go".into(),
            decision: Decision::Approved,
            digest: digest.into(),
            comment: comment.map(str::to_string),
            timed_out: false,
        }
    }

    #[test]
    fn the_message_is_fixed_text_with_json_values() {
        let m = Message::of(
            "r1",
            " bob ",
            &approval("abc", Some("line one\nline two: \"quoted\"")),
            "2026-01-01T12:00:00.000Z",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(m.bytes()).unwrap(),
            "lifeboat-decision-v1\n\
             run_id: \"r1\"\n\
             step: \"go\"\n\
             decision: \"approved\"\n\
             digest: \"abc\"\n\
             comment: \"line one\\nline two: \\\"quoted\\\"\"\n\
             actor: \"bob\"\n\
             signed_at: \"2026-01-01T12:00:00.000Z\"\n"
        );
        let mark = Message::of(
            "r1",
            "bob",
            &Event::Marked {
                step: "s".into(),
                outcome: MarkOutcome::Failed,
            },
            "t",
        )
        .unwrap();
        let text = String::from_utf8(mark.bytes()).unwrap();
        assert!(
            text.contains("decision: \"marked failed\"\ndigest: null\ncomment: null\n"),
            "{text}"
        );
        assert!(Message::of("r1", "bob", &Event::Note { text: "x".into() }, "t").is_none());
    }

    #[test]
    fn every_field_changes_the_message() {
        let base = Message::of("r1", "bob", &approval("abc", None), "t").unwrap();
        let others = [
            Message::of("r2", "bob", &approval("abc", None), "t"),
            Message::of("r1", "carol", &approval("abc", None), "t"),
            Message::of("r1", "bob", &approval("abd", None), "t"),
            Message::of("r1", "bob", &approval("abc", Some("")), "t"),
            Message::of("r1", "bob", &approval("abc", None), "u"),
        ];
        for other in others {
            assert_ne!(other.unwrap().bytes(), base.bytes());
        }
    }

    #[test]
    fn an_unsigned_record_is_unsigned() {
        let signers = AllowedSigners::parse("", "team").unwrap();
        assert_eq!(
            verify_event("r1", "bob", &approval("abc", None), None, &signers),
            Verdict::Unsigned
        );
    }
}
