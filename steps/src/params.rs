//! Checking a step's raw `with:` parameters against a kind's typed struct.
//!
//! Kinds declare their parameters as a `#[serde(deny_unknown_fields)]`
//! struct and call [`check`] from [`crate::StepKind::check`] and [`parse`]
//! from [`crate::StepKind::run`]. At validation time values may still be
//! templates; a type error on a string that holds `{{` is not reported,
//! because the rendered value may well fit.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// One segment of a path into the `with:` mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// A problem with one parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamProblem {
    /// Where, relative to `with:`; empty for the mapping itself.
    pub path: Vec<PathSegment>,
    /// What is wrong, written for the runbook author.
    pub message: String,
}

impl ParamProblem {
    pub fn new(path: Vec<PathSegment>, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }

    /// A problem with the top-level field `key`.
    pub fn field(key: &str, message: impl Into<String>) -> Self {
        Self::new(vec![PathSegment::Key(key.to_string())], message)
    }

    /// The path as `a.b[2]`, for messages.
    pub fn path_string(&self) -> String {
        path_to_string(&self.path)
    }
}

pub fn path_to_string(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Whether a string holds a template that is rendered before the step runs.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Checks `with` against `T`, returning at most one problem (serde stops at
/// the first), unless it sits on a template string.
pub fn check<T: DeserializeOwned>(with: &Value) -> Vec<ParamProblem> {
    let empty = Value::Object(Default::default());
    let with = if with.is_null() { &empty } else { with };
    match serde_path_to_error::deserialize::<_, T>(with) {
        Ok(_) => Vec::new(),
        Err(err) => {
            let path = convert_path(err.path());
            if let Some(Value::String(s)) = lookup(with, &path) {
                if is_template(s) {
                    return Vec::new();
                }
            }
            vec![ParamProblem::new(
                path,
                clean_message(&err.inner().to_string()),
            )]
        }
    }
}

/// Parses rendered parameters into `T`, with an error that names the field.
pub fn parse<T: DeserializeOwned>(kind: &str, with: Value) -> Result<T, crate::StepError> {
    let with = if with.is_null() {
        Value::Object(Default::default())
    } else {
        with
    };
    serde_path_to_error::deserialize::<_, T>(with).map_err(|err| {
        let path = path_to_string(&convert_path(err.path()));
        let msg = clean_message(&err.inner().to_string());
        if path.is_empty() {
            crate::StepError::new(format!("invalid parameters for `{kind}`: {msg}"))
        } else {
            crate::StepError::new(format!(
                "invalid parameter `{path}` for `{kind}` after rendering: {msg}"
            ))
        }
    })
}

/// Looks up a path inside a JSON value.
pub fn lookup<'a>(value: &'a Value, path: &[PathSegment]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path {
        cur = match (seg, cur) {
            (PathSegment::Key(k), Value::Object(map)) => map.get(k)?,
            (PathSegment::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn convert_path(path: &serde_path_to_error::Path) -> Vec<PathSegment> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|seg| match seg {
            Segment::Map { key } | Segment::Enum { variant: key } => {
                Some(PathSegment::Key(key.clone()))
            }
            Segment::Seq { index } => Some(PathSegment::Index(*index)),
            Segment::Unknown => None,
        })
        .collect()
}

/// serde's messages say "unknown field `x`, expected one of ..."; keep them,
/// but drop the "at line 0 column 0" suffix some deserializers add.
fn clean_message(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(pos) => msg[..pos].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct P {
        url: String,
        #[serde(default)]
        expect_status: Vec<u16>,
    }

    #[test]
    fn reports_unknown_field_with_its_path() {
        let problems = check::<P>(&serde_json::json!({"url": "x", "expect_stauts": [200]}));
        assert_eq!(problems.len(), 1);
        assert!(problems[0]
            .message
            .contains("unknown field `expect_stauts`"));
    }

    #[test]
    fn type_error_on_a_template_is_not_reported() {
        let ok =
            check::<P>(&serde_json::json!({"url": "x", "expect_status": "{{ inputs.codes }}"}));
        assert!(ok.is_empty());
        let bad = check::<P>(&serde_json::json!({"url": "x", "expect_status": "two hundred"}));
        assert_eq!(bad[0].path, vec![PathSegment::Key("expect_status".into())]);
    }
}
