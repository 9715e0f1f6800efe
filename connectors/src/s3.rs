//! The S3 connector: lists a bucket's prefixes with ListObjectsV2, tags keys by the first
//! matching rule, and streams new or changed objects into the sink in constant memory, refusing
//! any transfer whose length, SHA-256 checksum or MD5 ETag does not match what S3 stated.
//! Works with AWS and any S3-compatible store (endpoint override); credentials come from the
//! standard AWS chain (environment, profile, web identity, instance role), never the config.

use crate::config_error::ConfigError;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{ChecksumMode, ChecksumType, ServerSideEncryption};
use evidence_model::{
    GapCategory, GapRecord, ItemId, PopulationRecord, Sha256Digest, SourceName, Timestamp,
};
use evidence_s3::{ClientSettings, ErrorClass};
use globset::GlobMatcher;
use md5::Digest as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::OnceCell;

use crate::connector::{
    CollectContext, Connector, ConnectorError, Cursor, CursorState, Health, VersionedCursor,
};
use crate::media_type;
use crate::rules::{Rule, RuleConfig, RuleSet, compile_globs};
use crate::sink::{ItemDraft, ItemSink, SinkError, end_scope};

/// How many unmatched or removed keys a population record lists by name.
const MAX_LISTED_KEYS: usize = 1000;
/// The largest page ListObjectsV2 returns.
const MAX_PAGE_KEYS: i32 = 1000;

/// `[[source]] type = "s3"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The bucket to collect from.
    pub bucket: String,
    /// Key prefixes to collect, each listed separately with its own population record (and its
    /// own gap record if it cannot be read). Default: the whole bucket.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Endpoint of an S3-compatible store (MinIO, Ceph, a local test server); default: AWS.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Region; default: the AWS chain's (`AWS_REGION`, the profile), else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Named profile from the shared AWS config files; default: `AWS_PROFILE` or `default`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`); default: on with `endpoint_url`, off for AWS.
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Rules over the full object key, first match wins.
    #[serde(rename = "rule", default)]
    pub rules: Vec<RuleConfig>,
    /// Globs of keys to leave out silently (e.g. `**/_tmp/**`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Keys per ListObjectsV2 page, 1–1000 (default 1000, the most S3 returns).
    #[serde(default)]
    pub page_size_keys: Option<u32>,
    /// Attempts per request, the first included (default 5); the SDK backs off with jitter.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Connection timeout in seconds (default 10).
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
    /// Longest wait for any single read of a response, in seconds (default 60). A large object
    /// may take longer in total; only a stalled transfer times out.
    #[serde(default)]
    pub read_timeout_secs: Option<u64>,
}

/// A configured bucket.
pub struct S3Connector {
    name: SourceName,
    bucket: String,
    prefixes: Vec<String>,
    rules: RuleSet,
    exclude: Vec<GlobMatcher>,
    page_size: i32,
    settings: ClientSettings,
    client: OnceCell<Client>,
}

impl std::fmt::Debug for S3Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Connector")
            .field("name", &self.name)
            .field("bucket", &self.bucket)
            .field("prefixes", &self.prefixes)
            .field("endpoint", &self.settings.endpoint_url)
            .finish_non_exhaustive()
    }
}

/// What the connector remembers between runs: every collected key's version.
#[derive(Debug, Default, Serialize, Deserialize)]
struct S3Cursor {
    objects: BTreeMap<String, ObjectState>,
}

/// Layout 1; cursors stored before versioning have the same layout.
impl CursorState for S3Cursor {
    const VERSION: u32 = 1;
}

/// The version of an object that was last sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ObjectState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<Timestamp>,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
    sha256: Sha256Digest,
    item: ItemId,
}

/// An object as a listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    key: String,
    etag: Option<String>,
    last_modified: Option<Timestamp>,
    size: u64,
    storage_class: Option<String>,
}

/// True when the listed object is the version sealed earlier: the same size and, when both
/// sides have one, the same ETag; without ETags, the same modification time.
fn is_unchanged(prev: &ObjectState, listed: &Listed) -> bool {
    if prev.size != listed.size {
        return false;
    }
    match (&prev.etag, &listed.etag) {
        (Some(a), Some(b)) => a == b,
        _ => prev.last_modified.is_some() && prev.last_modified == listed.last_modified,
    }
}

/// The MD5 an ETag states, when it is one: single-part uploads without SSE-KMS or SSE-C have
/// the content's MD5 as their ETag (quoted hex); multipart ETags end in `-<parts>`.
fn etag_md5(etag: &str, encryption: Option<&ServerSideEncryption>) -> Option<[u8; 16]> {
    let kms = matches!(
        encryption,
        Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
    );
    if kms {
        return None;
    }
    let hex_text = etag.trim().trim_start_matches("W/").trim_matches('"');
    if hex_text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(hex_text.to_ascii_lowercase(), &mut out).ok()?;
    Some(out)
}

/// The SHA-256 of the whole object from `x-amz-checksum-sha256` (base64), unless the checksum
/// is composite (multipart: `<base64>-<parts>`, or a `COMPOSITE` checksum type).
fn full_object_sha256(checksum: &str, kind: Option<&ChecksumType>) -> Option<Sha256Digest> {
    use base64::Engine;
    if matches!(kind, Some(ChecksumType::Composite)) || checksum.contains('-') {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(checksum.trim())
        .ok()?;
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    Some(Sha256Digest(bytes))
}

/// The gap category of an S3 error class.
#[cfg(test)]
fn category_of(class: ErrorClass) -> GapCategory {
    match class {
        ErrorClass::Denied => GapCategory::Denied,
        ErrorClass::NotFound => GapCategory::NotFound,
        ErrorClass::RateLimited => GapCategory::RateLimited,
        ErrorClass::Unreachable => GapCategory::Unreachable,
        ErrorClass::Timeout => GapCategory::Timeout,
        _ => GapCategory::InvalidResponse,
    }
}

/// The gap category for an S3 error code and HTTP status.
#[cfg(test)]
fn category_for(code: Option<&str>, status: Option<u16>) -> GapCategory {
    category_of(evidence_s3::class_of(code, status))
}

/// Classify an SDK error; the message names `resource` and the S3 error code, never a secret.
fn classify<E>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    resource: &str,
    timeout: Duration,
) -> ConnectorError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = crate::redact::error_chain(e);
    let resource = resource.to_owned();
    match evidence_s3::classify(e) {
        ErrorClass::Timeout => ConnectorError::Timeout { resource, timeout },
        ErrorClass::Denied => ConnectorError::Denied { resource, detail },
        ErrorClass::NotFound => ConnectorError::NotFound { resource },
        ErrorClass::RateLimited => ConnectorError::RateLimited {
            resource,
            attempts: 0,
        },
        ErrorClass::Unreachable => ConnectorError::Unreachable { resource, detail },
        _ => ConnectorError::InvalidResponse { resource, detail },
    }
}

fn to_timestamp(t: &aws_sdk_s3::primitives::DateTime) -> Option<Timestamp> {
    let nanos = i32::try_from(t.subsec_nanos()).ok()?;
    Timestamp::new(t.secs(), nanos).ok()
}

fn listed(keys: &[String]) -> serde_json::Value {
    serde_json::Value::from(
        keys.iter()
            .take(MAX_LISTED_KEYS)
            .cloned()
            .collect::<Vec<_>>(),
    )
}

/// The file name of an object key: its last segment, or `object` for a key ending in `/`.
fn file_name_of(key: &str) -> &str {
    match key.rsplit('/').next() {
        Some(n) if !n.is_empty() => n,
        _ => "object",
    }
}

impl S3Connector {
    /// Check the config. Pure: the AWS client is created on first use.
    pub fn new(name: SourceName, config: &S3Config) -> Result<Self, ConfigError> {
        let at = format!("source {:?}", name.as_str());
        if config.bucket.is_empty() || config.bucket.contains('/') {
            return Err(ConfigError::new(
                &at,
                format!(
                    "bucket {:?} must be a bucket name (no `/`; put key prefixes in `prefixes`)",
                    config.bucket
                ),
            )
            .key("bucket"));
        }
        let rules = RuleSet::from_configs(&config.rules, &at)?;
        let exclude = compile_globs(&config.exclude, &at, "exclude")?;
        let page_size = match config.page_size_keys {
            None => MAX_PAGE_KEYS,
            Some(n @ 1..=1000) => i32::try_from(n).unwrap_or(MAX_PAGE_KEYS),
            Some(n) => {
                return Err(
                    ConfigError::new(&at, format!("page_size_keys = {n} must be 1–1000"))
                        .key("page_size_keys"),
                );
            }
        };
        let max_attempts = match config.max_attempts {
            None => 5,
            Some(n @ 1..=20) => n,
            Some(n) => {
                return Err(
                    ConfigError::new(&at, format!("max_attempts = {n} must be 1–20"))
                        .key("max_attempts"),
                );
            }
        };
        let settings = ClientSettings {
            max_attempts,
            connect_timeout: Duration::from_secs(config.connect_timeout_secs.unwrap_or(10)),
            read_timeout: Duration::from_secs(config.read_timeout_secs.unwrap_or(60)),
            ..ClientSettings::new(
                config.endpoint_url.clone(),
                config.region.clone(),
                config.profile.clone(),
                config.force_path_style,
            )
        };
        settings
            .check_endpoint()
            .map_err(|e| ConfigError::new(&at, e.to_string()).key("endpoint_url"))?;
        let mut prefixes = config.prefixes.clone();
        if prefixes.is_empty() {
            prefixes.push(String::new());
        }
        let unique: BTreeSet<&String> = prefixes.iter().collect();
        if unique.len() != prefixes.len() {
            return Err(ConfigError::new(
                &at,
                "a prefix is listed twice".to_string(),
            ));
        }
        Ok(Self {
            name,
            bucket: config.bucket.clone(),
            prefixes,
            rules,
            exclude,
            page_size,
            settings,
            client: OnceCell::new(),
        })
    }

    /// Use an AWS configuration loaded by the caller (credentials, region, HTTP client) instead
    /// of the standard chain; the source's endpoint, retry and timeout settings still apply.
    pub fn with_sdk_config(self, sdk: &aws_config::SdkConfig) -> Self {
        let client = self.settings.client(sdk);
        Self {
            client: OnceCell::new_with(Some(client)),
            ..self
        }
    }

    async fn client(&self) -> &Client {
        self.client.get_or_init(|| self.settings.connect()).await
    }

    /// What provenance records as the endpoint: the bucket URI, and the store when not AWS.
    fn endpoint_text(&self) -> String {
        match &self.settings.endpoint_url {
            Some(url) => format!("s3://{} at {url}", self.bucket),
            None => format!("s3://{}", self.bucket),
        }
    }

    fn gap(
        &self,
        scope: &str,
        category: GapCategory,
        message: String,
        sink: &dyn ItemSink,
    ) -> GapRecord {
        GapRecord::new(
            "s3",
            self.name.clone(),
            scope,
            category,
            message,
            sink.collected_at(),
        )
    }

    /// Walk one prefix: list every page, stage new and changed objects.
    async fn collect_prefix(
        &self,
        prefix: &str,
        state: &mut S3Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let client = self.client().await;
        let scope = format!("s3://{}/{prefix}", self.bucket);
        let query = format!(
            "ListObjectsV2 bucket={} prefix={prefix:?} max-keys={} (first matching rule wins: {})",
            self.bucket,
            self.page_size,
            self.rules
                .rules()
                .iter()
                .map(|r| format!("{} => {}", r.glob, r.kind))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let mut population = PopulationRecord::new("s3", self.name.clone(), &scope, &query);
        let mut unmatched = Vec::new();
        let mut seen = BTreeSet::new();
        let mut token: Option<String> = None;
        let mut listing_complete = false;
        let mut keys_listed = 0u64;
        let mut interrupted = false;
        let mut failed: Option<ConnectorError> = None;
        ctx.progress.status(&format!("listing {scope}"));
        'pages: loop {
            let request = client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(self.page_size)
                .set_continuation_token(token.clone());
            let page = tokio::select! {
                page = request.send() => page,
                () = ctx.shutdown.cancelled() => {
                    interrupted = true;
                    break 'pages;
                }
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    failed = Some(classify(
                        &e,
                        &format!("listing {scope}"),
                        self.settings.read_timeout,
                    ));
                    break 'pages;
                }
            };
            population.pages_walked += 1;
            keys_listed += page.contents().len() as u64;
            for object in page.contents() {
                if ctx.shutdown.is_cancelled() {
                    interrupted = true;
                    break 'pages;
                }
                let Some(key) = object.key() else { continue };
                if self.exclude.iter().any(|g| g.is_match(key)) {
                    continue;
                }
                let Some(rule) = self.rules.first_match(key) else {
                    unmatched.push(key.to_owned());
                    continue;
                };
                let listed = Listed {
                    key: key.to_owned(),
                    etag: object.e_tag().map(str::to_owned),
                    last_modified: object.last_modified().and_then(to_timestamp),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                    storage_class: object.storage_class().map(|c| c.as_str().to_owned()),
                };
                seen.insert(listed.key.clone());
                population.items_seen += 1;
                if let Some(prev) = state.objects.get(key)
                    && is_unchanged(prev, &listed)
                {
                    population.items_unchanged += 1;
                    ctx.progress.add_items(1);
                    continue;
                }
                match self
                    .collect_object(
                        client,
                        Candidate {
                            listed: &listed,
                            rule,
                            prefix,
                        },
                        state,
                        sink,
                        ctx,
                    )
                    .await
                {
                    Ok(true) => population.items_sealed += 1,
                    Ok(false) => population.items_unchanged += 1,
                    Err(ObjectFailure::Item(g)) => {
                        sink.gap(g).await?;
                        population.complete = false;
                    }
                    Err(ObjectFailure::Fatal(e)) => return Err(e),
                    Err(ObjectFailure::Interrupted) => {
                        interrupted = true;
                        break 'pages;
                    }
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => {
                    listing_complete = true;
                    break;
                }
            }
        }
        population
            .attributes
            .insert("keys_listed".into(), keys_listed.into());
        if !unmatched.is_empty() {
            population.notes.push(format!(
                "{} object(s) matched no rule and were not collected",
                unmatched.len()
            ));
            population
                .attributes
                .insert("unmatched".into(), listed(&unmatched));
        }
        population
            .attributes
            .insert("unmatched_count".into(), unmatched.len().into());
        population
            .attributes
            .insert("bucket".into(), self.bucket.clone().into());
        population
            .attributes
            .insert("prefix".into(), prefix.to_owned().into());
        if listing_complete {
            let removed: Vec<String> = state
                .objects
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .filter(|(k, _)| !seen.contains(*k) && !self.exclude.iter().any(|g| g.is_match(k)))
                .map(|(k, _)| k.clone())
                .collect();
            // A key under a longer configured prefix is that prefix's business.
            let removed: Vec<String> = removed
                .into_iter()
                .filter(|k| {
                    !self.prefixes.iter().any(|p| {
                        p.len() > prefix.len() && p.starts_with(prefix) && k.starts_with(p.as_str())
                    })
                })
                .collect();
            for k in &removed {
                state.objects.remove(k);
            }
            if !removed.is_empty() {
                population.notes.push(format!(
                    "{} object(s) sealed earlier are no longer listed",
                    removed.len()
                ));
                population
                    .attributes
                    .insert("removed".into(), listed(&removed));
            }
        } else {
            population.complete = false;
        }
        if interrupted {
            population
                .notes
                .push("the run was interrupted before the listing finished".into());
        }
        let stopped_by = failed.as_ref().map(|e| {
            population.notes.push(format!("listing stopped: {e}"));
            self.gap(&scope, e.gap_category(), e.to_string(), &*sink)
        });
        let stop = interrupted.then_some(ConnectorError::Interrupted { resource: scope });
        end_scope(sink, stopped_by, population, stop).await
    }

    /// Fetch one object and stage it. `Ok(true)` when sealed, `Ok(false)` when its content
    /// turned out to equal the version sealed earlier.
    async fn collect_object(
        &self,
        client: &Client,
        candidate: Candidate<'_>,
        state: &mut S3Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<bool, ObjectFailure> {
        let Candidate {
            listed,
            rule,
            prefix,
        } = candidate;
        let key = &listed.key;
        let uri = format!("s3://{}/{key}", self.bucket);
        ctx.progress.status(key);
        let mut request = client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled);
        // The object must still be the one listed: a concurrent overwrite fails the request
        // instead of mixing the listing's facts with another version's bytes.
        if let Some(etag) = &listed.etag {
            request = request.if_match(etag);
        }
        // A download that never answers must not hold the run past a shutdown request.
        let sent = tokio::select! {
            sent = request.send() => sent,
            () = ctx.shutdown.cancelled() => return Err(ObjectFailure::Interrupted),
        };
        let object = match sent {
            Ok(o) => o,
            Err(e) => {
                let err = classify(&e, &uri, self.settings.read_timeout);
                let message = if matches!(e.raw_response().map(|r| r.status().as_u16()), Some(412))
                {
                    format!("{uri} changed between listing and download; it is collected next run")
                } else {
                    err.to_string()
                };
                return Err(ObjectFailure::Item(self.gap(
                    key,
                    err.gap_category(),
                    message,
                    &*sink,
                )));
            }
        };
        let etag = object
            .e_tag()
            .map(str::to_owned)
            .or_else(|| listed.etag.clone());
        let version_id = object.version_id().map(str::to_owned);
        let size = object
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(listed.size);
        let last_modified = object
            .last_modified()
            .and_then(to_timestamp)
            .or(listed.last_modified);
        let expected_sha256 = object
            .checksum_sha256()
            .and_then(|c| full_object_sha256(c, object.checksum_type()));
        let md5 = etag
            .as_deref()
            .and_then(|e| etag_md5(e, object.server_side_encryption()));
        let file_name = file_name_of(key).to_owned();
        let mut attributes = BTreeMap::from([
            ("bucket".to_owned(), self.bucket.clone().into()),
            ("key".to_owned(), key.clone().into()),
            ("size".to_owned(), size.into()),
            ("rule".to_owned(), rule.glob.clone().into()),
            ("prefix".to_owned(), prefix.to_owned().into()),
        ]);
        if let Some(e) = &etag {
            attributes.insert("etag".into(), e.clone().into());
        }
        if let Some(v) = &version_id {
            attributes.insert("version_id".into(), v.clone().into());
        }
        if let Some(c) = &listed.storage_class {
            attributes.insert("storage_class".into(), c.clone().into());
        }
        if let Some(t) = last_modified {
            attributes.insert("last_modified".into(), t.to_string().into());
        }
        let verified: Vec<&str> = [
            Some("length"),
            expected_sha256.map(|_| "sha256"),
            md5.map(|_| "etag-md5"),
        ]
        .into_iter()
        .flatten()
        .collect();
        attributes.insert("transfer_verified_by".into(), verified.into());
        let draft = ItemDraft::builder(
            &rule.tagging(),
            key.clone(),
            file_name.clone(),
            media_type::for_file_name(&file_name),
        )
        .reference(uri.clone())
        .source_time(last_modified)
        .endpoint(self.endpoint_text())
        .query(format!("GetObject {uri} (rule {})", rule.glob))
        .attributes(attributes)
        .expected_sha256(expected_sha256)
        .expected_size(size)
        .build();
        let mut body = Md5Verifying::new(
            Box::pin(Cancellable::new(
                object.body.into_async_read(),
                ctx.shutdown.clone(),
            )),
            md5,
            &uri,
        );
        let staged = match sink.put(draft, &mut body).await {
            Ok(s) => s,
            Err(_) if ctx.shutdown.is_cancelled() => return Err(ObjectFailure::Interrupted),
            Err(e) if e.is_item_level() => {
                let category = match e {
                    SinkError::TransferMismatch { .. } | SinkError::Body { .. } => {
                        GapCategory::InvalidResponse
                    }
                    _ => GapCategory::Other,
                };
                return Err(ObjectFailure::Item(self.gap(
                    key,
                    category,
                    e.to_string(),
                    &*sink,
                )));
            }
            Err(e) => return Err(ObjectFailure::Fatal(e.into())),
        };
        ctx.progress.add_items(1);
        ctx.progress.add_bytes(staged.size);
        let previous = state.objects.get(key);
        let same_content = previous.is_some_and(|p| p.sha256 == staged.sha256);
        let item = if same_content {
            sink.discard(&staged.id)
                .await
                .map_err(|e| ObjectFailure::Fatal(e.into()))?;
            previous.map_or(staged.id.clone(), |p| p.item.clone())
        } else {
            staged.id.clone()
        };
        state.objects.insert(
            key.clone(),
            ObjectState {
                etag,
                last_modified,
                size: staged.size,
                version_id,
                sha256: staged.sha256,
                item,
            },
        );
        Ok(!same_content)
    }
}

/// A listed object a rule selected, under the prefix being walked.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    listed: &'a Listed,
    rule: &'a Rule,
    prefix: &'a str,
}

/// Why one object was not staged.
enum ObjectFailure {
    /// Record this gap and carry on.
    Item(GapRecord),
    /// The staging area failed; stop the run.
    Fatal(ConnectorError),
    /// The agent asked to stop while the object was being fetched; nothing was staged.
    Interrupted,
}

/// Ends a body with an error as soon as the run is asked to stop, so a download stalled
/// mid-body does not hold the run past its shutdown deadline.
struct Cancellable<R> {
    inner: R,
    cancelled: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl<R> Cancellable<R> {
    fn new(inner: R, token: tokio_util::sync::CancellationToken) -> Self {
        Self {
            inner,
            cancelled: Box::pin(token.cancelled_owned()),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Cancellable<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.cancelled.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Err(std::io::Error::other(
                "the run was interrupted during the download",
            )));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Passes a body through and, at its end, checks the MD5 the ETag stated; a mismatch fails the
/// read, so the sink stages nothing.
struct Md5Verifying<R> {
    inner: R,
    expected: Option<[u8; 16]>,
    hasher: md5::Md5,
    uri: String,
}

impl<R> Md5Verifying<R> {
    fn new(inner: R, expected: Option<[u8; 16]>, uri: &str) -> Self {
        Self {
            inner,
            expected,
            hasher: md5::Md5::new(),
            uri: uri.to_owned(),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Md5Verifying<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            if this.expected.is_some() {
                this.hasher.update(new);
            }
            return Poll::Ready(Ok(()));
        }
        if let Some(expected) = this.expected.take() {
            let actual: [u8; 16] = std::mem::take(&mut this.hasher).finalize().into();
            if actual != expected {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the MD5 of the bytes received from {} ({}) does not match its ETag ({})",
                        this.uri,
                        hex::encode(actual),
                        hex::encode(expected)
                    ),
                )));
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[async_trait]
impl Connector for S3Connector {
    fn connector_type(&self) -> &'static str {
        "s3"
    }

    fn name(&self) -> &SourceName {
        &self.name
    }

    async fn healthcheck(&self) -> Result<Health, ConnectorError> {
        let client = self.client().await;
        let resource = format!("bucket {}", self.endpoint_text());
        client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| classify(&e, &resource, self.settings.connect_timeout))?;
        let mut denied = Vec::new();
        for prefix in &self.prefixes {
            let probe = client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(1)
                .send()
                .await;
            if let Err(e) = probe {
                denied.push(format!(
                    "{prefix:?}: {}",
                    classify(&e, "listing", self.settings.read_timeout)
                ));
            }
        }
        if !denied.is_empty() {
            return Err(ConnectorError::Denied {
                resource,
                detail: format!("cannot list {}", denied.join("; ")),
            });
        }
        Ok(Health {
            detail: format!(
                "{resource} is reachable and its {} prefix(es) can be listed",
                self.prefixes.len()
            ),
        })
    }

    async fn collect(
        &self,
        cursor: &mut Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let mut state: S3Cursor = VersionedCursor::load(cursor)?;
        let mut result = Ok(());
        for prefix in &self.prefixes {
            if let Err(e) = self.collect_prefix(prefix, &mut state, sink, ctx).await {
                result = Err(e);
                break;
            }
        }
        VersionedCursor::store(cursor, &state)?;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(etag: Option<&str>, modified: Option<&str>, size: u64) -> ObjectState {
        ObjectState {
            etag: etag.map(str::to_owned),
            last_modified: modified.map(|m| m.parse().unwrap()),
            size,
            version_id: None,
            sha256: Sha256Digest::of(b""),
            item: "s-x".parse().unwrap(),
        }
    }

    fn listing(etag: Option<&str>, modified: Option<&str>, size: u64) -> Listed {
        Listed {
            key: "k".into(),
            etag: etag.map(str::to_owned),
            last_modified: modified.map(|m| m.parse().unwrap()),
            size,
            storage_class: None,
        }
    }

    #[test]
    fn an_object_with_the_same_etag_and_size_is_unchanged_even_if_rewritten() {
        let prev = state(Some("\"a\""), Some("2026-01-01T00:00:00Z"), 3);
        assert!(is_unchanged(
            &prev,
            &listing(Some("\"a\""), Some("2026-02-01T00:00:00Z"), 3)
        ));
        assert!(!is_unchanged(
            &prev,
            &listing(Some("\"b\""), Some("2026-01-01T00:00:00Z"), 3)
        ));
        assert!(!is_unchanged(
            &prev,
            &listing(Some("\"a\""), Some("2026-01-01T00:00:00Z"), 4)
        ));
    }

    #[test]
    fn without_etags_the_modification_time_decides() {
        let prev = state(None, Some("2026-01-01T00:00:00Z"), 3);
        assert!(is_unchanged(
            &prev,
            &listing(None, Some("2026-01-01T00:00:00Z"), 3)
        ));
        assert!(!is_unchanged(
            &prev,
            &listing(None, Some("2026-01-02T00:00:00Z"), 3)
        ));
        let unknown = state(None, None, 3);
        assert!(!is_unchanged(&unknown, &listing(None, None, 3)));
    }

    #[test]
    fn only_single_part_unencrypted_etags_are_taken_as_md5() {
        let md5 = "\"9e107d9d372bb6826bd81d3542a419d6\"";
        assert!(etag_md5(md5, None).is_some());
        assert!(etag_md5(md5, Some(&ServerSideEncryption::Aes256)).is_some());
        assert!(etag_md5(md5, Some(&ServerSideEncryption::AwsKms)).is_none());
        assert!(etag_md5("\"9e107d9d372bb6826bd81d3542a419d6-3\"", None).is_none());
        assert!(etag_md5("\"not-hex-not-hex-not-hex-not-hex\"", None).is_none());
    }

    #[test]
    fn full_object_checksums_decode_and_composite_ones_are_ignored() {
        let empty = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert_eq!(full_object_sha256(empty, None), Some(Sha256Digest::of(b"")));
        assert_eq!(
            full_object_sha256(empty, Some(&ChecksumType::Composite)),
            None
        );
        assert_eq!(full_object_sha256(&format!("{empty}-2"), None), None);
        assert_eq!(full_object_sha256("not base64!", None), None);
    }

    #[test]
    fn s3_errors_map_to_gap_categories() {
        assert_eq!(
            category_for(Some("AccessDenied"), Some(403)),
            GapCategory::Denied
        );
        assert_eq!(category_for(None, Some(403)), GapCategory::Denied);
        assert_eq!(
            category_for(Some("NoSuchBucket"), Some(404)),
            GapCategory::NotFound
        );
        assert_eq!(
            category_for(Some("SlowDown"), Some(503)),
            GapCategory::RateLimited
        );
        assert_eq!(
            category_for(Some("InternalError"), Some(500)),
            GapCategory::Unreachable
        );
        assert_eq!(
            category_for(Some("Weird"), Some(400)),
            GapCategory::InvalidResponse
        );
    }

    #[test]
    fn file_names_come_from_the_last_key_segment() {
        assert_eq!(file_name_of("models/a/MODEL_CARD.md"), "MODEL_CARD.md");
        assert_eq!(file_name_of("top.txt"), "top.txt");
        assert_eq!(file_name_of("folder/"), "object");
    }

    fn config(toml_text: &str) -> S3Config {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn configs_are_checked_before_anything_runs() {
        let name: SourceName = "bucket".parse().unwrap();
        let rule = "[[rule]]\nglob = \"**\"\nkind = \"training_run\"\n";
        assert!(
            S3Connector::new(name.clone(), &config(&format!("bucket = \"b\"\n{rule}"))).is_ok()
        );
        let err = S3Connector::new(name.clone(), &config(&format!("bucket = \"b/x\"\n{rule}")))
            .unwrap_err();
        assert!(err.to_string().contains("prefixes"), "{err}");
        let err = S3Connector::new(
            name.clone(),
            &config(&format!("bucket = \"b\"\npage_size_keys = 5000\n{rule}")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("1–1000"), "{err}");
        let err = S3Connector::new(name, &config("bucket = \"b\"\n")).unwrap_err();
        assert!(err.to_string().contains("no `[[source.rule]]`"), "{err}");
        assert!(toml::from_str::<S3Config>("bucket = \"b\"\naccess_key = \"x\"\n").is_err());
    }
}
