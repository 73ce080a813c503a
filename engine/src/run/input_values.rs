//! Resolving a run's input values: `--input k=v`, `--inputs FILE`, the
//! runbook's defaults, and secrets from their environment variable or file.

use std::path::Path;

use lifeboat_steps::{Redactor, MIN_SECRET_CHARS};
use serde_json::{Map, Value};

use crate::runbook::diagnostic::did_you_mean;
use crate::runbook::input_decl::InputDecl;
use crate::runbook::Runbook;

/// A problem with the inputs of a run, found before anything runs. No
/// variant holds a secret value: a secret is named, never shown.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Each line names a missing input and how to give it.
    #[error("missing input{}:\n  {}", if .0.len() > 1 { "s" } else { "" }, .0.join("\n  "))]
    Missing(Vec<String>),
    /// Each line names a secret a resume could not read again.
    #[error("secrets are read again on resume and never taken from the journal; missing:\n  {}", .0.join("\n  "))]
    SecretsMissingOnResume(Vec<String>),
    #[error("cannot read inputs file `{}`: {error}", path.display())]
    FileUnreadable {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("inputs file `{}` is not a YAML or JSON mapping: {problem}", path.display())]
    FileNotYaml {
        path: std::path::PathBuf,
        problem: String,
    },
    #[error("inputs file `{}` must be a mapping of input name to value", path.display())]
    FileNotMapping { path: std::path::PathBuf },
    #[error("inputs file `{}`: `{name}` must be a {ty}, got {value}", path.display())]
    FileWrongType {
        path: std::path::PathBuf,
        name: String,
        ty: &'static str,
        value: Value,
    },
    #[error("--input `{flag}` must look like name=value")]
    NotNameValue { flag: String },
    /// A `--input` value that is not of the declared type (the
    /// declaration's own message).
    #[error("{0}")]
    WrongType(String),
    /// `given_in` is where it was given: `--input` or an inputs file.
    #[error("{given_in}: unknown input `{name}`; {hint}")]
    Unknown {
        given_in: String,
        name: String,
        hint: String,
    },
    #[error("`{name}` is a secret input and cannot be passed in arguments or input files (they end up in shell history and process lists); {}", match env { Some(e) => format!("export {e}=... instead"), None => "use the file named in its declaration".into() })]
    SecretGiven { name: String, env: Option<String> },
    #[error("secret input `{name}` is {chars} character{} long; secrets shorter than {MIN_SECRET_CHARS} characters cannot be redacted reliably, so Lifeboat refuses them: use a longer value, or declare `{name}` `type: string` if it is not secret", if *chars == 1 { "" } else { "s" })]
    SecretTooShort { name: String, chars: usize },
    /// Each line names a non-secret input and the secret input whose value
    /// it holds.
    #[error("a non-secret input holds a secret, and non-secret inputs are journalled in clear:\n  {}\nremove the secret from {}, refer to the secret input in the runbook instead, or declare the input `type: secret`", .0.join("\n  "), if .0.len() > 1 { "those inputs" } else { "that input" })]
    SecretInClear(Vec<String>),
    #[error("cannot read secret input `{name}` from `{}`: {error}", path.display())]
    SecretUnreadable {
        name: String,
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

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
) -> Result<InputValues, InputError> {
    let mut given = given(runbook, flags, file)?;
    let mut all = Map::new();
    let mut secret_names = Vec::new();
    let mut missing = Vec::new();
    for decl in &runbook.inputs {
        if decl.is_secret() {
            secret_names.push(decl.name.clone());
            match read_secret(decl, None) {
                Ok(Some(value)) => {
                    check_secret_length(&decl.name, &value, dry_run, warn)?;
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
        return Err(InputError::Missing(missing));
    }
    let values = InputValues { all, secret_names };
    let mode = if dry_run {
        Collision::Warn
    } else {
        Collision::Refuse
    };
    check_collisions(&values, mode, warn)?;
    Ok(values)
}

/// The inputs given with `--inputs FILE` and `--input name=value` (later
/// ones win), each checked against its declaration: known, not a secret,
/// of the declared type. `plan` checks them this way too.
pub fn given(
    runbook: &Runbook,
    flags: &[String],
    file: Option<&Path>,
) -> Result<Map<String, Value>, InputError> {
    let mut given: Map<String, Value> = Map::new();

    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|error| InputError::FileUnreadable {
            path: path.to_path_buf(),
            error,
        })?;
        let value: Value = serde_saphyr::from_str(&text).map_err(|e| InputError::FileNotYaml {
            path: path.to_path_buf(),
            problem: e.to_string().lines().next().unwrap_or("").to_string(),
        })?;
        let Value::Object(map) = value else {
            return Err(InputError::FileNotMapping {
                path: path.to_path_buf(),
            });
        };
        for (k, v) in map {
            let decl = known(runbook, &k, &format!("inputs file `{}`", path.display()))?;
            if decl.is_secret() {
                return Err(secret_given(&k, decl.env.as_deref()));
            }
            if !decl.accepts(&v) {
                return Err(InputError::FileWrongType {
                    path: path.to_path_buf(),
                    name: k,
                    ty: decl.ty.as_str(),
                    value: v,
                });
            }
            given.insert(k, v);
        }
    }
    for flag in flags {
        let Some((k, v)) = flag.split_once('=') else {
            return Err(InputError::NotNameValue { flag: flag.clone() });
        };
        let decl = known(runbook, k.trim(), "--input")?;
        if decl.is_secret() {
            return Err(secret_given(k, decl.env.as_deref()));
        }
        given.insert(
            k.trim().to_string(),
            decl.coerce(v).map_err(InputError::WrongType)?,
        );
    }
    Ok(given)
}

/// Makes `path` and `program` values independent of the directory a step
/// runs in, or a resume is started from: a relative path (for a `program`,
/// one with a `/`; a bare name stays a name, looked up on `PATH`) is joined
/// to `launch_dir`, and `~/` expands. The anchored values are the ones the
/// journal records, so a resume resolves them the same way.
pub fn anchor_paths(runbook: &Runbook, all: &mut Map<String, Value>, launch_dir: &Path) {
    for decl in &runbook.inputs {
        if let Some(value) = all.get_mut(&decl.name) {
            anchor_input(decl, value, launch_dir);
        }
    }
}

/// [`anchor_paths`] for one value of the input `decl`: the one rule, for
/// the top runbook's inputs and a call's (`scheduler/calls.rs`), so that a
/// relative path means the same file wherever it is given.
pub fn anchor_input(decl: &InputDecl, value: &mut Value, launch_dir: &Path) {
    use crate::runbook::input_decl::InputType;
    let Value::String(text) = value else {
        return;
    };
    let anchored = match decl.ty {
        InputType::Path => anchor(text, launch_dir),
        InputType::Program if text.contains('/') => anchor(text, launch_dir),
        _ => return,
    };
    *value = Value::String(anchored);
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
    warn: &dyn Fn(&str),
) -> Result<InputValues, InputError> {
    let mut all = public.clone();
    let mut secret_names = Vec::new();
    let mut missing = Vec::new();
    for decl in runbook.inputs.iter().filter(|d| d.is_secret()) {
        secret_names.push(decl.name.clone());
        match read_secret(decl, Some(launch_dir))? {
            Some(v) => {
                check_secret_length(&decl.name, &v, dry_run, warn)?;
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
        return Err(InputError::SecretsMissingOnResume(missing));
    }
    let values = InputValues { all, secret_names };
    // The inputs are already journalled: refusing would only block the
    // recovery, so a resume warns.
    check_collisions(&values, Collision::Warn, warn)?;
    Ok(values)
}

/// Secrets shorter than this are accepted with a warning: a short value
/// turns up inside ordinary text (`root` in `/data/rootdir`), and every
/// display then shows that text redacted.
pub const SHORT_SECRET_CHARS: usize = 8;

/// Refuses a secret input too short to be redacted ([`MIN_SECRET_CHARS`]:
/// the redactor ignores such values rather than hide every `ok` or `42`; a
/// drill only warns), and warns about one short enough to collide with
/// ordinary text.
fn check_secret_length(
    name: &str,
    value: &str,
    dry_run: bool,
    warn: &dyn Fn(&str),
) -> Result<(), InputError> {
    let chars = value.trim().chars().count();
    if chars < MIN_SECRET_CHARS {
        let refusal = InputError::SecretTooShort {
            name: name.to_string(),
            chars,
        };
        if dry_run {
            warn(&format!("{refusal} (a real run stops here)"));
            return Ok(());
        }
        return Err(refusal);
    }
    if chars < SHORT_SECRET_CHARS {
        warn(&format!(
            "secret input `{name}` is only {chars} characters long; it is redacted wherever it appears, inside other words too, so output may show `{}` where you do not expect it; a longer secret avoids this",
            lifeboat_steps::REDACTED
        ));
    }
    Ok(())
}

/// How [`check_collisions`] treats a non-secret input that holds a whole
/// secret of [`SHORT_SECRET_CHARS`] or more.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Collision {
    /// A new real run: refuse, before anything reaches disk.
    Refuse,
    /// A drill, or a resume (whose inputs are already journalled): warn.
    Warn,
}

/// Checks every non-secret input for a secret input's whole value, ASCII
/// case-insensitively (as redaction matches). Non-secret inputs are
/// journalled exactly, so a secret typed into one would reach disk in
/// clear: a real run refuses it when the secret has [`SHORT_SECRET_CHARS`]
/// or more, naming both inputs and never the value. A shorter secret is
/// more likely an accidental collision (`root` in `/data/rootdir`) and
/// only warns, as do drills and resumes.
fn check_collisions(
    values: &InputValues,
    mode: Collision,
    warn: &dyn Fn(&str),
) -> Result<(), InputError> {
    let secrets: Vec<(&String, String)> = values
        .secret_names
        .iter()
        .filter_map(|n| Some((n, values.all.get(n)?.as_str()?.trim())))
        .filter(|(_, v)| v.chars().count() >= MIN_SECRET_CHARS)
        .map(|(n, v)| (n, v.to_ascii_lowercase()))
        .collect();
    if secrets.is_empty() {
        return Ok(());
    }
    let mut refused = Vec::new();
    for (name, value) in &values.all {
        if values.secret_names.contains(name) {
            continue;
        }
        let text = match value {
            Value::String(s) => s.to_ascii_lowercase(),
            other => other.to_string().to_ascii_lowercase(),
        };
        for (secret, secret_value) in &secrets {
            if !text.contains(secret_value.as_str()) {
                continue;
            }
            let long = secret_value.chars().count() >= SHORT_SECRET_CHARS;
            if long && mode == Collision::Refuse {
                refused.push(format!(
                    "`{name}` contains the value of secret input `{secret}`"
                ));
            } else if long {
                warn(&format!(
                    "input `{name}` contains the value of secret input `{secret}`; `{name}` is not secret and is journalled exactly as given, so that value is on disk in clear (a real run refuses this): pass it only through `{secret}`"
                ));
            } else {
                warn(&format!(
                    "input `{name}` contains the value of secret input `{secret}`; `{name}` is kept exactly as given, but the console and the timeline show that part of it as `{}`",
                    lifeboat_steps::REDACTED
                ));
            }
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(InputError::SecretInClear(refused))
}

fn known<'a>(
    runbook: &'a Runbook,
    name: &str,
    source: &str,
) -> Result<&'a crate::runbook::input_decl::InputDecl, InputError> {
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
        InputError::Unknown {
            given_in: source.to_string(),
            name: name.to_string(),
            hint,
        }
    })
}

fn secret_given(name: &str, env: Option<&str>) -> InputError {
    InputError::SecretGiven {
        name: name.to_string(),
        env: env.map(String::from),
    }
}

fn describe_source(decl: &crate::runbook::input_decl::InputDecl) -> String {
    match (&decl.env, &decl.file) {
        (Some(env), _) => format!("missing credential: secret input `{}` reads ${env}, which is not set; export it before running", decl.name),
        (None, Some(file)) => format!("missing credential: secret input `{}` reads `{file}`, which does not exist", decl.name),
        _ => format!("missing credential: secret input `{}` has no source", decl.name),
    }
}

/// A secret's value from its `env:` variable, else its `file:` (relative to
/// `base` when given, else to the current directory).
fn read_secret(
    decl: &crate::runbook::input_decl::InputDecl,
    base: Option<&Path>,
) -> Result<Option<String>, InputError> {
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
                return Err(InputError::SecretUnreadable {
                    name: decl.name.clone(),
                    path,
                    error: e,
                })
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
