//! Every kind a runbook can name, the steps crate's and the engine's, with
//! what each declares: its one-line summary, its parameters (the JSON
//! Schema of `with:`) and its outputs. `lifeboat kinds`, `lifeboat schema`
//! and the output tables of `docs/step-kinds.md` are built from here, so
//! they show the declarations the validator checks against.

use lifeboat_steps::{OutputDecl, Registry};
use serde_json::Value;

use crate::runbook::engine_kind::EngineKind;

/// One kind and its declarations.
pub struct KindInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// The JSON Schema of `with:` as the kind takes it (before templates
    /// are rendered, see [`crate::runbook::runbook_schema`]).
    pub parameters: Value,
    pub outputs: &'static [OutputDecl],
    /// Run by the engine itself (`assert`, `checkpoint`, `approval`, `manual`).
    pub engine: bool,
}

/// One parameter of a kind, read from its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: String,
    /// `string`, `integer`, `list of string`, `map`, `string or list`, …
    pub ty: String,
    pub required: bool,
    /// The first paragraph of the field's doc comment (may be empty).
    pub doc: String,
    /// The default, as JSON, when the schema gives one.
    pub default: Option<Value>,
}

/// Every kind, sorted by name.
pub fn all_kinds(registry: &Registry) -> Vec<KindInfo> {
    let mut kinds: Vec<KindInfo> = registry
        .kinds()
        .map(|k| KindInfo {
            name: k.name(),
            summary: k.summary(),
            parameters: k.parameters(),
            outputs: k.outputs(),
            engine: false,
        })
        .collect();
    kinds.extend(EngineKind::ALL.iter().filter_map(|&(name, summary)| {
        let kind = EngineKind::from_name(name)?;
        Some(KindInfo {
            name,
            summary,
            parameters: kind.parameters(),
            outputs: kind.outputs(),
            engine: true,
        })
    }));
    kinds.sort_by_key(|k| k.name);
    kinds
}

impl KindInfo {
    /// The parameters, required ones first, then by name.
    pub fn params(&self) -> Vec<ParamInfo> {
        let required: Vec<&str> = self
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut params: Vec<ParamInfo> = self
            .parameters
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .map(|(name, schema)| ParamInfo {
                        name: name.clone(),
                        ty: type_name(schema),
                        required: required.contains(&name.as_str()),
                        doc: first_paragraph(
                            schema
                                .get("description")
                                .and_then(Value::as_str)
                                .unwrap_or(""),
                        ),
                        default: schema.get("default").filter(|d| !d.is_null()).cloned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        params.sort_by(|a, b| (!a.required, &a.name).cmp(&(!b.required, &b.name)));
        params
    }
}

/// A schema's type for people: `string`, `list of string`, `map`,
/// `string or list`, `one of: reject, approve`.
pub fn type_name(schema: &Value) -> String {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(scalar_text).collect();
        return format!("one of: {}", names.join(", "));
    }
    if let Some(c) = schema.get("const") {
        return scalar_text(c);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let mut names: Vec<String> = Vec::new();
            for option in options {
                let name = type_name(option);
                if name != "null" && !names.contains(&name) {
                    names.push(name);
                }
            }
            return names.join(" or ");
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return "any".into(),
    };
    let names: Vec<String> = types
        .into_iter()
        .filter(|t| *t != "null")
        .map(|t| match t {
            "array" => match schema.get("items") {
                Some(items) if items.get("type").is_some() || items.get("anyOf").is_some() => {
                    format!("list of {}", type_name(items))
                }
                _ => "list".into(),
            },
            "object" => "map".into(),
            "number" => "number".into(),
            other => other.into(),
        })
        .collect();
    if names.is_empty() {
        "null".into()
    } else {
        names.join(" or ")
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first paragraph of a doc comment, on one line, without rustdoc's
/// link brackets (``[`KEPT_ENV`]`` reads `` `KEPT_ENV` ``).
fn first_paragraph(doc: &str) -> String {
    doc.replace("[`", "`")
        .replace("`]", "`")
        .split("\n\n")
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The table of every kind's outputs in `docs/step-kinds.md`, between the
/// markers `<!-- outputs:begin -->` and `<!-- outputs:end -->`: one row
/// per output, with its type, whether it is secret and its doc.
pub fn outputs_markdown(registry: &Registry) -> String {
    let mut out =
        String::from("| kind | output | type | secret | meaning |\n|---|---|---|---|---|\n");
    for kind in all_kinds(registry) {
        if kind.name == "runbook" {
            out.push_str("| `runbook` | — | | | the called runbook's `outputs:` |\n");
        } else if kind.outputs.is_empty() {
            out.push_str(&format!("| `{}` | — | | | no outputs |\n", kind.name));
        }
        for o in kind.outputs {
            out.push_str(&format!(
                "| `{}` | `{}` | {} | {} | {} |\n",
                kind.name,
                o.name,
                o.ty,
                if o.secret { "secret" } else { "" },
                o.doc.replace('|', "\\|")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::checked_runbook::registry;

    #[test]
    fn every_kind_is_listed_once_with_its_parameters() {
        let kinds = all_kinds(&registry());
        let mut names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
        names.dedup();
        assert_eq!(names.len(), kinds.len());
        let shell = kinds.iter().find(|k| k.name == "shell").unwrap();
        let params = shell.params();
        assert!(params.iter().any(|p| p.name == "script"), "{params:?}");
        let approval = kinds.iter().find(|k| k.name == "approval").unwrap();
        let prompt = approval.params().into_iter().next().unwrap();
        assert_eq!(
            (prompt.name.as_str(), prompt.ty.as_str(), prompt.required),
            ("prompt", "string", true)
        );
        for kind in &kinds {
            assert_eq!(
                kind.parameters.get("type").and_then(Value::as_str),
                Some("object"),
                "`{}`'s parameters are not a mapping",
                kind.name
            );
        }
    }
}
