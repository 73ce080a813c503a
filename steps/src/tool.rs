//! `tool`: a read-only preflight check that the programs a runbook will
//! call are installed, found exactly as a `shell` step would find them
//! ([`crate::shell::find_program`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    params, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct Tool;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ToolParams {
    /// Program names (looked up on `PATH`) or paths (relative to the
    /// directory `lifeboat` was started from).
    programs: Vec<String>,
    /// The `PATH` to search instead of the engine's, as a `shell` step's
    /// `env.PATH` would set it.
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[async_trait]
impl StepKind for Tool {
    fn name(&self) -> &'static str {
        "tool"
    }

    fn summary(&self) -> &'static str {
        "check that programs are installed, found as a shell step would find them (read-only)"
    }

    fn parameters(&self) -> Value {
        params::schema::<ToolParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = params::check::<ToolParams>(with);
        if let Some(Value::Array(programs)) = with.get("programs") {
            if programs.is_empty() {
                problems.push(ParamProblem::field(
                    "programs",
                    "`programs` is empty; list the programs the runbook calls, e.g. [bao, jq]",
                ));
            }
        }
        if let Some(Value::Object(env)) = with.get("env") {
            if let Some(other) = env.keys().find(|k| *k != "PATH") {
                problems.push(ParamProblem::field(
                    "env",
                    format!("`tool` reads only `env.PATH`, not `{other}`"),
                ));
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let programs: Vec<&str> = with
            .get("programs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        format!("check that {} can be run", programs.join(", "))
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[OutputDecl::map(
            "paths",
            "`{program: path}` of every program found",
        )];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let p: ToolParams = params::parse(self.name(), with)?;
        let path_var = p
            .env
            .get("PATH")
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        let mut found = Map::new();
        let mut missing = Vec::new();
        for program in &p.programs {
            match crate::shell::find_program(program, &ctx.launch_dir, path_var.as_deref()) {
                Ok(path) => {
                    found.insert(program.clone(), Value::String(path.display().to_string()));
                }
                Err(e) => missing.push(e),
            }
        }
        if missing.is_empty() {
            Ok(StepOutput::new().with("paths", found))
        } else {
            Err(StepError::new(missing.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn found_programs_give_their_paths_and_every_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = StepContext::standalone("t", dir.path());
        let out = Tool
            .run(
                &ctx,
                json!({"programs": ["sh"], "env": {"PATH": "/usr/bin:/bin"}}),
            )
            .await
            .unwrap();
        assert!(out.outputs["paths"]["sh"]
            .as_str()
            .unwrap()
            .ends_with("/sh"));
        let err = Tool
            .run(
                &ctx,
                json!({"programs": ["sh", "no-such-jq", "bin/none"], "env": {"PATH": "/bin"}}),
            )
            .await
            .unwrap_err();
        assert!(
            err.message
                .starts_with("`no-such-jq` is not on PATH (PATH=/bin); install it"),
            "{}",
            err.message
        );
        assert!(
            err.message
                .contains("; `bin/none` does not exist (a relative path is resolved against"),
            "{}",
            err.message
        );
        assert_eq!(Tool.effect(&json!({})), Effect::ReadOnly);
        assert_eq!(Tool.check(&json!({"programs": []})).len(), 1);
        assert_eq!(
            Tool.check(&json!({"programs": ["a"], "env": {"HOME": "/"}}))
                .len(),
            1
        );
    }
}
