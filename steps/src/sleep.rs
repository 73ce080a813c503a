//! `sleep`: wait for a fixed time, e.g. to let a cluster settle.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    params, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct Sleep;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SleepParams {
    /// How long, e.g. `5s`, `1m30s`.
    duration: String,
}

#[async_trait]
impl StepKind for Sleep {
    fn name(&self) -> &'static str {
        "sleep"
    }

    fn summary(&self) -> &'static str {
        "wait for a fixed duration"
    }

    fn parameters(&self) -> Value {
        params::schema::<SleepParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = params::check::<SleepParams>(with);
        if let Some(Value::String(d)) = with.get("duration") {
            if !params::is_template(d) {
                if let Err(e) = crate::duration::parse(d) {
                    problems.push(ParamProblem::field("duration", e));
                }
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        format!(
            "sleep {}",
            with.get("duration").and_then(Value::as_str).unwrap_or("?")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[OutputDecl::integer(
            "slept_ms",
            "how long it waited, in milliseconds",
        )];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let p: SleepParams = params::parse(self.name(), with)?;
        let d = crate::duration::parse(&p.duration).map_err(StepError::new)?;
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(StepOutput::new().with("slept_ms", d.as_millis() as u64)),
            _ = ctx.cancel.cancelled() => Err(StepError::cancelled("sleep cancelled")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test(start_paused = true)]
    async fn sleeps_for_the_duration() {
        let ctx = StepContext::standalone("s", std::env::temp_dir());
        let out = Sleep.run(&ctx, json!({"duration": "90s"})).await.unwrap();
        assert_eq!(out.outputs["slept_ms"], 90_000);
    }

    #[tokio::test]
    async fn cancellation_stops_the_wait() {
        let ctx = StepContext::standalone("s", std::env::temp_dir());
        ctx.cancel.cancel();
        let err = Sleep
            .run(&ctx, json!({"duration": "1h"}))
            .await
            .unwrap_err();
        assert!(err.cancelled);
    }

    #[test]
    fn a_bad_duration_is_reported_at_its_field() {
        let problems = Sleep.check(&json!({"duration": "soon"}));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path_string(), "duration");
        assert!(Sleep
            .check(&json!({"duration": "{{ inputs.d }}"}))
            .is_empty());
    }
}
