//! Signing a run (`[signing]`, `[timestamp]`): the checkpoint is signed before the bundle is
//! written, time-stamped by an RFC 3161 authority over HTTP (retried; if it stays down the run
//! is sealed anyway with an `untimestamped` gap record, never blocked), and once the bundle is
//! durable its exact bytes are signed into the `run-NNNNNN.zip.sig` sidecar. A sidecar lost to
//! a crash is re-created at the start of the next run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use evidence_archive::seal::write_bundle_signature;
use evidence_archive::tsp::{self, TsaRoots};
use evidence_archive::verify::{NoVisitor, verify_bundle};
use evidence_archive::{ChainHead, PreparedBundle, SealError, SealInput, Staging, layout};
use evidence_connectors::http::{RetryPolicy, backoff};
use evidence_model::records::GapCategory;
use evidence_model::{GapRecord, Timestamp};
use serde::Serialize;
use ssh_key::PrivateKey;
use tokio_util::sync::CancellationToken;

use crate::config::{AgentConfig, TimestampConfig};
use crate::keys::{self, KeyError};

/// The source name of the gap record an untimestamped run carries.
pub const TSA_SOURCE: &str = "tsa";
/// Its connector name.
pub const TSA_CONNECTOR: &str = "rfc3161";

/// Signing could not be set up or done; the run seals nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    #[error("[signing] key: {0}")]
    Key(#[from] KeyError),
    #[error("[timestamp] roots: {0}")]
    Roots(String),
    #[error("[timestamp]: cannot build the HTTP client: {0}")]
    Client(String),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Staging(#[from] evidence_archive::StagingError),
}

/// How the run's time stamp went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TimestampOutcome {
    /// No `[timestamp]` is configured.
    NotConfigured,
    /// The checkpoint signature is time-stamped at `time`.
    Stamped { time: Timestamp, url: String },
    /// The TSA could not be reached or answered badly `attempts` times; the run is sealed
    /// without a time stamp and a gap record says why.
    Untimestamped { attempts: u32, reason: String },
}

/// What signing did in this run, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct SigningOutcome {
    /// The agent key's fingerprint.
    pub key: String,
    pub namespace: String,
    pub timestamp: TimestampOutcome,
    /// The bundle's signature sidecar, once written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_signature: Option<PathBuf>,
    /// Why the sidecar could not be written (the next run writes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_signature_error: Option<String>,
    /// A sidecar of an earlier run re-created at the start of this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaired: Option<PathBuf>,
}

impl SigningOutcome {
    /// True when something is missing: no time stamp although one is configured, or no sidecar.
    pub fn is_degraded(&self) -> bool {
        matches!(self.timestamp, TimestampOutcome::Untimestamped { .. })
            || self.bundle_signature.is_none()
    }
}

/// The agent's key and time-stamp authority for one run.
pub struct RunSigner {
    key: PrivateKey,
    namespace: String,
    tsa: Option<TsaClient>,
}

impl std::fmt::Debug for RunSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunSigner")
            .field("key", &keys::fingerprint(&self.key))
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl RunSigner {
    /// The signer `[signing]` and `[timestamp]` describe, or `None` without `[signing]`.
    pub fn from_config(config: &AgentConfig) -> Result<Option<Self>, SigningError> {
        let Some(signing) = &config.signing else {
            return Ok(None);
        };
        let key = keys::load(&signing.key)?;
        let tsa = config.timestamp.as_ref().map(TsaClient::new).transpose()?;
        Ok(Some(Self {
            key,
            namespace: signing.namespace.clone(),
            tsa,
        }))
    }

    /// A fresh outcome for this run.
    pub fn outcome(&self) -> SigningOutcome {
        SigningOutcome {
            key: keys::fingerprint(&self.key),
            namespace: self.namespace.clone(),
            timestamp: TimestampOutcome::NotConfigured,
            bundle_signature: None,
            bundle_signature_error: None,
            repaired: None,
        }
    }

    /// Re-create the sidecar of the archive's last bundle if a crash lost it: only for a bundle
    /// whose checkpoint is the agent's head and whose checkpoint signature this key made.
    pub fn repair(
        &self,
        archive_dir: &Path,
        head: Option<&ChainHead>,
    ) -> Result<Option<PathBuf>, SigningError> {
        let Some(head) = head else { return Ok(None) };
        let bundle = archive_dir.join(layout::bundle_file_name(head.seq));
        let sidecar = archive_dir.join(layout::bundle_signature_file_name(head.seq));
        if sidecar.exists() || !bundle.exists() {
            return Ok(None);
        }
        let report = verify_bundle(&bundle, &mut NoVisitor);
        let ours = report.is_valid()
            && report
                .summary
                .as_ref()
                .and_then(|s| s.checkpoint.as_ref())
                .is_some_and(|c| *c == head.checkpoint)
            && report
                .trust
                .as_ref()
                .and_then(|t| t.checkpoint_signature.as_ref())
                .is_some_and(|s| s.valid && s.key == keys::fingerprint(&self.key));
        if !ours {
            tracing::warn!(
                bundle = %bundle.display(),
                "the last bundle has no signature sidecar and was not sealed with this key; it stays unsigned (verifiers with allowed signers will report it)"
            );
            return Ok(None);
        }
        tracing::warn!(bundle = %bundle.display(), "the last run was interrupted before its bundle was signed; signing it now");
        Ok(Some(write_bundle_signature(
            &bundle,
            &self.key,
            &self.namespace,
        )?))
    }

    /// Prepare the signed bundle: sign the checkpoint, obtain a time stamp over the signature,
    /// and, when none can be had, record an `untimestamped` gap and prepare again without one.
    pub async fn prepare(
        &self,
        staging: &mut Staging,
        input: &SealInput<'_>,
        shutdown: &CancellationToken,
        outcome: &mut SigningOutcome,
    ) -> Result<PreparedBundle, SigningError> {
        let mut prepared = self.prepare_and_sign(staging, input)?;
        let Some(tsa) = &self.tsa else {
            return Ok(prepared);
        };
        let signature = prepared.checkpoint_signature().unwrap_or_default().to_vec();
        match tsa.stamp(&signature, shutdown).await {
            Ok(response) => {
                let info = prepared.set_checkpoint_timestamp(&response)?;
                tracing::info!(time = %info.time, tsa = %tsa.url, "checkpoint time-stamped");
                outcome.timestamp = TimestampOutcome::Stamped {
                    time: info.time,
                    url: tsa.url.clone(),
                };
                Ok(prepared)
            }
            Err(Failure { attempts, reason }) => {
                tracing::warn!(tsa = %tsa.url, attempts, "no time stamp: {reason}; sealing the run untimestamped");
                let source = TSA_SOURCE.parse().expect("`tsa` is a valid source name");
                let mut gap = GapRecord::new(
                    TSA_CONNECTOR,
                    source,
                    "checkpoint",
                    GapCategory::Untimestamped,
                    format!("no RFC 3161 time stamp from {}: {reason}", tsa.url),
                    input.collected_at,
                );
                gap.attempts = attempts;
                staging.add_gap(&gap)?;
                outcome.timestamp = TimestampOutcome::Untimestamped { attempts, reason };
                self.prepare_and_sign(staging, input)
            }
        }
    }

    fn prepare_and_sign(
        &self,
        staging: &Staging,
        input: &SealInput<'_>,
    ) -> Result<PreparedBundle, SigningError> {
        let mut prepared =
            tokio::task::block_in_place(|| evidence_archive::prepare_signed(staging, input))?;
        let sig = evidence_archive::sshsig::sign(
            &self.key,
            &self.namespace,
            prepared.checkpoint_text().as_bytes(),
        )
        .and_then(|s| s.to_armored())
        .map_err(|e| SealError::Signature(e.to_string()))?;
        prepared.set_checkpoint_signature(sig.as_bytes(), &self.namespace)?;
        Ok(prepared)
    }

    /// Sign the published bundle's bytes into its sidecar; failures are recorded in `outcome`
    /// (the next run writes the sidecar).
    pub fn sign_bundle(&self, bundle: &Path, outcome: &mut SigningOutcome) {
        match tokio::task::block_in_place(|| {
            write_bundle_signature(bundle, &self.key, &self.namespace)
        }) {
            Ok(path) => outcome.bundle_signature = Some(path),
            Err(e) => {
                tracing::warn!(bundle = %bundle.display(), "could not write the bundle's signature ({e}); the next run writes it");
                outcome.bundle_signature_error = Some(e.to_string());
            }
        }
    }
}

struct Failure {
    attempts: u32,
    reason: String,
}

/// An RFC 3161 client over HTTP.
struct TsaClient {
    /// For messages: without credentials or query.
    url: String,
    endpoint: String,
    client: reqwest::Client,
    roots: Option<TsaRoots>,
    policy: RetryPolicy,
}

impl TsaClient {
    fn new(config: &TimestampConfig) -> Result<Self, SigningError> {
        let roots = config
            .roots
            .as_deref()
            .map(TsaRoots::load)
            .transpose()
            .map_err(|e| SigningError::Roots(e.to_string()))?;
        let policy = RetryPolicy {
            max_attempts: config.attempts,
            base_delay: Duration::from_millis(config.retry_delay_ms),
            max_delay: Duration::from_secs(60),
            timeout: Duration::from_secs(config.timeout_secs),
        };
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .user_agent(crate::agent_name())
            .build()
            .map_err(|e| SigningError::Client(e.to_string()))?;
        Ok(Self {
            url: redact_url(&config.url),
            endpoint: config.url.clone(),
            client,
            roots,
            policy,
        })
    }

    /// A time-stamp response over `data`, checked (nonce, imprint; signature and chain when
    /// roots are configured), or why none could be had after every attempt.
    async fn stamp(&self, data: &[u8], shutdown: &CancellationToken) -> Result<Vec<u8>, Failure> {
        let mut reason = String::new();
        for attempt in 1..=self.policy.max_attempts {
            match self.attempt(data).await {
                Ok(response) => return Ok(response),
                Err(e) => reason = e,
            }
            tracing::info!(attempt, tsa = %self.url, "time stamp failed: {reason}");
            if attempt == self.policy.max_attempts {
                return Err(Failure {
                    attempts: attempt,
                    reason,
                });
            }
            let delay = backoff(&self.policy, attempt, rand::random::<f64>());
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => {
                    return Err(Failure { attempts: attempt, reason: format!("{reason} (interrupted)") });
                }
            }
        }
        Err(Failure {
            attempts: self.policy.max_attempts,
            reason,
        })
    }

    async fn attempt(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        let nonce = rand::random::<u64>();
        let request = tsp::request(data, nonce).map_err(|e| e.to_string())?;
        let response = self
            .client
            .post(&self.endpoint)
            .header("Content-Type", "application/timestamp-query")
            .body(request)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        if response
            .content_length()
            .is_some_and(|n| n > tsp::MAX_TOKEN_BYTES as u64)
        {
            return Err("the response is too large".into());
        }
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the response: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > tsp::MAX_TOKEN_BYTES {
                return Err("the response is too large".into());
            }
        }
        tsp::inspect_response(&body, data, Some(nonce)).map_err(|e| e.to_string())?;
        if let Some(roots) = &self.roots {
            tsp::verify_response(&body, data, roots).map_err(|e| e.to_string())?;
        }
        Ok(body)
    }
}

/// A URL fit for messages: no user information, query or fragment (they may hold credentials).
fn redact_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..cut];
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(host_end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_carry_no_credentials() {
        assert_eq!(
            redact_url("https://user:pw@tsa.example.org/tsr?apikey=s3cret"),
            "https://tsa.example.org/tsr"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8318/"),
            "http://127.0.0.1:8318/"
        );
    }
}
