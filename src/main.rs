//! The `hemolink` binary: parses the command line and runs it.

use clap::Parser;

fn main() -> std::process::ExitCode {
    hemolink::cli::run(hemolink::cli::Cli::parse())
}
