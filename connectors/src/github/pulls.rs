//! Merged pull requests with their reviews and checks (`pr_approval`). GitHub has no `since`
//! for pull requests, so the list is read `state=closed&sort=updated&direction=desc` down to the
//! watermark; each merged one is fetched whole with its reviews, check runs and commit status,
//! and sealed as one item holding the answers as fetched plus the derived approval facts.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use evidence_model::Timestamp;
use futures::StreamExt;
use serde_json::Value;

use super::client::{Client, Page};
use super::config::Tags;
use super::cursor::{Etag, RepoRef, Resume, WalkState};
use super::population::Tally;
use super::pull_record::{self, PullRecord};
use super::{MAX_DETAIL_PAGES, Run, raw_array_concat, raw_list, raw_object};
use crate::connector::{CollectContext, ConnectorError};

/// Most list pages one run walks for one repository; the walk resumes next run.
const MAX_LIST_PAGES: u64 = 10_000;

/// A merged pull request as fetched. The pull request and its reviews are the primary
/// artefact; the check runs and the combined status are secondary lookups: when one fails, the
/// item is still sealed, with its required checks `unavailable`.
struct Fetched {
    number: u64,
    pull: Page,
    reviews: Vec<Page>,
    check_runs: Result<Vec<Page>, ConnectorError>,
    status: Result<Page, ConnectorError>,
}

/// The secondary endpoints of a pull request item, with the fine-grained permission each needs.
pub(crate) const CHECK_RUNS: Secondary = Secondary {
    endpoint: "check-runs",
    permission: "Checks (read)",
};
pub(crate) const STATUS: Secondary = Secondary {
    endpoint: "status",
    permission: "Commit statuses (read)",
};

/// A secondary endpoint: what it is called and which token permission reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Secondary {
    pub endpoint: &'static str,
    pub permission: &'static str,
}

/// Failures of one secondary endpoint in one repository: recorded as one gap, not one per item.
#[derive(Debug)]
pub(crate) struct Degraded {
    pub items: Vec<String>,
    pub first: ConnectorError,
}

/// True for an error that must end the walk rather than degrade one item.
fn stops(e: &ConnectorError) -> bool {
    e.is_fatal() || matches!(e, ConnectorError::Interrupted { .. })
}

/// A failed secondary lookup, for the item's attributes: `unavailable: <why>`.
fn unavailable_reason(secondary: Secondary, e: &ConnectorError) -> String {
    let why = match e {
        ConnectorError::NotFound { .. } => format!(
            "GitHub answered 404 (a token without the {} permission, a server without the endpoint, or a commit that is gone)",
            secondary.permission
        ),
        ConnectorError::Denied { detail, .. } => {
            format!(
                "access denied ({detail}); the token needs the {} permission",
                secondary.permission
            )
        }
        other => other.to_string(),
    };
    format!("unavailable: /{} {why}", secondary.endpoint)
}

/// Record one gap per secondary endpoint that failed in `repo`, naming the permission and the
/// items it degraded.
pub(crate) async fn degraded_gaps(
    run: &mut Run<'_>,
    repo: &str,
    degraded: BTreeMap<Secondary, Degraded>,
) -> Result<(), ConnectorError> {
    for (secondary, d) in degraded {
        let shown: Vec<&str> = d.items.iter().take(20).map(String::as_str).collect();
        let more = d.items.len().saturating_sub(shown.len());
        let detail = format!(
            "{}; {} item(s) were sealed without it ({}{}); a token needs the {} permission to read it",
            unavailable_reason(secondary, &d.first),
            d.items.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            secondary.permission,
        );
        run.gap_message(
            &format!("{repo} ({})", secondary.endpoint),
            d.first.gap_category(),
            detail,
        )
        .await?;
    }
    Ok(())
}

/// Where the list walk stands relative to the watermark, for one listed pull request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// Updated after the watermark: a candidate.
    New,
    /// At or below the watermark (or before `since`): the walk is done.
    Reached,
}

/// Place a listed pull request updated at `updated` against the `watermark` (with the numbers
/// already handed over at exactly that time) and the configured `since`.
pub(crate) fn position(
    number: u64,
    updated: Timestamp,
    watermark: Option<Timestamp>,
    at_watermark: &[u64],
    since: Option<Timestamp>,
) -> Position {
    if since.is_some_and(|s| updated < s) {
        return Position::Reached;
    }
    match watermark {
        Some(w) if updated < w || (updated == w && at_watermark.contains(&number)) => {
            Position::Reached
        }
        _ => Position::New,
    }
}

async fn fetch(
    client: &Client,
    ctx: &CollectContext<'_>,
    repo: &str,
    number: u64,
) -> Result<Fetched, ConnectorError> {
    let (owner, name) = super::split_full_name(repo);
    let n = number.to_string();
    let pull = client
        .get_json(
            &client.url(&["repos", owner, name, "pulls", &n], &[]),
            None,
            ctx,
        )
        .await?;
    let head = pull
        .json
        .get("head")
        .and_then(|h| super::text(h, "sha"))
        .ok_or_else(|| ConnectorError::InvalidResponse {
            resource: format!("{repo}#{number}"),
            detail: "the pull request has no head sha".into(),
        })?
        .to_owned();
    let per_page = [("per_page", "100".to_owned())];
    let reviews = client
        .get_all_pages(
            &client.url(&["repos", owner, name, "pulls", &n, "reviews"], &per_page),
            ctx,
            MAX_DETAIL_PAGES,
        )
        .await?;
    // The reviews are the approvals: an answer that is not a list must not read as "no
    // approval" — the pull request becomes a gap naming it, fetched again next run.
    if let Some(page) = reviews.iter().find(|p| !p.json.is_array()) {
        return Err(ConnectorError::InvalidResponse {
            resource: format!("{repo}#{number} reviews"),
            detail: format!(
                "the reviews answer is not a list (a JSON {})",
                json_kind(&page.json)
            ),
        });
    }
    let check_runs = client
        .get_all_pages(
            &client.url(
                &["repos", owner, name, "commits", &head, "check-runs"],
                &per_page,
            ),
            ctx,
            MAX_DETAIL_PAGES,
        )
        .await;
    if let Err(e) = &check_runs
        && stops(e)
    {
        return Err(interrupted_or(check_runs.err()));
    }
    let status = client
        .get_json(
            &client.url(&["repos", owner, name, "commits", &head, "status"], &[]),
            None,
            ctx,
        )
        .await;
    if let Err(e) = &status
        && stops(e)
    {
        return Err(interrupted_or(status.err()));
    }
    Ok(Fetched {
        number,
        pull,
        reviews,
        check_runs,
        status,
    })
}

/// The JSON type of `v`, for messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A copy of `e` for the degradation record (errors are not `Clone`: IO sources are not).
pub(crate) fn clone_error(e: &ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::NotFound { resource } => ConnectorError::NotFound {
            resource: resource.clone(),
        },
        ConnectorError::Denied { resource, detail } => ConnectorError::Denied {
            resource: resource.clone(),
            detail: detail.clone(),
        },
        ConnectorError::Unreachable { resource, detail } => ConnectorError::Unreachable {
            resource: resource.clone(),
            detail: detail.clone(),
        },
        ConnectorError::RateLimited { resource, attempts } => ConnectorError::RateLimited {
            resource: resource.clone(),
            attempts: *attempts,
        },
        ConnectorError::Timeout { resource, timeout } => ConnectorError::Timeout {
            resource: resource.clone(),
            timeout: *timeout,
        },
        ConnectorError::InvalidResponse { resource, detail } => ConnectorError::InvalidResponse {
            resource: resource.clone(),
            detail: detail.clone(),
        },
        other => ConnectorError::InvalidResponse {
            resource: "GitHub".into(),
            detail: other.to_string(),
        },
    }
}

/// The error of a failed lookup that stops the walk.
fn interrupted_or(e: Option<ConnectorError>) -> ConnectorError {
    e.unwrap_or_else(|| ConnectorError::Interrupted {
        resource: "GitHub".into(),
    })
}

/// The record and artefact of a fetched pull request: the answers as fetched, joined.
fn record_and_body(f: &Fetched) -> (PullRecord, Vec<u8>) {
    let unavailable: BTreeMap<&'static str, String> = [
        (CHECK_RUNS, f.check_runs.as_ref().err()),
        (STATUS, f.status.as_ref().err()),
    ]
    .into_iter()
    .filter_map(|(secondary, e)| Some((secondary.endpoint, unavailable_reason(secondary, e?))))
    .collect();
    let review_pages: Vec<&Value> = f.reviews.iter().map(|p| &p.json).collect();
    let check_pages: Vec<&Value> = f.check_runs.iter().flatten().map(|p| &p.json).collect();
    let record = PullRecord::from_rest(
        f.number,
        &f.pull.json,
        &review_pages,
        &check_pages,
        f.status.as_ref().ok().map(|p| &p.json),
        unavailable.clone(),
    );
    let reviews_raw = raw_array_concat(
        &f.reviews
            .iter()
            .map(|p| p.body.as_ref())
            .collect::<Vec<_>>(),
    );
    let checks_raw = match &f.check_runs {
        Ok(pages) => raw_list(&pages.iter().map(|p| p.body.as_ref()).collect::<Vec<_>>()),
        Err(_) => b"null".to_vec(),
    };
    let status_raw: &[u8] = match &f.status {
        Ok(page) => &page.body,
        Err(_) => b"null",
    };
    let unavailable_raw = serde_json::to_vec(&unavailable).unwrap_or_else(|_| b"{}".to_vec());
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("pull", &f.pull.body),
        ("reviews", &reviews_raw),
        ("check_runs", &checks_raw),
        ("combined_status", status_raw),
    ];
    if !unavailable.is_empty() {
        parts.push(("unavailable", &unavailable_raw));
    }
    (record, raw_object(&parts))
}

/// How the REST path reads one pull request, for provenance.
fn rest_query(repo: &str, record: &PullRecord) -> String {
    let (owner, name) = super::split_full_name(repo);
    format!(
        "GET /repos/{owner}/{name}/pulls/{n}; /pulls/{n}/reviews; /commits/{head}/check-runs; /commits/{head}/status",
        n = record.number,
        head = record.head_sha
    )
}

/// Hand one pull request's item to the sink. True when it was sealed; a failure of this one
/// item is a gap and counted.
pub(crate) async fn seal(
    run: &mut Run<'_>,
    repo: &str,
    record: &PullRecord,
    body: &[u8],
    query: String,
    tags: &Tags,
    tally: &mut Tally,
) -> Result<bool, ConnectorError> {
    let required = super::protection::summary_for(run, repo, &record.base).await;
    let draft = pull_record::draft(repo, record, tags, required.as_ref(), run.endpoint(), query);
    let mut body = body;
    if run.put(draft, &mut body).await?.is_some() {
        tally.sealed += 1;
        Ok(true)
    } else {
        tally.failed += 1;
        Ok(false)
    }
}

/// Fetch and seal `numbers` (merged pull requests of `repo`) in order, `concurrency` at a time.
/// Returns the numbers handed over and those that failed.
pub(crate) async fn seal_all(
    run: &mut Run<'_>,
    repo: &str,
    numbers: Vec<u64>,
    tags: &Tags,
    tally: &mut Tally,
    degraded: &mut BTreeMap<Secondary, Degraded>,
) -> Result<(Vec<u64>, Vec<u64>), ConnectorError> {
    let client = run.client;
    let ctx = run.ctx;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut stream = futures::stream::iter(numbers)
        .map(|n| async move { (n, fetch(client, ctx, repo, n).await) })
        .buffered(run.settings.concurrency);
    while let Some((n, result)) = stream.next().await {
        match result {
            Ok(f) => {
                for (secondary, result) in [
                    (CHECK_RUNS, f.check_runs.as_ref().err()),
                    (STATUS, f.status.as_ref().err()),
                ] {
                    if let Some(e) = result {
                        let entry = degraded.entry(secondary).or_insert_with(|| Degraded {
                            items: Vec::new(),
                            first: clone_error(e),
                        });
                        entry.items.push(format!("{repo}#{n}"));
                    }
                }
                let (record, body) = record_and_body(&f);
                let query = rest_query(repo, &record);
                if seal(run, repo, &record, &body, query, tags, tally).await? {
                    done.push(n);
                } else {
                    failed.push(n);
                }
            }
            Err(ConnectorError::Interrupted { .. }) => break,
            Err(e) => {
                run.gap(&format!("{repo}#{n}"), &e).await?;
                tally.failed += 1;
                failed.push(n);
            }
        }
    }
    Ok((done, failed))
}

/// The first page of the REST listing of `repo`'s closed pull requests, newest update first.
pub(crate) fn list_url(run: &Run<'_>, repo: &str) -> String {
    let (owner, name) = super::split_full_name(repo);
    run.client.url(
        &["repos", owner, name, "pulls"],
        &[
            ("state", "closed".into()),
            ("sort", "updated".into()),
            ("direction", "desc".into()),
            ("per_page", run.settings.per_page.to_string()),
        ],
    )
}

/// Fetch again, through REST, the pull requests that failed last run.
pub(crate) async fn retry_last_failures(
    run: &mut Run<'_>,
    repo: &str,
    state: &mut WalkState,
    tags: &Tags,
    tally: &mut Tally,
    degraded: &mut BTreeMap<Secondary, Degraded>,
) -> Result<(), ConnectorError> {
    let retry = std::mem::take(&mut state.retry);
    if !retry.is_empty() {
        tally
            .attributes
            .insert("retried_from_last_run".into(), Value::from(retry.len()));
        let (done, failed) = seal_all(run, repo, retry, tags, tally, degraded).await?;
        tally.seen += done.len() as u64;
        state.retry = failed;
    }
    Ok(())
}

/// Collect the merged pull requests of `repo` updated since the watermark: through GraphQL
/// when the configured `api` says so for a repository in its state (a backfill), else through
/// REST with the first page asked conditionally.
pub(crate) async fn collect(
    run: &mut Run<'_>,
    repo: &RepoRef,
    state: &mut WalkState,
    tags: &Tags,
) -> Result<(), ConnectorError> {
    let full = repo.full_name.as_str();
    let has_watermark = state.watermark.is_some();
    let graphql_absent = run.client.stats.graphql_absent.load(Ordering::Relaxed);
    if run.settings.api.uses_graphql(has_watermark) && !graphql_absent {
        match super::pulls_graphql::collect(run, repo, state, tags).await? {
            super::pulls_graphql::Walked::Done => return Ok(()),
            super::pulls_graphql::Walked::NoGraphql => {
                tracing::info!(
                    repo = full,
                    "the server has no GraphQL API; pull requests are walked through REST"
                );
            }
        }
    }
    let (owner, name) = super::split_full_name(full);
    let list_url = list_url(run, full);
    let mut query = format!(
        "GET /repos/{owner}/{name}/pulls?state=closed&sort=updated&direction=desc&per_page={} until updated_at reaches the watermark",
        run.settings.per_page
    );
    if let Some(since) = run.settings.since {
        query.push_str(&format!(" or {since}"));
    }
    let mut tally = Tally::new();
    tally.watermark_before = state.watermark;
    let mut degraded: BTreeMap<Secondary, Degraded> = BTreeMap::new();

    tally.attributes.insert("api".into(), Value::from("rest"));
    // Pull requests that failed last run are fetched again first.
    retry_last_failures(run, full, state, tags, &mut tally, &mut degraded).await?;

    let fresh = state.resume.is_none();
    let mut resume = state.resume.take().unwrap_or(Resume {
        next_url: list_url.clone(),
        high_water: None,
        at_high_water: Vec::new(),
        handled: Vec::new(),
        pages_walked: 0,
        graphql_after: None,
    });
    if !fresh {
        tally
            .attributes
            .insert("resumed_at".into(), Value::from(resume.next_url.as_str()));
        tally.notes.push(format!(
            "resumed an interrupted walk after {} page(s)",
            resume.pages_walked
        ));
    }
    let mut first_etag = None;
    let mut url = resume.next_url.clone();
    let mut pages_this_run = 0u64;
    loop {
        if run.ctx.shutdown.is_cancelled() {
            tally.incomplete("the run was interrupted; the walk resumes at the next page next run");
            break;
        }
        if pages_this_run >= MAX_LIST_PAGES {
            tally.incomplete(format!(
                "stopped after {MAX_LIST_PAGES} pages; the walk resumes next run"
            ));
            break;
        }
        let etag = if fresh && pages_this_run == 0 {
            Etag::for_url(state.first_page.as_ref(), &url)
        } else {
            None
        };
        let page = match run.client.get_json(&url, etag, run.ctx).await {
            Ok(p) => p,
            Err(ConnectorError::Interrupted { .. }) => {
                tally.incomplete("the run was interrupted; the walk resumes at this page next run");
                break;
            }
            Err(e) => {
                run.gap(&format!("{full} ({})", tags.kind), &e).await?;
                tally.incomplete(format!(
                    "the listing failed ({e}); the walk resumes at this page next run"
                ));
                break;
            }
        };
        pages_this_run += 1;
        if page.not_modified() {
            tally.not_modified = true;
            state.resume = None;
            tally.watermark_after = state.watermark;
            break;
        }
        if fresh && pages_this_run == 1 {
            first_etag = page.etag.clone();
        }
        resume.pages_walked += 1;
        let Some(items) = page.json.as_array() else {
            let e = ConnectorError::InvalidResponse {
                resource: format!("{full} pull request listing"),
                detail: "not a JSON array".into(),
            };
            run.gap(&format!("{full} ({})", tags.kind), &e).await?;
            tally.incomplete("a listing page was not a JSON array");
            break;
        };
        let mut reached = false;
        let mut candidates = Vec::new();
        for item in items {
            let (Some(number), Some(updated)) = (
                item.get("number").and_then(Value::as_u64),
                super::time(item, "updated_at"),
            ) else {
                tally.skip("unreadable");
                continue;
            };
            if position(
                number,
                updated,
                state.watermark,
                &state.at_watermark,
                run.settings.since,
            ) == Position::Reached
            {
                reached = true;
                break;
            }
            match resume.high_water {
                Some(h) if updated < h => {}
                Some(h) if updated == h => resume.at_high_water.push(number),
                _ => {
                    resume.high_water = Some(updated);
                    resume.at_high_water = vec![number];
                }
            }
            if resume.handled.contains(&number) {
                tally.unchanged += 1;
                continue;
            }
            let merged = super::time(item, "merged_at");
            match merged {
                None => tally.skip("closed_unmerged"),
                Some(m) if run.settings.since.is_some_and(|s| m < s) => {
                    tally.skip("merged_before_since")
                }
                Some(_) => {
                    tally.seen += 1;
                    candidates.push(number);
                }
            }
        }
        let total = candidates.len();
        let (done, failed) =
            seal_all(run, full, candidates, tags, &mut tally, &mut degraded).await?;
        for n in &failed {
            if !state.retry.contains(n) {
                state.retry.push(*n);
            }
        }
        resume.handled.extend(done.iter().chain(failed.iter()));
        if done.len() + failed.len() < total {
            tally.incomplete("the run was interrupted; the walk resumes at this page next run");
            break;
        }
        match (&page.next, reached) {
            (Some(next), false) => {
                url = next.clone();
                resume.next_url = url.clone();
            }
            _ => {
                // The walk reached the watermark: everything above it was handed over.
                if resume.high_water.is_some() {
                    state.watermark = resume.high_water;
                    state.at_watermark = std::mem::take(&mut resume.at_high_water);
                }
                state.first_page = first_etag.take().map(|etag| Etag {
                    url: list_url.clone(),
                    etag,
                });
                tally.watermark_after = state.watermark;
                resume.handled.clear();
                break;
            }
        }
    }
    tally.pages_walked = resume.pages_walked.max(pages_this_run);
    if !tally.complete && !tally.not_modified {
        resume.next_url = url;
        state.resume = Some(resume);
        tally.watermark_after = state.watermark;
    }
    for (secondary, d) in &degraded {
        tally.notes.push(format!(
            "{} pull request(s) were sealed without /{} ({}): their required checks are unavailable",
            d.items.len(),
            secondary.endpoint,
            secondary.permission
        ));
        tally.attributes.insert(
            format!("degraded_{}", secondary.endpoint),
            d.items.len().into(),
        );
    }
    degraded_gaps(run, full, degraded).await?;
    let record = tally.record(run.source.clone(), full, &tags.kind, &query);
    run.sink.population(record).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_pull_request_updated_after_the_watermark_is_new() {
        let w = Some(t("2026-03-01T00:00:00Z"));
        assert_eq!(
            position(7, t("2026-03-02T00:00:00Z"), w, &[], None),
            Position::New
        );
        assert_eq!(
            position(7, t("2026-02-28T00:00:00Z"), w, &[], None),
            Position::Reached
        );
    }

    #[test]
    fn at_the_watermark_only_numbers_already_handed_over_stop_the_walk() {
        let w = t("2026-03-01T00:00:00Z");
        assert_eq!(position(7, w, Some(w), &[7], None), Position::Reached);
        assert_eq!(position(8, w, Some(w), &[7], None), Position::New);
    }

    #[test]
    fn the_configured_since_ends_the_first_walk() {
        let since = Some(t("2026-01-01T00:00:00Z"));
        assert_eq!(
            position(7, t("2025-12-31T00:00:00Z"), None, &[], since),
            Position::Reached
        );
        assert_eq!(
            position(7, t("2026-01-02T00:00:00Z"), None, &[], since),
            Position::New
        );
    }
}
