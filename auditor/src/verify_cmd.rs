//! `evidence-auditor verify`: verify an archive directory or one bundle and print the report,
//! for a person or as one JSON object.

use std::path::Path;

use anyhow::{Context, bail};
use evidence_archive::verify::{
    ArchiveReport, BundleReport, NoVisitor, Problem, Severity, verify_archive, verify_bundle,
};
use indicatif::HumanBytes;

use crate::cli::{EXIT_FAILED, EXIT_OK};

/// Verify `path` and print the result; the exit code says whether it verified.
pub fn verify(path: &Path, json: bool) -> anyhow::Result<u8> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        let report = verify_archive(path, &mut NoVisitor);
        if report.bundles.is_empty() && report.problems.iter().any(|p| p.category == "io") {
            bail!("{}", report.problems[0].message);
        }
        if json {
            crate::outln!("{}", serde_json::to_string(&report)?);
        } else {
            print_archive(&report);
        }
        Ok(if report.valid { EXIT_OK } else { EXIT_FAILED })
    } else {
        let report = verify_bundle(path, &mut NoVisitor);
        let valid = report.is_valid();
        if json {
            let mut v = serde_json::to_value(&report)?;
            v["valid"] = valid.into();
            crate::outln!("{v}");
        } else {
            print_bundle(&report);
            crate::outln!();
            if valid {
                crate::outln!("VALID: the bundle is intact and its log segment is consistent.");
                crate::outln!(
                    "(Verify the whole archive directory to check the chain between runs.)"
                );
            } else {
                crate::outln!("FAILED: {} problem(s).", errors(&report.problems));
            }
        }
        Ok(if valid { EXIT_OK } else { EXIT_FAILED })
    }
}

fn errors(problems: &[Problem]) -> usize {
    problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count()
}

fn print_problem(p: &Problem, indent: &str) {
    let mark = match p.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    match &p.entry {
        Some(entry) => crate::outln!("{indent}{mark}: {entry}: {}", p.message),
        None => crate::outln!("{indent}{mark}: {}", p.message),
    }
}

fn print_bundle(b: &BundleReport) {
    match &b.summary {
        Some(s) => {
            let status = if b.is_valid() { "ok" } else { "FAILED" };
            let size = s.checkpoint.lines().nth(1).unwrap_or("?");
            crate::outln!(
                "  {:<16} {:<7} run {:<5} {:>6} item(s) {:>6} gap(s) {:>10}  tree size {size}",
                b.file,
                status,
                s.seq,
                s.items,
                s.gaps,
                HumanBytes(s.bundle_bytes).to_string(),
            );
        }
        None => crate::outln!("  {:<16} FAILED  (unreadable)", b.file),
    }
    for p in &b.problems {
        print_problem(p, "      ");
    }
}

pub(crate) fn print_archive(r: &ArchiveReport) {
    crate::outln!(
        "Archive {} — origin {}, {} bundle(s)",
        r.path,
        r.origin.as_deref().unwrap_or("?"),
        r.bundles.len()
    );
    for b in &r.bundles {
        print_bundle(b);
    }
    if !r.problems.is_empty() {
        crate::outln!("Archive and chain:");
        for p in &r.problems {
            print_problem(p, "      ");
        }
    }
    crate::outln!();
    let total = r
        .all_problems()
        .filter(|p| p.severity == Severity::Error)
        .count();
    if r.valid {
        crate::outln!(
            "VALID: every bundle is intact and each run only appended to the log of the one before."
        );
    } else {
        crate::outln!("FAILED: {total} problem(s) found.");
    }
    if let Some(cp) = &r.latest_checkpoint {
        let mut lines = cp.lines();
        let origin = lines.next().unwrap_or("");
        let size = lines.next().unwrap_or("");
        let root = lines.next().unwrap_or("");
        crate::outln!("Latest verified checkpoint: {origin}, tree size {size}, root {root}");
    }
}
