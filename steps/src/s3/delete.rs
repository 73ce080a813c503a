//! `s3.delete`: delete one object (`key`) or several (`keys`).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::connection::{self, Connection};
use super::object_delete;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct S3Delete;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeleteParams {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    keys: Option<Vec<String>>,
}

impl DeleteParams {
    fn all(self) -> Result<Vec<String>, String> {
        match (self.key, self.keys) {
            (Some(k), None) => Ok(vec![k]),
            (None, Some(ks)) => Ok(ks),
            (Some(_), Some(_)) => Err("give either `key` or `keys`, not both".into()),
            (None, None) => Err("give `key` (one object) or `keys` (a list)".into()),
        }
    }
}

#[async_trait]
impl StepKind for S3Delete {
    fn name(&self) -> &'static str {
        "s3.delete"
    }

    fn summary(&self) -> &'static str {
        "delete one object or a list of objects"
    }

    fn parameters(&self) -> Value {
        connection::schema::<DeleteParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = Connection::check(with);
        problems.extend(connection::check_own::<DeleteParams>(with));
        let has_key = with.get("key").is_some();
        let has_keys = with.get("keys").is_some();
        if has_key == has_keys {
            let msg = if has_key {
                "give either `key` or `keys`, not both"
            } else {
                "give `key` (one object) or `keys` (a list)"
            };
            problems.push(ParamProblem::field(
                if has_key { "keys" } else { "key" },
                msg,
            ));
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    fn default_rerun(&self) -> Rerun {
        // Deleting an already deleted key succeeds.
        Rerun::Safe
    }

    fn describe(&self, with: &Value) -> String {
        let bucket = with.get("bucket").and_then(Value::as_str).unwrap_or("?");
        match (with.get("key"), with.get("keys")) {
            (Some(Value::String(k)), _) => format!("delete s3://{bucket}/{k}"),
            (_, Some(Value::Array(ks))) => {
                let mut out = format!("delete {} object(s) from s3://{bucket}:", ks.len());
                for k in ks {
                    out.push_str(&format!("\n  {}", k.as_str().unwrap_or("?")));
                }
                out
            }
            (_, Some(v)) => format!("delete the objects {v} from s3://{bucket}"),
            _ => format!("delete from s3://{bucket}"),
        }
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::integer("count", "how many keys were deleted"),
            OutputDecl::list("deleted", "the keys deleted"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (conn, p): (Connection, DeleteParams) = connection::parse(self.name(), ctx, with)?;
        let keys = p
            .all()
            .map_err(|e| StepError::new(format!("`s3.delete`: {e}")))?;
        object_delete::delete_keys(&conn, ctx, &keys).await?;
        Ok(StepOutput::new()
            .with("count", keys.len())
            .with("deleted", keys))
    }
}
