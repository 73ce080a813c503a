//! Rendering `{{ }}` templates and evaluating `when`/`until` expressions.
//!
//! Three minijinja environments share one set of filters and differ only in
//! how a value is written into text:
//! - `plain` writes values as text (URLs, argv elements, file paths);
//! - `script` writes each value as a quoted variable reference
//!   (`"${LIFEBOAT_V1}"`) and collects the value, so a shell script never
//!   contains template data, only references to the environment;
//! - `display` writes values shell-quoted, for showing a script to a human.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use minijinja::value::{Object, ObjectRepr};
use minijinja::{Environment, UndefinedBehavior, Value};

/// Names a template may read at the top level.
pub const CONTEXT_NAMES: &[&str] = &["inputs", "steps", "run", "outputs"];

/// Functions available to templates.
const FUNCTIONS: &[&str] = &[
    "now",
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
];

thread_local! {
    /// Values collected while rendering a script field (see [`Templates::render_script`]).
    static SCRIPT_VALUES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// The redactor applied to each value before it is quoted for display
    /// (see [`Templates::render_display`]).
    static DISPLAY_REDACTOR: RefCell<Option<lifeboat_steps::Redactor>> = const { RefCell::new(None) };
}

pub struct Templates {
    plain: Environment<'static>,
    script: Environment<'static>,
    display: Environment<'static>,
}

/// A template problem found at validation time: a byte range within the
/// template text, and a message.
#[derive(Debug, Clone)]
pub struct TemplateProblem {
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let plain = base_env();
        let mut script = base_env();
        script.set_formatter(|out, _state, value| {
            let text = value_text(value);
            let n = SCRIPT_VALUES.with(|v| {
                let mut v = v.borrow_mut();
                v.push(text);
                v.len()
            });
            out.write_str(&format!("\"${{LIFEBOAT_V{n}}}\""))
                .map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
                })
        });
        let mut display = base_env();
        display.set_formatter(|out, _state, value| {
            let text = DISPLAY_REDACTOR.with(|r| match &*r.borrow() {
                Some(redactor) => redactor.redact(&value_text(value)),
                None => value_text(value),
            });
            out.write_str(&lifeboat_steps::shell::shell_quote(&text))
                .map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
                })
        });
        Self {
            plain,
            script,
            display,
        }
    }

    /// Renders every string inside a JSON value. A string that is exactly
    /// one `{{ expression }}` keeps the expression's type, so
    /// `keys: "{{ steps.init.outputs.keys }}"` yields a list.
    pub fn render_value(
        &self,
        value: &serde_json::Value,
        ctx: &Value,
    ) -> Result<serde_json::Value, String> {
        self.render_at(value, ctx, "")
    }

    /// Renders with the path of each value (`url`, `run[2]`), so an error
    /// says which field and which template failed.
    fn render_at(
        &self,
        value: &serde_json::Value,
        ctx: &Value,
        path: &str,
    ) -> Result<serde_json::Value, String> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(s) => self.render_string(s, ctx).map_err(|e| {
                let shown: String = s.chars().take(120).collect();
                if path.is_empty() {
                    format!("`{shown}`: {e}")
                } else {
                    format!("`{path}` (`{shown}`): {e}")
                }
            })?,
            J::Array(items) => J::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.render_at(v, ctx, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(k, v)| {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        Ok((k.clone(), self.render_at(v, ctx, &p)?))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    fn render_string(&self, s: &str, ctx: &Value) -> Result<serde_json::Value, String> {
        if !s.contains("{{") && !s.contains("{%") {
            return Ok(serde_json::Value::String(s.to_string()));
        }
        if let Some(expr) = single_expression(s) {
            let value = self
                .compile_expression(expr)
                .and_then(|e| e.eval(ctx))
                .map_err(|e| describe_error(&e))?;
            if value.is_undefined() {
                return Err(format!("`{expr}` is undefined"));
            }
            if let Some(text) = value.as_str() {
                return Ok(serde_json::Value::String(text.to_string()));
            }
            if is_placeholder(&value) {
                return Ok(serde_json::Value::String(value.to_string()));
            }
            return serde_json::to_value(&value).map_err(|e| format!("`{expr}`: {e}"));
        }
        self.plain
            .render_str(s, ctx)
            .map(serde_json::Value::String)
            .map_err(|e| describe_error(&e))
    }

    /// Renders a script: template values become `"${LIFEBOAT_Vn}"` and are
    /// returned as environment variables.
    pub fn render_script(
        &self,
        s: &str,
        ctx: &Value,
    ) -> Result<(String, Vec<(String, String)>), String> {
        SCRIPT_VALUES.with(|v| v.borrow_mut().clear());
        let text = self
            .script
            .render_str(s, ctx)
            .map_err(|e| describe_error(&e))?;
        let values = SCRIPT_VALUES.with(|v| std::mem::take(&mut *v.borrow_mut()));
        let env = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("LIFEBOAT_V{}", i + 1), v))
            .collect();
        Ok((text, env))
    }

    /// Renders a script for a human to read, values shell-quoted inline.
    /// Secrets are redacted in each value before it is quoted, since a
    /// quoted secret (`'pa'\''ss'`) no longer matches the redactor.
    pub fn render_display(
        &self,
        s: &str,
        ctx: &Value,
        redactor: &lifeboat_steps::Redactor,
    ) -> Result<String, String> {
        DISPLAY_REDACTOR.with(|r| *r.borrow_mut() = Some(redactor.clone()));
        let out = self
            .display
            .render_str(s, ctx)
            .map_err(|e| describe_error(&e));
        DISPLAY_REDACTOR.with(|r| *r.borrow_mut() = None);
        out
    }

    /// Evaluates a `when`/`until` expression to a boolean.
    pub fn eval_bool(&self, expr: &str, ctx: &Value) -> Result<bool, String> {
        let value = self
            .compile_expression(expr)
            .and_then(|e| e.eval(ctx))
            .map_err(|e| describe_error(&e))?;
        Ok(value.is_true())
    }

    /// The variables a template reads, as dotted paths
    /// (`steps.health.outputs.status`), or its syntax error.
    pub fn template_references(&self, s: &str) -> Result<BTreeSet<String>, TemplateProblem> {
        if let Some(refs) = simple_references(s) {
            return Ok(refs);
        }
        let tmpl = self
            .plain
            .template_from_str(s)
            .map_err(|e| problem(&e, s))?;
        Ok(filter_names(tmpl.undeclared_variables(true)))
    }

    /// The variables an expression reads, or its syntax error.
    pub fn expression_references(&self, s: &str) -> Result<BTreeSet<String>, TemplateProblem> {
        let expr = self.compile_expression(s).map_err(|e| problem(&e, s))?;
        Ok(filter_names(expr.undeclared_variables(true)))
    }
}

impl Templates {
    /// Compiles an expression with the plain environment. minijinja 2.24
    /// panics ("empty lexer stack") when an expression has `}}` outside
    /// strings and brackets with more text after it, so such a `}}` is
    /// refused first (found by `tests/fuzz_runbook_reader.rs`).
    fn compile_expression<'s>(
        &'s self,
        expr: &'s str,
    ) -> Result<minijinja::Expression<'s, 's>, minijinja::Error> {
        if closes_outside_brackets(expr) {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::SyntaxError,
                "`}}` ends a `{{ }}` block that an expression does not have; write the expression without `{{ }}`",
            ));
        }
        self.plain.compile_expression(expr)
    }
}

/// Whether `expr` has `}}` outside string literals at bracket depth 0.
fn closes_outside_brackets(expr: &str) -> bool {
    let b = expr.as_bytes();
    let (mut depth, mut quote, mut i) = (0i32, None::<u8>, 0);
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(_) if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b'}' if depth <= 0 && b.get(i + 1) == Some(&b'}') => return true,
                b')' | b']' | b'}' => depth -= 1,
                _ => {}
            },
        }
        i += 1;
    }
    false
}

fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_function("now", now);
    env.add_filter("basename", |s: String| {
        s.rsplit('/').next().unwrap_or_default().to_string()
    });
    env.add_filter("dirname", |s: String| match s.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => s[..i].to_string(),
        None => ".".to_string(),
    });
    env
}

/// `now()` → RFC 3339 UTC; `now("%Y-%m-%d")` → formatted with strftime.
fn now(format: Option<String>) -> Result<String, minijinja::Error> {
    let ts = jiff::Timestamp::now();
    Ok(match format {
        None => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(f) => ts.strftime(&f).to_string(),
    })
}

fn filter_names(names: std::collections::HashSet<String>) -> BTreeSet<String> {
    names
        .into_iter()
        .filter(|n| !FUNCTIONS.contains(&n.split('.').next().unwrap_or("")))
        .collect()
}

/// The references of a template made only of `{{ dotted.path }}`
/// expressions, without parsing it: most runbook templates look like this,
/// and validating large runbooks must stay fast. `None` means "ask minijinja".
fn simple_references(s: &str) -> Option<BTreeSet<String>> {
    if s.contains("{%") || s.contains("{#") {
        return None;
    }
    let mut refs = BTreeSet::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let inner = after[..end].trim();
        let simple = !inner.is_empty()
            && inner.split('.').all(|part| {
                let mut chars = part.chars();
                matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !simple {
            return None;
        }
        refs.insert(inner.to_string());
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return None;
    }
    Some(refs)
}

/// The inner expression when `s` is exactly `{{ expr }}`.
fn single_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

/// How a value is written into text: strings as-is, everything else as JSON.
fn value_text(value: &Value) -> String {
    if let Some(s) = value.as_str() {
        return s.to_string();
    }
    if value.is_none() || value.is_undefined() {
        return String::new();
    }
    if is_placeholder(value) {
        return value.to_string();
    }
    match value.kind() {
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => {
            serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
        }
        _ => value.to_string(),
    }
}

fn describe_error(err: &minijinja::Error) -> String {
    let mut msg = match err.detail() {
        Some(detail) => detail.to_string(),
        None => err.kind().to_string(),
    };
    if err.kind() == minijinja::ErrorKind::UndefinedError && err.detail().is_none() {
        msg = "a value it reads is undefined".into();
    }
    msg
}

fn problem(err: &minijinja::Error, source: &str) -> TemplateProblem {
    let range = err.range().unwrap_or(0..source.len().min(1));
    TemplateProblem {
        offset: range.start,
        len: range.len().max(1),
        message: format!("template syntax error: {}", describe_error(err)),
    }
}

/// Stands in for the outputs of a step that a dry run simulated without
/// `dry_run.outputs`. Any attribute gives another placeholder; rendering one
/// writes a visible marker and records that a simulated value was used.
#[derive(Debug)]
pub struct Placeholder {
    pub path: String,
    pub touched: Arc<Mutex<BTreeSet<String>>>,
}

impl Object for Placeholder {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let path = format!("{}.{}", self.path, key);
        if let Ok(mut t) = self.touched.lock() {
            t.insert(path.clone());
        }
        Some(Value::from_object(Placeholder {
            path,
            touched: self.touched.clone(),
        }))
    }

    fn is_true(self: &Arc<Self>) -> bool {
        if let Ok(mut t) = self.touched.lock() {
            t.insert(self.path.clone());
        }
        true
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        Self: Sized + 'static,
    {
        if let Ok(mut t) = self.touched.lock() {
            t.insert(self.path.clone());
        }
        write!(f, "<dry-run:{}>", self.path)
    }
}

fn is_placeholder(value: &Value) -> bool {
    value.downcast_object_ref::<Placeholder>().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn a_stray_block_end_in_an_expression_is_an_error_not_a_panic() {
        let t = Templates::new();
        for expr in ["steps.a.outputs }} x", "a -}}.b", "a }}"] {
            let err = t.expression_references(expr).err().unwrap();
            assert!(
                err.message.contains("`}}` ends a `{{ }}` block"),
                "{}",
                err.message
            );
        }
        assert!(t.expression_references("{'a': {'b': 1}} == x").is_ok());
        assert!(t.expression_references("x == '}} '").is_ok());
    }

    #[test]
    fn single_expressions_keep_their_type() {
        let t = Templates::new();
        let ctx = context! { inputs => context! { keys => vec!["a", "b"], n => 3 } };
        let out = t
            .render_value(
                &serde_json::json!({"keys": "{{ inputs.keys }}", "url": "x/{{ inputs.n }}"}),
                &ctx,
            )
            .unwrap();
        assert_eq!(out, serde_json::json!({"keys": ["a", "b"], "url": "x/3"}));
    }

    #[test]
    fn scripts_reference_values_through_the_environment() {
        let t = Templates::new();
        let ctx = context! { inputs => context! { path => "; rm -rf /" } };
        let (script, env) = t.render_script("cat {{ inputs.path }} | wc", &ctx).unwrap();
        assert_eq!(script, "cat \"${LIFEBOAT_V1}\" | wc");
        assert_eq!(
            env,
            vec![("LIFEBOAT_V1".to_string(), "; rm -rf /".to_string())]
        );
        assert_eq!(
            t.render_display(
                "cat {{ inputs.path }}",
                &ctx,
                &lifeboat_steps::Redactor::new()
            )
            .unwrap(),
            "cat '; rm -rf /'"
        );
    }

    #[test]
    fn display_redacts_before_quoting() {
        let t = Templates::new();
        let redactor = lifeboat_steps::Redactor::new();
        redactor.add("pa'ss-word");
        let ctx = context! { inputs => context! { key => "pa'ss-word" } };
        let shown = t
            .render_display("login {{ inputs.key }}", &ctx, &redactor)
            .unwrap();
        assert_eq!(shown, "login '«redacted»'");
    }

    #[test]
    fn undefined_values_are_errors_not_empty_strings() {
        let t = Templates::new();
        let err = t.render_value(
            &serde_json::json!("{{ inputs.nope }}/x"),
            &context! { inputs => context! {} },
        );
        assert!(err.is_err());
    }

    #[test]
    fn references_are_dotted_paths() {
        let t = Templates::new();
        let refs = t
            .template_references(
                "{{ inputs.addr }}/{{ steps.health.outputs.json.sealed }} {{ now('%Y') }}",
            )
            .unwrap();
        assert!(refs.contains("inputs.addr"), "{refs:?}");
        assert!(
            refs.iter().any(|r| r.starts_with("steps.health.outputs")),
            "{refs:?}"
        );
        assert!(!refs.iter().any(|r| r.starts_with("now")));
        let err = t.template_references("{{ inputs.addr ").unwrap_err();
        assert!(err.message.contains("syntax"), "{err:?}");
    }

    #[test]
    fn the_fast_path_agrees_with_minijinja() {
        let t = Templates::new();
        for src in [
            "{{ inputs.a }}/x/{{ steps.b.outputs.c }}",
            "{{inputs.a}}",
            "plain {{ run.id }} text",
        ] {
            let fast = simple_references(src).expect("simple");
            let slow = filter_names(
                t.plain
                    .template_from_str(src)
                    .unwrap()
                    .undeclared_variables(true),
            );
            assert_eq!(fast, slow, "{src}");
        }
        for src in [
            "{{ a | upper }}",
            "{{ a }",
            "{% if a %}x{% endif %}",
            "{{ a[0] }}",
            "x }} y",
        ] {
            assert!(simple_references(src).is_none(), "{src}");
        }
    }

    #[test]
    fn placeholders_render_visibly() {
        let t = Templates::new();
        let touched = Arc::new(Mutex::new(BTreeSet::new()));
        let ph = Value::from_object(Placeholder {
            path: "steps.latest.outputs".into(),
            touched: touched.clone(),
        });
        let ctx = context! { steps => context! { latest => context! { outputs => ph } } };
        let out = t
            .render_value(
                &serde_json::json!("get {{ steps.latest.outputs.key }}"),
                &ctx,
            )
            .unwrap();
        assert_eq!(
            out,
            serde_json::json!("get <dry-run:steps.latest.outputs.key>")
        );
        assert!(touched.lock().unwrap().contains("steps.latest.outputs.key"));
    }
}
