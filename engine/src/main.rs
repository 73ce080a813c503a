//! The `lifeboat` binary: parse, dispatch, report, exit.

use clap::Parser;

fn main() {
    // Like other Unix tools, stop quietly when the reader goes away
    // (`lifeboat runs | head`) instead of panicking in `println!`.
    // SAFETY: restoring the default disposition of SIGPIPE before any
    // thread starts; no handler is installed.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = lifeboat::cli::Cli::parse();
    let code = match lifeboat::commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            // An "error" that exits 0 (nothing to do) is a note.
            let label = if err.exit_code == lifeboat::cli_error::exit::SUCCESS {
                "note"
            } else {
                "error"
            };
            if !err.message.is_empty() {
                eprintln!("{label}: {}", err.message);
            }
            err.exit_code
        }
    };
    std::process::exit(code);
}
