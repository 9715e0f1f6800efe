//! The GitHub connector: merged pull requests with their reviews (`pr_approval`), branch
//! protection (`branch_protection`), workflow runs with artifacts and logs (`ci_run`,
//! `training_run`), model and dataset cards, labelled issues with their timeline, and releases
//! (`deployment_record`), from github.com or GitHub Enterprise Server.
//!
//! Incremental per repository and kind (watermarks, our own ETags, resumable pagination); a
//! repository that fails becomes a gap record and the others still seal.

mod approvals;
mod cards;
mod client;
mod config;
mod cursor;
mod graphql;
mod issues;
mod population;
mod protection;
mod pull_record;
mod pulls;
mod pulls_graphql;
mod pulls_query;
mod ratelimit;
mod releases;
mod repos;
mod workflows;

use crate::config_error::ConfigError;
use std::collections::BTreeMap;

use async_trait::async_trait;
use evidence_model::{GapRecord, SourceName};
use tokio::io::AsyncRead;

pub use config::{
    AppConfig, CardConfig, GithubConfig, IssueLabelConfig, KindSwitch, RetryConfig, WorkflowConfig,
};

use crate::connector::{
    CollectContext, Connector, ConnectorError, Cursor, Health, VersionedCursor,
};
use crate::sink::{ItemDraft, ItemSink, StagedItem};
use client::Client;
use config::Settings;
use cursor::{GithubCursor, ProtectionSummary};

/// Most pages read for a list that is always read whole (reviews, checks, timelines).
const MAX_DETAIL_PAGES: usize = 100;

/// A configured GitHub source.
#[derive(Debug, Clone)]
pub struct GithubConnector {
    name: SourceName,
    settings: Settings,
}

impl GithubConnector {
    /// Check the configuration (pure: no environment variable is read, nothing is contacted).
    pub fn new(name: SourceName, config: &GithubConfig) -> Result<Self, ConfigError> {
        let at = format!("source {:?}", name.as_str());
        Ok(Self {
            settings: config.validate(&at)?,
            name,
        })
    }

    /// Use `token` instead of reading the variable named by `token_env` (for programs that
    /// fetch credentials from a vault).
    pub fn with_token(mut self, token: crate::secret::Secret) -> Self {
        self.settings.auth = config::AuthConfig::Token(token);
        self
    }
}

/// One collection run's shared parts.
pub(crate) struct Run<'a> {
    pub client: &'a Client,
    pub settings: &'a Settings,
    pub sink: &'a mut dyn ItemSink,
    pub ctx: &'a CollectContext<'a>,
    pub source: SourceName,
    /// Protection facts by `owner/name` and branch, read once per run.
    pub protections: BTreeMap<(String, String), Option<ProtectionSummary>>,
}

impl Run<'_> {
    /// Record a gap for `scope`.
    pub(crate) async fn gap(
        &mut self,
        scope: &str,
        error: &ConnectorError,
    ) -> Result<(), ConnectorError> {
        let mut record = GapRecord::new(
            "github",
            self.source.clone(),
            scope,
            error.gap_category(),
            error.to_string(),
            self.sink.collected_at(),
        );
        if let ConnectorError::RateLimited { attempts, .. } = error {
            record.attempts = *attempts;
        }
        self.sink.gap(record).await?;
        Ok(())
    }

    /// Record a gap for `scope` with its own `message`.
    pub(crate) async fn gap_message(
        &mut self,
        scope: &str,
        category: evidence_model::GapCategory,
        message: String,
    ) -> Result<(), ConnectorError> {
        let record = GapRecord::new(
            "github",
            self.source.clone(),
            scope,
            category,
            message,
            self.sink.collected_at(),
        );
        self.sink.gap(record).await?;
        Ok(())
    }

    /// Hand an item to the sink. `Ok(None)` when this one item failed (a gap is recorded);
    /// `Err` only when the staging area failed and the run must stop.
    pub(crate) async fn put(
        &mut self,
        draft: ItemDraft,
        body: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<Option<StagedItem>, ConnectorError> {
        let scope = draft.reference.clone();
        match self.sink.put(draft, body).await {
            Ok(staged) => {
                self.ctx.progress.add_items(1);
                self.ctx.progress.add_bytes(staged.size);
                Ok(Some(staged))
            }
            Err(e) if e.is_item_level() => {
                let error = ConnectorError::InvalidResponse {
                    resource: scope.clone(),
                    detail: e.to_string(),
                };
                self.gap(&scope, &error).await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The endpoint recorded in provenance: the API base URL.
    pub(crate) fn endpoint(&self) -> Option<String> {
        Some(self.settings.api_url.clone())
    }
}

/// `owner` and `name` of `owner/name`.
pub(crate) fn split_full_name(full_name: &str) -> (&str, &str) {
    full_name.split_once('/').unwrap_or((full_name, ""))
}

/// A JSON field as text.
pub(crate) fn text<'v>(v: &'v serde_json::Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(serde_json::Value::as_str)
}

/// A nested login (`user.login`, `merged_by.login`).
pub(crate) fn login(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|u| u.get("login"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// A nested account id as text.
pub(crate) fn account_id(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|u| u.get("id"))
        .and_then(serde_json::Value::as_u64)
        .map(|id| id.to_string())
}

/// A JSON timestamp field.
pub(crate) fn time(v: &serde_json::Value, key: &str) -> Option<evidence_model::Timestamp> {
    text(v, key).and_then(|s| s.parse().ok())
}

/// Join raw JSON bodies into one document `{"k1": body1, "k2": body2, …}` without re-encoding
/// them: the artefact holds the bytes exactly as GitHub sent them.
pub(crate) fn raw_object(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|(_, b)| b.len() + 16).sum());
    out.push(b'{');
    for (i, (key, body)) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(serde_json::Value::from(*key).to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(trim_ascii(body));
    }
    out.push(b'}');
    out
}

/// Join the pages of a JSON array listing into one array, keeping each element's bytes.
/// Pages that are not arrays are kept whole as elements.
pub(crate) fn raw_array_concat(pages: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![b'['];
    let mut first = true;
    for page in pages {
        let page = trim_ascii(page);
        let inner = match (page.first(), page.last()) {
            (Some(b'['), Some(b']')) => trim_ascii(&page[1..page.len() - 1]),
            _ => page,
        };
        if inner.is_empty() {
            continue;
        }
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(inner);
        first = false;
    }
    out.push(b']');
    out
}

/// Raw bodies as one JSON array of documents.
pub(crate) fn raw_list(pages: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(trim_ascii(page));
    }
    out.push(b']');
    out
}

/// The elements of a JSON array body, each as the exact bytes GitHub sent. `None` when the
/// body is not an array.
pub(crate) fn raw_elements(body: &[u8]) -> Option<Vec<&serde_json::value::RawValue>> {
    serde_json::from_slice(body).ok()
}

/// The elements of the array under `key` of a JSON object body (`workflow_runs`, …), each as
/// the exact bytes GitHub sent.
pub(crate) fn raw_elements_of<'b>(
    body: &'b [u8],
    key: &str,
) -> Option<Vec<&'b serde_json::value::RawValue>> {
    let object: BTreeMap<&str, &serde_json::value::RawValue> = serde_json::from_slice(body).ok()?;
    serde_json::from_str(object.get(key)?.get()).ok()
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

#[async_trait]
impl Connector for GithubConnector {
    fn connector_type(&self) -> &'static str {
        "github"
    }

    fn name(&self) -> &SourceName {
        &self.name
    }

    async fn healthcheck(&self) -> Result<Health, ConnectorError> {
        let client = Client::new(&self.settings, "evidence-agent")?;
        let ctx = CollectContext {
            shutdown: tokio_util::sync::CancellationToken::new(),
            progress: &crate::connector::NoProgress,
            agent: "evidence-agent".into(),
        };
        let page = client
            .get_json_or_404(&client.url(&["rate_limit"], &[]), None, &ctx)
            .await?;
        Ok(Health {
            detail: ratelimit::health_detail(&self.settings.api_url, page.status, &page.json),
        })
    }

    async fn collect(
        &self,
        cursor: &mut Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let mut state: GithubCursor = VersionedCursor::load(cursor)?;
        let client = Client::new(&self.settings, &ctx.agent)?;
        let mut run = Run {
            client: &client,
            settings: &self.settings,
            sink,
            ctx,
            source: self.name.clone(),
            protections: BTreeMap::new(),
        };
        let result = collect_all(&mut run, &mut state).await;
        VersionedCursor::store(cursor, &state)?;
        result
    }
}

async fn collect_all(run: &mut Run<'_>, state: &mut GithubCursor) -> Result<(), ConnectorError> {
    let repos = repos::list(run, state).await?;
    run.ctx.progress.set_items_total(None);
    for repo in &repos {
        if run.ctx.shutdown.is_cancelled() {
            return Err(ConnectorError::Interrupted {
                resource: format!("repository {}", repo.full_name),
            });
        }
        run.ctx.progress.status(&repo.full_name);
        let repo_state = state.repos.entry(repo.full_name.clone()).or_default();
        if let Some(p) = &repo_state.protection {
            run.protections
                .entry((repo.full_name.clone(), p.branch.clone()))
                .or_insert_with(|| Some(p.summary.clone()));
        }
        if let Some(tags) = &run.settings.protection {
            protection::collect(run, repo, repo_state, tags).await?;
        }
        if let Some(tags) = &run.settings.pulls {
            pulls::collect(run, repo, &mut repo_state.pulls, tags).await?;
        }
        if !run.settings.workflows.is_empty() {
            workflows::collect(run, repo, &mut repo_state.runs, &run.settings.workflows).await?;
        }
        for card in &run.settings.cards {
            cards::collect(run, repo, &mut repo_state.cards, card).await?;
        }
        for label in &run.settings.issue_labels {
            let walk = repo_state.issues.entry(label.label.clone()).or_default();
            issues::collect(run, repo, walk, label).await?;
        }
        if let Some(tags) = &run.settings.releases {
            releases::collect(run, repo, &mut repo_state.releases, tags).await?;
        }
    }
    if run.ctx.shutdown.is_cancelled() {
        return Err(ConnectorError::Interrupted {
            resource: "GitHub".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_documents_are_joined_without_re_encoding() {
        let joined = raw_object(&[("pull", b" {\"a\": 1.50} "), ("reviews", b"[]")]);
        assert_eq!(joined, b"{\"pull\":{\"a\": 1.50},\"reviews\":[]}");
    }

    #[test]
    fn raw_elements_keep_the_bytes_of_each_element() {
        let body = br#"{"total_count": 2, "workflow_runs": [ {"id": 1, "x": 1.50}, {"id":2} ]}"#;
        let runs = raw_elements_of(body, "workflow_runs").unwrap();
        assert_eq!(runs[0].get(), r#"{"id": 1, "x": 1.50}"#);
        assert_eq!(
            raw_elements(b"[1, {\"a\":2}]").unwrap()[1].get(),
            r#"{"a":2}"#
        );
        assert!(raw_elements(b"{}").is_none());
    }

    #[test]
    fn array_pages_are_concatenated_element_by_element() {
        let joined = raw_array_concat(&[b"[{\"a\":1}]", b" [ ] ", b"[{\"b\":2},{\"c\":3}]"]);
        assert_eq!(joined, b"[{\"a\":1},{\"b\":2},{\"c\":3}]");
        let v: serde_json::Value = serde_json::from_slice(&joined).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 3);
    }
}
