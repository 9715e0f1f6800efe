//! evidence-agent's entry point: parse the command line and hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    evidence_agent::cli::run(evidence_agent::cli::Cli::parse())
}
