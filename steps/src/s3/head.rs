//! `s3.head`: whether an object exists, and its size, time and stored
//! SHA-256, optionally verified against a local file.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::connection::{self, Connection};
use super::file_digest;
use super::object_head::ObjectHead;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct S3Head;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct HeadParams {
    key: String,
    /// A local file whose SHA-256 must equal the object's stored one.
    #[serde(default)]
    verify_file: Option<String>,
}

#[async_trait]
impl StepKind for S3Head {
    fn name(&self) -> &'static str {
        "s3.head"
    }

    fn summary(&self) -> &'static str {
        "whether an object exists (`exists: false` when not), optionally verifying its stored SHA-256 against a file"
    }

    fn parameters(&self) -> Value {
        connection::schema::<HeadParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = Connection::check(with);
        problems.extend(connection::check_own::<HeadParams>(with));
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let bucket = with.get("bucket").and_then(Value::as_str).unwrap_or("?");
        let key = with.get("key").and_then(Value::as_str).unwrap_or("?");
        match with.get("verify_file").and_then(Value::as_str) {
            Some(f) => format!("head s3://{bucket}/{key} and verify its sha256 against {f}"),
            None => format!("head s3://{bucket}/{key}"),
        }
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("key", "the object key (null when missing)"),
            OutputDecl::integer("size", "size in bytes (null when missing)"),
            OutputDecl::string(
                "modified",
                "last-modified time, RFC 3339 (null when missing)",
            ),
            OutputDecl::string("etag", "the ETag (null when missing)"),
            OutputDecl::string("sha256", "the recorded SHA-256 (null when missing)"),
            OutputDecl::bool("exists", "whether the object exists"),
            OutputDecl::bool(
                "verified",
                "whether `verify_file` matched (null without it)",
            ),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (conn, p): (Connection, HeadParams) = connection::parse(self.name(), ctx, with)?;
        // A missing object is an answer (`exists: false`), unless there is a
        // file to verify against it: then it is a failure.
        let head = if p.verify_file.is_some() {
            ObjectHead::require(&conn, ctx, &p.key, "check").await?
        } else {
            match ObjectHead::fetch(&conn, ctx, &p.key, "check").await? {
                Some(head) => head,
                None => return Ok(missing(&p.key)),
            }
        };
        let mut out = StepOutput {
            outputs: head.outputs(),
            secret: Default::default(),
        }
        .with("exists", true)
        .with("verified", Value::Null);
        let Some(file) = p.verify_file else {
            return Ok(out);
        };
        let path = ctx.path(&file);
        let Some(stored) = &head.sha256 else {
            return Err(StepError::new(format!(
                "cannot verify `{}` against {}: the object has no `sha256` metadata (objects written by `s3.put` have it)",
                conn.url(&p.key),
                path.display()
            ))
            .with_outputs(out.outputs));
        };
        let (local, len) = file_digest::sha256_file(&path).await.map_err(|e| {
            StepError::new(format!("cannot read {} to verify it: {e}", path.display()))
        })?;
        if &local != stored {
            return Err(StepError::new(format!(
                "{} does not match `{}`: the file's sha256 is {local} ({len} bytes), the object's stored sha256 is {stored} ({} bytes)",
                path.display(),
                conn.url(&p.key),
                head.size
            ))
            .with_outputs(out.with("verified", false).outputs));
        }
        out = out.with("verified", true);
        Ok(out)
    }
}

/// The outputs for a key that is not there: the same names, `null` values.
fn missing(key: &str) -> StepOutput {
    ["size", "modified", "etag", "sha256", "verified"]
        .into_iter()
        .fold(StepOutput::new(), |out, name| out.with(name, Value::Null))
        .with("exists", false)
        .with("key", key)
}
