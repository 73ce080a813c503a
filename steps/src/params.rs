//! Checking a step's raw `with:` parameters against a kind's typed struct.
//!
//! Kinds declare their parameters as a `#[serde(deny_unknown_fields)]`
//! struct and call [`check`] from [`crate::StepKind::check`] and [`parse`]
//! from [`crate::StepKind::run`]. At validation time values may still be
//! templates; a type error on a string that holds `{{` is not reported,
//! because the rendered value may well fit.
//!
//! Once rendered, where a kind takes a string, a number, boolean or null is
//! accepted and read as a shell user writes it (`3`, `true`, `false`,
//! empty): a whole-string template such as `"{{ inputs.nodes }}"` keeps its
//! type when rendered, so that lists stay lists. Literal values are checked
//! as they are written (`run: [sleep, 5]` is reported by `validate`).

use schemars::JsonSchema;
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

/// The JSON Schema (draft 2020-12, subschemas inlined) of parameters
/// `T`, derived from the struct [`check`] and [`parse`] use: its fields,
/// their types, which are required (no `#[serde(default)]`), and their doc
/// comments. [`crate::StepKind::parameters`] returns it, as the kind's
/// parameters take it before rendering: a template string stands for any
/// type only in the engine's runbook schema.
pub fn schema<T: JsonSchema>() -> Value {
    schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// One object schema with the properties (and required names) of both
/// `a` and `b`: a kind's own parameters and its flat connection fields.
pub fn merged_schema(mut a: Value, b: Value) -> Value {
    for field in ["properties", "required"] {
        match (a.get_mut(field), b.get(field)) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                x.extend(y.clone());
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) => {
                x.extend(y.iter().cloned());
            }
            (None, Some(y)) => {
                a[field] = y.clone();
            }
            _ => {}
        }
    }
    if let Some(title) = b.get("title") {
        a["title"] = title.clone();
    }
    a
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
/// A scalar is read as text where `T` wants a string (see [`scalar_text`]).
pub fn parse<T: DeserializeOwned>(kind: &str, with: Value) -> Result<T, crate::StepError> {
    let with = if with.is_null() {
        Value::Object(Default::default())
    } else {
        with
    };
    serde_path_to_error::deserialize::<_, T>(ScalarsAsStrings(with)).map_err(|err| {
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

/// A scalar's text where a string is wanted: strings as they are, numbers
/// as digits, booleans as `true`/`false`, null as empty. `None` for lists
/// and maps.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Deserializes a JSON value as it is, except that a string may be given
/// as any scalar (see [`scalar_text`]).
struct ScalarsAsStrings(Value);

impl<'de> serde::de::IntoDeserializer<'de, serde_json::Error> for ScalarsAsStrings {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl ScalarsAsStrings {
    fn seq<'de, V: serde::de::Visitor<'de>>(
        items: Vec<Value>,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        let mut seq = serde::de::value::SeqDeserializer::new(items.into_iter().map(Self));
        let value = visitor.visit_seq(&mut seq)?;
        seq.end()?;
        Ok(value)
    }

    fn map<'de, V: serde::de::Visitor<'de>>(
        entries: serde_json::Map<String, Value>,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        let mut map =
            serde::de::value::MapDeserializer::new(entries.into_iter().map(|(k, v)| (k, Self(v))));
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }
}

macro_rules! forward_to_value {
    ($($method:ident)*) => {$(
        fn $method<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(visitor)
        }
    )*};
}

impl<'de> serde::Deserializer<'de> for ScalarsAsStrings {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => Self::seq(items, visitor),
            Value::Object(entries) => Self::map(entries, visitor),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match scalar_text(&self.0) {
            Some(text) => visitor.visit_string(text),
            None => self.0.deserialize_string(visitor),
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Self(other)),
        }
    }

    fn deserialize_seq<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => Self::seq(items, visitor),
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: serde::de::Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(entries) => Self::map(entries, visitor),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(entries) => Self::map(entries, visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    forward_to_value! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_identifier deserialize_ignored_any
    }
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

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Argv {
        run: Vec<String>,
        #[serde(default)]
        env: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        cwd: Option<String>,
        #[serde(default)]
        codes: Vec<i32>,
    }

    #[test]
    fn scalars_are_read_as_strings_where_strings_are_wanted() {
        let p: Argv = parse(
            "shell",
            serde_json::json!({"run": ["echo", 3, true, false, null, 1.5], "env": {"N": 3}, "cwd": null, "codes": [0, 1]}),
        )
        .unwrap();
        assert_eq!(p.run, ["echo", "3", "true", "false", "", "1.5"]);
        assert_eq!(p.env["N"], "3");
        assert_eq!(p.cwd, None);
        assert_eq!(p.codes, [0, 1]);
        let err = parse::<Argv>("shell", serde_json::json!({"run": ["echo", ["a"]]})).unwrap_err();
        assert!(err.message.contains("`run[1]`"), "{}", err.message);
        let err = parse::<Argv>("shell", serde_json::json!({"run": [], "typo": 1})).unwrap_err();
        assert!(
            err.message.contains("unknown field `typo`"),
            "{}",
            err.message
        );
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
