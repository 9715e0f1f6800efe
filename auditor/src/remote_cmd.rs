//! Archives on S3 (`evidence-auditor verify s3://bucket/prefix`): list every origin's bundles
//! in run order, download each to a private temporary folder in bounded memory, check it
//! against the digest in its key, verify it, delete it, then check each origin's chain. Several
//! agents (one per site or business unit) may share a bucket; each origin is its own archive.

use std::collections::BTreeMap;

use anyhow::Context;
use evidence_archive::trust::VerifyOptions;
use evidence_archive::verify::{
    ArchiveReport, BundleReport, BundleVisitor, Problem, Severity, VerifiedBundle,
    assemble_archive_report, verify_bundle_full,
};
use evidence_store::{ArchiveLocation, RemoteArchive, RemoteBundle, StoreOptions};
use serde::Serialize;

/// Where to find the bucket (credentials come from the standard AWS chain).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct S3Args {
    /// Endpoint of an S3-compatible store (default: AWS; `AWS_ENDPOINT_URL_S3` also works).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region (default: the AWS chain's, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Named profile from the shared AWS config files.
    #[arg(long, value_name = "NAME")]
    pub s3_profile: Option<String>,
}

impl S3Args {
    fn options(&self) -> StoreOptions {
        StoreOptions {
            endpoint_url: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            profile: self.s3_profile.clone(),
            ..StoreOptions::default()
        }
    }
}

/// The verification of everything under an S3 location.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteReport {
    pub location: String,
    pub valid: bool,
    /// One archive report per origin, in origin order.
    pub origins: Vec<ArchiveReport>,
    /// Findings about the location itself (objects that are not bundles).
    pub problems: Vec<Problem>,
}

/// Verify every origin under `location`, handing the records of each bundle to `visitor`
/// (`ingest` passes its own). Memory stays bounded: one bundle is on disk at a time (and 32
/// bytes per log leaf). A pinned checkpoint in `options` applies to the origin it names; if
/// that origin is not stored under `location` at all, that is an error.
pub async fn verify_remote(
    location: &ArchiveLocation,
    args: &S3Args,
    options: &VerifyOptions,
    visitor: &mut dyn BundleVisitor,
) -> anyhow::Result<RemoteReport> {
    let archive = RemoteArchive::connect(location.clone(), args.options()).await;
    let listing = archive
        .list()
        .await
        .with_context(|| format!("cannot list {location}"))?;
    let label = location.to_string();
    let mut problems: Vec<Problem> = listing
        .foreign_keys
        .iter()
        .map(|k| Problem {
            severity: Severity::Warning,
            file: label.clone(),
            entry: Some(k.clone()),
            category: "layout",
            message: "not a bundle key (<origin>/run-NNNNNN-<sha256>.zip); ignored".into(),
        })
        .collect();
    let forks = listing.forked_runs();
    let mut by_origin: BTreeMap<&str, Vec<&RemoteBundle>> = BTreeMap::new();
    for b in &listing.bundles {
        by_origin.entry(&b.bundle.origin_slug).or_default().push(b);
    }
    let scratch = tempfile::Builder::new()
        .prefix("evidence-auditor-")
        .tempdir()
        .context("cannot create a temporary folder for downloads")?;
    if let Some(pin) = &options.expected_checkpoint {
        let slug = evidence_store::origin_slug(&pin.origin);
        if !by_origin.contains_key(slug.as_str()) {
            problems.push(Problem {
                severity: Severity::Error,
                file: label.clone(),
                entry: None,
                category: "pin",
                message: format!(
                    "the pinned checkpoint is for origin {:?}, and no bundle of that origin is stored here: its archive was deleted or moved",
                    pin.origin
                ),
            });
        }
    }
    let mut origins = Vec::new();
    for (slug, bundles) in by_origin {
        let folder = format!("{}/{slug}/", label.trim_end_matches('/'));
        let origin = bundles.first().and_then(|b| b.bundle.origin());
        // The pin belongs to one origin; the others are verified without it.
        let mut origin_options = options.clone();
        if let Some(pin) = &options.expected_checkpoint
            && evidence_store::origin_slug(&pin.origin) != slug
        {
            origin_options.expected_checkpoint = None;
        }
        let mut reports: Vec<VerifiedBundle> = Vec::new();
        let mut origin_problems = Vec::new();
        let mut previous: Option<u64> = None;
        for b in bundles {
            if previous == Some(b.bundle.seq) {
                // Reported once per run, naming every key that claims it.
                if let Some(fork) = forks
                    .iter()
                    .find(|f| f.origin_slug == slug && f.seq == b.bundle.seq)
                    && fork.keys.get(1) == Some(&b.key)
                {
                    origin_problems.push(Problem {
                        severity: Severity::Error,
                        file: folder.clone(),
                        entry: Some(b.key.clone()),
                        category: "chain",
                        message: fork.to_string(),
                    });
                }
                continue;
            }
            previous = Some(b.bundle.seq);
            let file = scratch
                .path()
                .join(evidence_archive::layout::bundle_file_name(b.bundle.seq));
            let mut sidecar_files = Vec::new();
            let mut fetched = archive.download(b, &file).await;
            for (suffix, key) in &b.sidecars {
                if fetched.is_err() {
                    break;
                }
                let name = format!(
                    "{}.{suffix}",
                    evidence_archive::layout::bundle_file_name(b.bundle.seq)
                );
                let dest = scratch.path().join(name);
                fetched = archive.download_sidecar(key, &dest).await;
                sidecar_files.push(dest);
            }
            let (mut report, leaves) = match fetched {
                Ok(()) => {
                    let r = tokio::task::block_in_place(|| {
                        verify_bundle_full(&file, &origin_options, visitor)
                    });
                    let _ = std::fs::remove_file(&file);
                    for f in &sidecar_files {
                        let _ = std::fs::remove_file(f);
                    }
                    r
                }
                Err(e) => (
                    BundleReport {
                        file: b.key.clone(),
                        summary: None,
                        trust: None,
                        problems: vec![Problem {
                            severity: Severity::Error,
                            file: b.key.clone(),
                            entry: None,
                            category: "io",
                            message: e.to_string(),
                        }],
                    },
                    None,
                ),
            };
            report.file = b.key.clone();
            if let (Some(s), Some(o)) = (&report.summary, &origin)
                && &s.origin != o
            {
                report.problems.push(Problem {
                    severity: Severity::Error,
                    file: b.key.clone(),
                    entry: None,
                    category: "chain",
                    message: format!(
                        "the bundle belongs to origin {:?}, but is stored in the folder of {o:?}",
                        s.origin
                    ),
                });
            }
            reports.push((b.bundle.seq, report, leaves));
        }
        origins.push(assemble_archive_report(
            &folder,
            reports,
            origin_problems,
            &origin_options,
        ));
    }
    let valid = !origins.is_empty()
        && origins.iter().all(|o| o.valid)
        && !problems.iter().any(|p| p.severity == Severity::Error);
    Ok(RemoteReport {
        location: label,
        valid,
        origins,
        problems,
    })
}

/// `evidence-auditor verify s3://…`: verify and print, for a person or as one JSON object.
pub fn run_verify(
    location: &str,
    args: &S3Args,
    trust: &crate::verify_cmd::VerifyArgs,
    json: bool,
) -> anyhow::Result<u8> {
    let location: ArchiveLocation = location.parse()?;
    let options = trust.options()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(verify_remote(
        &location,
        args,
        &options,
        &mut evidence_archive::verify::NoVisitor,
    ))?;
    if json {
        crate::outln!("{}", serde_json::to_string(&report)?);
    } else {
        crate::outln!(
            "S3 archive {} — {} origin(s)",
            report.location,
            report.origins.len()
        );
        for p in &report.problems {
            crate::verify_cmd::print_problem(p, "  ");
        }
        for o in &report.origins {
            crate::outln!();
            crate::verify_cmd::print_archive(o);
        }
        if report.origins.is_empty() {
            crate::outln!("FAILED: no bundles under {}", report.location);
        }
    }
    if let (Some(file), true) = (&trust.save_checkpoint, report.valid) {
        for (path, checkpoint) in checkpoints_to_save(file, &report, &options) {
            std::fs::write(&path, checkpoint)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !json {
                crate::outln!("Saved the latest checkpoint to {}.", path.display());
            }
        }
    }
    Ok(if report.valid {
        crate::exit::EXIT_OK
    } else {
        crate::exit::EXIT_FAILED
    })
}

/// Where `--save-checkpoint FILE` writes what: the pinned origin's checkpoint, or the only
/// origin's, to FILE; with several origins and no pin, each origin's to `FILE.<origin-slug>`,
/// to pin one at a time at the next audit.
fn checkpoints_to_save(
    file: &std::path::Path,
    report: &RemoteReport,
    options: &VerifyOptions,
) -> Vec<(std::path::PathBuf, String)> {
    let latest = |o: &ArchiveReport| o.latest_checkpoint.clone();
    if let Some(pin) = &options.expected_checkpoint {
        return report
            .origins
            .iter()
            .filter(|o| o.origin.as_deref() == Some(pin.origin.as_str()))
            .filter_map(latest)
            .map(|cp| (file.to_path_buf(), cp))
            .collect();
    }
    if let [only] = report.origins.as_slice() {
        return latest(only)
            .map(|cp| vec![(file.to_path_buf(), cp)])
            .unwrap_or_default();
    }
    report
        .origins
        .iter()
        .filter_map(|o| {
            let origin = o.origin.as_deref()?;
            let mut name = file.as_os_str().to_owned();
            name.push(format!(".{}", evidence_store::origin_slug(origin)));
            Some((std::path::PathBuf::from(name), latest(o)?))
        })
        .collect()
}

/// `evidence-auditor ingest s3://…`: ingest every origin stored under the location into the
/// engagement, one origin at a time. The origin's bundles and sidecars are downloaded into a
/// private temporary folder (each checked against the digest in its key, in bounded memory),
/// ingested exactly as a local archive (verified first; refused whole if anything fails), and
/// the folder is deleted. With `--json`, one JSON object per origin, one per line.
pub fn run_ingest(location: &str, a: &crate::engagement_cmd::IngestArgs) -> anyhow::Result<u8> {
    let location: ArchiveLocation = location.parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let archive = rt.block_on(RemoteArchive::connect(location.clone(), a.s3.options()));
    let listing = rt
        .block_on(archive.list())
        .with_context(|| format!("cannot list {location}"))?;
    anyhow::ensure!(!listing.bundles.is_empty(), "no bundles under {location}");
    // A forked run would be downloaded under one file name twice, the second copy replacing the
    // first: refuse the location before anything is downloaded or ingested.
    let forks = listing.forked_runs();
    if !forks.is_empty() {
        if a.out.json {
            let reasons: Vec<String> = forks.iter().map(ToString::to_string).collect();
            crate::outln!(
                "{}",
                serde_json::json!({"ingested": false, "reason": "forked", "problems": reasons})
            );
        } else {
            crate::outln!("REFUSED: {location} holds a forked log; nothing was ingested.");
            for f in &forks {
                crate::outln!("  error: {location}/{}/: {f}", f.origin_slug);
            }
        }
        return Ok(crate::exit::EXIT_FAILED);
    }
    let mut by_origin: BTreeMap<&str, Vec<&RemoteBundle>> = BTreeMap::new();
    for b in &listing.bundles {
        by_origin.entry(&b.bundle.origin_slug).or_default().push(b);
    }
    let mut code = crate::exit::EXIT_OK;
    for bundles in by_origin.values() {
        let folder = tempfile::Builder::new()
            .prefix("evidence-auditor-ingest-")
            .tempdir()
            .context("cannot create a temporary folder for downloads")?;
        for b in bundles {
            let name = evidence_archive::layout::bundle_file_name(b.bundle.seq);
            rt.block_on(archive.download(b, &folder.path().join(&name)))?;
            for (suffix, key) in &b.sidecars {
                let dest = folder.path().join(format!("{name}.{suffix}"));
                rt.block_on(archive.download_sidecar(key, &dest))?;
            }
        }
        let local = crate::engagement_cmd::IngestArgs {
            archive: folder.path().to_owned(),
            s3: S3Args::default(),
            ..a.clone()
        };
        code = code.max(crate::engagement_cmd::run_ingest(&local)?);
    }
    Ok(code)
}
