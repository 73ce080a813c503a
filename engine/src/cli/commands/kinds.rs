//! `lifeboat kinds [KIND]`: every kind with its one line, or one kind's
//! parameters and outputs, from their declarations (`runbook/kind_catalog.rs`).

use serde_json::{json, Value};

use crate::cli::error::{exit, CliError};
use crate::cli::{KindsArgs, OutputFormat};
use crate::runbook::checked_runbook::registry;
use crate::runbook::diagnostic::did_you_mean;
use crate::runbook::kind_catalog::{all_kinds, KindInfo};

pub fn run(args: KindsArgs) -> Result<i32, CliError> {
    let registry = registry();
    let kinds = all_kinds(&registry);
    let Some(name) = args.kind else {
        match args.output {
            OutputFormat::Json => print_json(&Value::Array(
                kinds
                    .iter()
                    .map(|k| json!({"kind": k.name, "summary": k.summary}))
                    .collect(),
            )),
            OutputFormat::Text => {
                for k in &kinds {
                    println!("{:<24} {}", k.name, k.summary);
                }
                println!();
                println!("`lifeboat kinds KIND` shows a kind's parameters and outputs.");
            }
        }
        return Ok(exit::SUCCESS);
    };
    let Some(kind) = kinds.iter().find(|k| k.name == name) else {
        let fix = did_you_mean(&name, kinds.iter().map(|k| k.name))
            .map(|d| format!("{d} "))
            .unwrap_or_default();
        return Err(CliError::invalid(format!(
            "unknown step kind `{name}`; {fix}`lifeboat kinds` lists every kind"
        )));
    };
    match args.output {
        OutputFormat::Json => print_json(&describe_json(kind)),
        OutputFormat::Text => print!("{}", describe_text(kind)),
    }
    Ok(exit::SUCCESS)
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn describe_json(kind: &KindInfo) -> Value {
    let mut parameters = kind.parameters.clone();
    if let Value::Object(map) = &mut parameters {
        map.remove("$schema");
    }
    json!({
        "kind": kind.name,
        "summary": kind.summary,
        "engine": kind.engine,
        "parameters": kind.params().iter().map(|p| json!({
            "name": p.name,
            "type": p.ty,
            "required": p.required,
            "default": p.default,
            "doc": p.doc,
        })).collect::<Vec<_>>(),
        "parameters_schema": parameters,
        "outputs_from_called_runbook": kind.name == "runbook",
        "outputs": kind.outputs.iter().map(|o| json!({
            "name": o.name,
            "type": o.ty.as_str(),
            "secret": o.secret,
            "doc": o.doc,
        })).collect::<Vec<_>>(),
    })
}

/// The kind, its parameters and its outputs, in aligned columns.
fn describe_text(kind: &KindInfo) -> String {
    let mut out = format!("{}: {}\n\nparameters (`with:`):\n", kind.name, kind.summary);
    let params = kind.params();
    if params.is_empty() {
        out.push_str("  none\n");
    }
    let rows: Vec<[String; 4]> = params
        .iter()
        .map(|p| {
            let mut doc = p.doc.clone();
            if let Some(d) = &p.default {
                let d = match d {
                    Value::String(s) => format!("`{s}`"),
                    other => format!("`{other}`"),
                };
                doc = if doc.is_empty() {
                    format!("default {d}")
                } else {
                    format!("{doc} (default {d})")
                };
            }
            let required = if p.required { "required" } else { "" };
            [p.name.clone(), p.ty.clone(), required.to_string(), doc]
        })
        .collect();
    out.push_str(&columns(&rows));
    out.push_str("\noutputs (`steps.<id>.outputs.<name>`):\n");
    if kind.name == "runbook" {
        out.push_str(
            "  the called runbook's `outputs:` (validate checks each read against them)\n",
        );
    } else if kind.outputs.is_empty() {
        out.push_str("  none\n");
    }
    let rows: Vec<[String; 4]> = kind
        .outputs
        .iter()
        .map(|o| {
            [
                o.name.to_string(),
                o.ty.to_string(),
                if o.secret { "secret" } else { "" }.to_string(),
                o.doc.to_string(),
            ]
        })
        .collect();
    out.push_str(&columns(&rows));
    out
}

/// Rows as aligned columns, two spaces in, the last column as it is.
fn columns(rows: &[[String; 4]]) -> String {
    let mut widths = [0usize; 3];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(" ");
        for (w, cell) in widths.iter().zip(row) {
            line.push_str(&format!(" {cell:<w$}"));
        }
        line.push_str(&format!("  {}", row[3]));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
