//! Reads YAML text into a [`Node`] tree straight from the parser's events.
//!
//! serde-saphyr's `Spanned<T>` gives the same locations but costs about ten
//! times more per node, which matters for large generated runbooks (the
//! 10,000-step validation budget is 100 ms). Scalars are resolved with the
//! YAML 1.2 core schema, as serde-saphyr does: `yes` and `on` stay strings.
//!
//! The reader has a budget, like the inputs file's (serde-saphyr's): an
//! alias copies the subtree of its anchor, so a few hundred bytes of nested
//! aliases (an "alias bomb") would expand to billions of nodes. Every node
//! an alias brings in counts against [`MAX_ALIAS_NODES`], and collections
//! nest at most [`MAX_DEPTH`] deep (the tree is walked and dropped
//! recursively). Either breach stops the reader at the offending alias or
//! collection.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span};

use crate::runbook::node::{Loc, Node, NodeValue};

/// How many nodes all aliases of one document may bring in, in total.
/// Real runbooks reuse small maps (a connection, a retry policy): a
/// thousand steps each aliasing a ten-node map stay far below it.
pub const MAX_ALIAS_NODES: usize = 250_000;

/// How deep collections may nest.
pub const MAX_DEPTH: usize = 128;

/// A syntax error or a breached budget: where, what, and how to fix it
/// when the fix is not the usual one (indentation and quoting).
pub struct YamlError {
    pub loc: Loc,
    pub message: String,
    pub help: Option<String>,
}

/// Parses the first document of `text`. An empty document is `Null`.
pub fn parse_yaml(text: &str) -> Result<Node, YamlError> {
    let mut parser = Parser::new_from_str(text);
    // Open collections: the node under construction and, for mappings, a
    // key waiting for its value.
    // Each open collection also counts the nodes inside it, so an anchor
    // knows how many nodes an alias to it brings in.
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, (Node, Extent)> = HashMap::new();
    let mut alias_nodes = 0usize;
    let mut root: Option<Node> = None;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| YamlError {
            loc: Loc {
                line: e.marker().line() as u32,
                col: e.marker().col() as u32 + 1,
            },
            message: e.info().to_string(),
            help: None,
        })?;
        let loc = loc_of(&span);
        let finished: Option<(Node, usize, Extent)> = match event {
            Event::Scalar(value, style, anchor, _tag) => {
                Some((Node::new(loc, scalar(value, style)), anchor, Extent::ONE))
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(depth_error(loc));
                }
                let value = if matches!(event, Event::SequenceStart(..)) {
                    NodeValue::Seq(Vec::new())
                } else {
                    NodeValue::Map(Vec::new())
                };
                stack.push(Open {
                    node: Node::new(loc, value),
                    pending_key: None,
                    anchor,
                    extent: Extent::ONE,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack
                .pop()
                .map(|open| (open.node, open.anchor, open.extent)),
            Event::Alias(id) => {
                let (node, extent) = match anchors.get(&id) {
                    Some((node, extent)) => (node, *extent),
                    None => (&Node::new(loc, NodeValue::Null), Extent::ONE),
                };
                if stack.len() + extent.height > MAX_DEPTH {
                    return Err(depth_error(loc));
                }
                alias_nodes = alias_nodes.saturating_add(extent.nodes);
                if alias_nodes > MAX_ALIAS_NODES {
                    return Err(YamlError {
                        loc,
                        message: format!(
                            "alias `{}` brings the nodes copied by aliases past {MAX_ALIAS_NODES} (the runbook reader's alias budget; budget breached)",
                            alias_text(text, loc)
                        ),
                        help: Some(
                            "aliases copy their anchor's whole subtree; nested aliases multiply it. Alias small maps only, or write the values out".into(),
                        ),
                    });
                }
                let mut node = node.clone();
                node.loc = loc;
                Some((node, 0, extent))
            }
            Event::DocumentEnd => break,
            _ => None,
        };
        let Some((node, anchor, extent)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), extent));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Open {
                node: parent,
                pending_key,
                ..
            }) => match &mut parent.value {
                NodeValue::Seq(items) => items.push(node),
                NodeValue::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                _ => unreachable!("only collections are pushed on the stack"),
            },
        }
        if let Some(open) = stack.last_mut() {
            open.extent.nodes = open.extent.nodes.saturating_add(extent.nodes);
            open.extent.height = open.extent.height.max(extent.height + 1);
        }
    }
    Ok(root.unwrap_or(Node::new(Loc { line: 1, col: 1 }, NodeValue::Null)))
}

/// A collection being read.
struct Open {
    node: Node,
    /// For mappings: a key waiting for its value.
    pending_key: Option<Node>,
    anchor: usize,
    extent: Extent,
}

/// How many nodes a subtree holds (itself included) and how tall it is.
#[derive(Clone, Copy)]
struct Extent {
    nodes: usize,
    height: usize,
}

impl Extent {
    const ONE: Extent = Extent {
        nodes: 1,
        height: 1,
    };
}

fn depth_error(loc: Loc) -> YamlError {
    YamlError {
        loc,
        message: format!(
            "values nest more than {MAX_DEPTH} levels deep here (the runbook reader's depth budget; budget breached)"
        ),
        help: Some("a runbook needs a few levels; flatten this value".into()),
    }
}

/// The alias as written at `loc` (`*name`), for messages.
fn alias_text(text: &str, loc: Loc) -> String {
    let line = text
        .lines()
        .nth((loc.line as usize).saturating_sub(1))
        .unwrap_or("");
    let alias: String = line
        .chars()
        .skip((loc.col as usize).saturating_sub(1))
        .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
        .take(64)
        .collect();
    if alias.starts_with('*') {
        alias
    } else {
        "*".into()
    }
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
