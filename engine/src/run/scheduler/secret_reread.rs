//! Secret outputs after a resume.
//!
//! A secret output is journalled as `«redacted»` and lives in memory only, so
//! the engine that resumes a run knows the names of the secret outputs of
//! earlier steps (`secret_outputs` in the journal) but not their values. Its
//! redactor would then let the value through if a later step obtained it by
//! itself (`bao kv get`, a file), and templates that read it would fail.
//!
//! Before the resumed run writes its first record (`resumed`) or starts any
//! step, every completed read-only step with secret outputs is read again:
//! its values are registered with the redactor and its outputs are available
//! to templates once more. A step that is not read-only is never executed
//! again; its secret outputs stay undefined and a template that reads them
//! says why.

use std::time::Duration;

use super::render::RenderedParams;
use super::Scheduler;
use crate::journal::record::Event;
use crate::runbook::checked_runbook::ResolvedKind;

/// A completed step whose secret outputs this engine does not have: the
/// engine that ran it kept them in memory only.
#[derive(Debug, Clone)]
pub(super) struct LostSecretOutputs {
    /// The step, by index in the runbook's steps.
    pub index: usize,
    /// The names of its secret outputs.
    pub names: Vec<String>,
}

/// A step that could not be read again in one pass, and why (`None`: it is
/// not read-only, so it is never run again).
struct FailedReread {
    lost: LostSecretOutputs,
    why: Option<String>,
}

/// How long reading a step's secret outputs again may take when the step
/// sets no `timeout`.
const REREAD_TIMEOUT: Duration = Duration::from_secs(60);

impl Scheduler {
    /// Sets the record that opens this execution (`resumed`): it is written
    /// after the secret outputs are read again, before anything else.
    pub fn first_record(&mut self, event: Event, signed: Option<crate::journal::record::Signed>) {
        self.opening = Some((event, signed));
    }

    /// Reads again the secret outputs of completed read-only steps, in as
    /// many passes as dependencies between them need.
    pub(super) async fn reread_secret_outputs(&mut self) {
        let mut pending = std::mem::take(&mut self.secret_steps);
        loop {
            let mut failed = Vec::new();
            let before = pending.len();
            for lost in pending {
                if let Err(why) = self.reread(lost.index).await {
                    failed.push(FailedReread { lost, why });
                }
            }
            let progress = failed.len() < before;
            pending = failed.iter().map(|f| f.lost.clone()).collect();
            if pending.is_empty() || !progress {
                for FailedReread { lost, why } in failed {
                    let id = &self.env.runbook.steps[lost.index].id;
                    if let Some(why) = why {
                        self.env.console.warn(
                            Some(id),
                            &format!("cannot read the secret outputs of `{id}` again: {why}"),
                        );
                    }
                    self.lost_secrets
                        .push(format!("`{id}` ({})", lost.names.join(", ")));
                }
                return;
            }
        }
    }

    /// Runs step `i` again for its outputs. `Err(None)`: the step is not
    /// read-only, so it is not run; `Err(Some(why))`: it failed.
    async fn reread(&mut self, i: usize) -> Result<(), Option<String>> {
        let step = self.env.runbook.steps[i].clone();
        let ResolvedKind::Step(kind) = self.env.runbook.kind(i).clone() else {
            return Err(None);
        };
        let raw = step.with.to_json();
        if !self.env.runbook.is_read_only(i) {
            return Err(None);
        }
        let ctx = self.template_context();
        let RenderedParams {
            with, script_env, ..
        } = self.render(kind.as_ref(), &raw, &ctx).map_err(|e| {
            Some(
                self.env
                    .redactor
                    .redact(&format!("template error in `with`: {e}")),
            )
        })?;
        let step_ctx = self.step_context(&step, script_env, false, self.env.cancel.child_token());
        // Bounded like the step itself, and by default as long as the
        // slowest read of a secret should take.
        let limit = step.timeout.unwrap_or(REREAD_TIMEOUT);
        let output = match tokio::time::timeout(limit, kind.run(&step_ctx, with)).await {
            Ok(result) => result.map_err(|e| Some(self.env.redactor.redact(&e.message)))?,
            Err(_) => {
                step_ctx.cancel.cancel();
                return Err(Some(format!(
                    "no answer within {}",
                    lifeboat_steps::duration::format(limit)
                )));
            }
        };
        for name in &output.secret {
            if let Some(v) = output.outputs.get(name) {
                self.env.redactor.add_value(v);
            }
        }
        self.env.console.info(&format!(
            "read the secret outputs of `{}` again ({})",
            step.id,
            output.secret.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        self.set_view(&step.id, "succeeded", output.outputs);
        Ok(())
    }
}
