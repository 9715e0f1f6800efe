//! Registered model versions: each new or changed version (stage, aliases, tags) is one
//! `deployment_record` item.

use std::collections::BTreeMap;

use evidence_model::{Actor, GapCategory, PopulationRecord};
use serde_json::{Value, json};

use super::artifacts::encode_path;
use super::client::Failure;
use super::cursor::MlflowCursor;
use super::{
    MlflowConnector, RunFailure, int_field, key_values_as_strings, ms_to_timestamp, str_field,
};
use crate::connector::{CollectContext, ConnectorError};
use crate::sink::{ItemDraft, ItemSink};

impl MlflowConnector {
    /// Seal new or changed registered model versions (stage, aliases, tags).
    pub(super) async fn collect_model_versions(
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

    pub(super) async fn put_model_version(
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
        let draft = ItemDraft::builder(
            t,
            format!("models/{model_name}/versions/{number}"),
            format!("model-version-{}.json", number),
            "application/json",
        )
        .title(format!(
            "{model_name} version {number} (stage {stage}{alias_text})"
        ))
        .reference(format!("model {model_name} version {number}"))
        .url(format!(
            "{}/#/models/{}/versions/{number}",
            self.base,
            encode_path(model_name)
        ))
        .actors(actors)
        .source_time(updated.or(created))
        .endpoint(self.base.clone())
        .query(format!("model-versions/search?filter=name='{model_name}'"))
        .attributes(attributes)
        .expected_size(bytes.len() as u64)
        .build();
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
pub(super) fn aliases_of(model: &Value, number: &str) -> Vec<String> {
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
pub(super) fn version_fingerprint(model: &Value, version: &Value, number: &str) -> String {
    format!(
        "{}|{}|{}",
        int_field(version, "last_updated_timestamp").unwrap_or(0),
        str_field(version, "current_stage").unwrap_or("None"),
        aliases_of(model, number).join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
