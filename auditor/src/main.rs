//! evidence-auditor's entry point: parse the command line and hand over to the library.

use clap::Parser;
use evidence_auditor::cli::{Cli, json_error, json_requested, run};

fn main() -> std::process::ExitCode {
    let json_errors = json_requested(std::env::args_os());
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if json_errors && e.use_stderr() {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or("invalid command line");
                println!("{}", json_error(first.trim_start_matches("error: "), 2));
            }
            e.exit()
        }
    };
    run(cli, json_errors)
}
