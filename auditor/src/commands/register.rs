//! `evidence-auditor register export|import`: the finding and corrective-action registers as
//! spreadsheets, for auditors who work in them; both import back strictly.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

use super::{EngagementFile, now, open};
use crate::engagement::improvement::register::Register;
use crate::engagement::improvement::utc_date;
use crate::exit::EXIT_OK;
use crate::outln;

/// Which register (for the command line).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RegisterArg {
    Findings,
    Actions,
}

impl From<RegisterArg> for Register {
    fn from(r: RegisterArg) -> Self {
        match r {
            RegisterArg::Findings => Register::Findings,
            RegisterArg::Actions => Register::Actions,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RegisterCommand {
    /// Write a register as XLSX or CSV (chosen by the extension), statuses as of today.
    #[command(
        after_help = "Example:\n  evidence-auditor register export actions --output actions.xlsx"
    )]
    Export {
        register: RegisterArg,
        /// The file to write (.xlsx or .csv).
        #[arg(long, short)]
        output: PathBuf,
        #[command(flatten)]
        file: EngagementFile,
    },
    /// Import a filled register (which one is read from its sheet or header). Action register:
    /// plan changes are updated and a new effectiveness review goes through the same rules as
    /// `action close`. Finding register: rows without an id are new findings, checked as
    /// `finding add` checks them; recorded findings must be unchanged. Every problem is listed
    /// with its row and column; nothing is stored unless there is none.
    #[command(after_help = "Example:\n  evidence-auditor register import actions.xlsx")]
    Import {
        /// The filled register (.xlsx or .csv).
        path: PathBuf,
        #[command(flatten)]
        file: EngagementFile,
    },
}

/// `evidence-auditor register …`.
pub fn run_register(c: &RegisterCommand) -> anyhow::Result<u8> {
    match c {
        RegisterCommand::Export {
            register,
            output,
            file,
        } => {
            let rows = open(file)?.export_register((*register).into(), output, utc_date(now()))?;
            outln!("Wrote {} ({rows} row(s)).", output.display());
        }
        RegisterCommand::Import { path, file } => match open(file)?.import_register(path, now())? {
            (Register::Actions, n) => outln!("Imported {}: {n} action(s) changed.", path.display()),
            (Register::Findings, n) => outln!("Imported {}: {n} finding(s) added.", path.display()),
        },
    }
    Ok(EXIT_OK)
}
