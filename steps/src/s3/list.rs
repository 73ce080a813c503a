//! `s3.list`: the objects under a prefix, optionally filtered by a glob.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::connection::{self, Connection};
use super::key_pattern::{self, KeyPattern};
use super::object_list;
use crate::{
    params, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct S3List;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListParams {
    #[serde(default)]
    prefix: String,
    /// A glob over the key with `prefix` removed (see `key_pattern.rs`).
    #[serde(default)]
    pattern: Option<String>,
}

/// Checks a `pattern` field shared by `s3.list` and `s3.latest`.
pub(crate) fn check_pattern(with: &Value) -> Vec<ParamProblem> {
    match with.get("pattern") {
        Some(Value::String(p)) if !params::is_template(p) => match KeyPattern::new(p) {
            Ok(_) => Vec::new(),
            Err(e) => vec![ParamProblem::field("pattern", e)],
        },
        _ => Vec::new(),
    }
}

#[async_trait]
impl StepKind for S3List {
    fn name(&self) -> &'static str {
        "s3.list"
    }

    fn summary(&self) -> &'static str {
        "list the objects under a prefix, optionally matching a glob"
    }

    fn parameters(&self) -> Value {
        connection::schema::<ListParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = Connection::check(with);
        problems.extend(connection::check_own::<ListParams>(with));
        problems.extend(check_pattern(with));
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let bucket = with.get("bucket").and_then(Value::as_str).unwrap_or("?");
        let prefix = with.get("prefix").and_then(Value::as_str).unwrap_or("");
        let mut out = format!("list s3://{bucket}/{prefix}");
        if let Some(p) = with.get("pattern").and_then(Value::as_str) {
            out.push_str(&format!(" matching `{p}`"));
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::integer("count", "how many objects matched"),
            OutputDecl::list("objects", "`{key, size, modified}` per object"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (conn, p): (Connection, ListParams) = connection::parse(self.name(), ctx, with)?;
        let pattern = p
            .pattern
            .as_deref()
            .map(KeyPattern::new)
            .transpose()
            .map_err(StepError::new)?;
        let objects: Vec<Value> = object_list::list_all(&conn, ctx, &p.prefix)
            .await?
            .iter()
            .filter(|o| key_pattern::passes(pattern.as_ref(), &p.prefix, &o.key))
            .map(|o| o.to_json())
            .collect();
        Ok(StepOutput::new()
            .with("count", objects.len())
            .with("objects", objects))
    }
}
