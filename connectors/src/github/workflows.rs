//! Workflow runs of the configured workflows (`ci_run`, `training_run`): each completed run as
//! listed with its artifact list, then every artifact and the run's logs streamed from GitHub's
//! redirect into the sink, never whole in memory. An artifact's `digest` is checked by the sink.

use std::collections::BTreeMap;

use evidence_model::{Actor, Period, Sha256Digest, Timestamp};
use serde_json::Value;

use super::config::Workflow;
use super::cursor::{Etag, RepoRef, RunsState};
use super::population::Tally;
use super::{MAX_DETAIL_PAGES, Run, raw_array_concat, raw_elements_of, raw_object};
use crate::connector::ConnectorError;
use crate::sink::ItemDraft;

/// Most listing pages one run walks for one repository.
const MAX_PAGES: u64 = 1000;

/// A `sha256:<hex>` artifact digest.
pub(crate) fn artifact_digest(value: Option<&str>) -> Option<Sha256Digest> {
    let hex = value?.strip_prefix("sha256:")?;
    hex.parse().ok()
}

/// The next watermark for the runs listing: the oldest run still open (not completed, or not
/// fully sealed), else the newest run seen, else the old watermark.
pub(crate) fn next_watermark(
    old: Option<Timestamp>,
    newest_seen: Option<Timestamp>,
    oldest_open: Option<Timestamp>,
) -> Option<Timestamp> {
    oldest_open.or(newest_seen).or(old)
}

fn base_draft(run: &Run<'_>, workflow: &Workflow, json: &Value, repo: &str) -> ItemDraft {
    let id = json.get("id").and_then(Value::as_u64).unwrap_or(0);
    let mut actors = Vec::new();
    for (role, key) in [("initiator", "triggering_actor"), ("actor", "actor")] {
        if let Some(name) = super::login(json, key) {
            actors.push(Actor {
                role: role.into(),
                name,
                id: super::account_id(json, key),
            });
        }
    }
    let s = |key: &str| json.get(key).cloned().unwrap_or(Value::Null);
    let reference = format!("{repo}/actions/runs/{id}");
    ItemDraft::builder(
        &workflow.tags,
        reference.clone(),
        format!("run-{id}.json"),
        "application/json",
    )
    .title(format!(
        "{} run {} of {repo} ({})",
        workflow.path.rsplit('/').next().unwrap_or(&workflow.path),
        json.get("run_number").and_then(Value::as_u64).unwrap_or(0),
        super::text(json, "conclusion").unwrap_or("no conclusion")
    ))
    .url(super::text(json, "html_url").map(str::to_owned))
    .actors(actors)
    .period(Period {
        start: super::time(json, "run_started_at").or_else(|| super::time(json, "created_at")),
        end: super::time(json, "updated_at"),
    })
    .source_time(super::time(json, "updated_at"))
    .endpoint(run.endpoint())
    .query(format!(
        "GET /repos/{repo}/actions/runs; /actions/runs/{id}/artifacts"
    ))
    .attributes(BTreeMap::from([
        ("repository".to_owned(), Value::from(repo)),
        ("workflow".to_owned(), Value::from(workflow.path.as_str())),
        ("run_id".to_owned(), Value::from(id)),
        ("run_number".to_owned(), s("run_number")),
        ("run_attempt".to_owned(), s("run_attempt")),
        ("event".to_owned(), s("event")),
        ("status".to_owned(), s("status")),
        ("conclusion".to_owned(), s("conclusion")),
        ("head_branch".to_owned(), s("head_branch")),
        ("head_sha".to_owned(), s("head_sha")),
    ]))
    .build()
}

/// Seal one completed run: its JSON with the artifact list, each artifact, and the logs.
/// Returns true when everything was handed over.
async fn seal_run(
    run: &mut Run<'_>,
    repo: &str,
    workflow: &Workflow,
    raw: &[u8],
    json: &Value,
    tally: &mut Tally,
) -> Result<bool, ConnectorError> {
    let (owner, name) = super::split_full_name(repo);
    let id = json.get("id").and_then(Value::as_u64).unwrap_or(0);
    let id_text = id.to_string();
    let reference = format!("{repo}/actions/runs/{id}");
    let client = run.client;
    let pages = match client
        .get_all_pages(
            &client.url(
                &[
                    "repos",
                    owner,
                    name,
                    "actions",
                    "runs",
                    &id_text,
                    "artifacts",
                ],
                &[("per_page", "100".into())],
            ),
            run.ctx,
            MAX_DETAIL_PAGES,
        )
        .await
    {
        Ok(p) => p,
        Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
        Err(e) => {
            run.gap(&reference, &e).await?;
            return Ok(false);
        }
    };
    let artifacts: Vec<Value> = pages
        .iter()
        .flat_map(|p| {
            p.json
                .get("artifacts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let artifact_pages: Vec<Vec<u8>> = pages
        .iter()
        .map(|p| {
            raw_elements_of(&p.body, "artifacts")
                .map(|els| {
                    raw_array_concat(&els.iter().map(|e| e.get().as_bytes()).collect::<Vec<_>>())
                })
                .unwrap_or_else(|| b"[]".to_vec())
        })
        .collect();
    let artifacts_raw =
        raw_array_concat(&artifact_pages.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let body = raw_object(&[("run", raw), ("artifacts", &artifacts_raw)]);
    let mut draft = base_draft(run, workflow, json, repo);
    draft.attributes.insert(
        "artifacts".into(),
        Value::from(
            artifacts
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "name": super::text(a, "name"),
                        "size_in_bytes": a.get("size_in_bytes").and_then(Value::as_u64),
                        "digest": super::text(a, "digest"),
                        "expired": a.get("expired").and_then(Value::as_bool),
                    })
                })
                .collect::<Vec<_>>(),
        ),
    );
    let mut complete = run.put(draft, &mut body.as_slice()).await?.is_some();
    if complete {
        tally.sealed += 1;
    }

    if workflow.artifacts {
        for a in &artifacts {
            let artifact_name = super::text(a, "name").unwrap_or("artifact").to_owned();
            let artifact_ref = format!("{reference}/artifacts/{artifact_name}");
            if a.get("expired").and_then(Value::as_bool) == Some(true) {
                tally.skip("artifact_expired");
                tally.notes.push(format!(
                    "{artifact_ref} has expired and cannot be downloaded"
                ));
                continue;
            }
            let Some(url) = super::text(a, "archive_download_url") else {
                tally.skip("artifact_without_download_url");
                continue;
            };
            run.ctx.progress.status(&artifact_ref);
            let mut download = match client.download(url, None, run.ctx).await {
                Ok(d) => d,
                Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
                Err(e) => {
                    run.gap(&artifact_ref, &e).await?;
                    complete = false;
                    continue;
                }
            };
            let mut draft = base_draft(run, workflow, json, repo);
            draft.natural_key = artifact_ref.clone();
            draft.reference = artifact_ref.clone();
            draft.title = format!("Artifact {artifact_name} of {}", draft.title);
            draft.file_name = format!("{artifact_name}.zip");
            draft.media_type = "application/zip".into();
            draft.url = None;
            draft.expected_sha256 = artifact_digest(super::text(a, "digest"));
            draft.expected_size = a.get("size_in_bytes").and_then(Value::as_u64);
            draft
                .attributes
                .insert("artifact_name".into(), Value::from(artifact_name.as_str()));
            draft.attributes.insert(
                "artifact_id".into(),
                a.get("id").cloned().unwrap_or(Value::Null),
            );
            draft.attributes.insert(
                "digest".into(),
                super::text(a, "digest").map_or(Value::Null, Value::from),
            );
            if run.put(draft, &mut download.reader).await?.is_some() {
                tally.sealed += 1;
            } else {
                complete = false;
            }
        }
    }
    if workflow.logs {
        let logs_ref = format!("{reference}/logs");
        let url = client.url(
            &["repos", owner, name, "actions", "runs", &id_text, "logs"],
            &[],
        );
        match client.download(&url, None, run.ctx).await {
            Ok(mut download) => {
                let mut draft = base_draft(run, workflow, json, repo);
                draft.natural_key = logs_ref.clone();
                draft.reference = logs_ref.clone();
                draft.title = format!("Logs of {}", draft.title);
                draft.file_name = format!("run-{id}-logs.zip");
                draft.media_type = "application/zip".into();
                draft.url = None;
                draft.expected_size = download.length;
                if run.put(draft, &mut download.reader).await?.is_some() {
                    tally.sealed += 1;
                } else {
                    complete = false;
                }
            }
            Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
            Err(ConnectorError::NotFound { .. }) => {
                tally.skip("logs_expired");
                tally
                    .notes
                    .push(format!("{logs_ref}: GitHub no longer keeps the logs"));
            }
            Err(e) => {
                run.gap(&logs_ref, &e).await?;
                complete = false;
            }
        }
    }
    Ok(complete)
}

/// Find the ids of the configured workflows not yet known (`GET /actions/workflows/{file}`,
/// which every API version with Actions answers). Returns what could not be looked up; a
/// workflow GitHub does not know (404) is not an error: no run can belong to it.
async fn resolve_ids(
    run: &mut Run<'_>,
    owner: &str,
    name: &str,
    workflows: &[Workflow],
    ids: &mut BTreeMap<String, u64>,
) -> Result<Vec<String>, ConnectorError> {
    let mut failed = Vec::new();
    for w in workflows {
        if ids.contains_key(&w.path) {
            continue;
        }
        let file = w.path.rsplit('/').next().unwrap_or(&w.path);
        let url = run
            .client
            .url(&["repos", owner, name, "actions", "workflows", file], &[]);
        match run.client.get_json_or_404(&url, None, run.ctx).await {
            Ok(page) if page.status == 404 => {}
            Ok(page) => match page.json.get("id").and_then(Value::as_u64) {
                Some(id) => {
                    ids.insert(w.path.clone(), id);
                }
                None => failed.push(format!("{}: the answer has no id", w.path)),
            },
            Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
            Err(e) => failed.push(format!("{}: {e}", w.path)),
        }
    }
    Ok(failed)
}

/// Collect the completed runs of the configured `workflows` of `repo`.
pub(crate) async fn collect(
    run: &mut Run<'_>,
    repo: &RepoRef,
    state: &mut RunsState,
    workflows: &[Workflow],
) -> Result<(), ConnectorError> {
    let full = repo.full_name.as_str();
    let (owner, name) = super::split_full_name(full);
    let Some(first_kind) = workflows.first().map(|w| w.tags.kind.clone()) else {
        return Ok(());
    };
    let first = run.client.url(
        &["repos", owner, name, "actions", "runs"],
        &[("per_page", run.settings.per_page.to_string())],
    );
    let paths: Vec<&str> = workflows.iter().map(|w| w.path.as_str()).collect();
    let query = format!(
        "GET /repos/{owner}/{name}/actions/runs?per_page={} newest first until created_at reaches the watermark; workflows {}",
        run.settings.per_page,
        paths.join(", ")
    );
    let scope = format!("{full} workflows");
    let mut tally = Tally::new();
    tally.watermark_before = state.watermark;
    let mut url = Some(first.clone());
    let mut first_etag = None;
    let mut newest_seen: Option<Timestamp> = None;
    let mut oldest_open: Option<Timestamp> = None;
    let mut sealed_now: Vec<(u64, Timestamp)> = Vec::new();
    let mut finished = false;
    // Workflow ids are looked up once per run, and only when a run without `path` is met.
    let mut resolved = false;
    let mut unresolved: Vec<String> = Vec::new();
    let mut unresolved_runs = 0u64;
    while let Some(u) = url.take() {
        if run.ctx.shutdown.is_cancelled() {
            tally.incomplete("the run was interrupted");
            break;
        }
        if tally.pages_walked >= MAX_PAGES {
            tally.incomplete(format!("stopped after {MAX_PAGES} pages"));
            break;
        }
        let etag = if tally.pages_walked == 0 {
            Etag::for_url(state.first_page.as_ref(), &u)
        } else {
            None
        };
        let page = match run.client.get_json(&u, etag, run.ctx).await {
            Ok(p) => p,
            Err(ConnectorError::Interrupted { .. }) => {
                tally.incomplete("the run was interrupted");
                break;
            }
            Err(e) => {
                run.gap(&format!("{scope} ({first_kind})"), &e).await?;
                tally.incomplete(format!("the listing failed: {e}"));
                break;
            }
        };
        tally.pages_walked += 1;
        if page.not_modified() {
            tally.not_modified = true;
            finished = true;
            break;
        }
        if tally.pages_walked == 1 {
            first_etag = page.etag.clone();
            tally.source_total = page.json.get("total_count").and_then(Value::as_u64);
        }
        let Some(elements) = raw_elements_of(&page.body, "workflow_runs") else {
            let e = ConnectorError::InvalidResponse {
                resource: format!("{full} workflow runs"),
                detail: "no workflow_runs array".into(),
            };
            run.gap(&format!("{scope} ({first_kind})"), &e).await?;
            tally.incomplete("a listing page had no workflow_runs");
            break;
        };
        let mut reached = false;
        for raw in elements {
            let Ok(json) = serde_json::from_str::<Value>(raw.get()) else {
                tally.skip("unreadable");
                continue;
            };
            let (Some(id), Some(created)) = (
                json.get("id").and_then(Value::as_u64),
                super::time(&json, "created_at"),
            ) else {
                tally.skip("unreadable");
                continue;
            };
            if state.watermark.is_some_and(|w| created < w)
                || run.settings.since.is_some_and(|s| created < s)
            {
                reached = true;
                break;
            }
            let workflow_id = json.get("workflow_id").and_then(Value::as_u64);
            if let (Some(path), Some(wid)) = (super::text(&json, "path"), workflow_id)
                && workflows.iter().any(|w| w.path == path)
            {
                state.workflow_ids.insert(path.to_owned(), wid);
            }
            let workflow = match super::text(&json, "path") {
                Some(path) => workflows.iter().find(|w| w.path == path),
                // Older API versions and GitHub Enterprise Server send no `path`: match the
                // run's `workflow_id` against the configured workflows' ids.
                None => {
                    if !resolved {
                        resolved = true;
                        unresolved =
                            resolve_ids(run, owner, name, workflows, &mut state.workflow_ids)
                                .await?;
                    }
                    match workflow_id {
                        Some(wid) => workflows
                            .iter()
                            .find(|w| state.workflow_ids.get(&w.path) == Some(&wid)),
                        None => None,
                    }
                }
            };
            let Some(workflow) = workflow else {
                if super::text(&json, "path").is_none()
                    && (workflow_id.is_none() || !unresolved.is_empty())
                {
                    // It may be one of ours: counted, and the population is not complete.
                    tally.skip("workflow_unresolved");
                    unresolved_runs += 1;
                    // The watermark stays before it, so the next run meets it again.
                    oldest_open = Some(oldest_open.map_or(created, |o| o.min(created)));
                } else {
                    tally.skip("other_workflow");
                }
                continue;
            };
            newest_seen = newest_seen.max(Some(created));
            if state.sealed.contains(&id) {
                tally.unchanged += 1;
                continue;
            }
            if super::text(&json, "status") != Some("completed") {
                tally.skip("not_completed");
                oldest_open = Some(oldest_open.map_or(created, |o| o.min(created)));
                continue;
            }
            tally.seen += 1;
            let before = tally.sealed;
            let ok = seal_run(run, full, workflow, raw.get().as_bytes(), &json, &mut tally).await?;
            if ok {
                sealed_now.push((id, created));
            } else {
                tally.failed += 1;
                if tally.sealed > before {
                    tally.notes.push(format!(
                        "run {id} was sealed in part; it is collected again next run"
                    ));
                }
                oldest_open = Some(oldest_open.map_or(created, |o| o.min(created)));
            }
        }
        if reached {
            finished = true;
            break;
        }
        url = page.next.clone();
        if url.is_none() {
            finished = true;
        }
    }
    if finished && !tally.not_modified {
        let watermark = next_watermark(state.watermark, newest_seen, oldest_open);
        let mut sealed: Vec<u64> = state.sealed.clone();
        sealed.extend(sealed_now.iter().map(|(id, _)| *id));
        sealed.sort_unstable();
        sealed.dedup();
        // Keep only ids the next walk can meet again (created at or after the watermark).
        let keep: Vec<u64> = sealed_now
            .iter()
            .filter(|(_, c)| watermark.is_none_or(|w| *c >= w))
            .map(|(id, _)| *id)
            .chain(state.sealed.iter().copied())
            .collect();
        state.sealed = sealed.into_iter().filter(|id| keep.contains(id)).collect();
        state.watermark = watermark;
        state.first_page = if oldest_open.is_none() {
            first_etag.map(|etag| Etag { url: first, etag })
        } else {
            None
        };
    } else if !finished {
        // Runs sealed so far stay recorded; the watermark stays until a walk completes.
        state.sealed.extend(sealed_now.iter().map(|(id, _)| *id));
    }
    if unresolved_runs > 0 {
        tally.incomplete(format!(
            "{unresolved_runs} run(s) without `path` could not be matched to a configured workflow ({}); they were skipped and counted",
            unresolved.join("; ")
        ));
        let e = ConnectorError::InvalidResponse {
            resource: format!("{full} workflows"),
            detail: format!(
                "{unresolved_runs} workflow run(s) carry no `path` and their workflow could not be identified: {}",
                unresolved.join("; ")
            ),
        };
        run.gap(&format!("{scope} ({first_kind})"), &e).await?;
    }
    tally.watermark_after = state.watermark;
    let record = tally.record(run.source.clone(), &scope, &first_kind, &query);
    run.sink.population(record).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_digest_is_read_only_in_the_sha256_form() {
        let hex = "a".repeat(64);
        assert!(artifact_digest(Some(&format!("sha256:{hex}"))).is_some());
        assert!(artifact_digest(Some(&hex)).is_none());
        assert!(artifact_digest(Some("sha256:zz")).is_none());
        assert!(artifact_digest(None).is_none());
    }

    #[test]
    fn the_watermark_stays_at_the_oldest_run_still_open() {
        let t = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        assert_eq!(
            next_watermark(
                t("2026-01-01T00:00:00Z"),
                t("2026-03-01T00:00:00Z"),
                t("2026-02-01T00:00:00Z")
            ),
            t("2026-02-01T00:00:00Z")
        );
        assert_eq!(
            next_watermark(t("2026-01-01T00:00:00Z"), t("2026-03-01T00:00:00Z"), None),
            t("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            next_watermark(t("2026-01-01T00:00:00Z"), None, None),
            t("2026-01-01T00:00:00Z")
        );
    }
}
