//! The shared driver of the step-kind tests against real servers: a
//! context that records what a step reports, and `run`/`ok`/`err`, which
//! check a kind's parameters before running it through the registry, and
//! check that every output a run returns is one the kind declares
//! (`StepKind::outputs`).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use lifeboat_steps::{
    OutputDecl, OutputType, Progress, Registry, StepContext, StepError, StepKind, StepOutput,
};
use serde_json::Value;

/// Records what steps report, to check warnings and byte progress.
#[derive(Default)]
pub struct Recorder {
    pub warnings: Mutex<Vec<String>>,
    pub bytes: Mutex<Vec<(u64, Option<u64>)>>,
}

impl Progress for Recorder {
    fn bytes(&self, _step: &str, done: u64, total: Option<u64>) {
        self.bytes.lock().unwrap().push((done, total));
    }
    fn warn(&self, _step: &str, message: &str) {
        self.warnings.lock().unwrap().push(message.to_string());
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub recorder: Arc<Recorder>,
    pub ctx: StepContext,
}

pub fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let mut ctx = StepContext::standalone("t", dir.path());
    ctx.progress = recorder.clone();
    Env { dir, recorder, ctx }
}

/// Runs a kind through the registry, after checking its parameters.
pub async fn run(ctx: &StepContext, kind: &str, with: Value) -> Result<StepOutput, StepError> {
    let registry = Registry::builtin();
    let k = registry
        .get(kind)
        .unwrap_or_else(|| panic!("`{kind}` is not registered"));
    let problems = k.check(&with);
    assert!(problems.is_empty(), "{kind}: check found {problems:?}");
    run_unchecked(k.as_ref(), ctx, with).await
}

/// [`run_unchecked`] as a method, for tests that hold a kind's type:
/// `S3Put.run_declared(&ctx, with)`.
#[allow(async_fn_in_trait)]
pub trait RunDeclared {
    async fn run_declared(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError>;
}

impl<K: StepKind> RunDeclared for K {
    async fn run_declared(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        run_unchecked(self, ctx, with).await
    }
}

/// Runs a kind as it is given, and checks that every output the run
/// returned, on success or in its failure, is one the kind declares: a
/// runbook that reads an undeclared one would not validate.
pub async fn run_unchecked(
    kind: &dyn StepKind,
    ctx: &StepContext,
    with: Value,
) -> Result<StepOutput, StepError> {
    let result = kind.run(ctx, with).await;
    let outputs = match &result {
        Ok(out) => &out.outputs,
        Err(e) => &e.outputs,
    };
    let undeclared: Vec<&String> = outputs
        .keys()
        .filter(|name| OutputDecl::find(kind.outputs(), name).is_none())
        .collect();
    assert!(
        undeclared.is_empty(),
        "`{}` returned outputs it does not declare: {undeclared:?} (declared: {:?})",
        kind.name(),
        kind.outputs().iter().map(|o| o.name).collect::<Vec<_>>()
    );
    // Every value has its declared type (or is null: a missing object's
    // `etag`).
    for (name, value) in outputs {
        if let Some(decl) = OutputDecl::find(kind.outputs(), name) {
            let fits = match decl.ty {
                OutputType::String => value.is_string(),
                OutputType::Integer => value.is_i64() || value.is_u64(),
                OutputType::Bool => value.is_boolean(),
                OutputType::List => value.is_array(),
                OutputType::Map => value.is_object(),
                OutputType::Json | OutputType::Any => true,
            };
            assert!(
                fits || value.is_null(),
                "`{}`'s output `{name}` is declared {}, but the run returned {value}",
                kind.name(),
                decl.ty
            );
        }
    }
    // The outputs a run marks secret are exactly the ones declared secret.
    if let Ok(out) = &result {
        for name in out.outputs.keys() {
            assert_eq!(
                out.secret.contains(name),
                kind.is_secret_output(name),
                "`{}` marks `{name}` secret: {}, but declares it secret: {}",
                kind.name(),
                out.secret.contains(name),
                kind.is_secret_output(name)
            );
        }
    }
    result
}

pub async fn ok(ctx: &StepContext, kind: &str, with: Value) -> StepOutput {
    let shown = with.clone();
    match run(ctx, kind, with).await {
        Ok(out) => out,
        Err(e) => panic!("{kind} {shown} failed: {}", e.message),
    }
}

pub async fn err(ctx: &StepContext, kind: &str, with: Value) -> StepError {
    let shown = with.clone();
    match run(ctx, kind, with).await {
        Ok(out) => panic!(
            "{kind} {shown} succeeded but should have failed: {:?}",
            out.outputs
        ),
        Err(e) => e,
    }
}
