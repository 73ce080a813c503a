//! The `lifeboat` binary: parse, dispatch, report, exit.

use clap::Parser;

fn main() {
    let cli = lifeboat::cli::Cli::parse();
    let code = match lifeboat::commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            if !err.message.is_empty() {
                eprintln!("error: {}", err.message);
            }
            err.exit_code
        }
    };
    std::process::exit(code);
}
