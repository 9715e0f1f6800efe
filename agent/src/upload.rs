//! The S3 archive, agent side: with `[archive] path = "s3://bucket/prefix"` the agent still seals
//! into a local folder, then uploads every sealed bundle not yet confirmed, oldest first. A
//! bundle's local copy is removed only after the store confirmed it (size and SHA-256), and a
//! receipt `run-NNNNNN.uploaded.json` takes its place, so the agent still knows which runs it
//! sealed. A failed upload leaves the bundle where it is; the next run retries it.

use evidence_connectors::ConfigError as EntryError;
use std::path::{Path, PathBuf};

use evidence_archive::{durable, layout};
use evidence_connectors::redact;
use evidence_store::{ArchiveLocation, ArchiveSource, RemoteArchive, StoreOptions, UploadReceipt};
use serde::Serialize;

/// Where sealed bundles go, when the archive is on S3.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    pub location: ArchiveLocation,
    pub options: StoreOptions,
}

/// The local folder bundles are sealed into for an S3 archive, unless `local_path` says.
pub const DEFAULT_OUTBOX: &str = "outbox";

/// Check the S3 part of `[archive]`: `path` is `s3://…` (then `s3` settings and `local_path`
/// apply), or a folder (then neither may be given). Returns the remote, if any.
pub fn remote_from_config(
    path: &Path,
    local_path: Option<&Path>,
    s3: Option<&StoreOptions>,
) -> Result<Option<RemoteConfig>, EntryError> {
    let text = path.to_string_lossy();
    let location = match text.parse::<ArchiveSource>() {
        Ok(ArchiveSource::S3(location)) => location,
        Ok(ArchiveSource::Local(_)) => {
            if s3.is_some() || local_path.is_some() {
                return Err(EntryError::new(
                    "[archive]",
                    "local_path and [archive.s3] apply only when path is an s3:// location",
                )
                .key("local_path"));
            }
            return Ok(None);
        }
        Err(e) => return Err(EntryError::new("[archive]", format!("path: {e}")).key("path")),
    };
    let options = s3.cloned().unwrap_or_default();
    if let Some(url) = &options.endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(EntryError::new(
            "[archive.s3]",
            format!("endpoint_url {url:?} must start with http:// or https://"),
        )
        .key("endpoint_url"));
    }
    if options.require_object_lock && options.retention_days.is_none() {
        return Err(
            EntryError::new("[archive.s3]", "require_object_lock needs retention_days")
                .key("retention_days"),
        );
    }
    Ok(Some(RemoteConfig { location, options }))
}

/// Probe the S3 archive for `evidence-agent check`: one line for a person, or why it failed.
pub async fn probe(remote: &RemoteConfig) -> Result<String, UploadError> {
    let archive = RemoteArchive::connect(remote.location.clone(), remote.options.clone()).await;
    let lock = archive.healthcheck().await?;
    let retention = match (lock, remote.options.retention_days) {
        (evidence_store::ObjectLock::Enabled, Some(days)) => {
            format!("Object Lock on: bundles kept {days} days in COMPLIANCE mode")
        }
        (evidence_store::ObjectLock::Enabled, None) => {
            "Object Lock on, but no retention_days: the bucket's default retention applies".into()
        }
        (_, Some(_)) if remote.options.require_object_lock => {
            return Err(UploadError::NoObjectLock);
        }
        (_, Some(_)) => "no Object Lock on the bucket: bundles are stored without retention".into(),
        (_, None) => "no retention requested".into(),
    };
    Ok(format!("{} is reachable; {retention}", remote.location))
}

/// A store error fit for a person: no URL credentials (the store itself never prints the SDK's
/// `Debug` dump).
fn message(e: &impl std::fmt::Display) -> String {
    redact::redact_urls(&e.to_string()).into_owned()
}

/// Why the S3 archive could not be used or a bundle not stored there. Displays without URL
/// credentials.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{}", message(.0))]
    Store(#[from] evidence_store::StoreError),
    #[error("the bucket has no Object Lock, and require_object_lock is set")]
    NoObjectLock,
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the upload receipt: {0}")]
    Receipt(String),
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> UploadError + '_ {
    move |source| UploadError::File {
        path: path.to_owned(),
        source,
    }
}

/// `run-000042.uploaded.json`: the receipt left in place of an uploaded bundle.
pub fn receipt_file_name(seq: u64) -> String {
    format!("{}.uploaded.json", layout::bag_dir(seq))
}

/// The run a local archive file stands for: a sealed bundle or the receipt of an uploaded one.
pub fn sealed_seq(name: &str) -> Option<u64> {
    layout::parse_bundle_file_name(name).or_else(|| {
        name.strip_suffix(".uploaded.json")
            .and_then(layout::parse_bag_dir)
    })
}

/// What the uploads of one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UploadSummary {
    pub location: String,
    /// Bundles confirmed stored in this run (earlier failures retried included).
    pub uploaded: Vec<UploadReceipt>,
    /// Bundles still waiting locally for their upload.
    pub pending: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl UploadSummary {
    /// True when every sealed bundle is stored remotely.
    pub fn is_complete(&self) -> bool {
        self.error.is_none() && self.pending.is_empty()
    }
}

/// Local bundles waiting for their upload, oldest first.
fn pending_bundles(archive_dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(archive_dir)? {
        let entry = entry?;
        if let Some(seq) = entry
            .file_name()
            .to_str()
            .and_then(layout::parse_bundle_file_name)
            && entry.file_type()?.is_file()
        {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Upload every sealed bundle of `archive_dir` not yet stored, oldest first; stop at the first
/// failure (later runs must not be stored before earlier ones). Never fails the run: what could
/// not be uploaded stays local and is reported.
pub async fn upload_pending(
    remote: &RemoteConfig,
    archive_dir: &Path,
    origin: &str,
) -> UploadSummary {
    let mut summary = UploadSummary {
        location: remote.location.to_string(),
        ..UploadSummary::default()
    };
    let mut pending = match pending_bundles(archive_dir) {
        Ok(p) => p,
        Err(e) => {
            summary.error = Some(format!("cannot list {}: {e}", archive_dir.display()));
            return summary;
        }
    };
    if pending.is_empty() {
        return summary;
    }
    let archive = RemoteArchive::connect(remote.location.clone(), remote.options.clone()).await;
    let mut done = 0;
    for (seq, path) in &pending {
        match upload_one(&archive, archive_dir, origin, *seq, path).await {
            Ok(receipt) => {
                tracing::info!(run = seq, key = %receipt.key, "bundle stored remotely");
                summary.uploaded.push(receipt);
                done += 1;
            }
            Err(e) => {
                let e = message(&e);
                tracing::warn!(
                    run = seq,
                    "upload failed; the bundle stays local and is retried next run: {e}"
                );
                summary.error = Some(format!("run {seq}: {e}"));
                break;
            }
        }
    }
    summary.pending = pending.drain(done..).map(|(_, p)| p).collect();
    summary
}

/// The sidecars of bundle `seq` in `archive_dir` (its `.sig` signature): (suffix, path).
fn local_sidecars(archive_dir: &Path, seq: u64) -> std::io::Result<Vec<(String, PathBuf)>> {
    let stem = format!("{}.", layout::bundle_file_name(seq));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(archive_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(suffix) = name.strip_prefix(&stem)
            && layout::is_sidecar_file_name(&name)
            && entry.file_type()?.is_file()
        {
            out.push((suffix.to_owned(), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

async fn upload_one(
    archive: &RemoteArchive,
    archive_dir: &Path,
    origin: &str,
    seq: u64,
    path: &Path,
) -> Result<UploadReceipt, UploadError> {
    let sidecars = local_sidecars(archive_dir, seq).map_err(file_error(archive_dir))?;
    let mut receipt = archive.upload(origin, seq, path).await?;
    for (suffix, file) in &sidecars {
        let key = archive.upload_sidecar(&receipt.key, suffix, file).await?;
        receipt.sidecars.push(key);
    }
    let bytes =
        serde_json::to_vec_pretty(&receipt).map_err(|e| UploadError::Receipt(e.to_string()))?;
    let receipt_path = archive_dir.join(receipt_file_name(seq));
    let mut local: Vec<PathBuf> = sidecars.into_iter().map(|(_, p)| p).collect();
    local.push(path.to_owned());
    tokio::task::spawn_blocking(move || {
        durable::write_replace(&receipt_path, &bytes).map_err(file_error(&receipt_path))?;
        for file in &local {
            std::fs::remove_file(file).map_err(file_error(file))?;
        }
        durable::sync_dir(receipt_path.parent().unwrap_or(Path::new(".")))
            .map_err(file_error(&receipt_path))
    })
    .await
    .map_err(|e| UploadError::Receipt(e.to_string()))??;
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_and_bundles_both_count_as_sealed_runs() {
        assert_eq!(receipt_file_name(42), "run-000042.uploaded.json");
        assert_eq!(sealed_seq("run-000042.uploaded.json"), Some(42));
        assert_eq!(sealed_seq("run-000042.zip"), Some(42));
        assert_eq!(sealed_seq("run-42.uploaded.json"), None);
        assert_eq!(sealed_seq("notes.json"), None);
    }

    #[test]
    fn the_shipped_s3_and_mlflow_examples_load() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let s3 = crate::config::AgentConfig::load(&examples.join("s3.toml")).unwrap();
        let remote = s3.remote.expect("an S3 archive");
        assert_eq!(
            remote.location.to_string(),
            "s3://acme-audit-evidence/iso42001"
        );
        assert_eq!(remote.options.retention_days, Some(2555));
        assert!(s3.archive_dir.ends_with("outbox"));
        assert_eq!(s3.state_dir, s3.archive_dir.join(".agent"));
        let mlflow = crate::config::AgentConfig::load(&examples.join("mlflow.toml")).unwrap();
        assert!(mlflow.remote.is_none());
        assert_eq!(mlflow.sources[0].connector.type_name(), "mlflow");
    }

    #[test]
    fn s3_settings_only_go_with_an_s3_path() {
        let opts = StoreOptions::default();
        assert_eq!(
            remote_from_config(Path::new("evidence"), None, None),
            Ok(None)
        );
        assert!(remote_from_config(Path::new("evidence"), None, Some(&opts)).is_err());
        assert!(remote_from_config(Path::new("evidence"), Some(Path::new("o")), None).is_err());
        let r = remote_from_config(Path::new("s3://audit-bucket/iso"), None, Some(&opts))
            .unwrap()
            .unwrap();
        assert_eq!(r.location.to_string(), "s3://audit-bucket/iso");
        assert!(remote_from_config(Path::new("s3://B"), None, None).is_err());
        let strict = StoreOptions {
            require_object_lock: true,
            ..StoreOptions::default()
        };
        assert!(remote_from_config(Path::new("s3://audit-bucket"), None, Some(&strict)).is_err());
    }
}
