//! evidence-auditor's entry point: parse the command line and hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    evidence_auditor::cli::run(evidence_auditor::cli::Cli::parse())
}
