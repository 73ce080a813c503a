//! `lifeboat schema`: the JSON Schema (draft 2020-12) of the runbook
//! format, for editors (the YAML language server completes and checks a
//! runbook that names it). The fields are the loader's own lists
//! ([`TOP_FIELDS`], [`STEP_FIELDS`]), and each kind's `with:` is its
//! declared parameters ([`kind_catalog`]), chosen by `kind` with
//! `if`/`then`. The schema checks shape only; `validate` remains the
//! judge of meaning (what templates read, `needs`, cycles).

use lifeboat_steps::Registry;
use serde_json::{json, Map, Value};

use crate::runbook::kind_catalog::{self, KindInfo};
use crate::runbook::loader::{STEP_FIELDS, TOP_FIELDS};
use crate::runbook::notify_target::{NotifyEvent, NotifyFormat};

/// The whole schema.
pub fn runbook_schema(registry: &Registry) -> Value {
    let kinds = kind_catalog::all_kinds(registry);
    let mut defs = Map::new();
    defs.insert("duration".into(), duration());
    defs.insert("template".into(), template());
    defs.insert("expression".into(), json!({
        "description": "an expression over `inputs`, `steps`, `run` (and `outputs` in `until`), e.g. `steps.health.outputs.sealed == false`",
        "type": ["string", "boolean"]
    }));
    defs.insert("input".into(), input());
    defs.insert("retry".into(), retry());
    for k in &kinds {
        defs.insert(format!("with.{}", k.name), with_schema(k));
    }
    defs.insert("step".into(), step(&kinds));
    defs.insert("probe".into(), probe(&kinds));
    defs.insert(
        "steps".into(),
        json!({
            "type": "array",
            "items": { "$ref": "#/$defs/step" }
        }),
    );
    let mut properties = Map::new();
    for field in TOP_FIELDS {
        properties.insert(field.to_string(), top_field(field));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Lifeboat runbook (version 1)",
        "description": "A Lifeboat runbook: a YAML step graph. See docs/runbook-format.md; `lifeboat validate FILE` checks what a schema cannot.",
        "type": "object",
        "required": ["version", "name", "steps"],
        "additionalProperties": false,
        "properties": properties,
        "$defs": defs,
    })
}

/// A string that holds a template: it may stand for a value of any type,
/// which is known only once it is rendered.
fn template() -> Value {
    json!({
        "description": "a template, rendered before the step runs",
        "type": "string",
        "pattern": "\\{\\{|\\{%"
    })
}

fn duration() -> Value {
    json!({
        "description": "a duration with a unit: `500ms`, `30s`, `5m`, `1h30m`, `2d`",
        "type": "string"
    })
}

fn top_field(field: &str) -> Value {
    match field {
        "version" => {
            json!({ "description": "the format version; this Lifeboat reads 1", "const": 1 })
        }
        "name" => json!({
            "description": "a slug that names runs (`<name>-<utc time>-<4 hex>`)",
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9-]*$"
        }),
        "title" | "description" | "scenario" => {
            json!({ "description": "text for people: plans, headers, timelines", "type": "string" })
        }
        "rto" => json!({
            "description": "the recovery time objective",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "target": { "$ref": "#/$defs/duration", "description": "the RTO target" },
                "stop_at": { "description": "the id of a main step; the RTO clock stops when it succeeds", "type": "string" }
            }
        }),
        "rpo" => {
            json!({ "description": "the recovery point objective, informational", "type": "string" })
        }
        "approvers" => json!({
            "description": "who may sign decisions",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "allowed_signers": { "description": "the team's OpenSSH allowed_signers file, relative to the runbook", "type": "string" }
            }
        }),
        "require_signed" => {
            json!({ "description": "every decision of the run must be signed", "type": "boolean" })
        }
        "inputs" => json!({
            "description": "named inputs: `--input name=value`, `--inputs FILE`, defaults",
            "type": "object",
            "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
            "additionalProperties": { "$ref": "#/$defs/input" }
        }),
        "defaults" => json!({
            "description": "inherited by every step that does not set its own",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "timeout": { "$ref": "#/$defs/duration" },
                "retry": { "$ref": "#/$defs/retry" }
            }
        }),
        "outputs" => json!({
            "description": "what a call of this runbook (`kind: runbook`) returns: name to template, or to `{ value, secret }`",
            "type": "object",
            "propertyNames": { "pattern": "^[a-z][a-z0-9_]*$" },
            "additionalProperties": {
                "anyOf": [
                    { "type": ["string", "number", "boolean", "array"] },
                    {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["value"],
                        "properties": {
                            "value": { "description": "a template, rendered in the called runbook's scope when its steps are done" },
                            "secret": { "description": "journalled as «redacted», sealed to the run's recipients", "type": "boolean" }
                        }
                    }
                ]
            }
        }),
        "notify" => json!({
            "description": "who hears about the run as it goes: webhooks, delivered asynchronously (docs/war-room.md)",
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["url", "format", "events"],
                "properties": {
                    "url": { "description": "the receiver's URL, or a template over `inputs` (a secret input too), rendered when the run starts", "type": "string" },
                    "format": { "description": "`slack`: a Slack incoming webhook's message; `json`: one object per event", "enum": NotifyFormat::NAMES },
                    "events": {
                        "description": "what the target hears about",
                        "type": "array",
                        "minItems": 1,
                        "items": { "enum": NotifyEvent::NAMES }
                    },
                    "timeout": { "$ref": "#/$defs/duration", "description": "the bound of one request (default 10s)" },
                    "retry": { "$ref": "#/$defs/retry", "description": "attempts per message (default 4, 1s apart, doubling)" }
                }
            }
        }),
        "steps" => {
            json!({ "$ref": "#/$defs/steps", "description": "the main steps", "minItems": 1 })
        }
        "on_failure" => {
            json!({ "$ref": "#/$defs/steps", "description": "steps that run after a main step fails the run" })
        }
        "finally" => {
            json!({ "$ref": "#/$defs/steps", "description": "steps that always run last" })
        }
        // A field the loader reads that this schema does not describe yet.
        _ => json!({ "description": "see docs/runbook-format.md" }),
    }
}

fn input() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "type": {
                "description": "the input's type (default `string`)",
                "enum": ["string", "integer", "boolean", "list", "secret", "path", "program"]
            },
            "default": { "description": "the value when none is given (not for secrets)" },
            "description": { "description": "shown by `plan` and in docs", "type": "string" },
            "env": { "description": "secrets only: the environment variable holding the value", "type": "string" },
            "file": { "description": "secrets only: a file holding the value", "type": "string" },
            "optional": { "description": "`true` lets the input be absent (`null`)", "type": "boolean" }
        }
    })
}

fn retry() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "attempts": { "description": "attempts in all (default 1)", "type": "integer", "minimum": 1 },
            "delay": { "$ref": "#/$defs/duration", "description": "the first wait (default 1s)" },
            "backoff": { "description": "each later wait is multiplied by this, 1.0 to 10.0", "type": "number", "minimum": 1, "maximum": 10 },
            "max_delay": { "$ref": "#/$defs/duration", "description": "the longest wait" }
        }
    })
}

/// `kind` and `with`, the part a step shares with its `check` probe: `with`
/// is the named kind's parameters.
fn kind_choice(kinds: &[&KindInfo]) -> (Value, Vec<Value>) {
    let kind_names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
    let kind = json!({
        "description": "the step kind (`lifeboat kinds` lists them)",
        "type": "string",
        "enum": kind_names,
    });
    let choices = kinds
        .iter()
        .map(|k| {
            json!({
                "if": { "properties": { "kind": { "const": k.name } }, "required": ["kind"] },
                "then": { "properties": { "with": { "$ref": format!("#/$defs/with.{}", k.name) } } }
            })
        })
        .collect();
    (kind, choices)
}

fn step(kinds: &[KindInfo]) -> Value {
    let all: Vec<&KindInfo> = kinds.iter().collect();
    let (kind, choices) = kind_choice(&all);
    let mut properties = Map::new();
    for field in STEP_FIELDS {
        let schema = match *field {
            "id" => json!({
                "description": "unique across all sections; templates read the step as `steps.<id>`",
                "type": "string",
                "pattern": "^[a-z][a-z0-9_]*$"
            }),
            "title" => json!({ "description": "shown in plans and timelines", "type": "string" }),
            "kind" => kind.clone(),
            "with" => {
                json!({ "description": "the kind's parameters; every string may hold templates", "type": ["object", "null"] })
            }
            "needs" => json!({
                "description": "ids of steps in the same section that must finish first",
                "anyOf": [
                    { "type": "string" },
                    { "type": "array", "items": { "type": "string" } }
                ]
            }),
            "when" => {
                json!({ "$ref": "#/$defs/expression", "description": "when false the step is skipped" })
            }
            "until" => json!({
                "description": "retried until this holds, over `outputs`; or `{ that: EXPR, message: TEXT }`",
                "anyOf": [
                    { "$ref": "#/$defs/expression" },
                    {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["that"],
                        "properties": {
                            "that": { "$ref": "#/$defs/expression" },
                            "message": { "type": "string" }
                        }
                    }
                ]
            }),
            "retry" => json!({ "$ref": "#/$defs/retry" }),
            "timeout" => {
                json!({ "$ref": "#/$defs/duration", "description": "bounds the whole step, all attempts included" })
            }
            "estimate" => {
                json!({ "$ref": "#/$defs/duration", "description": "expected duration, for `plan`" })
            }
            "rerun" => json!({
                "description": "what resume does when the step was interrupted mid-step",
                "enum": ["safe", "check", "never"]
            }),
            "check" => json!({ "$ref": "#/$defs/probe" }),
            "continue_on_failure" => {
                json!({ "description": "a failure does not fail the run", "type": "boolean" })
            }
            "read_only" => {
                json!({ "description": "declares the step read-only (or not)", "type": "boolean" })
            }
            "dry_run" => json!({
                "description": "what a dry run pretends this step produced",
                "type": "object",
                "additionalProperties": false,
                "properties": { "outputs": { "type": "object" } }
            }),
            _ => json!({ "description": "see docs/runbook-format.md" }),
        };
        properties.insert(field.to_string(), schema);
    }
    json!({
        "type": "object",
        "required": ["id", "kind"],
        "additionalProperties": false,
        "properties": properties,
        "allOf": choices,
    })
}

/// A `check` probe: a read-only step kind, its `with`, `until`, `read_only`.
fn probe(kinds: &[KindInfo]) -> Value {
    let step_kinds: Vec<&KindInfo> = kinds.iter().filter(|k| !k.engine).collect();
    let (kind, choices) = kind_choice(&step_kinds);
    json!({
        "description": "a read-only probe for `rerun: check`",
        "type": "object",
        "required": ["kind"],
        "additionalProperties": false,
        "properties": {
            "kind": kind,
            "with": { "type": ["object", "null"] },
            "until": { "$ref": "#/$defs/expression" },
            "read_only": { "type": "boolean" }
        },
        "allOf": choices,
    })
}

/// A kind's parameters as a runbook writes them: the declared schema,
/// where any value that is not a string may also be a template (its type
/// is known once rendered), and `with` may be empty.
fn with_schema(kind: &KindInfo) -> Value {
    let mut schema = kind.parameters.clone();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        if let Some(Value::Object(props)) = map.get_mut("properties") {
            for value in props.values_mut() {
                relax(value);
            }
        }
    }
    json!({ "anyOf": [schema, { "type": "null" }], "description": kind.summary })
}

/// Lets a template string stand where a value of another type, or a
/// string from a fixed set, is wanted.
fn relax(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(props)) = map.get_mut(key) {
            props.values_mut().for_each(relax);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v @ Value::Object(_)) = map.get_mut(key) {
            relax(v);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(options)) = map.get_mut(key) {
            options.iter_mut().for_each(relax);
        }
    }
    let plain_string = match map.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    } && !map.contains_key("enum")
        && !map.contains_key("const")
        && !map.contains_key("pattern")
        && !map.contains_key("format");
    let typed = map.contains_key("type")
        || map.contains_key("enum")
        || map.contains_key("const")
        || map.contains_key("oneOf");
    if typed && !plain_string {
        let mut inner = std::mem::take(map);
        let mut outer = Map::new();
        for key in ["description", "default", "title"] {
            if let Some(v) = inner.remove(key) {
                outer.insert(key.into(), v);
            }
        }
        outer.insert(
            "anyOf".into(),
            json!([Value::Object(inner), { "$ref": "#/$defs/template" }]),
        );
        *map = outer;
    }
}
