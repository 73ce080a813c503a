use std::io::IsTerminal;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::checked_runbook::registry;
use crate::cli::{ExecArgs, OutputFormat, ResumeArgs, RunArgs};
use crate::cli_error::{exit, CliError};
use crate::console::Console;
use crate::json_console::JsonConsole;
use crate::local_run_store::LocalRunStore;
use crate::operator_prompt::TtyPrompt;
use crate::plain_console::PlainConsole;
use crate::run_launcher::{Launcher, NewRun, Prepared, Resume};
use crate::run_state::RunState;
use crate::run_store::RunStore;
use crate::scheduler::{DryRun, OperatorPrompt, RunConfig};
use crate::state_dir::{operator_name, StateDir};
use crate::templates::Templates;

pub fn run(args: RunArgs) -> Result<i32, CliError> {
    let dry_run = match args.dry_run.as_deref() {
        None => DryRun::Off,
        Some("probes") => DryRun::Probes,
        Some(_) => DryRun::Render,
    };
    let state = StateDir::resolve(args.common.state_dir.as_deref());
    if dry_run == DryRun::Off && !args.new {
        if let Some(unfinished) = unfinished_run(&state, &args.file) {
            return Err(CliError::invalid(format!(
                "run `{unfinished}` of this runbook has not finished; continue it with `lifeboat resume {unfinished}`, or pass --new to start another run alongside it"
            )));
        }
    }
    let config = RunConfig {
        dry_run,
        max_parallel: args.common.max_parallel as usize,
        operator: operator_name(args.common.operator.as_deref()),
    };
    execute(&args.common, state, |launcher| {
        launcher.start(NewRun {
            file: &args.file,
            inputs: &args.inputs,
            inputs_file: args.inputs_file.as_deref(),
            config,
            declared_at: args.declared_at.clone(),
        })
    })
}

pub fn resume(args: ResumeArgs) -> Result<i32, CliError> {
    let state = StateDir::resolve(args.common.state_dir.as_deref());
    let operator = operator_name(args.common.operator.as_deref());
    let runs_dir = state.runs();
    let result = execute(&args.common, state, |launcher| {
        launcher.resume(Resume {
            run_id: &args.run_id,
            from: args.from.as_deref(),
            allow_changed: args.allow_changed,
            max_parallel: args.common.max_parallel as usize,
            operator: operator.clone(),
        })
    });
    if matches!(&result, Err(e) if e.exit_code == exit::SUCCESS) {
        // Already finished: the engine that finished it may have been
        // killed before it wrote the timeline, so write it now. The journal
        // is already redacted.
        let _ = crate::timeline_writer::write(&runs_dir, &args.run_id, &Default::default());
    }
    result
}

fn execute(
    common: &ExecArgs,
    state: StateDir,
    prepare: impl FnOnce(&Launcher) -> Result<Prepared, CliError>,
) -> Result<i32, CliError> {
    let console: Arc<dyn Console> = match common.output {
        OutputFormat::Json => Arc::new(JsonConsole::stdout()),
        OutputFormat::Text => Arc::new(PlainConsole::stdout()),
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let prompt: Option<Arc<dyn OperatorPrompt>> = if interactive {
        Some(Arc::new(TtyPrompt))
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))?;
    let cancel = CancellationToken::new();
    let launcher = Launcher {
        state,
        registry: Arc::new(registry()),
        templates: Arc::new(Templates::new()),
        console: console.clone(),
        cancel: cancel.clone(),
        prompt,
    };
    let runs_dir = launcher.state.runs();
    runtime.block_on(async move {
        // The run id is the first line of output, before anything can fail
        // mid-run, so scripts can always find the run.
        let prepared = prepare(&launcher)?;
        let Prepared {
            run_id,
            scheduler,
            _lock,
            redactor,
        } = prepared;
        let watcher = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    cancel.cancel();
                }
            })
        };
        let outcome = scheduler.run().await;
        watcher.abort();
        // The timeline is written whatever the outcome: failed and paused
        // runs need it most.
        match crate::timeline_writer::write(&runs_dir, &run_id, &redactor) {
            Ok(dir) => console.info(&format!(
                "timeline: {}/timeline.md (also timeline.json, timeline.html)",
                dir.display()
            )),
            Err(e) => console.warn(None, &format!("could not write the timeline: {e}; `lifeboat timeline {run_id}` prints it")),
        }
        match outcome.exit_code() {
            exit::PAUSED => console.info(&format!("paused; when the above is done: lifeboat resume {run_id}")),
            exit::INTERRUPTED => console.info(&format!("interrupted; continue with: lifeboat resume {run_id}")),
            exit::STEP_FAILED => console.info(&format!("run {run_id} failed; the journal is in the state directory; fix the cause and `lifeboat resume {run_id}` retries the failed steps")),
            _ => {}
        }
        Ok(outcome.exit_code())
    })
}

/// A run of the same runbook that neither finished nor was a drill.
fn unfinished_run(state: &StateDir, file: &std::path::Path) -> Option<String> {
    let path = std::fs::canonicalize(file).ok()?;
    for id in state.run_ids().into_iter().rev() {
        let Ok(store) = LocalRunStore::open(&state.runs(), &id) else {
            continue;
        };
        let same = store
            .get_file("source_path")
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .is_some_and(|p| std::path::Path::new(&p) == path);
        if !same {
            continue;
        }
        let Ok(read) = store.read() else { continue };
        let run = RunState::replay(&read.records, &|_| Vec::new());
        if run.finished.is_none() && run.dry_run.is_none() {
            return Some(id);
        }
    }
    None
}
