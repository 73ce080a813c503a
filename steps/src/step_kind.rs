use async_trait::async_trait;
use serde_json::Value;

use crate::{Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepOutput};

/// The contract every step kind implements.
///
/// Parameters arrive as the JSON form of the step's `with:` mapping. The
/// engine calls [`StepKind::check`] at validation time on the *unrendered*
/// parameters (strings may still hold `{{ }}` templates), and calls
/// [`StepKind::run`] with every template rendered.
#[async_trait]
pub trait StepKind: Send + Sync {
    /// The name written after `kind:` in a runbook, e.g. `shell` or `vault.kv.get`.
    fn name(&self) -> &'static str;

    /// One line for `--help`-style listings and the format reference.
    fn summary(&self) -> &'static str;

    /// Checks the shape of the unrendered parameters. Every problem is
    /// returned, each with the path of the offending field, so that the
    /// validator can point at the exact line and column.
    fn check(&self, with: &Value) -> Vec<ParamProblem>;

    /// The JSON Schema of `with:` (draft 2020-12): every parameter with its
    /// type, whether it is required, and its doc comment, derived from the
    /// struct [`StepKind::check`] uses ([`crate::params::schema`]), so the
    /// two cannot disagree on names. `lifeboat kinds KIND` and `lifeboat
    /// schema` are built from it.
    fn parameters(&self) -> Value;

    /// Whether running the step can change anything outside the run
    /// directory. `--dry-run=probes` executes only read-only steps.
    /// `with` is unrendered; kinds whose effect depends on a parameter (an
    /// HTTP method, say) decide from it.
    fn effect(&self, with: &Value) -> Effect;

    /// What resume may do with this step when it was interrupted mid-flight
    /// and the runbook does not say. Reads are `Safe`; anything that mutates
    /// shared state should be `Check` or `Never`.
    fn default_rerun(&self) -> Rerun {
        match self.effect(&Value::Null) {
            Effect::ReadOnly => Rerun::Safe,
            Effect::Mutating => Rerun::Never,
        }
    }

    /// Every top-level output a step of this kind can produce, on success
    /// or in a failure's [`StepError::outputs`], with its type, whether it
    /// is secret and one line of doc: the names later steps read as
    /// `steps.<id>.outputs.<name>`. A run may leave some out (a missing
    /// object has no `etag`), never add one. What lies below a name
    /// (`json.a.b`, `secrets[path]`) is data and is not declared. Validation
    /// rejects a reference to any other name, so keep it in step with the
    /// outputs [`StepKind::run`] builds; the kinds' tests check every run's
    /// keys, and which of them it marks secret, against it.
    fn outputs(&self) -> &'static [OutputDecl];

    /// Whether this kind marks output `name` secret
    /// ([`StepOutput::with_secret`]), from [`StepKind::outputs`]: validation
    /// accepts such an output where a secret is required.
    fn is_secret_output(&self, name: &str) -> bool {
        OutputDecl::is_secret_in(self.outputs(), name)
    }

    /// Parameters whose value is itself a secret (an encryption key).
    /// Validation requires their templates to read only secret inputs and
    /// secret outputs ([`StepKind::is_secret_output`]) of earlier steps, so the value is never
    /// written to `inputs.json`, the journal or the timeline.
    fn secret_params(&self) -> &'static [&'static str] {
        &[]
    }

    /// Names of parameters whose template values must be passed to a shell
    /// rather than pasted into it (see `shell.script`). The engine renders
    /// these fields with a formatter that turns every `{{ }}` value into a
    /// quoted variable reference and hands the values over in
    /// [`StepContext::env`].
    fn script_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// A human-readable rendering of what the step would do with these
    /// rendered parameters: the command line, the request, the object key.
    /// Shown by `--dry-run` and step-through mode. Secrets must already be
    /// redacted by the caller through `ctx.redactor`.
    fn describe(&self, with: &Value) -> String;

    /// Whether the kind honours [`StepContext::dry_run`] itself, computing a
    /// plan without changing anything (e.g. `s3.retention`). Such steps are
    /// run in `--dry-run=probes` mode instead of being simulated.
    fn plans_in_dry_run(&self) -> bool {
        false
    }

    /// Reads back the secret outputs of a step that succeeded in an earlier
    /// execution of this run. Secret outputs live in memory only, so a
    /// resumed run has lost them; a kind that also saved them durably (e.g.
    /// `vault.init` with `output_file`) returns them here, from where it
    /// saved them. `with` is rendered. Must not change anything, nor talk
    /// to a server. `None`: this kind keeps no durable copy.
    fn reload_secret_outputs(
        &self,
        _ctx: &StepContext,
        _with: &Value,
    ) -> Option<Result<StepOutput, StepError>> {
        None
    }

    /// Does the work. Must return promptly once `ctx.cancel` is cancelled,
    /// killing any child process it started.
    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError>;
}
