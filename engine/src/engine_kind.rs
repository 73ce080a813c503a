//! Step kinds the engine runs itself, because they are about the run rather
//! than the world: `assert` evaluates expressions over earlier outputs, and
//! `checkpoint` marks a milestone in the journal, the timeline and the RTO.

use lifeboat_steps::params::{self, ParamProblem, PathSegment};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Assert,
    Checkpoint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AssertParams {
    /// Expressions that must all be true.
    pub that: Vec<String>,
    /// Shown when one is false.
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CheckpointParams {
    #[serde(default)]
    pub description: Option<String>,
}

impl EngineKind {
    pub const ALL: &'static [(&'static str, &'static str)] = &[
        ("assert", "check that expressions over earlier outputs hold"),
        (
            "checkpoint",
            "mark a milestone: splits the RTO into phases; resume --from restarts after it",
        ),
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "assert" => Some(Self::Assert),
            "checkpoint" => Some(Self::Checkpoint),
            _ => None,
        }
    }

    pub fn check(self, with: &Value) -> Vec<ParamProblem> {
        match self {
            Self::Assert => {
                let mut p = params::check::<AssertParams>(with);
                if let Some(Value::String(_)) = with.get("that") {
                    p.retain(|p| p.path_string() != "that");
                    p.push(ParamProblem::new(
                        vec![PathSegment::Key("that".into())],
                        "`that` is a list of expressions; write `that: [\"...\"]`",
                    ));
                }
                p
            }
            Self::Checkpoint => params::check::<CheckpointParams>(with),
        }
    }
}
