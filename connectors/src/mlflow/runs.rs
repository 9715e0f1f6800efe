//! Experiments and their finished runs: each run (params, tags, every metric's full history,
//! its artifact list) is one `training_run` item, and its configured artifacts are items of
//! their rule's kind.

use std::collections::{BTreeMap, BTreeSet};

use evidence_model::{Actor, GapCategory, Period, PopulationRecord};
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::artifacts::artifact_download_path;
use super::client::{Failure, strip_url};
use super::cursor::{ExperimentCursor, next_watermark, runs_filter};
use super::{
    MlflowConnector, RunFailure, int_field, is_finished, key_values_as_strings, ms_to_timestamp,
    str_field,
};
use crate::connector::{CollectContext, ConnectorError};
use crate::media_type;
use crate::sink::{ItemDraft, ItemSink, SinkError, end_scope};

/// What became of one run whose record was sealed.
#[derive(Debug, Default)]
pub(super) struct RunCollected {
    /// Configured artifacts sealed.
    pub(super) artifacts_sealed: u64,
    /// Configured artifacts that failed (each a gap): the run is collected again next time.
    pub(super) artifacts_failed: u64,
    /// Metric histories or the artifact listing that failed (each a gap; the run is sealed
    /// with them marked unavailable and collected again next time).
    pub(super) lookups_failed: u64,
}

impl MlflowConnector {
    /// The experiments to walk: `(id, name)`, and the pages walked to find them.
    pub(super) async fn experiments(
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
    pub(super) async fn collect_experiment(
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
        let stopped_by = stopped.map(|f| self.gap(&scope, f, &*sink));
        let stop = interrupted.then_some(ConnectorError::Interrupted { resource: scope });
        end_scope(sink, stopped_by, population, stop).await
    }

    /// Seal one finished run and its configured artifacts. Returns the artifacts sealed.
    pub(super) async fn collect_run(
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
        let draft = ItemDraft::builder(
            t,
            format!("runs/{run_id}"),
            format!("run-{run_id}.json"),
            "application/json",
        )
        .title(format!("{experiment} / {run_name}"))
        .reference(format!("run {run_id}"))
        .url(run_url.clone())
        .actors(actors.clone())
        .period(period.clone())
        .source_time(end.or(start))
        .endpoint(self.base.clone())
        .query(format!(
            "runs/search; metrics/get-history for {} metric(s); artifacts/list",
            metric_keys.len()
        ))
        .attributes(attributes)
        .expected_size(bytes.len() as u64)
        .build();
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
            let draft = ItemDraft::builder(
                &rule.tagging(),
                format!("runs/{run_id}/artifacts/{path}"),
                file_name.clone(),
                media_type::for_file_name(&file_name),
            )
            .title(format!("{experiment} / {run_name}: {path}"))
            .reference(format!("run {run_id} artifact {path}"))
            .url(run_url.clone())
            .actors(actors.clone())
            .period(period.clone())
            .source_time(end.or(start))
            .endpoint(self.base.clone())
            .query(format!("artifact {path} (rule {})", rule.glob))
            .attributes(BTreeMap::from([
                ("run_id".to_owned(), Value::from(run_id)),
                ("artifact_path".to_owned(), Value::from(path)),
                ("artifact_uri".to_owned(), Value::from(artifact_uri.clone())),
                ("rule".to_owned(), Value::from(rule.glob.clone())),
                (
                    "training_run_item".to_owned(),
                    Value::from(staged_run.id.to_string()),
                ),
            ]))
            .expected_size(size)
            .build();
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
    pub(super) async fn metric_history(
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
}
