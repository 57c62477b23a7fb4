//! dosesim's binary: parse the command line, run the command, map the outcome to an exit
//! status: 0 success, 2 bad input or usage (clap's own usage errors also exit 2), 1 other.

use std::process::ExitCode;

use clap::Parser;
use dosesim::InputError;

mod cli;
mod cmd;

use cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cmd::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(input) = e.downcast_ref::<InputError>() {
                eprintln!("error: {input}");
                ExitCode::from(2)
            } else {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}
