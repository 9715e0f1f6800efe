//! `evidence-auditor prove` and `check-proof`: export one item with its inclusion proof, signed
//! checkpoint and time stamp into a directory, and check such a directory offline.

use std::path::PathBuf;

use clap::Args;
use evidence_archive::proof::{ExportAnchors, ProofError, ProofSource, check_item_proof};

use crate::exit::{EXIT_FAILED, EXIT_OK};
use crate::trust_cmd::{TrustArgs, print_trust};

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The item's id, e.g. `governance-docs-policies-ai-policy.md-9a1bbafa423a`.
    #[arg(value_name = "ITEM-ID")]
    pub item: String,
    /// The archive directory holding it (verified first; nothing is exported from an archive
    /// that does not verify).
    #[arg(long, value_name = "PATH")]
    pub archive: PathBuf,
    /// The directory to write (created; must be new or empty). `--out` is its old name.
    #[arg(long, short, alias = "out", value_name = "DIR")]
    pub output: PathBuf,
    /// Trust anchors used to verify the archive; they are copied into the proof directory.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Verify the archive and export the item's proof.
pub fn prove(args: &ProveArgs) -> anyhow::Result<u8> {
    let loaded = args.trust.load()?;
    let source = match ProofSource::open(&args.archive, &loaded.options) {
        Ok(s) => s,
        Err(e @ ProofError::ArchiveInvalid { .. }) => {
            eprintln!("evidence-auditor: {e}; `evidence-auditor verify` lists the problems");
            return Ok(EXIT_FAILED);
        }
        Err(e) => return Err(e.into()),
    };
    let anchors = ExportAnchors {
        allowed_signers: loaded.allowed_signers_bytes.as_deref(),
        tsa_roots: loaded.tsa_roots_bytes.as_deref(),
    };
    let exported = source.export_item(&args.item, &args.output, &anchors)?;
    if args.json {
        crate::outln!("{}", serde_json::to_string(&exported)?);
    } else {
        crate::outln!(
            "Exported item {} (run {}, tree size {}) to {}:",
            exported.item,
            exported.run,
            exported.tree_size,
            exported.dir.display()
        );
        for f in &exported.files {
            crate::outln!("  {f}");
        }
        if !exported.signed {
            crate::outln!("Note: the run's checkpoint is not signed (format 1.0 bundle).");
        }
        crate::outln!(
            "Check it with `evidence-auditor check-proof {}`; its README.txt shows the stock-tool commands.",
            exported.dir.display()
        );
    }
    Ok(EXIT_OK)
}

#[derive(Debug, Args)]
pub struct CheckProofArgs {
    /// A directory written by `evidence-auditor prove`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Trust anchors; by default those the exporting auditor copied into the directory.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Check a proof directory; exit 0 when it holds, 1 when it does not.
pub fn check_proof(args: &CheckProofArgs) -> anyhow::Result<u8> {
    if !args.dir.is_dir() {
        anyhow::bail!("{} is not a directory", args.dir.display());
    }
    let loaded = args.trust.load()?;
    let check = check_item_proof(&args.dir, &loaded.options);
    if args.json {
        crate::outln!("{}", serde_json::to_string(&check)?);
    } else {
        crate::outln!(
            "Proof of item {} — run {} of {}",
            check.item.as_deref().unwrap_or("?"),
            check.run.map_or("?".into(), |r| r.to_string()),
            check.origin.as_deref().unwrap_or("?")
        );
        if let Some(t) = &check.trust {
            print_trust(t, "  ");
        }
        crate::outln!(
            "  trust anchors: {}",
            match check.anchors.as_str() {
                "directory" => "the allowed_signers / tsa-roots.pem copied into the directory",
                "options" => "the files given on the command line",
                _ => "none: signatures and time stamp are checked for consistency only",
            }
        );
        crate::commands::verify::print_problems(&check.problems, "  ");
        crate::outln!();
        if check.valid {
            crate::outln!(
                "VALID: the item's files are leaves of the run's checkpoint, and its signature and time stamp hold."
            );
        } else {
            let n = check.problems.iter().filter(|p| p.is_error()).count();
            crate::outln!("FAILED: {n} problem(s).");
        }
    }
    Ok(if check.valid { EXIT_OK } else { EXIT_FAILED })
}
