//! The `lifeboat` binary: parse, dispatch, report, exit.

use clap::Parser;

fn main() {
    let cli = lifeboat::Cli::parse();
    // Read-only commands stop quietly when the reader goes away, like other
    // Unix tools (`lifeboat runs | head`), instead of panicking in
    // `println!`. A run or resume must never die because a pipe closed
    // (`lifeboat run F | head -1`): SIGPIPE stays ignored (Rust's default),
    // its consoles treat EPIPE as "stdout closed" and the run carries on.
    // Children get the default disposition back (std resets it on spawn).
    // Nor may `serve` die because a page's connection closed.
    let keeps_running = matches!(
        cli.command,
        lifeboat::Command::Run(_) | lifeboat::Command::Resume(_) | lifeboat::Command::Serve(_)
    );
    if !keeps_running {
        // SAFETY: restoring the default disposition of SIGPIPE before any
        // thread starts; no handler is installed.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let code = match lifeboat::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprint!("{}", err.report());
            err.exit_code
        }
    };
    std::process::exit(code);
}
