//! A declared runbook input (`inputs:`): type, default, secret source, and
//! coercion of a given value to its type.

use serde_json::Value;

use crate::runbook::node::Loc;

/// A declared runbook input.
#[derive(Debug, Clone)]
pub struct InputDecl {
    pub name: String,
    pub loc: Loc,
    pub ty: InputType,
    pub default: Option<Value>,
    pub description: Option<String>,
    /// For secrets: the environment variable that holds the value.
    pub env: Option<String>,
    /// For secrets: a file that holds the value (read at run start and at
    /// every resume; never copied into the run directory).
    pub file: Option<String>,
    /// Required inputs have no default; secrets are always required unless
    /// `optional: true`.
    pub optional: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    String,
    Integer,
    Boolean,
    List,
    Secret,
    /// A file or directory; a relative value is resolved against the
    /// directory `lifeboat run` was started from, when the run starts.
    Path,
    /// A program: a bare name is looked up on `PATH` when used; a value
    /// with a `/` is resolved like a `path`.
    Program,
}

impl InputType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "integer" => Self::Integer,
            "boolean" => Self::Boolean,
            "list" => Self::List,
            "secret" => Self::Secret,
            "path" => Self::Path,
            "program" => Self::Program,
            _ => return None,
        })
    }

    pub const NAMES: &'static [&'static str] = &[
        "string", "integer", "boolean", "list", "secret", "path", "program",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::List => "list",
            Self::Secret => "secret",
            Self::Path => "path",
            Self::Program => "program",
        }
    }
}

impl InputDecl {
    pub fn is_secret(&self) -> bool {
        self.ty == InputType::Secret
    }

    /// Converts a value given on the command line (`--input k=v`) to the
    /// declared type.
    pub fn coerce(&self, text: &str) -> Result<Value, String> {
        match self.ty {
            InputType::String | InputType::Secret | InputType::Path | InputType::Program => {
                Ok(Value::String(text.to_string()))
            }
            InputType::Integer => text
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("input `{}` is an integer; got `{text}`", self.name)),
            InputType::Boolean => match text.trim() {
                "true" | "yes" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "0" => Ok(Value::Bool(false)),
                _ => Err(format!(
                    "input `{}` is a boolean; got `{text}` (use true or false)",
                    self.name
                )),
            },
            InputType::List => {
                if text.trim_start().starts_with('[') {
                    serde_json::from_str(text).map_err(|e| {
                        format!(
                            "input `{}` is a list; `{text}` is not a JSON list: {e}",
                            self.name
                        )
                    })
                } else {
                    Ok(Value::Array(
                        text.split(',')
                            .map(|s| Value::String(s.trim().to_string()))
                            .filter(|v| v.as_str() != Some(""))
                            .collect(),
                    ))
                }
            }
        }
    }

    /// Whether a value from an inputs file fits the declared type.
    pub fn accepts(&self, value: &Value) -> bool {
        match self.ty {
            InputType::String | InputType::Secret | InputType::Path | InputType::Program => {
                value.is_string()
            }
            InputType::Integer => value.is_i64() || value.is_u64(),
            InputType::Boolean => value.is_boolean(),
            InputType::List => value.is_array(),
        }
    }
}
