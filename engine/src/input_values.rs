//! Resolving a run's input values: `--input k=v`, `--inputs FILE`, the
//! runbook's defaults, and secrets from their environment variable or file.

use std::path::Path;

use lifeboat_steps::Redactor;
use serde_json::{Map, Value};

use crate::cli_error::CliError;
use crate::diagnostic::did_you_mean;
use crate::runbook::Runbook;

/// All input values (secrets included) and the names of the secret ones.
pub struct InputValues {
    pub all: Map<String, Value>,
    pub secret_names: Vec<String>,
}

impl InputValues {
    /// The values that may be written to disk.
    pub fn public(&self) -> Map<String, Value> {
        self.all
            .iter()
            .filter(|(k, _)| !self.secret_names.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Resolves inputs for a new run. In a dry run a missing secret becomes a
/// visible placeholder, so drills need no credentials.
pub fn resolve(
    runbook: &Runbook,
    flags: &[String],
    file: Option<&Path>,
    dry_run: bool,
    redactor: &Redactor,
    warn: &dyn Fn(&str),
) -> Result<InputValues, CliError> {
    let mut given: Map<String, Value> = Map::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::invalid(format!("cannot read inputs file `{}`: {e}", path.display()))
        })?;
        let value: Value = serde_saphyr::from_str(&text).map_err(|e| {
            CliError::invalid(format!(
                "inputs file `{}` is not a YAML or JSON mapping: {}",
                path.display(),
                e.to_string().lines().next().unwrap_or("")
            ))
        })?;
        let Value::Object(map) = value else {
            return Err(CliError::invalid(format!(
                "inputs file `{}` must be a mapping of input name to value",
                path.display()
            )));
        };
        for (k, v) in map {
            let decl = known(runbook, &k, &format!("inputs file `{}`", path.display()))?;
            if decl.is_secret() {
                return Err(secret_given(&k, decl.env.as_deref()));
            }
            if !decl.accepts(&v) {
                return Err(CliError::invalid(format!(
                    "inputs file `{}`: `{k}` must be a {}, got {v}",
                    path.display(),
                    decl.ty.as_str()
                )));
            }
            given.insert(k, v);
        }
    }
    for flag in flags {
        let Some((k, v)) = flag.split_once('=') else {
            return Err(CliError::invalid(format!(
                "--input `{flag}` must look like name=value"
            )));
        };
        let decl = known(runbook, k.trim(), "--input")?;
        if decl.is_secret() {
            return Err(secret_given(k, decl.env.as_deref()));
        }
        given.insert(
            k.trim().to_string(),
            decl.coerce(v).map_err(CliError::invalid)?,
        );
    }
    let mut all = Map::new();
    let mut secret_names = Vec::new();
    let mut missing = Vec::new();
    for decl in &runbook.inputs {
        if decl.is_secret() {
            secret_names.push(decl.name.clone());
            match read_secret(decl, None) {
                Ok(Some(value)) => {
                    redactor.add(&value);
                    all.insert(decl.name.clone(), Value::String(value));
                }
                Ok(None) if decl.optional => {
                    all.insert(decl.name.clone(), Value::Null);
                }
                Ok(None) if dry_run => {
                    warn(&format!(
                        "secret input `{}` is not set; the drill uses a placeholder",
                        decl.name
                    ));
                    all.insert(
                        decl.name.clone(),
                        Value::String(format!("<secret:{}>", decl.name)),
                    );
                }
                Ok(None) => missing.push(describe_source(decl)),
                Err(e) => return Err(e),
            }
            continue;
        }
        match given.remove(&decl.name).or_else(|| decl.default.clone()) {
            Some(v) => {
                all.insert(decl.name.clone(), v);
            }
            None if decl.optional => {
                all.insert(decl.name.clone(), Value::Null);
            }
            None => missing.push(format!(
                "`{}` ({}): pass --input {}=VALUE or put it in --inputs FILE",
                decl.name,
                decl.ty.as_str(),
                decl.name
            )),
        }
    }
    if !missing.is_empty() {
        return Err(CliError::invalid(format!(
            "missing input{}:\n  {}",
            if missing.len() > 1 { "s" } else { "" },
            missing.join("\n  ")
        )));
    }
    Ok(InputValues { all, secret_names })
}

/// Makes `path` and `program` values independent of the directory a step
/// runs in, or a resume is started from: a relative path (for a `program`,
/// one with a `/`; a bare name stays a name, looked up on `PATH`) is joined
/// to `launch_dir`, and `~/` expands. The anchored values are the ones the
/// journal records, so a resume resolves them the same way.
pub fn anchor_paths(runbook: &Runbook, all: &mut Map<String, Value>, launch_dir: &Path) {
    use crate::input_decl::InputType;
    for decl in &runbook.inputs {
        let Some(Value::String(text)) = all.get(&decl.name) else {
            continue;
        };
        let anchored = match decl.ty {
            InputType::Path => anchor(text, launch_dir),
            InputType::Program if text.contains('/') => anchor(text, launch_dir),
            _ => continue,
        };
        all.insert(decl.name.clone(), Value::String(anchored));
    }
}

fn anchor(text: &str, launch_dir: &Path) -> String {
    if text.is_empty() {
        return String::new();
    }
    let expanded = expand_home(text);
    let relative = expanded.strip_prefix("./").unwrap_or(&expanded);
    launch_dir.join(relative).display().to_string()
}

/// Re-reads secrets for a resumed run; non-secret values come from the run.
/// A relative secret `file:` is read from `launch_dir`, where the run was
/// started, wherever the resume is started.
pub fn resume(
    runbook: &Runbook,
    public: &Map<String, Value>,
    redactor: &Redactor,
    dry_run: bool,
    launch_dir: &Path,
) -> Result<InputValues, CliError> {
    let mut all = public.clone();
    let mut secret_names = Vec::new();
    let mut missing = Vec::new();
    for decl in runbook.inputs.iter().filter(|d| d.is_secret()) {
        secret_names.push(decl.name.clone());
        match read_secret(decl, Some(launch_dir))? {
            Some(v) => {
                redactor.add(&v);
                all.insert(decl.name.clone(), Value::String(v));
            }
            None if decl.optional => {
                all.insert(decl.name.clone(), Value::Null);
            }
            None if dry_run => {
                all.insert(
                    decl.name.clone(),
                    Value::String(format!("<secret:{}>", decl.name)),
                );
            }
            None => missing.push(describe_source(decl)),
        }
    }
    for decl in runbook.inputs.iter().filter(|d| !d.is_secret()) {
        if !all.contains_key(&decl.name) {
            all.insert(
                decl.name.clone(),
                decl.default.clone().unwrap_or(Value::Null),
            );
        }
    }
    if !missing.is_empty() {
        return Err(CliError::invalid(format!(
            "secrets are read again on resume and never taken from the journal; missing:\n  {}",
            missing.join("\n  ")
        )));
    }
    Ok(InputValues { all, secret_names })
}

fn known<'a>(
    runbook: &'a Runbook,
    name: &str,
    source: &str,
) -> Result<&'a crate::input_decl::InputDecl, CliError> {
    runbook.input(name).ok_or_else(|| {
        let hint = did_you_mean(name, runbook.inputs.iter().map(|i| i.name.as_str()))
            .unwrap_or_else(|| {
                format!(
                    "the runbook declares: {}",
                    runbook
                        .inputs
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        CliError::invalid(format!("{source}: unknown input `{name}`; {hint}"))
    })
}

fn secret_given(name: &str, env: Option<&str>) -> CliError {
    let how = match env {
        Some(e) => format!("export {e}=... instead"),
        None => "use the file named in its declaration".into(),
    };
    CliError::invalid(format!(
        "`{name}` is a secret input and cannot be passed in arguments or input files (they end up in shell history and process lists); {how}"
    ))
}

fn describe_source(decl: &crate::input_decl::InputDecl) -> String {
    match (&decl.env, &decl.file) {
        (Some(env), _) => format!("missing credential: secret input `{}` reads ${env}, which is not set; export it before running", decl.name),
        (None, Some(file)) => format!("missing credential: secret input `{}` reads `{file}`, which does not exist", decl.name),
        _ => format!("missing credential: secret input `{}` has no source", decl.name),
    }
}

/// A secret's value from its `env:` variable, else its `file:` (relative to
/// `base` when given, else to the current directory).
fn read_secret(
    decl: &crate::input_decl::InputDecl,
    base: Option<&Path>,
) -> Result<Option<String>, CliError> {
    if let Some(env) = &decl.env {
        if let Ok(v) = std::env::var(env) {
            if !v.is_empty() {
                return Ok(Some(v));
            }
        }
    }
    if let Some(file) = &decl.file {
        let path = match (expand_home(file), base) {
            (path, Some(base)) if path.is_relative() => base.join(path),
            (path, _) => path,
        };
        match std::fs::read_to_string(&path) {
            Ok(v) => return Ok(Some(v.trim_end_matches(['\n', '\r']).to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CliError::invalid(format!(
                    "cannot read secret input `{}` from `{}`: {e}",
                    decl.name,
                    path.display()
                )))
            }
        }
    }
    Ok(None)
}

fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(path),
    }
}
