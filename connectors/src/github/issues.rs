//! Issues carrying a configured label (`incident_ticket`, `corrective_action_ticket`), each
//! with its timeline: who reported, responded, was assigned and closed it, and when. The list
//! is asked `since` the watermark, oldest update first, so an interrupted walk resumes.

use std::collections::BTreeMap;

use evidence_model::{Actor, Period};
use futures::StreamExt;
use serde_json::Value;

use super::client::{Client, Page};
use super::config::IssueLabel;
use super::cursor::{Etag, RepoRef, Resume, WalkState};
use super::population::Tally;
use super::{MAX_DETAIL_PAGES, Run, raw_array_concat, raw_elements, raw_object};
use crate::connector::{CollectContext, ConnectorError};
use crate::sink::ItemDraft;

/// Most listing pages one run walks for one label of one repository.
const MAX_PAGES: u64 = 1000;

/// The people an issue and its timeline name, with their roles.
pub(crate) fn issue_actors(issue: &Value, timeline: &[Value]) -> Vec<Actor> {
    let mut actors = Vec::new();
    let mut add = |role: &str, v: &Value, key: &str| {
        if let Some(name) = super::login(v, key) {
            actors.push(Actor {
                role: role.into(),
                name,
                id: super::account_id(v, key),
            });
        }
    };
    add("reporter", issue, "user");
    add("resolver", issue, "closed_by");
    for a in issue
        .get("assignees")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = super::text(a, "login") {
            actors.push(Actor {
                role: "assignee".into(),
                name: name.to_owned(),
                id: a.get("id").and_then(Value::as_u64).map(|i| i.to_string()),
            });
        }
    }
    for event in timeline {
        let role = match super::text(event, "event") {
            Some("commented") => "responder",
            Some("closed") => "resolver",
            _ => continue,
        };
        let who = if event.get("actor").is_some() {
            super::login(event, "actor")
        } else {
            super::login(event, "user")
        };
        if let Some(name) = who {
            actors.push(Actor {
                role: role.into(),
                name,
                id: None,
            });
        }
    }
    actors.sort();
    actors.dedup_by(|a, b| a.role == b.role && a.name == b.name);
    actors
}

async fn timeline(
    client: &Client,
    ctx: &CollectContext<'_>,
    repo: &str,
    number: u64,
) -> Result<Vec<Page>, ConnectorError> {
    let (owner, name) = super::split_full_name(repo);
    client
        .get_all_pages(
            &client.url(
                &[
                    "repos",
                    owner,
                    name,
                    "issues",
                    &number.to_string(),
                    "timeline",
                ],
                &[("per_page", "100".into())],
            ),
            ctx,
            MAX_DETAIL_PAGES,
        )
        .await
}

fn draft(
    repo: &str,
    label: &IssueLabel,
    issue: &Value,
    timeline: &[Value],
    run: &Run<'_>,
) -> ItemDraft {
    let number = issue.get("number").and_then(Value::as_u64).unwrap_or(0);
    let reference = format!("{repo}#{number}");
    let labels: Vec<Value> = issue
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| match l {
            Value::String(s) => Some(Value::from(s.as_str())),
            other => super::text(other, "name").map(Value::from),
        })
        .collect();
    let closed = super::time(issue, "closed_at");
    let s = |key: &str| super::text(issue, key).map_or(Value::Null, Value::from);
    ItemDraft::builder(
        &label.tags,
        reference.clone(),
        format!("issue-{number}.json"),
        "application/json",
    )
    .title(format!(
        "{reference}: {}",
        super::text(issue, "title").unwrap_or("(untitled)")
    ))
    .url(super::text(issue, "html_url").map(str::to_owned))
    .actors(issue_actors(issue, timeline))
    .period(Period {
        start: super::time(issue, "created_at"),
        end: closed,
    })
    .source_time(closed.or_else(|| super::time(issue, "updated_at")))
    .endpoint(run.endpoint())
    .query(format!(
        "GET /repos/{repo}/issues?labels={}&state=all; /issues/{number}/timeline",
        label.label
    ))
    .attributes(BTreeMap::from([
        ("repository".to_owned(), Value::from(repo)),
        ("number".to_owned(), Value::from(number)),
        ("label".to_owned(), Value::from(label.label.as_str())),
        ("labels".to_owned(), Value::from(labels)),
        ("state".to_owned(), s("state")),
        ("state_reason".to_owned(), s("state_reason")),
        ("created_at".to_owned(), s("created_at")),
        ("closed_at".to_owned(), s("closed_at")),
        ("timeline_events".to_owned(), Value::from(timeline.len())),
    ]))
    .build()
}

/// Collect the issues of `repo` with `label` updated since the watermark.
pub(crate) async fn collect(
    run: &mut Run<'_>,
    repo: &RepoRef,
    state: &mut WalkState,
    label: &IssueLabel,
) -> Result<(), ConnectorError> {
    let full = repo.full_name.as_str();
    let (owner, name) = super::split_full_name(full);
    let kind = &label.tags.kind;
    let since = match (state.watermark, run.settings.since) {
        (Some(w), _) => Some(w),
        (None, s) => s,
    };
    let mut params = vec![
        ("labels", label.label.clone()),
        ("state", "all".to_owned()),
        ("sort", "updated".to_owned()),
        ("direction", "asc".to_owned()),
        ("per_page", run.settings.per_page.to_string()),
    ];
    if let Some(s) = since {
        params.push(("since", s.to_string()));
    }
    let list_url = run.client.url(&["repos", owner, name, "issues"], &params);
    let query = format!(
        "GET /repos/{owner}/{name}/issues?labels={}&state=all&sort=updated&direction=asc{} (all pages; pull requests left out)",
        label.label,
        since.map(|s| format!("&since={s}")).unwrap_or_default()
    );
    let scope = format!("{full} label {}", label.label);
    let mut tally = Tally::new();
    tally.watermark_before = state.watermark;
    let fresh = state.resume.is_none();
    let mut resume = state.resume.take().unwrap_or(Resume {
        next_url: list_url.clone(),
        high_water: state.watermark,
        at_high_water: state.at_watermark.clone(),
        handled: Vec::new(),
        pages_walked: 0,
        graphql_after: None,
    });
    let mut url = resume.next_url.clone();
    let mut first_etag = None;
    let mut pages = 0u64;
    let mut finished = false;
    let client = run.client;
    let ctx = run.ctx;
    loop {
        if ctx.shutdown.is_cancelled() || pages >= MAX_PAGES {
            tally.incomplete("the walk stopped early; it resumes at this page next run");
            break;
        }
        let etag = if fresh && pages == 0 {
            Etag::for_url(state.first_page.as_ref(), &url)
        } else {
            None
        };
        let page = match client.get_json(&url, etag, ctx).await {
            Ok(p) => p,
            Err(ConnectorError::Interrupted { .. }) => {
                tally.incomplete("the run was interrupted; the walk resumes at this page next run");
                break;
            }
            Err(e) => {
                run.gap(&format!("{scope} ({kind})"), &e).await?;
                tally.incomplete(format!(
                    "the listing failed ({e}); it resumes here next run"
                ));
                break;
            }
        };
        pages += 1;
        if page.not_modified() {
            tally.not_modified = true;
            finished = true;
            break;
        }
        if fresh && pages == 1 {
            first_etag = page.etag.clone();
        }
        resume.pages_walked += 1;
        let Some(elements) = raw_elements(&page.body) else {
            let e = ConnectorError::InvalidResponse {
                resource: format!("{full} issues"),
                detail: "not a JSON array".into(),
            };
            run.gap(&format!("{scope} ({kind})"), &e).await?;
            tally.incomplete("a listing page was not a JSON array");
            break;
        };
        let mut candidates = Vec::new();
        for raw in elements {
            let Ok(issue) = serde_json::from_str::<Value>(raw.get()) else {
                tally.skip("unreadable");
                continue;
            };
            if issue.get("pull_request").is_some() {
                tally.skip("pull_request");
                continue;
            }
            let (Some(number), Some(updated)) = (
                issue.get("number").and_then(Value::as_u64),
                super::time(&issue, "updated_at"),
            ) else {
                tally.skip("unreadable");
                continue;
            };
            if Some(updated) == state.watermark && state.at_watermark.contains(&number) {
                tally.unchanged += 1;
                continue;
            }
            if resume.handled.contains(&number) {
                tally.unchanged += 1;
                continue;
            }
            tally.seen += 1;
            candidates.push((number, updated, raw.get().as_bytes().to_vec(), issue));
        }
        let total = candidates.len();
        let mut handled = 0usize;
        let mut stream = futures::stream::iter(candidates)
            .map(|(n, updated, raw, issue)| async move {
                (n, updated, raw, issue, timeline(client, ctx, full, n).await)
            })
            .buffered(run.settings.concurrency);
        while let Some((n, updated, raw, issue, result)) = stream.next().await {
            let pages = match result {
                Ok(p) => p,
                Err(ConnectorError::Interrupted { .. }) => break,
                Err(e) => {
                    run.gap(&format!("{full}#{n}"), &e).await?;
                    tally.failed += 1;
                    handled += 1;
                    continue;
                }
            };
            let events: Vec<Value> = pages
                .iter()
                .flat_map(|p| p.json.as_array().cloned().unwrap_or_default())
                .collect();
            let timeline_raw =
                raw_array_concat(&pages.iter().map(|p| p.body.as_ref()).collect::<Vec<_>>());
            let body = raw_object(&[("issue", &raw), ("timeline", &timeline_raw)]);
            let d = draft(full, label, &issue, &events, run);
            if run.put(d, &mut body.as_slice()).await?.is_some() {
                tally.sealed += 1;
            } else {
                tally.failed += 1;
            }
            handled += 1;
            resume.handled.push(n);
            match resume.high_water {
                Some(h) if updated < h => {}
                Some(h) if updated == h => resume.at_high_water.push(n),
                _ => {
                    resume.high_water = Some(updated);
                    resume.at_high_water = vec![n];
                }
            }
        }
        drop(stream);
        if handled < total {
            tally.incomplete("the run was interrupted; the walk resumes at this page next run");
            break;
        }
        match &page.next {
            Some(next) => {
                url = next.clone();
                resume.next_url = url.clone();
            }
            None => {
                finished = true;
                break;
            }
        }
    }
    tally.pages_walked = resume.pages_walked.max(pages);
    if finished {
        if !tally.not_modified {
            if tally.failed == 0 {
                state.watermark = resume.high_water;
                state.at_watermark = resume.at_high_water;
                // The next run asks `since` the new watermark: a different URL, so no ETag
                // unless the watermark stayed put.
                state.first_page = if state.watermark == since {
                    first_etag.map(|etag| Etag {
                        url: list_url.clone(),
                        etag,
                    })
                } else {
                    None
                };
            } else {
                state.first_page = None;
            }
        }
        state.resume = None;
    } else {
        resume.next_url = url;
        state.resume = Some(resume);
    }
    tally.watermark_after = state.watermark;
    let record = tally.record(run.source.clone(), &scope, kind, &query);
    run.sink.population(record).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reporter_assignees_responders_and_closer_are_named_with_roles() {
        let issue = json!({
            "user": {"login": "ana", "id": 1},
            "closed_by": {"login": "ben", "id": 2},
            "assignees": [{"login": "cy", "id": 3}]
        });
        let timeline = vec![
            json!({"event": "commented", "actor": {"login": "di"}}),
            json!({"event": "labeled", "actor": {"login": "eve"}}),
            json!({"event": "closed", "actor": {"login": "ben"}}),
        ];
        let got: Vec<_> = issue_actors(&issue, &timeline)
            .into_iter()
            .map(|a| (a.role, a.name))
            .collect();
        let want: Vec<(String, String)> = [
            ("assignee", "cy"),
            ("reporter", "ana"),
            ("resolver", "ben"),
            ("responder", "di"),
        ]
        .iter()
        .map(|(r, n)| (r.to_string(), n.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
