//! The S3 side: connecting through the standard AWS credential chain, write-once uploads that
//! are confirmed before the caller may drop its local copy, ordered listing across origins, and
//! bounded-memory downloads checked against the digest in the key.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectLockEnabled,
    ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
};
use base64::Engine;
use evidence_model::Sha256Digest;
use evidence_s3::{ClientSettings, ErrorClass};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::key::{ArchiveLocation, BundleKey, origin_slug};

/// Largest object a single PutObject may carry.
const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Bundles above this many MiB are uploaded in parts, by default.
const DEFAULT_MULTIPART_THRESHOLD_MIB: u64 = 1024;
/// Part size in MiB, by default (grown when a bundle would need more than 10,000 parts).
const DEFAULT_PART_MIB: u64 = 64;
/// S3's smallest part (all but the last) and most parts per upload.
const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
/// Copy buffer for hashing and downloads: the memory a transfer uses, whatever its size.
const BUFFER_BYTES: usize = 256 * 1024;

/// How to reach the bucket and what to ask of it. Credentials are never part of it: they come
/// from the standard AWS chain (environment, profile, web identity, instance role).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreOptions {
    /// Endpoint of an S3-compatible store; default: AWS.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Region; default: the AWS chain's, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Named profile from the shared AWS config files.
    #[serde(default)]
    pub profile: Option<String>,
    /// Path-style requests; default: on with `endpoint_url`, off for AWS.
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Object Lock retention for uploaded bundles, in days, in COMPLIANCE mode (nobody, not even
    /// the account root, can delete or shorten it). Applied when the bucket has Object Lock.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Refuse to upload when the bucket has no Object Lock (default: upload and record that no
    /// retention was applied).
    #[serde(default)]
    pub require_object_lock: bool,
    /// Bundles larger than this (MiB) are uploaded in parts, each checked by S3 against its
    /// SHA-256 (default 1024; at most 5120, S3's limit for one PUT).
    #[serde(default)]
    pub multipart_threshold_mib: Option<u64>,
    /// Size of one part in MiB (default 64; at least 5; grown to keep within 10,000 parts).
    #[serde(default)]
    pub multipart_part_mib: Option<u64>,
}

impl StoreOptions {
    /// The multipart threshold and part size in bytes, checked against S3's limits.
    fn multipart(&self) -> Result<(u64, u64), StoreError> {
        let mib = 1024 * 1024;
        let threshold = self
            .multipart_threshold_mib
            .unwrap_or(DEFAULT_MULTIPART_THRESHOLD_MIB)
            .saturating_mul(mib);
        let part = self
            .multipart_part_mib
            .unwrap_or(DEFAULT_PART_MIB)
            .saturating_mul(mib);
        if threshold > MAX_SINGLE_PUT_BYTES {
            return Err(StoreError::Config(
                "multipart_threshold_mib is above 5120, S3's limit for one upload".into(),
            ));
        }
        if !(MIN_PART_BYTES..=MAX_SINGLE_PUT_BYTES).contains(&part) {
            return Err(StoreError::Config(
                "multipart_part_mib must be between 5 and 5120 (S3's part limits)".into(),
            ));
        }
        Ok((threshold, part))
    }
}

/// A remote storage failure; messages name the bucket or key, never a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("access to {resource} was denied: {detail}")]
    Denied { resource: String, detail: String },
    #[error("{resource} was not found")]
    NotFound { resource: String },
    #[error("{resource} is unreachable: {detail}")]
    Unreachable { resource: String, detail: String },
    #[error("{resource}: {detail}")]
    Remote { resource: String, detail: String },
    /// Another bundle already holds this run of this origin: two agents share an origin, or the
    /// agent's state was lost and it sealed the run again. Nothing was overwritten.
    #[error("{key}: {detail}; nothing was overwritten")]
    Conflict { key: String, detail: String },
    /// The bytes stored or received do not match the digest or size they must have.
    #[error("{key}: {detail}")]
    Integrity { key: String, detail: String },
    #[error(
        "bucket {bucket} has no Object Lock, and require_object_lock is set; enable Object Lock on the bucket or unset require_object_lock"
    )]
    ObjectLockUnavailable { bucket: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Config(String),
}

/// Whether the bucket enforces Object Lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectLock {
    Enabled,
    /// The bucket has none, or the store does not implement it.
    Unavailable,
}

/// Proof that a bundle is stored: written by the agent beside its state once the upload was
/// confirmed, before the local copy is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadReceipt {
    pub schema: String,
    pub location: String,
    pub key: String,
    pub origin: String,
    pub seq: u64,
    pub sha256: Sha256Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// `COMPLIANCE` retention until this time, when applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<jiff::Timestamp>,
    /// True when this upload found the identical bundle already stored (a retried upload).
    pub already_present: bool,
    /// Keys of the sidecars stored beside the bundle (its `.sig` signature).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<String>,
    /// The number of parts, when this upload wrote the bundle in parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u64>,
    pub confirmed_at: jiff::Timestamp,
}

/// Schema tag of upload receipts.
pub(crate) const RECEIPT_SCHEMA: &str = "evidence-upload-receipt/1";

/// One stored bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteBundle {
    pub key: String,
    pub bundle: BundleKey,
    pub size: u64,
    /// Sidecars stored beside it: (suffix such as `sig`, key).
    pub sidecars: Vec<(String, String)>,
}

/// Everything under an archive location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteListing {
    /// Bundles ordered by origin folder, then run.
    pub bundles: Vec<RemoteBundle>,
    /// Keys that are not bundle keys (reported by the auditor, never read).
    pub foreign_keys: Vec<String>,
}

impl RemoteListing {
    /// The origin folders present, in order.
    pub fn origin_slugs(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .bundles
            .iter()
            .map(|b| b.bundle.origin_slug.as_str())
            .collect();
        out.dedup();
        out
    }

    /// Runs stored more than once under different digests (a forked log), in listing order.
    /// `verify` reports them and `ingest` refuses the whole location, with the same message.
    pub fn forked_runs(&self) -> Vec<ForkedRun> {
        let mut out: Vec<ForkedRun> = Vec::new();
        for pair in self.bundles.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.bundle.origin_slug != b.bundle.origin_slug || a.bundle.seq != b.bundle.seq {
                continue;
            }
            match out.last_mut() {
                Some(f) if f.origin_slug == a.bundle.origin_slug && f.seq == a.bundle.seq => {
                    f.keys.push(b.key.clone());
                }
                _ => out.push(ForkedRun {
                    origin_slug: a.bundle.origin_slug.clone(),
                    seq: a.bundle.seq,
                    keys: vec![a.key.clone(), b.key.clone()],
                }),
            }
        }
        out
    }
}

/// One run of one origin stored under several digests: two different bundles claim to be the
/// same run, so at most one of them is the log's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkedRun {
    pub origin_slug: String,
    pub seq: u64,
    /// Every key claiming the run, in listing order.
    pub keys: Vec<String>,
}

impl std::fmt::Display for ForkedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} is stored more than once with different content (a forked log): {}",
            self.seq,
            self.keys.join(", ")
        )
    }
}

/// The bundle an upload is about.
#[derive(Debug, Clone, Copy)]
struct Outgoing<'a> {
    key: &'a str,
    origin: &'a str,
    seq: u64,
    sha256: Sha256Digest,
    size: u64,
    /// The digests of its parts, when this upload wrote it in parts.
    parts: Option<&'a [Sha256Digest]>,
}

/// How the bundle came to be stored.
#[derive(Debug, Clone, Copy)]
enum Stored {
    /// This upload wrote it, with this retention.
    Written {
        retain_until: Option<jiff::Timestamp>,
    },
    /// An earlier attempt had stored it already.
    AlreadyPresent,
}

/// A bundle to upload in parts.
#[derive(Debug)]
struct Multipart<'a> {
    key: &'a str,
    file: &'a Path,
    size: u64,
    /// The SHA-256 of each part, from the same read as the bundle's digest.
    digests: Vec<Sha256Digest>,
    part_size: u64,
    metadata: [(&'static str, String); 3],
    retain_until: Option<jiff::Timestamp>,
}

/// How a multipart upload ended when it did not store the bundle.
#[derive(Debug)]
enum MultipartError {
    /// The key was stored first by someone else (412 on completion): confirm it.
    AlreadyStored,
    Failed(StoreError),
}

impl From<StoreError> for MultipartError {
    fn from(e: StoreError) -> Self {
        Self::Failed(e)
    }
}

/// The SHA-256 of each `part_size` slice of `path`, of the whole file, and its size, in one
/// pass with a fixed buffer.
async fn part_digests(
    path: &Path,
    part_size: u64,
) -> Result<(Vec<Sha256Digest>, Sha256Digest, u64), StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io_err)?;
    let mut whole = Sha256::new();
    let mut part = Sha256::new();
    let mut in_part = 0u64;
    let mut parts = Vec::new();
    let mut buf = vec![0u8; BUFFER_BYTES];
    let mut size = 0u64;
    loop {
        let room = usize::try_from(part_size - in_part).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = file.read(&mut buf[..want]).await.map_err(io_err)?;
        if n == 0 {
            break;
        }
        whole.update(&buf[..n]);
        part.update(&buf[..n]);
        in_part += n as u64;
        size += n as u64;
        if in_part == part_size {
            parts.push(Sha256Digest(std::mem::take(&mut part).finalize().into()));
            in_part = 0;
        }
    }
    if in_part > 0 {
        parts.push(Sha256Digest(part.finalize().into()));
    }
    Ok((parts, Sha256Digest(whole.finalize().into()), size))
}

/// The checksum S3 reports for a multipart object with SHA-256 part checksums: the SHA-256 of
/// the parts' digests, then `-` and the number of parts.
fn composite_sha256(parts: &[Sha256Digest]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.0);
    }
    format!(
        "{}-{}",
        to_base64(&Sha256Digest(h.finalize().into())),
        parts.len()
    )
}

/// The client settings of the archive's bucket: the options' endpoint, with 5 attempts, 10 s
/// to connect and 120 s per read (a bundle's parts are large).
fn client_settings(options: &StoreOptions) -> ClientSettings {
    ClientSettings {
        read_timeout: Duration::from_secs(120),
        ..ClientSettings::new(
            options.endpoint_url.clone(),
            options.region.clone(),
            options.profile.clone(),
            options.force_path_style,
        )
    }
}

/// An S3 archive location with a client.
#[derive(Debug, Clone)]
pub struct RemoteArchive {
    client: Client,
    location: ArchiveLocation,
    options: StoreOptions,
}

fn classify<E>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    resource: &str,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = evidence_s3::plain_detail(e);
    let resource = resource.to_owned();
    match evidence_s3::classify(e) {
        ErrorClass::Timeout | ErrorClass::Unreachable => {
            StoreError::Unreachable { resource, detail }
        }
        ErrorClass::Denied => StoreError::Denied { resource, detail },
        ErrorClass::NotFound => StoreError::NotFound { resource },
        // A throttling 503 is the store failing for now; anything else it said is an answer.
        _ if status_of(e).is_some_and(|s| s >= 500) => StoreError::Unreachable { resource, detail },
        _ => StoreError::Remote { resource, detail },
    }
}

fn status_of<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    evidence_s3::status_of(e)
}

/// A sidecar key `<bundle key>.<suffix>`: the bundle key and the suffix.
fn sidecar_of(key: &str) -> Option<(&str, &str)> {
    let at = key.rfind(".zip.")?;
    let (bundle, suffix) = (&key[..at + 4], &key[at + 5..]);
    let ok = !suffix.is_empty()
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some((bundle, suffix))
}

/// SHA-256 and size of a file, read in bounded memory.
pub async fn sha256_file(path: &Path) -> Result<(Sha256Digest, u64), StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUFFER_BYTES];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await.map_err(io_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((Sha256Digest(hasher.finalize().into()), size))
}

/// An error and its sources, `: `-separated (the SDK puts the useful part, such as a checksum
/// mismatch, in a source).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

fn to_base64(d: &Sha256Digest) -> String {
    base64::engine::general_purpose::STANDARD.encode(d.as_bytes())
}

impl RemoteArchive {
    /// Connect through the standard AWS credential chain. No request is sent yet.
    pub async fn connect(location: ArchiveLocation, options: StoreOptions) -> Self {
        let client = client_settings(&options).connect().await;
        Self {
            client,
            location,
            options,
        }
    }

    /// Use an AWS configuration loaded by the caller (credentials, region, HTTP client).
    pub fn with_sdk_config(
        location: ArchiveLocation,
        options: StoreOptions,
        sdk: &aws_config::SdkConfig,
    ) -> Self {
        Self {
            client: client_settings(&options).client(sdk),
            location,
            options,
        }
    }

    /// The location this archive lives at.
    pub fn location(&self) -> &ArchiveLocation {
        &self.location
    }

    /// Whether the bucket enforces Object Lock (a store that does not implement the call has none).
    pub async fn object_lock(&self) -> Result<ObjectLock, StoreError> {
        let resource = format!("bucket {}", self.location.bucket);
        match self
            .client
            .get_object_lock_configuration()
            .bucket(&self.location.bucket)
            .send()
            .await
        {
            Ok(out) => {
                let enabled = out
                    .object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    == Some(&ObjectLockEnabled::Enabled);
                Ok(if enabled {
                    ObjectLock::Enabled
                } else {
                    ObjectLock::Unavailable
                })
            }
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("");
                let status = status_of(&e);
                if matches!(
                    code,
                    "ObjectLockConfigurationNotFoundError" | "NotImplemented" | "InvalidRequest"
                ) || matches!(status, Some(404 | 501))
                {
                    Ok(ObjectLock::Unavailable)
                } else {
                    Err(classify(&e, &resource))
                }
            }
        }
    }

    /// Check that the location can be listed, and whether the bucket enforces Object Lock.
    pub async fn healthcheck(&self) -> Result<ObjectLock, StoreError> {
        let prefix = self.location.key_prefix();
        self.client
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(&prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| classify(&e, &self.location.to_string()))?;
        self.object_lock().await
    }

    /// Upload sealed bundle `seq` of `origin` from `file`, and confirm it is stored intact.
    /// Idempotent: when the identical bundle is already stored (a retried upload), it is
    /// confirmed, not written again. A different bundle for the same run is a conflict, and
    /// nothing is overwritten.
    pub async fn upload(
        &self,
        origin: &str,
        seq: u64,
        file: &Path,
    ) -> Result<UploadReceipt, StoreError> {
        // One read of the file gives its digest and, for a bundle uploaded in parts, the parts'.
        let (threshold, part_size) = self.options.multipart()?;
        let length = tokio::fs::metadata(file)
            .await
            .map_err(|source| StoreError::Io {
                path: file.to_owned(),
                source,
            })?
            .len();
        let part_size = part_size.max(length.div_ceil(MAX_PARTS));
        let (sha256, size, parts) = if length > threshold {
            let (parts, sha256, size) = part_digests(file, part_size).await?;
            (sha256, size, Some(parts))
        } else {
            let (sha256, size) = sha256_file(file).await?;
            (sha256, size, None)
        };
        let bundle = BundleKey {
            origin_slug: origin_slug(origin),
            seq,
            sha256,
        };
        let key = bundle.to_key(&self.location);
        let resource = format!("s3://{}/{key}", self.location.bucket);
        let outgoing = Outgoing {
            key: &key,
            origin,
            seq,
            sha256,
            size,
            parts: None,
        };

        // Another bundle for this run, under a different digest, means a forked log.
        let existing = self
            .list_keys(&BundleKey::run_prefix(&self.location, origin, seq))
            .await?;
        if let Some((other, _)) = existing.iter().find(|(k, _)| *k != key) {
            return Err(StoreError::Conflict {
                key: other.clone(),
                detail: format!(
                    "run {seq} of origin {origin} is already stored with different content (this bundle's SHA-256 is {sha256})"
                ),
            });
        }
        if existing.iter().any(|(k, _)| *k == key) {
            let present = Outgoing {
                parts: parts.as_deref(),
                ..outgoing
            };
            return self.confirm(&present, Stored::AlreadyPresent).await;
        }
        let lock = match self.options.retention_days {
            Some(_) => self.object_lock().await?,
            None => ObjectLock::Unavailable,
        };
        if self.options.require_object_lock && lock != ObjectLock::Enabled {
            return Err(StoreError::ObjectLockUnavailable {
                bucket: self.location.bucket.clone(),
            });
        }
        let retain_until = match (lock, self.options.retention_days) {
            (ObjectLock::Enabled, Some(days)) => Some(
                jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::from_hours(i64::from(days) * 24))
                    .map_err(|e| StoreError::Config(format!("retention_days = {days}: {e}")))?,
            ),
            _ => None,
        };
        if self.options.retention_days.is_some() && retain_until.is_none() {
            tracing::warn!(bucket = %self.location.bucket, "the bucket has no Object Lock; {key} is stored without retention");
        }

        if let Some(digests) = parts {
            let upload = Multipart {
                key: &key,
                file,
                size,
                digests,
                part_size,
                metadata: [
                    ("origin", origin.to_owned()),
                    ("run", seq.to_string()),
                    ("sha256", sha256.to_hex()),
                ],
                retain_until,
            };
            return match self.put_multipart(&upload).await {
                Ok(version) => {
                    let written = Outgoing {
                        parts: Some(&upload.digests),
                        ..outgoing
                    };
                    let mut receipt = self
                        .confirm(&written, Stored::Written { retain_until })
                        .await?;
                    receipt.version_id = receipt.version_id.or(version);
                    receipt.parts = Some(upload.digests.len() as u64);
                    Ok(receipt)
                }
                Err(MultipartError::AlreadyStored) => {
                    tracing::info!(%key, "the bundle was already stored; confirming it");
                    let present = Outgoing {
                        parts: Some(&upload.digests),
                        ..outgoing
                    };
                    self.confirm(&present, Stored::AlreadyPresent).await
                }
                Err(MultipartError::Failed(e)) => Err(e),
            };
        }

        let body = ByteStream::read_from()
            .path(file)
            .buffer_size(BUFFER_BYTES)
            .build()
            .await
            .map_err(|e| StoreError::Io {
                path: file.to_owned(),
                source: io::Error::other(e),
            })?;
        let mut put = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(&key)
            .body(body)
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            .content_type("application/zip")
            .if_none_match("*")
            // AWS requires Content-MD5 or x-amz-sdk-checksum-algorithm on a PUT carrying Object
            // Lock retention; naming the algorithm of the checksum we send satisfies it.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(to_base64(&sha256))
            .metadata("origin", origin)
            .metadata("run", seq.to_string())
            .metadata("sha256", sha256.to_hex());
        if let Some(until) = retain_until {
            put = put
                .object_lock_mode(ObjectLockMode::Compliance)
                .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(
                    until.as_second(),
                ));
        }
        match put.send().await {
            Ok(out) => {
                let version = out.version_id().map(str::to_owned);
                let mut receipt = self
                    .confirm(&outgoing, Stored::Written { retain_until })
                    .await?;
                receipt.version_id = receipt.version_id.or(version);
                Ok(receipt)
            }
            // Someone stored this key first (a concurrent retry): it is ours only if intact.
            Err(e) if matches!(status_of(&e), Some(412)) => {
                tracing::info!(%key, "the bundle was already stored; confirming it");
                self.confirm(&outgoing, Stored::AlreadyPresent).await
            }
            Err(e) => Err(classify(&e, &resource)),
        }
    }

    /// Upload `m` in parts: each part carries the SHA-256 read with the bundle's digest, which
    /// S3 checks (a file that changed since is refused); completion is write-once
    /// (`If-None-Match: *`); a failed upload is aborted so no parts linger. Returns the
    /// version id. Each part streams from the file with a fixed buffer.
    async fn put_multipart(&self, m: &Multipart<'_>) -> Result<Option<String>, MultipartError> {
        let bucket = &self.location.bucket;
        let resource = format!("s3://{bucket}/{}", m.key);
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(m.key)
            .content_type("application/zip")
            .checksum_algorithm(ChecksumAlgorithm::Sha256);
        for (name, value) in &m.metadata {
            create = create.metadata(*name, value);
        }
        if let Some(until) = m.retain_until {
            create = create
                .object_lock_mode(ObjectLockMode::Compliance)
                .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(
                    until.as_second(),
                ));
        }
        let created = create.send().await.map_err(|e| classify(&e, &resource))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = self.upload_parts(m, &upload_id, &resource).await;
        if result.is_err() {
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(m.key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = aborted {
                tracing::warn!(key = %m.key, error = %classify(&e, &resource), "cannot abort the multipart upload; a bucket lifecycle rule for incomplete uploads removes its parts");
            }
        }
        result
    }

    /// Upload every part of `m`, then complete the upload.
    async fn upload_parts(
        &self,
        m: &Multipart<'_>,
        upload_id: &str,
        resource: &str,
    ) -> Result<Option<String>, MultipartError> {
        let mut completed = Vec::with_capacity(m.digests.len());
        for (index, digest) in m.digests.iter().enumerate() {
            let number = i32::try_from(index + 1).unwrap_or(i32::MAX);
            let offset = index as u64 * m.part_size;
            let length = m.part_size.min(m.size - offset);
            let body = ByteStream::read_from()
                .path(m.file)
                .offset(offset)
                .length(aws_sdk_s3::primitives::Length::Exact(length))
                .buffer_size(BUFFER_BYTES)
                .build()
                .await
                .map_err(|e| StoreError::Io {
                    path: m.file.to_owned(),
                    source: io::Error::other(e),
                })?;
            let part = self
                .client
                .upload_part()
                .bucket(&self.location.bucket)
                .key(m.key)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .content_length(i64::try_from(length).unwrap_or(i64::MAX))
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(to_base64(digest))
                .send()
                .await
                .map_err(|e| classify(&e, &format!("{resource} (part {number})")))?;
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_owned))
                    .checksum_sha256(to_base64(digest))
                    .build(),
            );
        }
        let done = self
            .client
            .complete_multipart_upload()
            .bucket(&self.location.bucket)
            .key(m.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .if_none_match("*")
            .send()
            .await;
        match done {
            Ok(out) => Ok(out.version_id().map(str::to_owned)),
            Err(e) if matches!(status_of(&e), Some(412)) => Err(MultipartError::AlreadyStored),
            Err(e) => Err(classify(&e, resource).into()),
        }
    }

    /// HEAD the key and check its size (and checksum, when the store reports one).
    async fn confirm(
        &self,
        bundle: &Outgoing<'_>,
        how: Stored,
    ) -> Result<UploadReceipt, StoreError> {
        let Outgoing {
            key,
            origin,
            seq,
            sha256,
            size,
            parts,
        } = *bundle;
        let (retain_until, already_present) = match how {
            Stored::Written { retain_until } => (retain_until, false),
            Stored::AlreadyPresent => (None, true),
        };
        let resource = format!("s3://{}/{key}", self.location.bucket);
        let head = self
            .client
            .head_object()
            .bucket(&self.location.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| classify(&e, &resource))?;
        let stored = head.content_length().and_then(|n| u64::try_from(n).ok());
        if stored != Some(size) {
            return Err(StoreError::Integrity {
                key: resource,
                detail: format!("stored size {stored:?} differs from the bundle's {size} bytes"),
            });
        }
        // A multipart object reports a composite checksum (`<sha256 of the parts'>-N` on AWS;
        // moto leaves out the `-N` on HEAD): it can be checked only by the upload that knows
        // the parts. A single PUT reports the SHA-256 of the whole bundle.
        let whole = to_base64(&sha256);
        let expected = match (head.checksum_sha256(), parts) {
            (Some(c), _) if c == whole => None,
            (Some(c), Some(parts)) => {
                let composite = composite_sha256(parts);
                let base = composite.rsplit_once('-').map_or("", |(b, _)| b);
                // An object stored by an earlier upload may have been cut into other parts:
                // its composite cannot be recomputed here (its size was checked above, and
                // every download checks the digest in its key).
                (c != composite && c != base && !already_present).then_some(composite)
            }
            (Some(c), None) if !c.contains('-') => Some(whole),
            _ => None,
        };
        if let (Some(c), Some(expected)) = (head.checksum_sha256(), expected)
            && c != expected
        {
            return Err(StoreError::Integrity {
                key: resource,
                detail: format!("stored checksum {c} differs from the bundle's {expected}"),
            });
        }
        // A store may accept the Object Lock headers of a multipart upload and drop them (moto
        // does): the retention asked for is then set explicitly, so a receipt never claims a
        // retention the object does not have.
        if let Some(until) = retain_until
            && !already_present
            && head.object_lock_mode().is_none()
        {
            tracing::warn!(%key, "the store did not apply the upload's retention; setting it with PutObjectRetention");
            self.client
                .put_object_retention()
                .bucket(&self.location.bucket)
                .key(key)
                .set_version_id(head.version_id().map(str::to_owned))
                .retention(
                    ObjectLockRetention::builder()
                        .mode(ObjectLockRetentionMode::Compliance)
                        .retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(
                            until.as_second(),
                        ))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify(&e, &resource))?;
        }
        let retain_until = retain_until.or_else(|| {
            head.object_lock_retain_until_date()
                .and_then(|d| jiff::Timestamp::from_second(d.secs()).ok())
        });
        Ok(UploadReceipt {
            schema: RECEIPT_SCHEMA.to_owned(),
            location: self.location.to_string(),
            key: key.to_owned(),
            origin: origin.to_owned(),
            seq,
            sha256,
            size,
            etag: head.e_tag().map(str::to_owned),
            version_id: head.version_id().map(str::to_owned),
            retain_until,
            already_present,
            sidecars: Vec::new(),
            parts: None,
            confirmed_at: jiff::Timestamp::now(),
        })
    }

    /// Every key under `prefix` with its size, following pagination.
    async fn list_keys(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let resource = format!("s3://{}/{prefix}", self.location.bucket);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.location.bucket)
                .prefix(prefix)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| classify(&e, &resource))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    let size = o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                    out.push((k.to_owned(), size));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// Every bundle under the location, ordered by origin folder and run, and the keys that are
    /// not bundles.
    pub async fn list(&self) -> Result<RemoteListing, StoreError> {
        let mut listing = RemoteListing::default();
        let mut sidecars = Vec::new();
        for (key, size) in self.list_keys(&self.location.key_prefix()).await? {
            if let Some(bundle) = BundleKey::parse(&self.location, &key) {
                listing.bundles.push(RemoteBundle {
                    key,
                    bundle,
                    size,
                    sidecars: Vec::new(),
                });
            } else if let Some((bundle_key, suffix)) = sidecar_of(&key) {
                sidecars.push((bundle_key.to_owned(), suffix.to_owned(), key.clone()));
            } else {
                listing.foreign_keys.push(key);
            }
        }
        for (bundle_key, suffix, key) in sidecars {
            match listing.bundles.iter_mut().find(|b| b.key == bundle_key) {
                Some(b) => b.sidecars.push((suffix, key)),
                None => listing.foreign_keys.push(key),
            }
        }
        listing.bundles.sort_by(|a, b| a.bundle.cmp(&b.bundle));
        Ok(listing)
    }

    /// Store a sidecar of an uploaded bundle (its `.sig` signature) as `<bundle key>.<suffix>`,
    /// write-once: an identical sidecar already stored is confirmed, a different one is a
    /// conflict. Returns the sidecar's key.
    pub async fn upload_sidecar(
        &self,
        bundle_key: &str,
        suffix: &str,
        file: &Path,
    ) -> Result<String, StoreError> {
        if suffix.is_empty()
            || !suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(StoreError::Config(format!(
                "sidecar suffix {suffix:?} is not allowed"
            )));
        }
        let key = format!("{bundle_key}.{suffix}");
        let resource = format!("s3://{}/{key}", self.location.bucket);
        let bytes = tokio::fs::read(file)
            .await
            .map_err(|source| StoreError::Io {
                path: file.to_owned(),
                source,
            })?;
        let sha256 = Sha256Digest::of(&bytes);
        let put = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(&key)
            .body(ByteStream::from(bytes.clone()))
            .if_none_match("*")
            // A bucket with default retention applies it to the sidecar too (see `upload`).
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(to_base64(&sha256))
            .send()
            .await;
        match put {
            Ok(_) => Ok(key),
            Err(e) if matches!(status_of(&e), Some(412)) => {
                let stored = self.get_small(&key).await?;
                if stored == bytes {
                    Ok(key)
                } else {
                    Err(StoreError::Conflict {
                        key: resource,
                        detail: "a different sidecar is already stored".into(),
                    })
                }
            }
            Err(e) => Err(classify(&e, &resource)),
        }
    }

    /// The bytes of a small object (a sidecar), at most 1 MiB.
    async fn get_small(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let resource = format!("s3://{}/{key}", self.location.bucket);
        let object = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&e, &resource))?;
        let mut out = Vec::new();
        object
            .body
            .into_async_read()
            .take(1 << 20)
            .read_to_end(&mut out)
            .await
            .map_err(|e| StoreError::Integrity {
                key: resource,
                detail: error_chain(&e),
            })?;
        Ok(out)
    }

    /// Download a bundle's sidecar (at most 1 MiB) to `dest`. The verifier authenticates it.
    pub async fn download_sidecar(&self, key: &str, dest: &Path) -> Result<(), StoreError> {
        let bytes = self.get_small(key).await?;
        tokio::fs::write(dest, bytes)
            .await
            .map_err(|source| StoreError::Io {
                path: dest.to_owned(),
                source,
            })
    }

    /// Download `bundle` to `dest` in bounded memory, check its SHA-256 against the key, and
    /// fsync it. On any failure `dest` is removed.
    pub async fn download(&self, bundle: &RemoteBundle, dest: &Path) -> Result<(), StoreError> {
        let result = self.download_inner(bundle, dest).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(dest).await;
        }
        result
    }

    async fn download_inner(&self, bundle: &RemoteBundle, dest: &Path) -> Result<(), StoreError> {
        let resource = format!("s3://{}/{}", self.location.bucket, bundle.key);
        let io_err = |source| StoreError::Io {
            path: dest.to_owned(),
            source,
        };
        let object = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(&bundle.key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| classify(&e, &resource))?;
        let mut body = object.body.into_async_read();
        let mut file = tokio::fs::File::create(dest).await.map_err(io_err)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; BUFFER_BYTES];
        let mut size = 0u64;
        loop {
            let n = body
                .read(&mut buf)
                .await
                .map_err(|e| StoreError::Integrity {
                    key: resource.clone(),
                    detail: format!(
                        "the download failed after {size} bytes: {}",
                        error_chain(&e)
                    ),
                })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).await.map_err(io_err)?;
            size += n as u64;
        }
        file.flush().await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        let actual = Sha256Digest(hasher.finalize().into());
        if actual != bundle.bundle.sha256 {
            return Err(StoreError::Integrity {
                key: resource,
                detail: format!(
                    "the bytes received hash to {actual}, not the {} the key names",
                    bundle.bundle.sha256
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_digests_match_the_in_memory_digest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.zip");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        assert_eq!(
            sha256_file(&p).await.unwrap(),
            (Sha256Digest::of(&data), 1_000_000)
        );
    }

    #[test]
    fn checksums_are_standard_base64_of_the_digest() {
        assert_eq!(
            to_base64(&Sha256Digest::of(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn sidecar_keys_name_their_bundle_and_suffix() {
        assert_eq!(
            sidecar_of("p/o/run-000001-ab.zip.sig"),
            Some(("p/o/run-000001-ab.zip", "sig"))
        );
        assert_eq!(
            sidecar_of("p/o/run-000001-ab.zip.cosig.ops.sig"),
            Some(("p/o/run-000001-ab.zip", "cosig.ops.sig"))
        );
        assert_eq!(sidecar_of("p/o/run-000001-ab.zip"), None);
        assert_eq!(sidecar_of("p/o/run-000001-ab.zip.s g"), None);
    }

    #[test]
    fn receipts_refuse_unknown_fields() {
        let r = UploadReceipt {
            schema: RECEIPT_SCHEMA.into(),
            location: "s3://b/p".into(),
            key: "p/o/run-000001-x.zip".into(),
            origin: "o".into(),
            seq: 1,
            sha256: Sha256Digest::of(b""),
            size: 0,
            etag: None,
            version_id: None,
            retain_until: None,
            already_present: false,
            sidecars: Vec::new(),
            parts: None,
            confirmed_at: jiff::Timestamp::UNIX_EPOCH,
        };
        let mut v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            serde_json::from_value::<UploadReceipt>(v.clone()).unwrap(),
            r
        );
        v["extra"] = 1.into();
        assert!(serde_json::from_value::<UploadReceipt>(v).is_err());
    }
}
