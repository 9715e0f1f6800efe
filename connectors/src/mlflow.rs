//! The MLflow connector: reads a tracking server's REST API (experiments, finished runs with
//! params, tags and full metric histories, their artifact lists and the configured artifacts,
//! and registered model versions) and stages each as evidence: `training_run` for a run,
//! the rule's kind (e.g. `model_card`) for an artifact, `deployment_record` for a model
//! version. Raw API responses are the artefacts; metric values stay there (canonical metadata
//! has no floats) and appear in `attributes` only as strings.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use evidence_model::{
    Actor, Catalogue, ClauseId, ControlId, GapCategory, GapRecord, Kind, Period, Phase,
    PopulationRecord, SourceName, Timestamp,
};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::connector::{CollectContext, Connector, ConnectorError, Cursor, Health};
use crate::http::{self, Decision, RetryPolicy};
use crate::media_type;
use crate::rules::{RuleConfig, RuleSet};
use crate::secret::Secret;
use crate::sink::{ItemDraft, ItemSink, SinkError};

/// How far before the watermark each run re-queries, for runs whose end time was recorded late.
const DEFAULT_OVERLAP_SECS: u64 = 3600;
/// Deepest artifact folder walked.
const MAX_ARTIFACT_DEPTH: usize = 32;

/// `[[source]] type = "mlflow"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MlflowConfig {
    /// Base URL of the tracking server, e.g. `https://mlflow.example.org` (no credentials).
    pub tracking_uri: String,
    /// Experiment names to collect; default: every active experiment.
    #[serde(default)]
    pub experiments: Vec<String>,
    /// Rules over artifact paths inside a run (e.g. `**/MODEL_CARD.md` → `model_card`); only
    /// matching artifacts are downloaded, every artifact is listed in the run's record.
    #[serde(rename = "artifact", default)]
    pub artifacts: Vec<RuleConfig>,
    /// Collect registered model versions as deployment evidence (default: yes).
    #[serde(default = "yes")]
    pub registered_models: bool,
    /// Controls a training run evidences; default: the catalogue's mapping for `training_run`.
    #[serde(default)]
    pub run_controls: Option<Vec<String>>,
    /// Controls a model version evidences; default: the catalogue's `deployment_record`.
    #[serde(default)]
    pub model_version_controls: Option<Vec<String>>,
    /// Runs per `runs/search` page, 1–1000 (default 500).
    #[serde(default)]
    pub page_size_runs: Option<u32>,
    /// Artifacts listed per run at most (default 10000); the rest is noted as incomplete.
    #[serde(default)]
    pub max_artifacts_per_run: Option<usize>,
    /// Re-query window before the saved watermark, in seconds (default 3600).
    #[serde(default)]
    pub overlap_secs: Option<u64>,
    /// Environment variable holding a bearer token (default `MLFLOW_TRACKING_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Environment variables for basic auth (default `MLFLOW_TRACKING_USERNAME` and
    /// `MLFLOW_TRACKING_PASSWORD`).
    #[serde(default)]
    pub username_env: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// Attempts per request, the first included (default 6).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Timeout of one API request in seconds (default 60); artifact downloads only time out
    /// when a read stalls this long.
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
}

fn yes() -> bool {
    true
}

/// How the connector authenticates.
#[derive(Debug, Clone)]
enum Auth {
    None,
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

/// Tags of one evidence kind: controls, clauses, phase.
#[derive(Debug, Clone)]
struct Tagging {
    kind: Kind,
    controls: Vec<ControlId>,
    clauses: Vec<ClauseId>,
    phase: Phase,
}

impl Tagging {
    fn of(kind: &str, controls: Option<&[String]>, at: &str) -> Result<Self, String> {
        let kind: Kind = kind.parse().map_err(|e| format!("{at}: {e}"))?;
        let (default_controls, clauses, phase) = Catalogue::iso42001().defaults_for(&kind);
        let controls = match controls {
            Some(list) => list
                .iter()
                .map(|c| c.parse::<ControlId>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{at}: {e}"))?,
            None => default_controls,
        };
        let phase = phase.ok_or_else(|| format!("{at}: kind {kind} has no default phase"))?;
        Ok(Self {
            kind,
            controls,
            clauses,
            phase,
        })
    }
}

/// A configured tracking server.
#[derive(Debug)]
pub struct MlflowConnector {
    name: SourceName,
    base: String,
    experiments: Vec<String>,
    artifacts: Option<RuleSet>,
    registered_models: bool,
    run_tags: Tagging,
    version_tags: Tagging,
    page_size: u32,
    max_artifacts: usize,
    overlap_ms: i64,
    policy: RetryPolicy,
    auth: Auth,
    client: reqwest::Client,
}

/// What the connector remembers between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MlflowCursor {
    /// Per experiment id.
    #[serde(default)]
    experiments: BTreeMap<String, ExperimentCursor>,
    /// `name/version` → fingerprint of the sealed state (see [`version_fingerprint`]).
    #[serde(default)]
    model_versions: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct ExperimentCursor {
    /// Every finished run with an end time before this (ms) has been sealed.
    #[serde(default)]
    watermark_ms: Option<i64>,
    /// Runs sealed within the overlap window, id → end time (ms), for de-duplication.
    #[serde(default)]
    runs: BTreeMap<String, i64>,
}

/// The `runs/search` filter for an experiment's increment.
fn runs_filter(watermark_ms: Option<i64>, overlap_ms: i64) -> String {
    match watermark_ms {
        Some(w) => format!(
            "attributes.end_time >= {}",
            w.saturating_sub(overlap_ms).max(0)
        ),
        None => String::new(),
    }
}

/// What became of one run whose record was sealed.
#[derive(Debug, Default)]
struct RunCollected {
    /// Configured artifacts sealed.
    artifacts_sealed: u64,
    /// Configured artifacts that failed (each a gap): the run is collected again next time.
    artifacts_failed: u64,
    /// Metric histories or the artifact listing that failed (each a gap; the run is sealed
    /// with them marked unavailable and collected again next time).
    lookups_failed: u64,
}

/// The next watermark: the latest end time sealed, but never past a run that failed (it must
/// be retried next time).
fn next_watermark(
    previous: Option<i64>,
    sealed_max: Option<i64>,
    failed_min: Option<i64>,
) -> Option<i64> {
    let advanced = match (previous, sealed_max) {
        (Some(p), Some(s)) => Some(p.max(s)),
        (p, s) => p.or(s),
    };
    match (advanced, failed_min) {
        (Some(a), Some(f)) => Some(a.min(f)),
        (a, None) => a,
        (None, Some(_)) => previous,
    }
}

/// An integer field that MLflow may send as a JSON number or a string (int64 in proto3 JSON).
fn int_field(v: &Value, field: &str) -> Option<i64> {
    match v.get(field)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn str_field<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn ms_to_timestamp(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

/// `[{key, value}]` → `{key: value}` with every value as a string (metric values included:
/// canonical metadata has no floats).
fn key_values_as_strings(list: Option<&Value>) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for entry in list.and_then(Value::as_array).into_iter().flatten() {
        let Some(key) = entry.get("key").and_then(Value::as_str) else {
            continue;
        };
        let value = match entry.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        out.insert(key.to_owned(), Value::String(value));
    }
    out
}

/// True for a run that has ended (only ended runs are sealed: a running run still changes).
fn is_finished(status: Option<&str>) -> bool {
    matches!(status, Some("FINISHED" | "FAILED" | "KILLED"))
}

/// Percent-encode a path segment list for an URL path, keeping `/`.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The download path for an artifact: through the server's artifact proxy when the run's
/// artifacts live there (`mlflow-artifacts:`), else the generic `get-artifact` endpoint.
fn artifact_download_path(artifact_uri: &str, run_id: &str, path: &str) -> String {
    match artifact_uri.strip_prefix("mlflow-artifacts:") {
        Some(rest) => {
            let rest = rest.trim_start_matches('/');
            // `mlflow-artifacts://host/…` names another server; the path follows the host.
            let rest = if artifact_uri.starts_with("mlflow-artifacts://") {
                rest.split_once('/').map_or("", |(_, p)| p)
            } else {
                rest
            };
            format!(
                "api/2.0/mlflow-artifacts/artifacts/{}/{}",
                encode_path(rest.trim_end_matches('/')),
                encode_path(path)
            )
        }
        None => format!(
            "get-artifact?run_uuid={}&path={}",
            encode_path(run_id),
            encode_path(path).replace('/', "%2F")
        ),
    }
}

/// A failure while reading one part of the source.
struct Failure {
    category: GapCategory,
    message: String,
    attempts: u32,
}

impl Failure {
    fn into_error(self, resource: &str) -> ConnectorError {
        let detail = self.message;
        let resource = resource.to_owned();
        match self.category {
            GapCategory::Denied => ConnectorError::Denied { resource, detail },
            GapCategory::NotFound => ConnectorError::NotFound { resource },
            GapCategory::RateLimited => ConnectorError::RateLimited {
                resource,
                attempts: self.attempts,
            },
            GapCategory::Unreachable | GapCategory::Timeout => {
                ConnectorError::Unreachable { resource, detail }
            }
            GapCategory::Interrupted => ConnectorError::Interrupted { resource },
            _ => ConnectorError::InvalidResponse { resource, detail },
        }
    }
}

fn category_for_status(status: u16) -> GapCategory {
    match status {
        401 | 403 => GapCategory::Denied,
        404 => GapCategory::NotFound,
        429 => GapCategory::RateLimited,
        408 | 504 => GapCategory::Timeout,
        500..=599 => GapCategory::Unreachable,
        _ => GapCategory::InvalidResponse,
    }
}

impl MlflowConnector {
    /// Check the config and read credentials from the environment. No network access.
    pub fn new(name: SourceName, config: &MlflowConfig) -> Result<Self, String> {
        let at = format!("source {:?}", name.as_str());
        let base = config.tracking_uri.trim_end_matches('/').to_owned();
        let after_scheme = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| {
                format!(
                    "{at}: tracking_uri {:?} must start with http:// or https://",
                    config.tracking_uri
                )
            })?;
        if after_scheme
            .split('/')
            .next()
            .is_some_and(|host| host.contains('@'))
        {
            return Err(format!(
                "{at}: tracking_uri must not contain credentials; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
            ));
        }
        let artifacts = if config.artifacts.is_empty() {
            None
        } else {
            Some(RuleSet::from_configs(
                &config.artifacts,
                &format!("{at} artifact"),
            )?)
        };
        let run_tags = Tagging::of("training_run", config.run_controls.as_deref(), &at)?;
        let version_tags = Tagging::of(
            "deployment_record",
            config.model_version_controls.as_deref(),
            &at,
        )?;
        let page_size = match config.page_size_runs {
            None => 500,
            Some(n @ 1..=1000) => n,
            Some(n) => return Err(format!("{at}: page_size_runs = {n} must be 1–1000")),
        };
        let token_env = config
            .token_env
            .as_deref()
            .unwrap_or("MLFLOW_TRACKING_TOKEN");
        let user_env = config
            .username_env
            .as_deref()
            .unwrap_or("MLFLOW_TRACKING_USERNAME");
        let password_env = config
            .password_env
            .as_deref()
            .unwrap_or("MLFLOW_TRACKING_PASSWORD");
        let auth = match (
            Secret::from_env(token_env),
            std::env::var(user_env).ok().filter(|u| !u.is_empty()),
            Secret::from_env(password_env),
        ) {
            (Some(token), _, _) => Auth::Bearer(token),
            (None, Some(user), Some(password)) => Auth::Basic { user, password },
            (None, Some(_), None) => {
                return Err(format!("{at}: {user_env} is set but {password_env} is not"));
            }
            _ => Auth::None,
        };
        let timeout = Duration::from_secs(config.request_timeout_secs.unwrap_or(60).max(1));
        let policy = RetryPolicy {
            max_attempts: config.max_attempts.unwrap_or(6).clamp(1, 20),
            timeout,
            ..RetryPolicy::default()
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(timeout)
            .user_agent(concat!("evidence-agent-mlflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("{at}: cannot build the HTTP client: {e}"))?;
        Ok(Self {
            name,
            base,
            experiments: config.experiments.clone(),
            artifacts,
            registered_models: config.registered_models,
            run_tags,
            version_tags,
            page_size,
            max_artifacts: config.max_artifacts_per_run.unwrap_or(10_000).max(1),
            overlap_ms: i64::try_from(config.overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS))
                .unwrap_or(i64::MAX / 2_000)
                .saturating_mul(1000),
            policy,
            auth,
            client,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn authorise(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => r,
            Auth::Bearer(t) => r.bearer_auth(t.expose()),
            Auth::Basic { user, password } => r.basic_auth(user, Some(password.expose())),
        }
    }

    /// Send a request built by `build`, retrying 5xx, 429 and transport failures with backoff
    /// (honouring `Retry-After`). Waits show in the progress display and stop on shutdown.
    async fn send(
        &self,
        build: &(dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
        what: &str,
        ctx: &CollectContext<'_>,
        whole_timeout: bool,
    ) -> Result<reqwest::Response, Failure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.authorise(build());
            if whole_timeout {
                request = request.timeout(self.policy.timeout);
            }
            let sent = tokio::select! {
                r = request.send() => r,
                () = ctx.shutdown.cancelled() => {
                    return Err(Failure { category: GapCategory::Interrupted, message: format!("interrupted while requesting {what}"), attempts: attempt });
                }
            };
            let decision = match &sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| http::parse_retry_after(v, Timestamp::now()));
                    http::decide(
                        &self.policy,
                        attempt,
                        status,
                        retry_after,
                        rand::random::<f64>(),
                    )
                }
                Err(e) => {
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else {
                        "connection failure"
                    };
                    http::decide_on_transport_error(
                        &self.policy,
                        attempt,
                        kind,
                        rand::random::<f64>(),
                    )
                }
            };
            match (decision, sent) {
                (Decision::Accept, Ok(response)) => return Ok(response),
                (Decision::Retry { delay, reason }, _) => {
                    ctx.progress.waiting(&reason, delay);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = ctx.shutdown.cancelled() => {
                            return Err(Failure { category: GapCategory::Interrupted, message: format!("interrupted while waiting to retry {what}"), attempts: attempt });
                        }
                    }
                }
                (_, Err(e)) => {
                    let category = if e.is_timeout() {
                        GapCategory::Timeout
                    } else {
                        GapCategory::Unreachable
                    };
                    return Err(Failure {
                        category,
                        message: format!("{what}: {} after {attempt} attempt(s)", strip_url(&e)),
                        attempts: attempt,
                    });
                }
                (Decision::GiveUp { reason }, Ok(response)) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    let code = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
                        v.get("error_code")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                    let mut category = category_for_status(status);
                    if code.as_deref() == Some("RESOURCE_DOES_NOT_EXIST") {
                        category = GapCategory::NotFound;
                    }
                    return Err(Failure {
                        category,
                        message: format!(
                            "{what}: {reason}{}",
                            code.map(|c| format!(" ({c})")).unwrap_or_default()
                        ),
                        attempts: attempt,
                    });
                }
            }
        }
    }

    /// GET or POST a JSON endpoint and parse the answer.
    async fn json(
        &self,
        build: &(dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
        what: &str,
        ctx: &CollectContext<'_>,
    ) -> Result<Value, Failure> {
        let response = self.send(build, what, ctx, true).await?;
        let bytes = response.bytes().await.map_err(|e| Failure {
            category: GapCategory::InvalidResponse,
            message: format!("{what}: the body could not be read: {}", strip_url(&e)),
            attempts: 1,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Failure {
            category: GapCategory::InvalidResponse,
            message: format!("{what}: the answer is not JSON: {e}"),
            attempts: 1,
        })
    }

    fn gap(&self, scope: &str, f: Failure, sink: &dyn ItemSink) -> GapRecord {
        let mut g = GapRecord::new(
            "mlflow",
            self.name.clone(),
            scope,
            f.category,
            f.message,
            sink.collected_at(),
        );
        g.attempts = f.attempts.max(1);
        g
    }

    /// The experiments to walk: `(id, name)`, and the pages walked to find them.
    async fn experiments(
        &self,
        ctx: &CollectContext<'_>,
    ) -> Result<(Vec<(String, String)>, Vec<(String, Failure)>), Failure> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        if !self.experiments.is_empty() {
            for name in &self.experiments {
                let url = self.url("api/2.0/mlflow/experiments/get-by-name");
                let build = || {
                    self.client
                        .get(&url)
                        .query(&[("experiment_name", name.as_str())])
                };
                match self
                    .json(&build, &format!("experiment {name:?}"), ctx)
                    .await
                {
                    Ok(v) => match v
                        .pointer("/experiment/experiment_id")
                        .and_then(Value::as_str)
                    {
                        Some(id) => found.push((id.to_owned(), name.clone())),
                        None => missing.push((
                            name.clone(),
                            Failure {
                                category: GapCategory::InvalidResponse,
                                message: format!(
                                    "experiment {name:?}: the answer has no experiment_id"
                                ),
                                attempts: 1,
                            },
                        )),
                    },
                    Err(f) if f.category == GapCategory::Interrupted => return Err(f),
                    Err(f) => missing.push((name.clone(), f)),
                }
            }
            return Ok((found, missing));
        }
        let url = self.url("api/2.0/mlflow/experiments/search");
        let mut token: Option<String> = None;
        loop {
            let body =
                json!({"max_results": 1000, "page_token": token, "view_type": "ACTIVE_ONLY"});
            let build = || self.client.post(&url).json(&body);
            let page = self.json(&build, "experiments/search", ctx).await?;
            for e in page
                .get("experiments")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(id), Some(name)) =
                    (str_field(e, "experiment_id"), str_field(e, "name"))
                {
                    found.push((id.to_owned(), name.to_owned()));
                }
            }
            match str_field(&page, "next_page_token") {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        Ok((found, missing))
    }

    /// Seal the finished runs of one experiment since its watermark.
    async fn collect_experiment(
        &self,
        id: &str,
        name: &str,
        state: &mut ExperimentCursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let scope = format!("experiment {name}");
        let filter = runs_filter(state.watermark_ms, self.overlap_ms);
        let query = format!(
            "POST runs/search experiment_ids=[{id}] filter={filter:?} order_by=[attributes.end_time ASC, attributes.run_id ASC] run_view_type=ALL max_results={}",
            self.page_size
        );
        let mut population = PopulationRecord::new("mlflow", self.name.clone(), &scope, &query);
        population.kind = Some(self.run_tags.kind.clone());
        population.watermark_before = state
            .watermark_ms
            .and_then(ms_to_timestamp)
            .map(|t| t.to_string());
        population
            .attributes
            .insert("experiment_id".into(), id.into());
        let url = self.url("api/2.0/mlflow/runs/search");
        let mut token: Option<String> = None;
        let mut sealed_max: Option<i64> = None;
        let mut failed_min: Option<i64> = None;
        let mut running = 0u64;
        let mut stopped: Option<Failure> = None;
        ctx.progress.status(&format!("searching runs of {name}"));
        'pages: loop {
            let body = json!({
                "experiment_ids": [id],
                "filter": filter,
                "run_view_type": "ALL",
                "max_results": self.page_size,
                "order_by": ["attributes.end_time ASC", "attributes.run_id ASC"],
                "page_token": token,
            });
            let build = || self.client.post(&url).json(&body);
            let page = match self
                .json(&build, &format!("runs/search for {scope}"), ctx)
                .await
            {
                Ok(p) => p,
                Err(f) => {
                    stopped = Some(f);
                    break 'pages;
                }
            };
            population.pages_walked += 1;
            for run in page
                .get("runs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if ctx.shutdown.is_cancelled() {
                    stopped = Some(Failure {
                        category: GapCategory::Interrupted,
                        message: format!("the run was interrupted while collecting {scope}"),
                        attempts: 1,
                    });
                    break 'pages;
                }
                let info = run.get("info").cloned().unwrap_or(Value::Null);
                let Some(run_id) =
                    str_field(&info, "run_id").or_else(|| str_field(&info, "run_uuid"))
                else {
                    continue;
                };
                let run_id = run_id.to_owned();
                if !is_finished(str_field(&info, "status")) {
                    running += 1;
                    continue;
                }
                population.items_seen += 1;
                let end = int_field(&info, "end_time").unwrap_or(0);
                if state.runs.contains_key(&run_id) {
                    population.items_unchanged += 1;
                    continue;
                }
                match self.collect_run(run, &run_id, name, sink, ctx).await {
                    Ok(done) if done.artifacts_failed == 0 && done.lookups_failed == 0 => {
                        population.items_sealed += 1 + done.artifacts_sealed;
                        state.runs.insert(run_id, end);
                        sealed_max = Some(sealed_max.map_or(end, |m| m.max(end)));
                    }
                    Ok(done) => {
                        // An artifact failed (its gap is recorded): the run is collected
                        // again next time, so the watermark must not pass it.
                        population.items_sealed += 1 + done.artifacts_sealed;
                        population.complete = false;
                        failed_min = Some(failed_min.map_or(end, |m| m.min(end)));
                    }
                    Err(RunFailure::Gap(g)) => {
                        sink.gap(g).await?;
                        population.complete = false;
                        failed_min = Some(failed_min.map_or(end, |m| m.min(end)));
                    }
                    Err(RunFailure::Fatal(e)) => return Err(e),
                }
            }
            match str_field(&page, "next_page_token") {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        if let Some(f) = &stopped {
            // Runs after the last one handled are unseen: the watermark must not pass them.
            population.complete = false;
            failed_min = Some(
                failed_min
                    .map_or(i64::MAX, |m| m)
                    .min(sealed_max.unwrap_or(i64::MAX)),
            );
            population
                .notes
                .push(format!("the search stopped: {}", f.message));
        }
        state.watermark_ms = next_watermark(state.watermark_ms, sealed_max, failed_min);
        if let Some(w) = state.watermark_ms {
            let keep_from = w.saturating_sub(self.overlap_ms);
            state.runs.retain(|_, end| *end >= keep_from);
        }
        population.watermark_after = state
            .watermark_ms
            .and_then(ms_to_timestamp)
            .map(|t| t.to_string());
        if running > 0 {
            population.notes.push(format!(
                "{running} run(s) have not ended yet; they are sealed once they end"
            ));
            population
                .attributes
                .insert("runs_not_ended".into(), running.into());
        }
        let interrupted = stopped
            .as_ref()
            .is_some_and(|f| f.category == GapCategory::Interrupted);
        if let Some(f) = stopped {
            let g = self.gap(&scope, f, &*sink);
            sink.gap(g).await?;
        }
        sink.population(population).await?;
        if interrupted {
            return Err(ConnectorError::Interrupted { resource: scope });
        }
        Ok(())
    }

    /// Seal one finished run and its configured artifacts. Returns the artifacts sealed.
    async fn collect_run(
        &self,
        run: &Value,
        run_id: &str,
        experiment: &str,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<RunCollected, RunFailure> {
        let scope = format!("run {run_id}");
        let gap = |f: Failure, sink: &dyn ItemSink| RunFailure::Gap(self.gap(&scope, f, sink));
        let info = run.get("info").cloned().unwrap_or(Value::Null);
        let data = run.get("data").cloned().unwrap_or(Value::Null);
        ctx.progress.status(&format!("run {run_id}"));

        // Full history of every metric.
        let mut history = serde_json::Map::new();
        let metric_keys: BTreeSet<String> = data
            .get("metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("key").and_then(Value::as_str).map(str::to_owned))
            .collect();
        // The run, once read, is always sealed: a history or artifact listing that fails is
        // recorded in the run's document as unavailable, with a gap, and the run is collected
        // again next time (its watermark does not pass it). Only a shutdown stops here.
        let mut unavailable = serde_json::Map::new();
        let mut lookups_failed = 0u64;
        for key in &metric_keys {
            match self.metric_history(run_id, key, ctx).await {
                Ok(points) => {
                    history.insert(key.clone(), Value::Array(points));
                }
                Err(f) if f.category == GapCategory::Interrupted => return Err(gap(f, &*sink)),
                Err(f) => {
                    unavailable.insert(
                        format!("metric_history.{key}"),
                        Value::from(f.message.clone()),
                    );
                    lookups_failed += 1;
                    let g = self.gap(&format!("{scope} (metric history {key})"), f, &*sink);
                    sink.gap(g).await.map_err(|e| RunFailure::Fatal(e.into()))?;
                }
            }
        }

        // The artifact list.
        let artifact_uri = str_field(&info, "artifact_uri").unwrap_or("").to_owned();
        let (files, listing_complete) = match self.list_artifacts(run_id, ctx).await {
            Ok(l) => l,
            Err(f) if f.category == GapCategory::Interrupted => return Err(gap(f, &*sink)),
            Err(f) => {
                unavailable.insert("artifacts".into(), Value::from(f.message.clone()));
                lookups_failed += 1;
                let g = self.gap(&format!("{scope} (artifacts)"), f, &*sink);
                sink.gap(g).await.map_err(|e| RunFailure::Fatal(e.into()))?;
                (Vec::new(), false)
            }
        };

        let user = str_field(&info, "user_id").map(str::to_owned);
        let actors: Vec<Actor> = user
            .iter()
            .map(|u| Actor {
                role: "author".into(),
                name: u.clone(),
                id: None,
            })
            .collect();
        let start = int_field(&info, "start_time").and_then(ms_to_timestamp);
        let end = int_field(&info, "end_time").and_then(ms_to_timestamp);
        let period = Some(Period { start, end });
        let run_name = str_field(&info, "run_name").unwrap_or(run_id).to_owned();
        let experiment_id = str_field(&info, "experiment_id").unwrap_or("").to_owned();
        let run_url = format!("{}/#/experiments/{experiment_id}/runs/{run_id}", self.base);

        let document = json!({
            "schema": "evidence-mlflow-run/1",
            "tracking_uri": self.base,
            "run": run,
            "metric_history": history,
            "artifacts": {"files": files, "complete": listing_complete},
            "unavailable": unavailable,
        });
        let bytes = serde_json::to_vec_pretty(&document).map_err(|e| {
            gap(
                Failure {
                    category: GapCategory::InvalidResponse,
                    message: format!("run {run_id} cannot be serialised: {e}"),
                    attempts: 1,
                },
                &*sink,
            )
        })?;
        let mut attributes = BTreeMap::from([
            ("run_id".to_owned(), Value::from(run_id)),
            ("run_name".to_owned(), Value::from(run_name.clone())),
            (
                "experiment_id".to_owned(),
                Value::from(experiment_id.clone()),
            ),
            ("experiment".to_owned(), Value::from(experiment)),
            (
                "status".to_owned(),
                Value::from(str_field(&info, "status").unwrap_or("")),
            ),
            (
                "params".to_owned(),
                Value::Object(key_values_as_strings(data.get("params"))),
            ),
            (
                "tags".to_owned(),
                Value::Object(key_values_as_strings(data.get("tags"))),
            ),
            (
                "metrics".to_owned(),
                Value::Object(key_values_as_strings(data.get("metrics"))),
            ),
            ("artifact_count".to_owned(), Value::from(files.len() as u64)),
            (
                "artifact_list_complete".to_owned(),
                Value::from(listing_complete),
            ),
        ]);
        if let Some(u) = &user {
            attributes.insert("user_id".into(), Value::from(u.clone()));
        }
        if !unavailable.is_empty() {
            attributes.insert("unavailable".into(), Value::Object(unavailable.clone()));
        }
        let t = &self.run_tags;
        let draft = ItemDraft {
            natural_key: format!("runs/{run_id}"),
            kind: t.kind.clone(),
            title: format!("{experiment} / {run_name}"),
            reference: format!("run {run_id}"),
            url: Some(run_url.clone()),
            controls: t.controls.clone(),
            clauses: t.clauses.clone(),
            phase: t.phase,
            actors: actors.clone(),
            period: period.clone(),
            source_time: end.or(start),
            file_name: format!("run-{run_id}.json"),
            media_type: "application/json".into(),
            redactions: Vec::new(),
            endpoint: Some(self.base.clone()),
            query: Some(format!(
                "runs/search; metrics/get-history for {} metric(s); artifacts/list",
                metric_keys.len()
            )),
            attributes,
            expected_sha256: None,
            expected_size: Some(bytes.len() as u64),
        };
        let staged_run = match sink.put(draft, &mut bytes.as_slice()).await {
            Ok(s) => s,
            Err(e) if e.is_item_level() => {
                return Err(gap(
                    Failure {
                        category: GapCategory::InvalidResponse,
                        message: e.to_string(),
                        attempts: 1,
                    },
                    &*sink,
                ));
            }
            Err(e) => return Err(RunFailure::Fatal(e.into())),
        };
        ctx.progress.add_items(1);
        ctx.progress.add_bytes(staged_run.size);

        // The configured artifacts.
        let mut done = RunCollected {
            lookups_failed,
            ..RunCollected::default()
        };
        let Some(rules) = &self.artifacts else {
            return Ok(done);
        };
        for file in &files {
            let Some(path) = str_field(file, "path") else {
                continue;
            };
            if file.get("is_dir").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let Some(rule) = rules.first_match(path) else {
                continue;
            };
            let size = int_field(file, "file_size").and_then(|s| u64::try_from(s).ok());
            let file_name = path.rsplit('/').next().unwrap_or(path).to_owned();
            let draft = ItemDraft {
                natural_key: format!("runs/{run_id}/artifacts/{path}"),
                kind: rule.kind.clone(),
                title: format!("{experiment} / {run_name}: {path}"),
                reference: format!("run {run_id} artifact {path}"),
                url: Some(run_url.clone()),
                controls: rule.controls.clone(),
                clauses: rule.clauses.clone(),
                phase: rule.phase,
                actors: actors.clone(),
                period: period.clone(),
                source_time: end.or(start),
                media_type: media_type::for_file_name(&file_name),
                file_name,
                redactions: Vec::new(),
                endpoint: Some(self.base.clone()),
                query: Some(format!("artifact {path} (rule {})", rule.glob)),
                attributes: BTreeMap::from([
                    ("run_id".to_owned(), Value::from(run_id)),
                    ("artifact_path".to_owned(), Value::from(path)),
                    ("artifact_uri".to_owned(), Value::from(artifact_uri.clone())),
                    ("rule".to_owned(), Value::from(rule.glob.clone())),
                    (
                        "training_run_item".to_owned(),
                        Value::from(staged_run.id.to_string()),
                    ),
                ]),
                expected_sha256: None,
                expected_size: size,
            };
            let url = self.url(&artifact_download_path(&artifact_uri, run_id, path));
            let build = || self.client.get(&url);
            let what = format!("artifact {path} of run {run_id}");
            let response = match self.send(&build, &what, ctx, false).await {
                Ok(r) => r,
                Err(f) => {
                    let g = self.gap(&format!("run {run_id} artifact {path}"), f, &*sink);
                    sink.gap(g).await.map_err(|e| RunFailure::Fatal(e.into()))?;
                    done.artifacts_failed += 1;
                    continue;
                }
            };
            let stream = response
                .bytes_stream()
                .map_err(|e| std::io::Error::other(strip_url(&e)));
            let mut body = tokio_util::io::StreamReader::new(stream);
            match sink.put(draft, &mut body).await {
                Ok(s) => {
                    done.artifacts_sealed += 1;
                    ctx.progress.add_bytes(s.size);
                }
                Err(e) if e.is_item_level() => {
                    let category = match e {
                        SinkError::TransferMismatch { .. } | SinkError::Body { .. } => {
                            GapCategory::InvalidResponse
                        }
                        _ => GapCategory::Other,
                    };
                    let g = self.gap(
                        &format!("run {run_id} artifact {path}"),
                        Failure {
                            category,
                            message: e.to_string(),
                            attempts: 1,
                        },
                        &*sink,
                    );
                    sink.gap(g).await.map_err(|e| RunFailure::Fatal(e.into()))?;
                    done.artifacts_failed += 1;
                }
                Err(e) => return Err(RunFailure::Fatal(e.into())),
            }
        }
        Ok(done)
    }

    /// Every point of one metric, following pagination.
    async fn metric_history(
        &self,
        run_id: &str,
        key: &str,
        ctx: &CollectContext<'_>,
    ) -> Result<Vec<Value>, Failure> {
        let url = self.url("api/2.0/mlflow/metrics/get-history");
        let mut points = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let max = "25000".to_owned();
            let mut params = vec![
                ("run_id", run_id.to_owned()),
                ("metric_key", key.to_owned()),
                ("max_results", max),
            ];
            if let Some(t) = &token {
                params.push(("page_token", t.clone()));
            }
            let build = || self.client.get(&url).query(&params);
            let page = self
                .json(
                    &build,
                    &format!("metrics/get-history {key} of run {run_id}"),
                    ctx,
                )
                .await?;
            points.extend(
                page.get("metrics")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            match str_field(&page, "next_page_token") {
                Some(t) if Some(t) != token.as_deref() => token = Some(t.to_owned()),
                _ => return Ok(points),
            }
        }
    }

    /// Every file under the run's artifact root (breadth first, bounded), and whether the walk
    /// finished within the limits.
    async fn list_artifacts(
        &self,
        run_id: &str,
        ctx: &CollectContext<'_>,
    ) -> Result<(Vec<Value>, bool), Failure> {
        let url = self.url("api/2.0/mlflow/artifacts/list");
        let mut files = Vec::new();
        let mut queue: VecDeque<(String, usize)> = VecDeque::from([(String::new(), 0)]);
        let mut complete = true;
        while let Some((dir, depth)) = queue.pop_front() {
            let mut token: Option<String> = None;
            loop {
                let mut params = vec![("run_id", run_id.to_owned())];
                if !dir.is_empty() {
                    params.push(("path", dir.clone()));
                }
                if let Some(t) = &token {
                    params.push(("page_token", t.clone()));
                }
                let build = || self.client.get(&url).query(&params);
                let page = self
                    .json(
                        &build,
                        &format!("artifacts/list {dir:?} of run {run_id}"),
                        ctx,
                    )
                    .await?;
                for f in page
                    .get("files")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if files.len() >= self.max_artifacts {
                        complete = false;
                        break;
                    }
                    if f.get("is_dir").and_then(Value::as_bool) == Some(true) {
                        match str_field(f, "path") {
                            Some(p) if depth < MAX_ARTIFACT_DEPTH => {
                                queue.push_back((p.to_owned(), depth + 1))
                            }
                            _ => complete = false,
                        }
                    }
                    files.push(f.clone());
                }
                match str_field(&page, "next_page_token") {
                    Some(t) if files.len() < self.max_artifacts && Some(t) != token.as_deref() => {
                        token = Some(t.to_owned())
                    }
                    _ => break,
                }
            }
        }
        Ok((files, complete))
    }

    /// Seal new or changed registered model versions (stage, aliases, tags).
    async fn collect_model_versions(
        &self,
        state: &mut MlflowCursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let scope = "registered-models";
        let query = "GET registered-models/search; model-versions/search?filter=name='<model>'";
        let mut population = PopulationRecord::new("mlflow", self.name.clone(), scope, query);
        population.kind = Some(self.version_tags.kind.clone());
        let models_url = self.url("api/2.0/mlflow/registered-models/search");
        let versions_url = self.url("api/2.0/mlflow/model-versions/search");
        let mut token: Option<String> = None;
        let mut models = Vec::new();
        loop {
            let mut params = vec![("max_results", "1000".to_owned())];
            if let Some(t) = &token {
                params.push(("page_token", t.clone()));
            }
            let build = || self.client.get(&models_url).query(&params);
            match self.json(&build, "registered-models/search", ctx).await {
                Ok(page) => {
                    population.pages_walked += 1;
                    models.extend(
                        page.get("registered_models")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .cloned(),
                    );
                    match str_field(&page, "next_page_token") {
                        Some(t) => token = Some(t.to_owned()),
                        None => break,
                    }
                }
                Err(f) => {
                    population.complete = false;
                    let g = self.gap(scope, f, &*sink);
                    sink.gap(g).await?;
                    sink.population(population).await?;
                    return Ok(());
                }
            }
        }
        population
            .attributes
            .insert("registered_models".into(), (models.len() as u64).into());
        for model in &models {
            let Some(model_name) = str_field(model, "name") else {
                continue;
            };
            let filter = format!("name='{}'", model_name.replace('\'', "\\'"));
            let mut token: Option<String> = None;
            loop {
                if ctx.shutdown.is_cancelled() {
                    population.complete = false;
                    sink.population(population).await?;
                    return Err(ConnectorError::Interrupted {
                        resource: scope.to_owned(),
                    });
                }
                let mut params = vec![
                    ("filter", filter.clone()),
                    ("max_results", "1000".to_owned()),
                ];
                if let Some(t) = &token {
                    params.push(("page_token", t.clone()));
                }
                let build = || self.client.get(&versions_url).query(&params);
                let page = match self
                    .json(
                        &build,
                        &format!("model-versions/search for {model_name}"),
                        ctx,
                    )
                    .await
                {
                    Ok(p) => p,
                    Err(f) => {
                        population.complete = false;
                        let g = self.gap(&format!("registered model {model_name}"), f, &*sink);
                        sink.gap(g).await?;
                        break;
                    }
                };
                population.pages_walked += 1;
                for version in page
                    .get("model_versions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    population.items_seen += 1;
                    let number = str_field(version, "version")
                        .map(str::to_owned)
                        .or_else(|| int_field(version, "version").map(|v| v.to_string()))
                        .unwrap_or_default();
                    let updated = version_fingerprint(model, version, &number);
                    let key = format!("{model_name}/{number}");
                    if state.model_versions.get(&key) == Some(&updated) {
                        population.items_unchanged += 1;
                        continue;
                    }
                    match self
                        .put_model_version(model, version, model_name, &number, sink)
                        .await
                    {
                        Ok(()) => {
                            population.items_sealed += 1;
                            state.model_versions.insert(key, updated);
                            ctx.progress.add_items(1);
                        }
                        Err(RunFailure::Gap(g)) => {
                            population.complete = false;
                            sink.gap(g).await?;
                        }
                        Err(RunFailure::Fatal(e)) => return Err(e),
                    }
                }
                match str_field(&page, "next_page_token") {
                    Some(t) => token = Some(t.to_owned()),
                    None => break,
                }
            }
        }
        sink.population(population).await?;
        Ok(())
    }

    async fn put_model_version(
        &self,
        model: &Value,
        version: &Value,
        model_name: &str,
        number: &str,
        sink: &mut dyn ItemSink,
    ) -> Result<(), RunFailure> {
        let aliases = aliases_of(model, number);
        let document = json!({
            "schema": "evidence-mlflow-model-version/1",
            "tracking_uri": self.base,
            "registered_model": model,
            "model_version": version,
        });
        let scope = format!("registered model {model_name} version {number}");
        let bytes = serde_json::to_vec_pretty(&document).map_err(|e| {
            RunFailure::Gap(self.gap(
                &scope,
                Failure {
                    category: GapCategory::InvalidResponse,
                    message: e.to_string(),
                    attempts: 1,
                },
                &*sink,
            ))
        })?;
        let updated = int_field(version, "last_updated_timestamp").and_then(ms_to_timestamp);
        let created = int_field(version, "creation_timestamp").and_then(ms_to_timestamp);
        let stage = str_field(version, "current_stage")
            .unwrap_or("None")
            .to_owned();
        let actors = str_field(version, "user_id")
            .map(|u| {
                vec![Actor {
                    role: "author".into(),
                    name: u.to_owned(),
                    id: None,
                }]
            })
            .unwrap_or_default();
        let mut attributes = BTreeMap::from([
            ("model".to_owned(), Value::from(model_name)),
            ("version".to_owned(), Value::from(number)),
            ("stage".to_owned(), Value::from(stage.clone())),
            ("aliases".to_owned(), Value::from(aliases.clone())),
            (
                "status".to_owned(),
                Value::from(str_field(version, "status").unwrap_or("")),
            ),
            (
                "tags".to_owned(),
                Value::Object(key_values_as_strings(version.get("tags"))),
            ),
        ]);
        if let Some(run) = str_field(version, "run_id") {
            attributes.insert("run_id".into(), Value::from(run));
        }
        if let Some(source) = str_field(version, "source") {
            attributes.insert("model_source".into(), Value::from(source));
        }
        let t = &self.version_tags;
        let alias_text = if aliases.is_empty() {
            String::new()
        } else {
            format!(", aliases {}", aliases.join(", "))
        };
        let draft = ItemDraft {
            natural_key: format!("models/{model_name}/versions/{number}"),
            kind: t.kind.clone(),
            title: format!("{model_name} version {number} (stage {stage}{alias_text})"),
            reference: format!("model {model_name} version {number}"),
            url: Some(format!(
                "{}/#/models/{}/versions/{number}",
                self.base,
                encode_path(model_name)
            )),
            controls: t.controls.clone(),
            clauses: t.clauses.clone(),
            phase: t.phase,
            actors,
            period: None,
            source_time: updated.or(created),
            file_name: format!("model-version-{}.json", number),
            media_type: "application/json".into(),
            redactions: Vec::new(),
            endpoint: Some(self.base.clone()),
            query: Some(format!("model-versions/search?filter=name='{model_name}'")),
            attributes,
            expected_sha256: None,
            expected_size: Some(bytes.len() as u64),
        };
        match sink.put(draft, &mut bytes.as_slice()).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_item_level() => Err(RunFailure::Gap(self.gap(
                &scope,
                Failure {
                    category: GapCategory::InvalidResponse,
                    message: e.to_string(),
                    attempts: 1,
                },
                &*sink,
            ))),
            Err(e) => Err(RunFailure::Fatal(e.into())),
        }
    }
}

/// The aliases of a registered model that point at version `number`, sorted.
fn aliases_of(model: &Value, number: &str) -> Vec<String> {
    let mut out: Vec<String> = model
        .get("aliases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| {
            a.get("version").map(|v| match v {
                Value::String(s) => s == number,
                other => other.as_u64().is_some() && other.as_u64() == number.parse().ok(),
            }) == Some(true)
        })
        .filter_map(|a| str_field(a, "alias").map(str::to_owned))
        .collect();
    out.sort();
    out
}

/// What makes a model version worth sealing again: its update time (stage transitions, tags,
/// descriptions bump it), its stage, and the aliases pointing at it (setting an alias does not
/// bump the version's update time).
fn version_fingerprint(model: &Value, version: &Value, number: &str) -> String {
    format!(
        "{}|{}|{}",
        int_field(version, "last_updated_timestamp").unwrap_or(0),
        str_field(version, "current_stage").unwrap_or("None"),
        aliases_of(model, number).join(",")
    )
}

/// Why a run (or model version) was not sealed.
enum RunFailure {
    Gap(GapRecord),
    Fatal(ConnectorError),
}

/// A reqwest error's text without the URL (query strings may carry ids; never credentials, but
/// keep messages short and stable).
fn strip_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

#[async_trait]
impl Connector for MlflowConnector {
    fn connector_type(&self) -> &'static str {
        "mlflow"
    }

    fn name(&self) -> &SourceName {
        &self.name
    }

    async fn healthcheck(&self) -> Result<Health, ConnectorError> {
        let ctx_token = tokio_util::sync::CancellationToken::new();
        let progress = crate::connector::NoProgress;
        let ctx = CollectContext {
            shutdown: ctx_token,
            progress: &progress,
            agent: String::new(),
        };
        let url = self.url("api/2.0/mlflow/experiments/search");
        let body = json!({"max_results": 1});
        let build = || self.client.post(&url).json(&body);
        self.json(&build, "experiments/search", &ctx)
            .await
            .map_err(|f| f.into_error(&format!("MLflow at {}", self.base)))?;
        let auth = match &self.auth {
            Auth::None => "without credentials",
            Auth::Bearer(_) => "with a bearer token",
            Auth::Basic { .. } => "with basic auth",
        };
        Ok(Health {
            detail: format!("MLflow at {} answers {auth}", self.base),
        })
    }

    async fn collect(
        &self,
        cursor: &mut Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let mut state: MlflowCursor = cursor.load()?;
        let result = self.collect_all(&mut state, sink, ctx).await;
        cursor.store(&state)?;
        result
    }
}

impl MlflowConnector {
    async fn collect_all(
        &self,
        state: &mut MlflowCursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let (experiments, missing) = self
            .experiments(ctx)
            .await
            .map_err(|f| f.into_error(&format!("experiments of MLflow at {}", self.base)))?;
        for (name, f) in missing {
            let g = self.gap(&format!("experiment {name}"), f, &*sink);
            sink.gap(g).await?;
        }
        for (id, name) in &experiments {
            let mut exp_state = state.experiments.get(id).cloned().unwrap_or_default();
            let result = self
                .collect_experiment(id, name, &mut exp_state, sink, ctx)
                .await;
            state.experiments.insert(id.clone(), exp_state);
            result?;
        }
        if self.registered_models {
            self.collect_model_versions(state, sink, ctx).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_search_has_no_filter_and_later_ones_start_before_the_watermark() {
        assert_eq!(runs_filter(None, 1000), "");
        assert_eq!(runs_filter(Some(5000), 1000), "attributes.end_time >= 4000");
        assert_eq!(runs_filter(Some(500), 1000), "attributes.end_time >= 0");
    }

    #[test]
    fn the_watermark_advances_to_the_latest_sealed_run_but_not_past_a_failed_one() {
        assert_eq!(next_watermark(None, Some(10), None), Some(10));
        assert_eq!(next_watermark(Some(20), Some(10), None), Some(20));
        assert_eq!(next_watermark(Some(5), Some(30), Some(12)), Some(12));
        assert_eq!(next_watermark(None, None, Some(12)), None);
        assert_eq!(next_watermark(Some(5), None, None), Some(5));
    }

    #[test]
    fn integers_arrive_as_numbers_or_strings() {
        let v = json!({"a": 12, "b": "13", "c": 1.5, "d": "x"});
        assert_eq!(int_field(&v, "a"), Some(12));
        assert_eq!(int_field(&v, "b"), Some(13));
        assert_eq!(int_field(&v, "c"), None);
        assert_eq!(int_field(&v, "d"), None);
    }

    #[test]
    fn metric_values_become_strings_so_metadata_stays_canonical() {
        let list = json!([{"key": "loss", "value": 0.25}, {"key": "n", "value": 3}, {"key": "lr", "value": "0.1"}]);
        let map = key_values_as_strings(Some(&list));
        assert_eq!(map["loss"], "0.25");
        assert_eq!(map["n"], "3");
        assert_eq!(map["lr"], "0.1");
        assert!(evidence_model::canonical::to_vec(&map).is_ok());
    }

    #[test]
    fn a_new_alias_changes_a_model_versions_fingerprint() {
        let version =
            json!({"version": "3", "last_updated_timestamp": 10, "current_stage": "Staging"});
        let plain = json!({"name": "m"});
        let aliased = json!({"name": "m", "aliases": [{"alias": "champion", "version": "3"}, {"alias": "old", "version": "2"}]});
        assert_eq!(version_fingerprint(&plain, &version, "3"), "10|Staging|");
        assert_eq!(
            version_fingerprint(&aliased, &version, "3"),
            "10|Staging|champion"
        );
    }

    #[test]
    fn only_ended_runs_are_sealed() {
        assert!(is_finished(Some("FINISHED")));
        assert!(is_finished(Some("FAILED")));
        assert!(!is_finished(Some("RUNNING")));
        assert!(!is_finished(Some("SCHEDULED")));
        assert!(!is_finished(None));
    }

    #[test]
    fn proxied_artifacts_download_through_the_artifact_api() {
        assert_eq!(
            artifact_download_path(
                "mlflow-artifacts:/1/abc/artifacts",
                "abc",
                "eval/report v1.json"
            ),
            "api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/eval/report%20v1.json"
        );
        assert_eq!(
            artifact_download_path(
                "mlflow-artifacts://host:5000/1/abc/artifacts",
                "abc",
                "a.md"
            ),
            "api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/a.md"
        );
        assert_eq!(
            artifact_download_path("s3://bucket/1/abc/artifacts", "abc", "logs/train.log"),
            "get-artifact?run_uuid=abc&path=logs%2Ftrain.log"
        );
    }

    #[test]
    fn status_codes_map_to_gap_categories() {
        assert_eq!(category_for_status(401), GapCategory::Denied);
        assert_eq!(category_for_status(404), GapCategory::NotFound);
        assert_eq!(category_for_status(429), GapCategory::RateLimited);
        assert_eq!(category_for_status(503), GapCategory::Unreachable);
        assert_eq!(category_for_status(400), GapCategory::InvalidResponse);
    }

    fn config(text: &str) -> MlflowConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn configs_with_credentials_in_the_uri_or_unknown_keys_are_refused() {
        let name: SourceName = "ml".parse().unwrap();
        assert!(
            MlflowConnector::new(
                name.clone(),
                &config("tracking_uri = \"http://127.0.0.1:5000\"")
            )
            .is_ok()
        );
        let err =
            MlflowConnector::new(name.clone(), &config("tracking_uri = \"https://u:p@host\""))
                .unwrap_err();
        assert!(
            err.contains("must not contain credentials") && !err.contains("u:p"),
            "{err}"
        );
        let err = MlflowConnector::new(name.clone(), &config("tracking_uri = \"ftp://host\""))
            .unwrap_err();
        assert!(err.contains("http://"), "{err}");
        let err = MlflowConnector::new(
            name,
            &config("tracking_uri = \"http://h\"\nrun_controls = [\"A.6.6\"]"),
        )
        .unwrap_err();
        assert!(err.contains("A.6.6"), "{err}");
        assert!(
            toml::from_str::<MlflowConfig>("tracking_uri = \"http://h\"\ntoken = \"x\"").is_err()
        );
    }
}
