use std::io::IsTerminal;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cli::error::{exit, outcome_exit_code, CliError};
use crate::cli::{ExecArgs, OutputFormat, ResumeArgs, RunArgs};
use crate::journal::run_state::RunState;
use crate::journal::run_stores::{DrivenBy, RunStores};
use crate::journal::state_dir::operator_name;
use crate::operator::console::Console;
use crate::operator::json_console::JsonConsole;
use crate::operator::plain_console::PlainConsole;
use crate::operator::prompt::TtyPrompt;
use crate::operator::question::InterruptChoice;
use crate::operator::question::OperatorPrompt;
use crate::operator::tty_console::TtyConsole;
use crate::run::launcher::{Launch, LaunchError, Launcher, NewRun, Prepared, Resume};
use crate::run::scheduler::{DryRun, RunConfig, RunOutcome};
use crate::runbook::checked_runbook::registry;
use crate::runbook::templates::Templates;

pub fn run(args: RunArgs) -> Result<i32, CliError> {
    let dry_run = match args.dry_run.as_deref() {
        None => DryRun::Off,
        Some("probes") => DryRun::Probes,
        Some(_) => DryRun::Render,
    };
    let operator = operator_name(args.common.operator.as_deref());
    let stores = stores(&args.common, &operator)?;
    if dry_run == DryRun::Off && !args.new {
        if let Some(unfinished) = unfinished_run(&stores, &args.file) {
            return Err(CliError::invalid(format!(
                "run `{unfinished}` of this runbook has not finished; continue it with `lifeboat resume {unfinished}`, or pass --new to start another run alongside it"
            )));
        }
    }
    let config = RunConfig {
        dry_run,
        max_parallel: args.common.max_parallel as usize,
        operator,
        wait: args.common.wait,
    };
    execute(&args.common, stores, |launcher| {
        launcher
            .start(NewRun {
                file: &args.file,
                inputs: &args.inputs,
                inputs_file: args.inputs_file.as_deref(),
                config,
                declared_at: args.declared_at.clone(),
                recipients: args.common.recipients.as_deref(),
                notify: args.common.notify,
            })
            .map(|prepared| Launch::Ready(Box::new(prepared)))
    })
}

pub fn resume(args: ResumeArgs) -> Result<i32, CliError> {
    let operator = operator_name(args.common.operator.as_deref());
    let stores = stores(&args.common, &operator)?;
    if args.take_over {
        confirm_take_over(&stores, &args)?;
    }
    execute(&args.common, stores, |launcher| {
        launcher.resume(Resume {
            run_id: &args.run_id,
            from: args.from.as_deref(),
            allow_changed: args.allow_changed,
            redo: &args.redo,
            reason: args.reason.as_deref(),
            yes: args.yes,
            max_parallel: args.common.max_parallel as usize,
            operator: operator.clone(),
            wait: args.common.wait,
            take_over: args.take_over,
            recipients: args.common.recipients.as_deref(),
            identity: args.identity.as_deref(),
            notify: args.common.notify,
        })
    })
}

/// Where runs live, for `run` and `resume`: the lease names `operator`.
fn stores(common: &ExecArgs, operator: &str) -> Result<RunStores, CliError> {
    Ok(common
        .location
        .stores()?
        .with_holder(operator)
        .with_store_timeout(common.store_timeout))
}

/// `resume --take-over` of a run another engine drives: asked at a
/// terminal, refused without one unless `--yes` is given.
fn confirm_take_over(stores: &RunStores, args: &ResumeArgs) -> Result<(), CliError> {
    let DrivenBy::Lease(driver) = stores.driver(&args.run_id)? else {
        // Nobody drives it: a plain resume. A local lock is refused by the
        // launcher with its own message.
        return Ok(());
    };
    let run = &args.run_id;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if args.yes {
        return Ok(());
    }
    if !interactive {
        return Err(CliError::invalid(format!(
            "run `{run}` is driven by {driver}; taking it over without a terminal to confirm at needs --yes (first make sure that engine is gone: its machine is down or its process is stopped); nothing changed"
        )));
    }
    if TtyPrompt::new(None).take_over(run, &driver.to_string()) {
        Ok(())
    } else {
        Err(CliError::invalid(format!(
            "not taken over; run `{run}` is still driven by {driver}; nothing changed"
        )))
    }
}

fn execute(
    common: &ExecArgs,
    stores: RunStores,
    prepare: impl FnOnce(&Launcher) -> Result<Launch, LaunchError>,
) -> Result<i32, CliError> {
    crate::operator::colour::configure_from_env();
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if common.step && !interactive {
        return Err(CliError::invalid(
            "--step asks before each step and needs a terminal; run it from an interactive shell, or drop --step",
        ));
    }
    let tty_console =
        (interactive && common.output == OutputFormat::Text && std::io::stderr().is_terminal())
            .then(|| Arc::new(TtyConsole::stdout()));
    let console: Arc<dyn Console> = match (common.output, &tty_console) {
        (OutputFormat::Json, _) => Arc::new(JsonConsole::stdout()),
        (OutputFormat::Text, Some(tty)) => tty.clone(),
        (OutputFormat::Text, None) => Arc::new(PlainConsole::stdout()),
    };
    let prompt: Option<Arc<dyn OperatorPrompt>> = if interactive {
        Some(Arc::new(TtyPrompt::new(Some(console.clone()))))
    } else {
        None
    };
    // A run that may ask questions at a terminal gets worker threads, so a
    // question never stalls running steps (prompts use block_in_place).
    // Otherwise one thread: steps mostly wait on children and sockets, and
    // cross-thread wake-ups cost more per step than the work itself
    // (see benches/overhead.rs).
    let prompt_for_interrupts = prompt.clone();
    let mut builder = if prompt.is_some() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))?;
    let cancel = CancellationToken::new();
    let pause = CancellationToken::new();
    // Retries of an unreachable store are shown as they happen.
    let observed = console.clone();
    let stores = stores.with_observer(Arc::new(move |event| {
        observed.warn(None, &event.to_string())
    }));
    let signer = common
        .sign
        .signer()
        .map_err(|e| CliError::invalid(format!("{e}; nothing changed")))?
        .map(Arc::new);
    let launcher = Launcher {
        signer,
        allowed_signers: common.sign.allowed_signers.clone(),
        stores,
        registry: Arc::new(registry()),
        templates: Arc::new(Templates::new()),
        console: console.clone(),
        cancel: cancel.clone(),
        prompt,
        step_through: common.step,
        pause: pause.clone(),
    };
    runtime.block_on(async move {
        // The run id is the first line of output, before anything can fail
        // mid-run, so scripts can always find the run.
        let prepared = match prepare(&launcher)? {
            Launch::Ready(prepared) => prepared,
            Launch::AlreadySucceeded { run_id } => {
                // The engine that finished the run may have been killed
                // before it wrote the timeline, so write it now. The journal
                // is already redacted.
                if let Ok(store) = launcher.stores.open(&run_id) {
                    let _ = crate::report::timeline_writer::write(&*store, &run_id, &Default::default());
                }
                // Nothing to do is not an error: the run is done.
                eprintln!("note: run `{run_id}` already succeeded; nothing to resume (use --from CHECKPOINT, or --redo STEP --reason TEXT, to re-run part of it)");
                return Ok(exit::SUCCESS);
            }
        };
        let Prepared {
            run_id,
            scheduler,
            _lock,
            store,
            redactor,
            drill_work,
            notifier,
        } = *prepared;
        if let Some(tty) = &tty_console {
            tty.set_plan(scheduler.progress_plan());
        }
        let watcher = tokio::spawn(interrupt_watcher(
            cancel.clone(),
            pause.clone(),
            prompt_for_interrupts,
            console.clone(),
        ));
        let outcome = scheduler.run().await;
        watcher.abort();
        // What is still being delivered gets a bounded time; what is not
        // delivered then is journalled, before the timeline counts it.
        if let Some(notifier) = &notifier {
            notifier.finish().await;
        }
        // A drill leaves nothing in the work directory.
        drop(drill_work);
        if let Some(tty) = &tty_console {
            tty.finish();
        }
        // The timeline is written whatever the outcome: failed and paused
        // runs need it most.
        match crate::report::timeline_writer::write_with(&*store, &run_id, &redactor, Some(&launcher.stores)) {
            Ok(dir) => console.info(&format!(
                "timeline: {}/timeline.md (also timeline.json, timeline.html)",
                dir.display()
            )),
            Err(e) => console.warn(None, &format!("could not write the timeline: {e}; `lifeboat timeline {run_id}` prints it")),
        }
        // After the timeline, so what is pushed includes this run's end.
        if let Some(url) = &common.push_metrics {
            match crate::cli::commands::metrics::push(&launcher.stores, url).await {
                Ok(to) => console.info(&format!("metrics: pushed to {to}")),
                Err(e) => console.warn(None, &e),
            }
        }
        match outcome {
            RunOutcome::Paused => console.info(&format!("paused; when the above is done: lifeboat resume {run_id}")),
            // Another engine drives the run now: resuming it here would
            // wait for, or take, that engine's lease.
            RunOutcome::Interrupted if store.lost_lease().is_some_and(|l| l.fired()) => console.warn(None, &format!(
                "stopped: another engine drives run {run_id} now (named above); do not resume it here unless that engine is gone (`lifeboat status {run_id}` names the driver)"
            )),
            RunOutcome::Interrupted => console.info(&format!("interrupted; continue with: lifeboat resume {run_id}")),
            RunOutcome::Failed => console.info(&format!("run {run_id} failed; the journal is in the state directory; fix the cause and `lifeboat resume {run_id}` retries the failed steps")),
            RunOutcome::Succeeded => {}
        }
        Ok(outcome_exit_code(outcome))
    })
}

/// Ctrl-C handling. The first Ctrl-C asks "pause or abort?" at a terminal
/// and stops running steps without one. Pause means: nothing new starts,
/// running steps finish, the run exits 130 and is resumable. A second Ctrl-C aborts at once: running
/// steps are cancelled and their children stopped (they run in their own
/// process groups, so the terminal's SIGINT reaches only Lifeboat).
async fn interrupt_watcher(
    cancel: CancellationToken,
    pause: CancellationToken,
    prompt: Option<Arc<dyn OperatorPrompt>>,
    console: Arc<dyn Console>,
) {
    const PAUSING: &str = "pausing: nothing new starts; running steps finish, then the run stops (resumable). Ctrl-C again aborts at once";
    // SIGTERM (kill, systemd, CI cancellation) and SIGHUP (a closed
    // terminal) stop running steps cleanly, like SIGINT without a terminal:
    // children live in their own process groups and would otherwise be
    // orphaned while a resume starts them again.
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => if r.is_err() { return },
        _ = term.recv() => {
            console.info("terminated: stopping running steps (the run is resumable)");
            cancel.cancel();
            return;
        }
        _ = hup.recv() => {
            console.info("hang-up: stopping running steps (the run is resumable)");
            cancel.cancel();
            return;
        }
    }
    // Bounded: each pass needs a Ctrl-C and a "continue".
    for _ in 0..1000 {
        let Some(prompt) = prompt.clone() else {
            // No terminal to ask: whoever sent SIGINT (a script, CI, a
            // supervisor) wants the process to stop, not to wait for a
            // long step. Stop the children cleanly; the run is resumable.
            console.info("interrupted: stopping running steps (the run is resumable)");
            cancel.cancel();
            return;
        };
        // A plain thread, not spawn_blocking: an abandoned question must not
        // keep the runtime from shutting down.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(prompt.interruption());
        });
        tokio::select! {
            choice = rx => match choice.unwrap_or(InterruptChoice::Pause) {
                InterruptChoice::Pause => {
                    pause.cancel();
                    console.info(PAUSING);
                    break;
                }
                InterruptChoice::Abort => {
                    console.info("aborting: stopping running steps");
                    cancel.cancel();
                    return;
                }
                InterruptChoice::Continue => {
                    console.info("continuing");
                    if tokio::signal::ctrl_c().await.is_err() {
                        return;
                    }
                }
            },
            _ = tokio::signal::ctrl_c() => {
                console.info("aborting: stopping running steps");
                cancel.cancel();
                return;
            }
        }
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        console.info("aborting: stopping running steps");
        cancel.cancel();
    }
}

/// A run of the same runbook that neither finished nor was a drill.
fn unfinished_run(stores: &RunStores, file: &std::path::Path) -> Option<String> {
    let path = std::fs::canonicalize(file).ok()?;
    for id in stores.list().ok()? {
        let Ok(store) = stores.open(&id) else {
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
