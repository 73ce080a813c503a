use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{FileSealer, NoProgress, Progress, Redactor};

/// What a running step may use. Built by the engine for every attempt.
#[derive(Clone)]
pub struct StepContext {
    /// The step's id, for progress reports and messages.
    pub step_id: String,
    /// A private directory for this run (mode 0700). Relative paths in
    /// parameters are resolved against it by kinds that write files.
    pub work_dir: PathBuf,
    /// True when the engine runs this step only to plan (see
    /// [`crate::StepKind::plans_in_dry_run`]): nothing may change.
    pub dry_run: bool,
    /// Cancelled on timeout, Ctrl-C or abort. Kinds must stop promptly.
    pub cancel: CancellationToken,
    /// Live progress and output lines.
    pub progress: Arc<dyn Progress>,
    /// Secret values to keep out of messages and outputs.
    pub redactor: Redactor,
    /// Values for the variables a script field refers to (see
    /// [`crate::StepKind::script_fields`]), passed as environment variables.
    pub env: Vec<(String, String)>,
    /// The directory `lifeboat run` was started from (kept for the whole
    /// run, resumes included). Programs named by a relative path resolve
    /// against it, as they would at the operator's prompt.
    pub launch_dir: PathBuf,
    /// Seals the files a step writes with secrets in them (`vault.init`'s
    /// `output_file`) to the run's recipients, and opens them again; `None`
    /// when the run has no recipients: such files are written in clear,
    /// mode 0600.
    pub file_sealer: Option<Arc<dyn FileSealer>>,
}

impl StepContext {
    /// A context for tests and tools: a given work directory, the current
    /// directory as the launch directory, no progress, no secrets, never
    /// cancelled.
    pub fn standalone(step_id: &str, work_dir: impl Into<PathBuf>) -> Self {
        let work_dir = work_dir.into();
        Self {
            step_id: step_id.to_string(),
            launch_dir: std::env::current_dir().unwrap_or_else(|_| work_dir.clone()),
            work_dir,
            dry_run: false,
            cancel: CancellationToken::new(),
            progress: Arc::new(NoProgress),
            redactor: Redactor::new(),
            env: Vec::new(),
            file_sealer: None,
        }
    }

    /// Resolves a path parameter against the work directory.
    pub fn path(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.work_dir.join(p)
        }
    }
}
