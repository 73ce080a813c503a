//! Reads YAML text into a [`Node`] tree straight from the parser's events.
//!
//! serde-saphyr's `Spanned<T>` gives the same locations but costs about ten
//! times more per node, which matters for large generated runbooks (the
//! 10,000-step validation budget is 100 ms). Scalars are resolved with the
//! YAML 1.2 core schema, as serde-saphyr does: `yes` and `on` stay strings.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span};

use crate::node::{Loc, Node, NodeValue};

/// A syntax error: where, and what the parser said.
pub struct YamlError {
    pub loc: Loc,
    pub message: String,
}

/// Parses the first document of `text`. An empty document is `Null`.
pub fn parse_yaml(text: &str) -> Result<Node, YamlError> {
    let mut parser = Parser::new_from_str(text);
    // Open collections: the node under construction and, for mappings, a
    // key waiting for its value.
    let mut stack: Vec<(Node, Option<Node>, usize)> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| YamlError {
            loc: Loc {
                line: e.marker().line() as u32,
                col: e.marker().col() as u32 + 1,
            },
            message: e.info().to_string(),
        })?;
        let loc = loc_of(&span);
        let finished: Option<(Node, usize)> = match event {
            Event::Scalar(value, style, anchor, _tag) => {
                Some((Node::new(loc, scalar(value, style)), anchor))
            }
            Event::SequenceStart(_, anchor, _) => {
                stack.push((Node::new(loc, NodeValue::Seq(Vec::new())), None, anchor));
                None
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push((Node::new(loc, NodeValue::Map(Vec::new())), None, anchor));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop().map(|(node, _, anchor)| (node, anchor))
            }
            Event::Alias(id) => Some((
                anchors
                    .get(&id)
                    .cloned()
                    .map(|mut n| {
                        n.loc = loc;
                        n
                    })
                    .unwrap_or(Node::new(loc, NodeValue::Null)),
                0,
            )),
            Event::DocumentEnd => break,
            _ => None,
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some((parent, pending_key, _)) => match &mut parent.value {
                NodeValue::Seq(items) => items.push(node),
                NodeValue::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                _ => unreachable!("only collections are pushed on the stack"),
            },
        }
    }
    Ok(root.unwrap_or(Node::new(Loc { line: 1, col: 1 }, NodeValue::Null)))
}

fn loc_of(span: &Span) -> Loc {
    Loc {
        line: span.start.line() as u32,
        col: span.start.col() as u32 + 1,
    }
}

/// Resolves a scalar by the YAML 1.2 core schema; quoted scalars are strings.
fn scalar(value: Cow<'_, str>, style: ScalarStyle) -> NodeValue {
    if style != ScalarStyle::Plain {
        return NodeValue::String(value.into_owned());
    }
    let v: &str = &value;
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeValue::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    let first = v.as_bytes()[0];
    if first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.' {
        if let Some(hex) = v.strip_prefix("0x") {
            if let Ok(i) = i64::from_str_radix(hex, 16) {
                return NodeValue::Int(i);
            }
        }
        if let Some(oct) = v.strip_prefix("0o") {
            if let Ok(i) = i64::from_str_radix(oct, 8) {
                return NodeValue::Int(i);
            }
        }
        if let Ok(i) = v.parse::<i64>() {
            return NodeValue::Int(i);
        }
        if v.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && v.bytes().any(|b| b.is_ascii_digit())
        {
            if let Ok(f) = v.parse::<f64>() {
                return NodeValue::Float(f);
            }
        }
    }
    NodeValue::String(value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_serde_reader_on_a_runbook() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../runbooks/examples/restore-drill.yaml"
        ))
        .unwrap();
        let fast = parse_yaml(&text).ok().unwrap();
        let slow: Node = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(fast, slow);
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let node = parse_yaml(
            "a: [1, -2, 0x10, 1.5, 1e3, yes, ~, true, '3', .5, 1_000, x-y]\nb: &x {c: 1}\nd: *x\n",
        )
        .ok()
        .unwrap();
        let json = node.to_json();
        assert_eq!(
            json["a"],
            serde_json::json!([
                1, -2, 16, 1.5, 1000.0, "yes", null, true, "3", 0.5, "1_000", "x-y"
            ])
        );
        assert_eq!(json["d"], serde_json::json!({"c": 1}));
        assert_eq!(node.get("b").unwrap().loc, Loc { line: 2, col: 7 });
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = parse_yaml("a: [1, 2\nb: c\n").err().unwrap();
        assert!(err.loc.line >= 1, "{}", err.message);
    }
}
