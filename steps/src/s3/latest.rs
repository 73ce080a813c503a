//! `s3.latest`: the newest object under a prefix matching a glob,
//! optionally the newest one before a point in time (for point-in-time
//! recovery).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::connection::{self, Connection};
use super::key_pattern::{self, KeyPattern};
use super::list::check_pattern;
use super::object_head::ObjectHead;
use super::object_list::{self, rfc3339, ObjectInfo};
use crate::{
    params, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct S3Latest;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LatestParams {
    prefix: String,
    #[serde(default)]
    pattern: Option<String>,
    /// Only objects last modified strictly before this time (RFC 3339 or
    /// a bare date).
    #[serde(default)]
    before: Option<String>,
}

#[async_trait]
impl StepKind for S3Latest {
    fn name(&self) -> &'static str {
        "s3.latest"
    }

    fn summary(&self) -> &'static str {
        "find the newest object under a prefix matching a glob, optionally before a time"
    }

    fn parameters(&self) -> Value {
        connection::schema::<LatestParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = Connection::check(with);
        problems.extend(connection::check_own::<LatestParams>(with));
        problems.extend(check_pattern(with));
        if let Some(Value::String(b)) = with.get("before") {
            if !params::is_template(b) {
                if let Err(e) = object_list::parse_time(b) {
                    problems.push(ParamProblem::field("before", e));
                }
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let bucket = with.get("bucket").and_then(Value::as_str).unwrap_or("?");
        let prefix = with.get("prefix").and_then(Value::as_str).unwrap_or("?");
        let mut out = format!("find the newest object under s3://{bucket}/{prefix}");
        if let Some(p) = with.get("pattern").and_then(Value::as_str) {
            out.push_str(&format!(" matching `{p}`"));
        }
        if let Some(b) = with.get("before").and_then(Value::as_str) {
            out.push_str(&format!(" modified before {b}"));
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("key", "the newest matching key"),
            OutputDecl::integer("size", "size in bytes"),
            OutputDecl::string("modified", "last-modified time, RFC 3339"),
            OutputDecl::string("etag", "the object's ETag"),
            OutputDecl::string("sha256", "its recorded SHA-256"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (conn, p): (Connection, LatestParams) = connection::parse(self.name(), ctx, with)?;
        let pattern = p
            .pattern
            .as_deref()
            .map(KeyPattern::new)
            .transpose()
            .map_err(StepError::new)?;
        let before = p
            .before
            .as_deref()
            .map(object_list::parse_time)
            .transpose()
            .map_err(|e| StepError::new(format!("invalid `before`: {e}")))?;
        let all = object_list::list_all(&conn, ctx, &p.prefix).await?;
        let matching: Vec<&ObjectInfo> = all
            .iter()
            .filter(|o| key_pattern::passes(pattern.as_ref(), &p.prefix, &o.key))
            .collect();
        let candidates = matching
            .iter()
            .filter(|o| before.is_none_or(|b| o.modified.as_nanos() < b.as_nanos()));
        let Some(best) = candidates.max_by_key(|o| (o.modified.as_nanos(), o.key.clone())) else {
            return Err(StepError::new(nothing_matches(
                &conn,
                &p,
                pattern.as_ref(),
                &all,
                &matching,
            )));
        };
        // The listing has no metadata; the stored checksum needs a HEAD.
        let head = ObjectHead::require(&conn, ctx, &best.key, "read").await?;
        Ok(StepOutput::new()
            .with("key", best.key.clone())
            .with("size", best.size)
            .with("modified", rfc3339(&best.modified))
            .with("etag", head.etag.map(Value::from).unwrap_or(Value::Null))
            .with(
                "sha256",
                head.sha256.map(Value::from).unwrap_or(Value::Null),
            ))
    }
}

/// Says what was looked for and what is there instead.
fn nothing_matches(
    conn: &Connection,
    p: &LatestParams,
    pattern: Option<&KeyPattern>,
    all: &[ObjectInfo],
    matching: &[&ObjectInfo],
) -> String {
    let mut msg = format!("no object under `{}` in bucket `{}`", p.prefix, conn.bucket);
    if let Some(pat) = pattern {
        msg.push_str(&format!(" matches `{}`", pat.as_str()));
    } else {
        msg.push_str(" exists");
    }
    if let Some(b) = &p.before {
        msg.push_str(&format!(" before {b}"));
    }
    let newest = |objs: &mut dyn Iterator<Item = &ObjectInfo>| {
        objs.max_by_key(|o| (o.modified.as_nanos(), o.key.clone()))
            .map(|o| format!("`{}` (modified {})", o.key, rfc3339(&o.modified)))
    };
    if p.before.is_some() {
        if let Some(oldest) = matching
            .iter()
            .min_by_key(|o| (o.modified.as_nanos(), &o.key))
        {
            msg.push_str(&format!(
                "; {} object(s) match but all are newer, the oldest is `{}` (modified {})",
                matching.len(),
                oldest.key,
                rfc3339(&oldest.modified)
            ));
            return msg;
        }
    }
    match newest(&mut all.iter()) {
        Some(n) => msg.push_str(&format!(
            "; {} object(s) are under the prefix, the newest is {n}",
            all.len()
        )),
        None => msg.push_str("; the prefix is empty (check `prefix`, `bucket` and `endpoint`)"),
    }
    msg
}
