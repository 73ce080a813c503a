//! What a step kind declares about each output it can return: its name,
//! its type, whether it is secret, and one line of documentation. The one
//! source for `validate`'s checks of what a runbook reads, for which
//! outputs are secret, for `lifeboat kinds KIND`, the JSON Schema and the
//! output tables of `docs/step-kinds.md`.

use std::fmt;

/// The type of an output's value, as a later step reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputType {
    String,
    Integer,
    Bool,
    List,
    Map,
    /// A parsed JSON document (`shell`'s and `http`'s `json`): what lies
    /// below it is the program's data, so its keys are not checked.
    Json,
    /// Any JSON value (a server's field passed on as it came).
    Any,
}

impl OutputType {
    /// The name shown by `lifeboat kinds` and in the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Bool => "bool",
            Self::List => "list",
            Self::Map => "map",
            Self::Json => "json",
            Self::Any => "any",
        }
    }
}

impl fmt::Display for OutputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One declared output: `steps.<id>.outputs.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputDecl {
    pub name: &'static str,
    pub ty: OutputType,
    /// Kept in memory only, journalled as a placeholder, added to the
    /// redactor. A run marks exactly these secret
    /// ([`crate::StepOutput::with_secret`]); the kinds' tests check it.
    pub secret: bool,
    /// One line, for `lifeboat kinds KIND` and the docs.
    pub doc: &'static str,
}

impl OutputDecl {
    pub const fn new(name: &'static str, ty: OutputType, doc: &'static str) -> Self {
        Self {
            name,
            ty,
            secret: false,
            doc,
        }
    }

    pub const fn string(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, OutputType::String, doc)
    }

    pub const fn integer(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, OutputType::Integer, doc)
    }

    pub const fn bool(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, OutputType::Bool, doc)
    }

    pub const fn list(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, OutputType::List, doc)
    }

    pub const fn map(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, OutputType::Map, doc)
    }

    pub const fn json(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, OutputType::Json, doc)
    }

    pub const fn any(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, OutputType::Any, doc)
    }

    /// The same output, secret.
    pub const fn secret(self) -> Self {
        Self {
            secret: true,
            ..self
        }
    }

    /// The declaration of `name` among `outputs`.
    pub fn find<'a>(outputs: &'a [OutputDecl], name: &str) -> Option<&'a OutputDecl> {
        outputs.iter().find(|o| o.name == name)
    }

    /// Whether `name` is declared secret among `outputs`.
    pub fn is_secret_in(outputs: &[OutputDecl], name: &str) -> bool {
        Self::find(outputs, name).is_some_and(|o| o.secret)
    }
}
