//! The MLflow connector: reads a tracking server's REST API (experiments, finished runs with
//! params, tags and full metric histories, their artifact lists and the configured artifacts,
//! and registered model versions) and stages each as evidence: `training_run` for a run,
//! the rule's kind (e.g. `model_card`) for an artifact, `deployment_record` for a model
//! version. Raw API responses are the artefacts; metric values stay there (canonical metadata
//! has no floats) and appear in `attributes` only as strings.

mod artifacts;
mod client;
mod config;
mod cursor;
mod models;
mod runs;

use async_trait::async_trait;
use evidence_model::{GapRecord, SourceName, Timestamp};
use serde_json::{Value, json};

use crate::connector::{
    CollectContext, Connector, ConnectorError, Cursor, Health, VersionedCursor,
};
use crate::http::RetryPolicy;
use crate::rules::{RuleSet, Tagging};
use crate::sink::ItemSink;

use config::Auth;
pub use config::MlflowConfig;
use cursor::MlflowCursor;

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

/// Why a run (or model version) was not sealed.
enum RunFailure {
    Gap(GapRecord),
    Fatal(ConnectorError),
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
        let mut state: MlflowCursor = VersionedCursor::load(cursor)?;
        let result = self.collect_all(&mut state, sink, ctx).await;
        VersionedCursor::store(cursor, &state)?;
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
    use serde_json::json;

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
    fn only_ended_runs_are_sealed() {
        assert!(is_finished(Some("FINISHED")));
        assert!(is_finished(Some("FAILED")));
        assert!(!is_finished(Some("RUNNING")));
        assert!(!is_finished(Some("SCHEDULED")));
        assert!(!is_finished(None));
    }
}
