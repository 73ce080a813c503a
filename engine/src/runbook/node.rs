//! A YAML document as a tree of values that remember where they came from.
//!
//! The loader reads a runbook into [`Node`]s first and converts them to the
//! model by hand. serde's derive stops at the first error; walking the tree
//! lets `validate` report every problem in one pass, each at its line and
//! column.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A position in a source file, 1-based. Line 0 means unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

impl Loc {
    pub const UNKNOWN: Loc = Loc { line: 0, col: 0 };

    pub fn is_known(self) -> bool {
        self.line > 0
    }
}

/// One YAML value and its location.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub loc: Loc,
    pub value: NodeValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    /// Keys keep their own locations, for "unknown field" messages.
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(loc: Loc, value: NodeValue) -> Self {
        Self { loc, value }
    }

    /// What kind of value this is, for "expected a list, found a string".
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "nothing",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::String(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// Looks up a key in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The plain JSON form, dropping locations.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A mapping key as text (YAML allows `1:` or `true:` as keys).
    pub fn key_text(&self) -> String {
        match &self.value {
            NodeValue::String(s) => s.clone(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Null => "null".into(),
            _ => "<complex key>".into(),
        }
    }

    /// Follows a parameter path (as reported by a step kind's check) to the
    /// deepest node that exists, for pointing at the exact place.
    pub fn locate(&self, path: &[lifeboat_steps::params::PathSegment]) -> &Node {
        use lifeboat_steps::params::PathSegment;
        let mut cur = self;
        for seg in path {
            let next = match (seg, &cur.value) {
                (PathSegment::Key(k), NodeValue::Map(entries)) => entries
                    .iter()
                    .find(|(key, _)| key.as_str() == Some(k))
                    .map(|(_, v)| v),
                (PathSegment::Index(i), NodeValue::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => break,
            }
        }
        cur
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeValue>::deserialize(deserializer)?;
        let loc = Loc {
            line: spanned.referenced.line() as u32,
            col: spanned.referenced.column() as u32,
        };
        Ok(Node::new(loc, spanned.value))
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_none<E>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<NodeValue, E> {
        Ok(i64::try_from(v)
            .map(NodeValue::Int)
            .unwrap_or(NodeValue::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<NodeValue, E> {
        Ok(NodeValue::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(NodeValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_nodes_keep_their_locations() {
        let text = "version: 1\nsteps:\n  - id: a\n    needs: [b, c]\n";
        let node: Node = serde_saphyr::from_str(text).unwrap();
        let steps = node.get("steps").unwrap();
        let NodeValue::Seq(items) = &steps.value else {
            panic!("{steps:?}")
        };
        let needs = items[0].get("needs").unwrap();
        let NodeValue::Seq(n) = &needs.value else {
            panic!()
        };
        assert_eq!(n[1].loc, Loc { line: 4, col: 16 });
        assert_eq!(items[0].get("id").unwrap().loc, Loc { line: 3, col: 9 });
        let NodeValue::Map(entries) = &node.value else {
            panic!()
        };
        assert_eq!(entries[1].0.loc, Loc { line: 2, col: 1 });
    }
}
