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
