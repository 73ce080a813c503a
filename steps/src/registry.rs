use std::collections::BTreeMap;
use std::sync::Arc;

use crate::StepKind;

/// The table of step kinds by name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn StepKind>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every kind this crate provides.
    pub fn builtin() -> Self {
        let mut registry = Self::new();
        registry.add(Arc::new(crate::shell::Shell));
        registry.add(Arc::new(crate::http::Http));
        registry.add(Arc::new(crate::sleep::Sleep));
        registry.add(Arc::new(crate::tool::Tool));
        registry.add(Arc::new(crate::s3::S3List));
        registry.add(Arc::new(crate::s3::S3Latest));
        registry.add(Arc::new(crate::s3::S3Get));
        registry.add(Arc::new(crate::s3::S3Put));
        registry.add(Arc::new(crate::s3::S3Head));
        registry.add(Arc::new(crate::s3::S3Delete));
        registry.add(Arc::new(crate::s3::S3Retention));
        crate::vault::kinds()
            .into_iter()
            .for_each(|k| registry.add(k));
        registry.add(Arc::new(crate::crypto::Encrypt));
        registry.add(Arc::new(crate::crypto::Decrypt));
        registry.add(Arc::new(crate::checksum::Sha256Checksum));
        registry
    }

    pub fn add(&mut self, kind: Arc<dyn StepKind>) {
        self.kinds.insert(kind.name(), kind);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn StepKind>> {
        self.kinds.get(name)
    }

    /// Kind names in order, for "did you mean" suggestions and listings.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    pub fn kinds(&self) -> impl Iterator<Item = &Arc<dyn StepKind>> + '_ {
        self.kinds.values()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use serde_json::{json, Value};

    use super::*;
    use crate::crypto::test_support::KEY_HEX;
    use crate::{StepContext, StepError, StepOutput};

    /// The top-level output names of a run, on success or in its failure.
    pub(crate) fn produced(result: &Result<StepOutput, StepError>) -> BTreeSet<&str> {
        match result {
            Ok(out) => out.outputs.keys().map(String::as_str).collect(),
            Err(err) => err.outputs.keys().map(String::as_str).collect(),
        }
    }

    fn declared(kind: &str) -> BTreeSet<&'static str> {
        Registry::builtin()
            .get(kind)
            .unwrap_or_else(|| panic!("no kind `{kind}`"))
            .outputs()
            .iter()
            .map(|o| o.name)
            .collect()
    }

    async fn run(ctx: &StepContext, kind: &str, with: Value) -> BTreeSet<String> {
        let registry = Registry::builtin();
        let result = registry.get(kind).unwrap().run(ctx, with).await;
        produced(&result).into_iter().map(String::from).collect()
    }

    fn strings(names: BTreeSet<&str>) -> BTreeSet<String> {
        names.into_iter().map(String::from).collect()
    }

    #[test]
    fn every_kind_declares_each_output_once_with_a_line_of_doc() {
        for kind in Registry::builtin().kinds() {
            let outputs = kind.outputs();
            let unique: BTreeSet<_> = outputs.iter().map(|o| o.name).collect();
            assert_eq!(
                unique.len(),
                outputs.len(),
                "`{}` lists a name twice",
                kind.name()
            );
            for o in outputs {
                assert!(
                    !o.doc.is_empty() && !o.doc.contains('\n') && !o.doc.ends_with('.'),
                    "`{}`'s output `{}` needs one line of doc, without a full stop",
                    kind.name(),
                    o.name
                );
            }
        }
    }

    /// Secret outputs are the ones each kind declares secret, and only
    /// those: validation, the journal and the scheduler trust the
    /// declarations.
    #[test]
    fn the_secret_outputs_are_the_declared_ones() {
        let secret: BTreeSet<(String, &str)> = Registry::builtin()
            .kinds()
            .flat_map(|k| {
                k.outputs()
                    .iter()
                    .filter(|o| o.secret)
                    .map(|o| (k.name().to_string(), o.name))
                    .collect::<Vec<_>>()
            })
            .collect();
        let expected: BTreeSet<(String, &str)> = [
            ("vault.init", "keys"),
            ("vault.init", "root_token"),
            ("vault.kv.get", "data"),
            ("vault.rotate_keys", "keys"),
        ]
        .into_iter()
        .map(|(k, o)| (k.to_string(), o))
        .collect();
        assert_eq!(secret, expected);
    }

    /// For the kinds that are cheap to run here, a real run (one that
    /// produces every optional output) returns exactly the declared names.
    #[tokio::test]
    async fn cheap_kinds_produce_exactly_their_declared_outputs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("snap"), b"raft snapshot bytes").unwrap();
        let ctx = StepContext::standalone("t", dir.path());
        let cases = [
            ("shell", json!({"run": ["echo", "{\"sealed\": false}"]})),
            (
                "shell",
                json!({"script": "echo '[1]'; echo oops >&2; exit 3", "expect_exit": [3]}),
            ),
            ("sleep", json!({"duration": "1ms"})),
            (
                "tool",
                json!({"programs": ["sh"], "env": {"PATH": "/usr/bin:/bin"}}),
            ),
            ("checksum.sha256", json!({"path": "snap"})),
            (
                "crypto.encrypt",
                json!({"input": "snap", "output": "snap.enc", "key": KEY_HEX}),
            ),
            (
                "crypto.decrypt",
                json!({"input": "snap.enc", "output": "back", "key": KEY_HEX}),
            ),
        ];
        for (kind, with) in cases {
            let names = run(&ctx, kind, with.clone()).await;
            assert_eq!(names, strings(declared(kind)), "`{kind}` with {with}");
        }
    }

    /// A failed run's outputs are declared too: a later step may read them
    /// when the failure is allowed (`continue_on_failure`).
    #[tokio::test]
    async fn failures_return_only_declared_outputs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("snap"), b"abc").unwrap();
        let ctx = StepContext::standalone("t", dir.path());
        let wrong = "0".repeat(64);
        let cases = [
            ("shell", json!({"script": "echo '{}'; exit 4"})),
            ("checksum.sha256", json!({"path": "snap", "expect": wrong})),
        ];
        for (kind, with) in cases {
            let names = run(&ctx, kind, with.clone()).await;
            assert!(!names.is_empty(), "`{kind}` failed without outputs");
            assert!(
                names.is_subset(&strings(declared(kind))),
                "`{kind}` with {with} returned {names:?}"
            );
        }
    }
}
