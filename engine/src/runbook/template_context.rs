//! What a template sees: the one definition of the names at the top of a
//! template's context, of `run.<name>` and of `steps.<id>.<name>`. The
//! validator checks what a template reads against these names; the
//! scheduler builds the context through these functions, so the two
//! cannot disagree.

use minijinja::Value;
use serde::Serialize;

/// The names a template may read at the top level.
pub const CONTEXT_NAMES: &[&str] = &[INPUTS, STEPS, RUN, OUTPUTS];
const INPUTS: &str = "inputs";
const STEPS: &str = "steps";
const RUN: &str = "run";
/// The current attempt's outputs, in `until` only.
const OUTPUTS: &str = "outputs";

/// The output the scheduler adds to a step that a `check` probe confirmed
/// on resume, whatever its kind; readable as
/// `steps.<id>.outputs.confirmed_by_check`.
pub const CONFIRMED_BY_CHECK: &str = "confirmed_by_check";

/// What `steps.<id>.<name>` offers.
pub const STEP_FIELDS: &[&str] = &[STATUS, OUTPUTS];
const STATUS: &str = "status";

/// Declares [`RunFields`] and [`RUN_FIELDS`] from one list, so the names
/// the validator accepts are exactly the fields the scheduler fills.
macro_rules! run_fields {
    ($($(#[$doc:meta])* $name:ident: $ty:ty,)*) => {
        /// What `run.<name>` offers templates.
        #[derive(Debug, Clone, Serialize)]
        pub struct RunFields {
            $($(#[$doc])* pub $name: $ty,)*
        }

        /// The names of [`RunFields`], in order.
        pub const RUN_FIELDS: &[&str] = &[$(stringify!($name)),*];
    };
}

run_fields! {
    /// The run's id.
    id: String,
    /// The run's directory.
    dir: String,
    /// Whether this is a dry run (any `--dry-run` mode).
    dry_run: bool,
    /// Who runs it (`--operator`, else the user).
    operator: String,
    /// The runbook's `name`.
    runbook: String,
    /// When the run started, RFC 3339.
    started_at: String,
    /// The main step that failed, in `on_failure` and `finally`.
    failed_step: Option<String>,
    /// Its error.
    error: Option<String>,
    /// `running`, then `failed` or `succeeded` (see the scheduler).
    status: &'static str,
}

/// The context of a step's `with:` and `when:`: the run's inputs, the
/// steps' views (see [`step_view`]) and `run`.
pub fn context(inputs: Value, steps: Value, run: &RunFields) -> Value {
    Value::from_iter([
        (INPUTS, inputs),
        (STEPS, steps),
        (RUN, Value::from_serialize(run)),
    ])
}

/// The context of an `until`: `context` and the attempt's `outputs`.
pub fn with_outputs(context: &Value, outputs: Value) -> Value {
    let mut entries: Vec<(Value, Value)> = vec![(Value::from(OUTPUTS), outputs)];
    if let Ok(keys) = context.try_iter() {
        for key in keys {
            if key.as_str() != Some(OUTPUTS) {
                let value = context.get_item(&key).unwrap_or_default();
                entries.push((key, value));
            }
        }
    }
    Value::from_iter(entries)
}

/// The context of one item of a `for_each`: `context` and the item, under
/// the name `for_each.as` gives it (the loader keeps that name off the
/// names above).
pub fn with_item(context: &Value, name: &str, item: Value) -> Value {
    let mut entries: Vec<(Value, Value)> = vec![(Value::from(name), item)];
    if let Ok(keys) = context.try_iter() {
        for key in keys {
            if key.as_str() != Some(name) {
                let value = context.get_item(&key).unwrap_or_default();
                entries.push((key, value));
            }
        }
    }
    Value::from_iter(entries)
}

/// What `steps.<id>` is for a step that ran: its status and outputs.
pub fn step_view(status: &str, outputs: Value) -> Value {
    Value::from_iter([(STATUS, Value::from(status)), (OUTPUTS, outputs)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_fields() -> RunFields {
        RunFields {
            id: "r1".into(),
            dir: "/runs/r1".into(),
            dry_run: false,
            operator: "ana".into(),
            runbook: "restore".into(),
            started_at: "2026-12-01T10:00:00.000Z".into(),
            failed_step: None,
            error: None,
            status: "running",
        }
    }

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value
            .try_iter()
            .unwrap()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_context_has_exactly_the_names_the_validator_accepts() {
        let ctx = context(Value::from(()), Value::from(()), &run_fields());
        let until = with_outputs(&ctx, Value::from(()));
        let mut names: Vec<String> = CONTEXT_NAMES.iter().map(|s| s.to_string()).collect();
        names.sort();
        assert_eq!(keys(&until), names);
        let mut fields: Vec<String> = RUN_FIELDS.iter().map(|s| s.to_string()).collect();
        fields.sort();
        assert_eq!(keys(&ctx.get_attr(RUN).unwrap()), fields);
        let mut step: Vec<String> = STEP_FIELDS.iter().map(|s| s.to_string()).collect();
        step.sort();
        assert_eq!(keys(&step_view("succeeded", Value::from(()))), step);
    }

    #[test]
    fn outputs_in_until_replace_nothing_else() {
        let ctx = context(Value::from(1), Value::from(2), &run_fields());
        let until = with_outputs(&ctx, Value::from(3));
        assert_eq!(until.get_attr(INPUTS).unwrap(), Value::from(1));
        assert_eq!(until.get_attr(STEPS).unwrap(), Value::from(2));
        assert_eq!(until.get_attr(OUTPUTS).unwrap(), Value::from(3));
        assert_eq!(
            until.get_attr(RUN).unwrap().get_attr("operator").unwrap(),
            Value::from("ana")
        );
    }
}
