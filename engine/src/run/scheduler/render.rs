//! What templates and step kinds see of the run: the template context
//! (`inputs`, `steps`, `run`), a step's parameters rendered for running
//! and for display, its [`StepContext`], and the `steps` views the
//! scheduler updates as steps end.
//!
//! It renders and builds; it never journals, and never decides whether a
//! step runs.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use lifeboat_steps::{StepContext, StepKind};
use minijinja::value::Object;
use minijinja::Value;
use serde_json::Map;
use tokio_util::sync::CancellationToken;

use super::{step_processes, DryRun, Failure, Scheduler};
use crate::operator::console::ConsoleProgress;
use crate::runbook::step::Step;
use crate::runbook::template_context::{self, RunFields};
use crate::runbook::templates::Placeholder;

/// The `steps` variable of templates: looked up lazily so that building a
/// context costs the same whatever the number of steps. In a called
/// runbook's scope, `steps.<id>` is `<prefix><id>` (`restore/<id>`).
#[derive(Debug)]
struct StepsView(Arc<RwLock<HashMap<String, Value>>>, Option<String>);

impl Object for StepsView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        match &self.1 {
            Some(prefix) => map.get(&format!("{prefix}{}", key.as_str()?)).cloned(),
            None => map.get(key.as_str()?).cloned(),
        }
    }
}

/// A step's `with:` rendered by [`Scheduler::render`].
pub(super) struct RenderedParams {
    /// What the kind runs with: script fields hold variable references.
    pub with: serde_json::Value,
    /// The values those references name, handed to the script in its
    /// environment ([`StepContext::env`]).
    pub script_env: Vec<(String, String)>,
    /// What is shown (dry run, step-through, `step_started`): secrets
    /// redacted, script fields as bash receives them.
    pub display: serde_json::Value,
}

impl Scheduler {
    /// The context step `i`'s templates render in: the run's, or, for a
    /// called runbook's step, its call's scope (`calls.rs`).
    pub(super) fn context_for(&self, i: usize) -> Value {
        let ctx = self.template_context_in(self.scope_of(i));
        // An item call of a `for_each` call sees its item (`calls.rs`).
        match self
            .env
            .runbook
            .tree()
            .call(i)
            .and_then(|s| s.item.as_ref())
        {
            Some(item) => {
                template_context::with_item(&ctx, &item.name, Value::from_serialize(&item.value))
            }
            None => ctx,
        }
    }

    /// The context in `scope` (its `steps` prefix and `inputs`), or the
    /// run's with `None`.
    pub(super) fn template_context_in(&self, scope: Option<(String, Value)>) -> Value {
        let (prefix, inputs) = match scope {
            Some((prefix, inputs)) => (Some(prefix), inputs),
            None => (None, self.inputs_value.clone()),
        };
        let (failed_step, error) = match &self.failure {
            Some(Failure { step, error }) => (Some(step.clone()), Some(error.clone())),
            None => (None, None),
        };
        template_context::context(
            inputs,
            Value::from_object(StepsView(self.views.clone(), prefix)),
            &RunFields {
                id: self.env.run_id.clone(),
                dir: self.env.run_dir.clone(),
                dry_run: self.config.dry_run != DryRun::Off,
                operator: self.config.operator.clone(),
                runbook: self.env.runbook.name.clone(),
                started_at: self.env.started_at.clone(),
                failed_step,
                error,
                status: self.run_status(),
            },
        )
    }

    /// `run.status`: `running` while main steps run, then `failed` (in
    /// `on_failure` and `finally` of a failed run) or `succeeded` (in
    /// `finally` of a run whose main steps all succeeded).
    pub(super) fn run_status(&self) -> &'static str {
        if self.failure.is_some() {
            "failed"
        } else if self.main_done {
            "succeeded"
        } else {
            "running"
        }
    }

    /// What a step kind gets to run step `step`; `cancel` should be a
    /// child of the run's token.
    pub(super) fn step_context(
        &self,
        step: &Step,
        env: Vec<(String, String)>,
        dry_run: bool,
        cancel: CancellationToken,
    ) -> StepContext {
        StepContext {
            step_id: step.id.clone(),
            work_dir: self.env.work_dir.clone(),
            dry_run,
            cancel,
            progress: Arc::new(step_processes::JournalledProgress {
                console: ConsoleProgress(self.env.console.clone()),
                journal: self.env.journal.clone(),
                cancel: self.env.cancel.clone(),
            }),
            redactor: self.env.redactor.clone(),
            env,
            launch_dir: self.env.launch_dir.clone(),
            file_sealer: self.env.sealing.is_on().then(|| {
                Arc::new(crate::run::sealed_outputs::FileSealing {
                    sealing: self.env.sealing.clone(),
                    run_id: self.env.run_id.clone(),
                }) as Arc<dyn lifeboat_steps::FileSealer>
            }),
        }
    }

    /// Renders parameters three ways: for running (script fields as
    /// variable references), the script environment, and for display.
    pub(super) fn render(
        &self,
        kind: &dyn StepKind,
        raw: &serde_json::Value,
        ctx: &Value,
    ) -> Result<RenderedParams, String> {
        let script_fields = kind.script_fields();
        // Script fields are rendered separately below; skip them here.
        let mut plain = raw.clone();
        if let Some(map) = plain.as_object_mut() {
            for field in script_fields {
                map.remove(*field);
            }
        }
        let (mut with, values) = self.env.templates.render_value_and_values(&plain, ctx)?;
        // A piece of a secret (`{{ inputs.token[:12] }}`, alone or inside a
        // longer string) is a secret too; the runbook's literal text is not.
        for value in &values {
            self.env.redactor.add_derived(value);
        }
        // Secrets are replaced in the raw values, before `describe` quotes
        // or escapes them into a form the redactor would not recognise.
        let mut display = self.env.redactor.redact_value(&with);
        let mut env = Vec::new();
        if script_fields.len() > 1 {
            return Err("internal: a kind may declare at most one script field".into());
        }
        for field in script_fields {
            if let Some(serde_json::Value::String(src)) = raw.get(*field) {
                let (text, vars) = self.env.templates.render_script(field, src, ctx)?;
                for (_, value) in &vars {
                    self.env.redactor.add_derived(value);
                }
                let shown =
                    self.env
                        .templates
                        .render_display(field, src, ctx, &self.env.redactor)?;
                with[*field] = serde_json::Value::String(text);
                display[*field] = serde_json::Value::String(shown);
                env = vars;
            } else if let Some(v) = raw.get(*field) {
                with[*field] = v.clone();
                display[*field] = v.clone();
            }
        }
        Ok(RenderedParams {
            with,
            script_env: env,
            display,
        })
    }

    /// Sets what templates see of step `id`.
    /// The outputs of step `id` as templates read them; empty when it has
    /// none (yet).
    pub(super) fn view_outputs(&self, id: &str) -> Map<String, serde_json::Value> {
        let views = self.views.read().unwrap_or_else(|e| e.into_inner());
        views
            .get(id)
            .and_then(|v| v.get_attr("outputs").ok())
            .and_then(|o| serde_json::to_value(&o).ok())
            .and_then(|o| o.as_object().cloned())
            .unwrap_or_default()
    }

    pub(super) fn set_view(&self, id: &str, status: &str, outputs: Map<String, serde_json::Value>) {
        let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
        views.insert(id.to_string(), view(status, outputs));
    }

    pub(super) fn set_placeholder_view(&self, step: &Step) {
        let placeholder = Value::from_object(Placeholder {
            path: format!("steps.{}.outputs", step.id),
            touched: self.touched.clone(),
        });
        let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
        views.insert(
            step.id.clone(),
            template_context::step_view("succeeded", placeholder),
        );
    }

    /// How many dry-run placeholders templates have read so far.
    pub(super) fn touched_count(&self) -> usize {
        self.touched.lock().map(|t| t.len()).unwrap_or(0)
    }
}

/// A step as templates see it: `status` and `outputs`.
pub(super) fn view(status: &str, outputs: Map<String, serde_json::Value>) -> Value {
    template_context::step_view(status, Value::from_serialize(&outputs))
}
