//! Rendering `{{ }}` templates and evaluating `when`/`until` expressions.
//!
//! Two minijinja environments share one set of filters and differ only in
//! how a value is written into text:
//! - `plain` writes values as text (URLs, argv elements, file paths), with
//!   scalars as a shell user expects: `3`, `true`, `false`, empty for none;
//! - `script` writes each value as a sentinel and collects the value. The
//!   rendered script is then lexed ([`shell_spots`]) and each sentinel
//!   replaced by the variable reference bash reads as data at that spot
//!   (`"${LIFEBOAT_V1}"` in a plain word, `${LIFEBOAT_V1}` inside double
//!   quotes or a heredoc), or, for a human, by the value quoted the way bash
//!   would need it there. A shell script therefore never contains template
//!   data, only references to the environment; values bash would evaluate as
//!   arithmetic must be integers, and spots where bash expands nothing
//!   (single quotes, quoted heredocs) are refused.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use minijinja::value::{Object, ObjectRepr};
use minijinja::{Environment, UndefinedBehavior, Value};

mod shell_spots;

pub use shell_spots::{Placement, ShellSpot};

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
    static SCRIPT_VALUES: RefCell<Vec<ScriptValue>> = const { RefCell::new(Vec::new()) };
    /// While [`Templates::render_value_and_values`] runs: the text of every
    /// `{{ }}` value written into a parameter.
    static PLAIN_VALUES: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

pub struct Templates {
    plain: Environment<'static>,
    script: Environment<'static>,
}

/// One `{{ }}` value of a script, as collected while rendering.
struct ScriptValue {
    text: String,
    /// A dry-run placeholder: its text comes from the runbook, not from data.
    placeholder: bool,
}

/// A script rendered with sentinels, before they are replaced.
struct ScriptRender {
    text: String,
    values: Vec<ScriptValue>,
    spots: std::collections::BTreeMap<usize, Placement>,
}

/// A shell problem of a script field's template (see
/// [`Templates::script_problems`]): a byte range within the template text.
#[derive(Debug, Clone)]
pub struct ScriptProblem {
    pub offset: usize,
    pub len: usize,
    /// An error (the step can never run) rather than a warning.
    pub error: bool,
    pub message: String,
    /// The expression inside the `{{ }}`.
    pub expression: String,
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
        let mut plain = base_env();
        plain.set_formatter(|out, _state, value| {
            let text = value_text(value);
            collect_plain_value(&text);
            out.write_str(&text).map_err(write_failure)
        });
        let mut script = base_env();
        script.set_formatter(|out, _state, value| {
            let value = ScriptValue {
                text: value_text(value),
                placeholder: is_placeholder(value),
            };
            let n = SCRIPT_VALUES.with(|v| {
                let mut v = v.borrow_mut();
                v.push(value);
                v.len()
            });
            out.write_str(&shell_spots::sentinel(n))
                .map_err(write_failure)
        });
        Self { plain, script }
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

    /// [`Templates::render_value`], also returning the text of every
    /// template value that went into the result (a whole-string expression,
    /// or each `{{ }}` inside a longer string), so that a piece of a secret
    /// (`{{ inputs.token[:12] }}` inside a URL) can be registered as a
    /// secret, while literal text of the runbook never is.
    pub fn render_value_and_values(
        &self,
        value: &serde_json::Value,
        ctx: &Value,
    ) -> Result<(serde_json::Value, Vec<String>), String> {
        PLAIN_VALUES.with(|v| *v.borrow_mut() = Some(Vec::new()));
        let rendered = self.render_at(value, ctx, "");
        let values = PLAIN_VALUES
            .with(|v| v.borrow_mut().take())
            .unwrap_or_default();
        Ok((rendered?, values))
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
                collect_plain_value(text);
                return Ok(serde_json::Value::String(text.to_string()));
            }
            if is_placeholder(&value) {
                return Ok(serde_json::Value::String(value.to_string()));
            }
            let json = serde_json::to_value(&value).map_err(|e| format!("`{expr}`: {e}"))?;
            collect_plain_strings(&json);
            return Ok(json);
        }
        self.plain
            .render_str(s, ctx)
            .map(serde_json::Value::String)
            .map_err(|e| describe_error(&e))
    }

    /// Renders a script: each template value becomes a reference to the
    /// environment variable that holds it (`"${LIFEBOAT_Vn}"`, or
    /// `${LIFEBOAT_Vn}` where double quotes or a heredoc already surround
    /// it), returned with those variables. A value bash would evaluate as
    /// arithmetic must be an integer; a value where bash expands nothing is
    /// refused. Errors name `field`, the line and the expression.
    pub fn render_script(
        &self,
        field: &str,
        s: &str,
        ctx: &Value,
    ) -> Result<(String, Vec<(String, String)>), String> {
        let r = self.render_sentinels(field, s, ctx)?;
        let text = shell_spots::replace_sentinels(&r.text, |n, at| {
            let (spot, value) = spot_of(&r, field, s, n, at)?;
            Ok(match spot {
                ShellSpot::Word => format!("\"${{LIFEBOAT_V{n}}}\""),
                ShellSpot::Arithmetic(construct) => {
                    if !value.placeholder && !is_integer(&value.text) {
                        return Err(format!(
                            "{}: {} is evaluated as bash arithmetic (`{construct}`), so its value must be an integer, and it is not; bash would run any command in a value such as `a[$(cmd)]`; check the value before this step, e.g. with an `assert` step",
                            where_in(field, &r.text, at),
                            expression_name(s, n),
                        ));
                    }
                    format!("${{LIFEBOAT_V{n}}}")
                }
                _ => format!("${{LIFEBOAT_V{n}}}"),
            })
        })?;
        let env = r
            .values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("LIFEBOAT_V{}", i + 1), v.text))
            .collect();
        Ok((text, env))
    }

    /// Renders a script for a human to read: what bash receives once it
    /// has expanded each value, with the value quoted the way the spot
    /// needs (shell-quoted in a plain word, escaped for double quotes inside
    /// `"…"`, as is in arithmetic). Secrets are redacted in each value before
    /// it is quoted, since a quoted secret (`'pa'\''ss'`) no longer matches
    /// the redactor.
    pub fn render_display(
        &self,
        field: &str,
        s: &str,
        ctx: &Value,
        redactor: &lifeboat_steps::Redactor,
    ) -> Result<String, String> {
        let r = self.render_sentinels(field, s, ctx)?;
        shell_spots::replace_sentinels(&r.text, |n, at| {
            let (spot, value) = spot_of(&r, field, s, n, at)?;
            let text = redactor.redact(&value.text);
            let mut shown = match spot {
                ShellSpot::Word => lifeboat_steps::shell::shell_quote(&text),
                ShellSpot::DoubleQuoted => escape_for(&text, "\\\"$`"),
                ShellSpot::HeredocBody => escape_for(&text, "\\$`"),
                _ => text,
            };
            // Bash removes one level of these backslashes per backquote.
            for _ in 0..r.spots.get(&n).map_or(0, |p| p.backquotes) {
                shown = escape_for(&shown, "\\`$");
            }
            Ok(shown)
        })
    }

    /// Renders a script field with a sentinel for each value, and finds
    /// where each one lands.
    fn render_sentinels(&self, field: &str, s: &str, ctx: &Value) -> Result<ScriptRender, String> {
        if s.contains('\0') {
            return Err(format!(
                "`{field}` contains a NUL byte, which bash cannot receive; remove it"
            ));
        }
        SCRIPT_VALUES.with(|v| v.borrow_mut().clear());
        let rendered = self.script.render_str(s, ctx);
        let values = SCRIPT_VALUES.with(|v| std::mem::take(&mut *v.borrow_mut()));
        let text = rendered.map_err(|e| describe_error(&e))?;
        if values.iter().any(|v| v.text.contains('\0')) {
            return Err(format!(
                "`{field}`: a `{{% set %}}` or `{{% filter %}}` block captures a template value, which a script cannot take; write the value with `{{{{ }}}}` directly"
            ));
        }
        let spots = shell_spots::shell_spots(&text);
        Ok(ScriptRender {
            text,
            values,
            spots,
        })
    }

    /// The shell problems of a script field's template, found without
    /// rendering it: values where bash expands nothing (errors) and values
    /// bash evaluates as arithmetic (warnings).
    pub fn script_problems(&self, s: &str) -> Vec<ScriptProblem> {
        if s.contains('\0') {
            // Refused when rendered; nothing to place.
            return Vec::new();
        }
        // Each `{{ }}` becomes a sentinel; `{% %}` and `{# #}` tags vanish
        // (what they do to the text is known only once rendered, where
        // `render_script` places the values again).
        let mut text = String::with_capacity(s.len());
        let mut places = Vec::new();
        let mut rest = s;
        let mut consumed = 0;
        while let Some(start) = ["{{", "{%", "{#"]
            .iter()
            .filter_map(|open| rest.find(open))
            .min()
        {
            let close = match &rest[start..start + 2] {
                "{{" => "}}",
                "{%" => "%}",
                _ => "#}",
            };
            let Some(len) = rest[start..].find(close).map(|e| e + 2) else {
                break;
            };
            text.push_str(&rest[..start]);
            if close == "}}" {
                places.push((consumed + start, len));
                text.push_str(&shell_spots::sentinel(places.len()));
            }
            consumed += start + len;
            rest = &rest[start + len..];
        }
        text.push_str(rest);
        let spots = shell_spots::shell_spots(&text);
        let mut problems = Vec::new();
        for (n, Placement { spot, .. }) in spots {
            let Some(&(offset, len)) = places.get(n - 1) else {
                continue;
            };
            let shown = s[offset..offset + len].to_string();
            let expression = shown[2..shown.len() - 2]
                .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace())
                .to_string();
            if let Some(why) = spot.refusal() {
                problems.push(ScriptProblem {
                    offset,
                    len,
                    error: true,
                    message: format!("`{shown}` {why}"),
                    expression,
                });
            } else if let ShellSpot::Arithmetic(construct) = spot {
                problems.push(ScriptProblem {
                    offset,
                    len,
                    error: false,
                    message: format!("`{shown}` is evaluated as bash arithmetic (`{construct}`)"),
                    expression,
                });
            }
        }
        problems
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
        let refs = filter_names(tmpl.undeclared_variables(true));
        // minijinja stops a path at a subscript: `outputs["stdot"]` reads
        // `outputs`. Read as an attribute, the name is checked too.
        if let Some(dotted) = subscripts_as_attributes(s, false) {
            if let Ok(t) = self.plain.template_from_str(&dotted) {
                return Ok(filter_names(t.undeclared_variables(true)));
            }
        }
        Ok(refs)
    }

    /// The variables an expression reads, or its syntax error.
    pub fn expression_references(&self, s: &str) -> Result<BTreeSet<String>, TemplateProblem> {
        let expr = self.compile_expression(s).map_err(|e| problem(&e, s))?;
        let refs = filter_names(expr.undeclared_variables(true));
        if let Some(dotted) = subscripts_as_attributes(s, true) {
            if let Ok(e) = self.compile_expression(&dotted) {
                return Ok(filter_names(e.undeclared_variables(true)));
            }
        }
        Ok(refs)
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

/// `s` with every subscript by a literal name (`a["b"]`, `a['b']`) written
/// as an attribute (`a.b`), so that reference extraction sees the whole
/// path; `None` when there is none. Only code is rewritten: the whole of an
/// expression, the inside of a template's `{{ }}` and `{% %}` blocks,
/// outside string literals. A subscript by a number or a variable, or by a
/// name that is not an identifier (`a["x-y"]`), is left as it is.
fn subscripts_as_attributes(s: &str, expression: bool) -> Option<String> {
    if !s.contains('[') {
        return None;
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut code, mut quote, mut i, mut changed) = (expression, None::<u8>, 0, false);
    let mut copied = 0;
    while i < b.len() {
        let c = b[i];
        if !code {
            if c == b'{' && matches!(b.get(i + 1), Some(b'{' | b'%')) {
                code = true;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match quote {
            Some(_) if c == b'\\' => i += 2,
            Some(q) if c == q => {
                quote = None;
                i += 1;
            }
            Some(_) => i += 1,
            None if c == b'\'' || c == b'"' => {
                quote = Some(c);
                i += 1;
            }
            None if !expression && (c == b'}' || c == b'%') && b.get(i + 1) == Some(&b'}') => {
                code = false;
                i += 2;
            }
            None if c == b'['
                && i > 0
                && (b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'_' | b')' | b']')) =>
            {
                let q = b.get(i + 1).copied().filter(|q| *q == b'"' || *q == b'\'');
                let name = q.and_then(|q| {
                    let rest = &s[i + 2..];
                    let end = rest.find(q as char)?;
                    let name = &rest[..end];
                    let ident = name
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    (ident && rest.as_bytes().get(end + 1) == Some(&b']')).then_some(name)
                });
                match name {
                    Some(name) => {
                        out.push_str(&s[copied..i]);
                        out.push('.');
                        out.push_str(name);
                        i += name.len() + 4;
                        copied = i;
                        changed = true;
                    }
                    None => i += 1,
                }
            }
            None => i += 1,
        }
    }
    out.push_str(&s[copied.min(s.len())..]);
    changed.then_some(out)
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

/// Notes a template value's text while [`Templates::render_value_and_values`] runs.
fn collect_plain_value(text: &str) {
    PLAIN_VALUES.with(|v| {
        if let Some(values) = v.borrow_mut().as_mut() {
            values.push(text.to_string());
        }
    });
}

fn collect_plain_strings(value: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) => collect_plain_value(s),
        serde_json::Value::Array(items) => items.iter().for_each(collect_plain_strings),
        serde_json::Value::Object(map) => map.values().for_each(collect_plain_strings),
        _ => {}
    }
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

/// How a value is written into text: strings as-is, numbers as digits,
/// booleans as `true`/`false`, none as nothing, lists and maps as JSON.
fn value_text(value: &Value) -> String {
    use minijinja::value::ValueKind;
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
        ValueKind::Bool => value.is_true().to_string(),
        ValueKind::Seq | ValueKind::Map => {
            serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
        }
        _ => value.to_string(),
    }
}

fn write_failure(e: std::fmt::Error) -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
}

/// Digits with an optional leading minus: what bash arithmetic reads as a
/// number and nothing else.
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `text` with a backslash before each of `special`.
fn escape_for(text: &str, special: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The spot of value `n` and the value, or the error for a value bash
/// cannot expand there.
fn spot_of<'r>(
    r: &'r ScriptRender,
    field: &str,
    source: &str,
    n: usize,
    at: usize,
) -> Result<(ShellSpot, &'r ScriptValue), String> {
    let value = n.checked_sub(1).and_then(|i| r.values.get(i));
    let (Some(&Placement { spot, .. }), Some(value)) = (r.spots.get(&n), value) else {
        return Err(format!(
            "{}: cannot tell how bash reads {}; simplify the quoting around it",
            where_in(field, &r.text, at),
            expression_name(source, n)
        ));
    };
    if let Some(why) = spot.refusal() {
        return Err(format!(
            "{}: {} {why}",
            where_in(field, &r.text, at),
            expression_name(source, n)
        ));
    }
    Ok((spot, value))
}

/// "`script` line 3", for a byte offset into the rendered script.
fn where_in(field: &str, rendered: &str, at: usize) -> String {
    let line = rendered[..at.min(rendered.len())].matches('\n').count() + 1;
    format!("`{field}` line {line}")
}

/// How a message names value `n` of a template: its source (`{{ x }}`)
/// when the template has no blocks (so the n-th value is the n-th `{{ }}`),
/// else "the template value".
fn expression_name(source: &str, n: usize) -> String {
    if !source.contains("{%") {
        let mut rest = source;
        let mut i = 0;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}").map(|e| e + 2) else {
                break;
            };
            i += 1;
            if i == n {
                return format!("`{}`", &rest[start..start + len]);
            }
            rest = &rest[start + len..];
        }
    }
    "a template value".to_string()
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
    use serde_json::json;

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

    fn script(
        t: &Templates,
        src: &str,
        ctx: &Value,
    ) -> Result<(String, Vec<(String, String)>), String> {
        t.render_script("script", src, ctx)
    }

    fn shown(t: &Templates, src: &str, ctx: &Value) -> String {
        t.render_display("script", src, ctx, &lifeboat_steps::Redactor::new())
            .unwrap()
    }

    #[test]
    fn scripts_reference_values_through_the_environment() {
        let t = Templates::new();
        let ctx = context! { inputs => context! { path => "; rm -rf /" } };
        let (text, env) = script(&t, "cat {{ inputs.path }} | wc", &ctx).unwrap();
        assert_eq!(text, "cat \"${LIFEBOAT_V1}\" | wc");
        assert_eq!(
            env,
            vec![("LIFEBOAT_V1".to_string(), "; rm -rf /".to_string())]
        );
        assert_eq!(shown(&t, "cat {{ inputs.path }}", &ctx), "cat '; rm -rf /'");
    }

    #[test]
    fn each_value_is_written_for_the_quotes_around_it() {
        let t = Templates::new();
        let ctx =
            context! { inputs => context! { name => "old.tmp /d/*", n => 3, q => "a\"$b`c\\" } };
        // (template, what bash gets, what a human is shown)
        let cases = [
            (
                "rm -f \"{{ inputs.name }}\"",
                "rm -f \"${LIFEBOAT_V1}\"",
                "rm -f \"old.tmp /d/*\"",
            ),
            (
                "rm -f {{ inputs.name }}",
                "rm -f \"${LIFEBOAT_V1}\"",
                "rm -f 'old.tmp /d/*'",
            ),
            (
                "echo \"q={{ inputs.q }}\"",
                "echo \"q=${LIFEBOAT_V1}\"",
                "echo \"q=a\\\"\\$b\\`c\\\\\"",
            ),
            (
                "cat <<EOF\nname: {{ inputs.q }}\nEOF",
                "cat <<EOF\nname: ${LIFEBOAT_V1}\nEOF",
                "cat <<EOF\nname: a\"\\$b\\`c\\\\\nEOF",
            ),
            (
                "(( {{ inputs.n }} > 2 )) && echo \"$(( {{ inputs.n }} + 1 ))\"",
                "(( ${LIFEBOAT_V1} > 2 )) && echo \"$(( ${LIFEBOAT_V2} + 1 ))\"",
                "(( 3 > 2 )) && echo \"$(( 3 + 1 ))\"",
            ),
        ];
        for (src, bash, human) in cases {
            assert_eq!(script(&t, src, &ctx).unwrap().0, bash, "{src}");
            assert_eq!(shown(&t, src, &ctx), human, "{src}");
        }
    }

    /// Runs `script` with bash in `dir`, with `env`, and returns stdout.
    fn bash(dir: &std::path::Path, script: &str, env: &[(String, String)]) -> String {
        let out = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "{script}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn hostile_values_stay_data_and_the_display_runs_the_same() {
        let t = Templates::new();
        let value = "a  b * $(touch pwned) `touch pwned` ; touch pwned \" ' \\ $HOME";
        let ctx = context! { inputs => context! { v => value } };
        let scripts = [
            "printf '[%s]' {{ inputs.v }}",
            "printf '[%s]' \"{{ inputs.v }}\"",
            "printf '[%s]' \"x{{ inputs.v }}y\" z{{ inputs.v }}",
            "cat <<EOF\n{{ inputs.v }}\nEOF",
            "cat <<-EOF\n\t<{{ inputs.v }}>\n\tEOF",
            "printf '[%s]' \"$(printf %s {{ inputs.v }})\" `printf %s {{ inputs.v }}`",
            // (Not `"${u:-{{ v }}}"`: bash matches a lone `'` there, so no
            // display of such a value reads the same; bash itself gets it right.)
            "printf '[%s]' ${u:-{{ inputs.v }}}",
            "x={{ inputs.v }}; printf '[%s]' \"$x\"",
            "cat <<<{{ inputs.v }}",
        ];
        for src in scripts {
            let dir = tempfile::tempdir().unwrap();
            let (text, env) = script(&t, src, &ctx).unwrap();
            let ran = bash(dir.path(), &text, &env);
            assert!(ran.contains(value), "{src}: {ran}");
            let human = bash(dir.path(), &shown(&t, src, &ctx), &[]);
            assert_eq!(ran, human, "{src}: the display runs differently");
            assert!(!dir.path().join("pwned").exists(), "{src} ran the value");
        }
    }

    #[test]
    fn arithmetic_takes_only_integers() {
        let t = Templates::new();
        let src = "if [[ {{ steps.status.outputs.json.progress }} -lt 5 ]]; then echo low; fi";
        for good in [json!(4), json!("-12"), json!("0")] {
            let ctx = context! { steps => context! { status => context! { outputs => context! { json => context! { progress => Value::from_serialize(&good) } } } } };
            assert!(script(&t, src, &ctx).is_ok(), "{good}");
        }
        for bad in [
            json!("PWD[$(id > pwned)0]"),
            json!("1+1"),
            json!(""),
            json!(1.5),
            json!(true),
        ] {
            let ctx = context! { steps => context! { status => context! { outputs => context! { json => context! { progress => Value::from_serialize(&bad) } } } } };
            let err = script(&t, src, &ctx).unwrap_err();
            assert_eq!(
                err,
                "`script` line 1: `{{ steps.status.outputs.json.progress }}` is evaluated as bash arithmetic (`[[ … -lt … ]]`), so its value must be an integer, and it is not; bash would run any command in a value such as `a[$(cmd)]`; check the value before this step, e.g. with an `assert` step",
                "{bad}"
            );
            assert!(!err.contains("pwned"));
        }
    }

    #[test]
    fn values_bash_cannot_expand_are_refused() {
        let t = Templates::new();
        let ctx = context! { inputs => context! { name => "x" } };
        let err = script(&t, "echo ok\necho '{{ inputs.name }}'", &ctx).unwrap_err();
        assert!(
            err.starts_with("`script` line 2: `{{ inputs.name }}` sits inside single quotes"),
            "{err}"
        );
        let err = script(&t, "cat <<'EOF'\n{{ inputs.name }}\nEOF", &ctx).unwrap_err();
        assert!(err.contains("heredoc whose delimiter is quoted"), "{err}");
    }

    #[test]
    fn scalars_render_as_a_shell_user_expects() {
        let t = Templates::new();
        let ctx =
            context! { inputs => context! { nodes => 3, force => true, off => false, none => () } };
        let out = t
            .render_value(
                &json!("n={{ inputs.nodes }} f={{ inputs.force }} o={{ inputs.off }} z={{ inputs.none }}"),
                &ctx,
            )
            .unwrap();
        assert_eq!(out, json!("n=3 f=true o=false z="));
        let (_, env) = script(
            &t,
            "if {{ inputs.force }}; then echo {{ inputs.off }}; fi",
            &ctx,
        )
        .unwrap();
        assert_eq!(env[0].1, "true");
        assert_eq!(env[1].1, "false");
        assert_eq!(
            shown(&t, "if {{ inputs.force }}; then :; fi", &ctx),
            "if true; then :; fi"
        );
    }

    #[test]
    fn validation_finds_shell_problems_in_the_source() {
        let t = Templates::new();
        let problems = t.script_problems(
            "echo \"{{ a }}\"\n[[ {{ b }} -gt 1 ]]\necho '{{ c }}' {% if x %}{{ d }}{% endif %}",
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            !problems[0].error
                && problems[0]
                    .message
                    .starts_with("`{{ b }}` is evaluated as bash arithmetic")
        );
        assert!(
            problems[1].error
                && problems[1]
                    .message
                    .starts_with("`{{ c }}` sits inside single quotes")
        );
        let src = "echo \"{{ a }}\"\n[[ {{ b }} -gt 1 ]]";
        assert_eq!(
            &src[problems[0].offset..problems[0].offset + problems[0].len],
            "{{ b }}"
        );
    }

    #[test]
    fn display_redacts_before_quoting() {
        let t = Templates::new();
        let redactor = lifeboat_steps::Redactor::new();
        redactor.add("pa'ss-word");
        let ctx = context! { inputs => context! { key => "pa'ss-word" } };
        let shown = t
            .render_display(
                "script",
                "login {{ inputs.key }} \"{{ inputs.key }}\"",
                &ctx,
                &redactor,
            )
            .unwrap();
        assert_eq!(shown, "login '«redacted»' \"«redacted»\"");
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
    fn subscripts_by_a_literal_name_are_read_as_attributes() {
        let t = Templates::new();
        let refs = t
            .template_references(
                r#"a['b'] {{ steps.a.outputs["stdot"] }} {{ steps['x'].outputs.json[0] }} {{ outputs["a-b"] }} {{ "s['q']" }}"#,
            )
            .unwrap();
        let expect: BTreeSet<String> = ["steps.a.outputs.stdot", "steps.x.outputs.json", "outputs"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(refs, expect);
        let refs = t
            .expression_references(r#"outputs['exit_cod'] == 0 and x in ["a"]"#)
            .unwrap();
        assert!(refs.contains("outputs.exit_cod"), "{refs:?}");
        assert_eq!(subscripts_as_attributes("{{ a[0] }} b['c']", false), None);
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
