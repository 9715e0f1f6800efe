//! Releases (`deployment_record`): each published release as GitHub lists it, sealed when it is
//! new or its listing entry changed. The listing's first page is asked conditionally.

use std::collections::BTreeMap;

use evidence_model::{Actor, Sha256Digest};
use serde_json::Value;

use super::config::Tags;
use super::cursor::{Etag, ReleasesState, RepoRef};
use super::population::Tally;
use super::{Run, raw_elements};
use crate::connector::ConnectorError;
use crate::sink::ItemDraft;

/// Most listing pages read for one repository's releases.
const MAX_PAGES: u64 = 100;

fn draft(repo: &str, release: &Value, tags: &Tags, run: &Run<'_>) -> ItemDraft {
    let id = release.get("id").and_then(Value::as_u64).unwrap_or(0);
    let tag = super::text(release, "tag_name").unwrap_or("(no tag)");
    let name = super::text(release, "name").unwrap_or(tag);
    let assets: Vec<Value> = release
        .get("assets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            serde_json::json!({
                "name": super::text(a, "name"),
                "size": a.get("size").and_then(Value::as_u64),
                "digest": super::text(a, "digest"),
            })
        })
        .collect();
    let mut actors = Vec::new();
    if let Some(author) = super::login(release, "author") {
        actors.push(Actor {
            role: "author".into(),
            name: author,
            id: super::account_id(release, "author"),
        });
    }
    let reference = format!("{repo}@{tag}");
    ItemDraft::builder(
        tags,
        format!("{repo}:release:{id}"),
        format!("release-{id}.json"),
        "application/json",
    )
    .title(format!("Release {name} of {repo}"))
    .reference(reference)
    .url(super::text(release, "html_url").map(str::to_owned))
    .actors(actors)
    .source_time(
        super::time(release, "published_at").or_else(|| super::time(release, "created_at")),
    )
    .endpoint(run.endpoint())
    .query(format!("GET /repos/{repo}/releases"))
    .attributes(BTreeMap::from([
        ("repository".to_owned(), Value::from(repo)),
        ("release_id".to_owned(), Value::from(id)),
        ("tag_name".to_owned(), Value::from(tag)),
        (
            "target_commitish".to_owned(),
            super::text(release, "target_commitish").map_or(Value::Null, Value::from),
        ),
        (
            "prerelease".to_owned(),
            release.get("prerelease").cloned().unwrap_or(Value::Null),
        ),
        (
            "published_at".to_owned(),
            super::text(release, "published_at").map_or(Value::Null, Value::from),
        ),
        ("assets".to_owned(), Value::from(assets)),
    ]))
    .build()
}

/// Collect the releases of `repo`.
pub(crate) async fn collect(
    run: &mut Run<'_>,
    repo: &RepoRef,
    state: &mut ReleasesState,
    tags: &Tags,
) -> Result<(), ConnectorError> {
    let full = repo.full_name.as_str();
    let (owner, name) = super::split_full_name(full);
    let first = run.client.url(
        &["repos", owner, name, "releases"],
        &[("per_page", run.settings.per_page.to_string())],
    );
    let query = format!(
        "GET /repos/{owner}/{name}/releases?per_page={} (all pages)",
        run.settings.per_page
    );
    let mut tally = Tally::new();
    let mut url = Some(first.clone());
    let mut first_etag = None;
    let mut seen_ids = Vec::new();
    while let Some(u) = url.take() {
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
            Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
            Err(e) => {
                run.gap(&format!("{full} ({})", tags.kind), &e).await?;
                tally.incomplete(format!("the listing failed: {e}"));
                break;
            }
        };
        tally.pages_walked += 1;
        if page.not_modified() {
            tally.not_modified = true;
            break;
        }
        if tally.pages_walked == 1 {
            first_etag = page.etag.clone();
        }
        let Some(elements) = raw_elements(&page.body) else {
            let e = ConnectorError::InvalidResponse {
                resource: format!("{full} releases"),
                detail: "not a JSON array".into(),
            };
            run.gap(&format!("{full} ({})", tags.kind), &e).await?;
            tally.incomplete("a listing page was not a JSON array");
            break;
        };
        for raw in elements {
            if run.ctx.shutdown.is_cancelled() {
                return Err(ConnectorError::Interrupted {
                    resource: format!("{full} releases"),
                });
            }
            let Ok(release) = serde_json::from_str::<Value>(raw.get()) else {
                tally.skip("unreadable");
                continue;
            };
            if release.get("draft").and_then(Value::as_bool) == Some(true) {
                tally.skip("draft");
                continue;
            }
            let Some(id) = release.get("id").and_then(Value::as_u64) else {
                tally.skip("unreadable");
                continue;
            };
            tally.seen += 1;
            seen_ids.push(id);
            let bytes = raw.get().as_bytes();
            let sha256 = Sha256Digest::of(bytes);
            if state.sealed.get(&id) == Some(&sha256) {
                tally.unchanged += 1;
                continue;
            }
            let d = draft(full, &release, tags, run);
            if run.put(d, &mut &bytes[..]).await?.is_some() {
                tally.sealed += 1;
                state.sealed.insert(id, sha256);
            } else {
                tally.failed += 1;
            }
        }
        url = page.next.clone();
    }
    if tally.complete && tally.failed == 0 && !tally.not_modified {
        state.sealed.retain(|id, _| seen_ids.contains(id));
        state.first_page = first_etag.map(|etag| Etag { url: first, etag });
    }
    let record = tally.record(run.source.clone(), full, &tags.kind, &query);
    run.sink.population(record).await?;
    Ok(())
}
