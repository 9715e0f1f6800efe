//! The backfill of merged pull requests through GraphQL: one query per page of merged pull
//! requests (with reviews, merger and the head's status check rollup), follow-up queries for a
//! pull request with more reviews or check contexts than the page held, pages halved when
//! GitHub finds a query too heavy, partial answers kept with a gap for what is missing. The
//! watermark, resumption and items are those of the REST walk, so later runs continue through
//! REST with ETags.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use evidence_model::GapCategory;
use serde_json::Value;

use super::client::Client;
use super::config::Tags;
use super::cursor::{Etag, RepoRef, Resume, WalkState};
use super::graphql::{Posted, Query};
use super::population::Tally;
use super::pulls::{self, Degraded, Position, Secondary};
use super::pulls_query::{self, Entry, PagePull, PageSizes, ROLLUP};
use super::{Run, raw_list, raw_object};
use crate::connector::{CollectContext, ConnectorError};

/// Most pages one run walks for one repository; the walk resumes next run.
const MAX_PAGES: u64 = 10_000;
/// Most follow-up pages for one pull request's reviews or contexts.
const MAX_FOLLOW_UPS: usize = 100;

/// The rollup as a secondary lookup, for the degradation gap.
const ROLLUP_SECONDARY: Secondary = Secondary {
    endpoint: ROLLUP,
    permission: "Checks (read) and Commit statuses (read)",
};

/// How a walk left off.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// Walked to the watermark or the end.
    Done,
    /// Stopped at the page starting after the cursor (`None`: from the top).
    Incomplete,
    /// The first query found no GraphQL endpoint (`api = "auto"` only).
    NoGraphql,
}

/// Fetch the reviews and check contexts `pull` did not hold, adding them to its record.
/// Returns the follow-up answers' bodies (reviews, contexts).
async fn complete(
    client: &Client,
    ctx: &CollectContext<'_>,
    repo: &str,
    pull: &mut PagePull,
) -> Result<(Vec<Bytes>, Vec<Bytes>), ConnectorError> {
    let (owner, name) = super::split_full_name(repo);
    let number = pull.record.number;
    let what = format!("{repo}#{number}");
    let mut reviews = Vec::new();
    let mut contexts = Vec::new();
    let reviews_text = pulls_query::reviews_query();
    let contexts_text = pulls_query::contexts_query();
    for (more, text, is_reviews) in [
        (pull.more_reviews.take(), &reviews_text, true),
        (pull.more_contexts.take(), &contexts_text, false),
    ] {
        let mut after = more;
        while let Some(cursor) = after.take() {
            if reviews.len() + contexts.len() >= MAX_FOLLOW_UPS {
                return Err(ConnectorError::InvalidResponse {
                    resource: what,
                    detail: format!("more than {MAX_FOLLOW_UPS} follow-up pages"),
                });
            }
            let query = Query {
                text,
                variables: pulls_query::follow_up_variables(owner, name, number, &cursor),
            };
            let answer = match client.graphql(&query, &what, ctx).await? {
                Posted::Data(a) => a,
                Posted::TooHeavy(detail) => {
                    return Err(ConnectorError::Unreachable {
                        resource: what,
                        detail: format!(
                            "a follow-up of {} nodes was too heavy: {detail}",
                            pulls_query::FOLLOW_UP_PAGE
                        ),
                    });
                }
            };
            let connection = if is_reviews {
                pulls_query::follow_up_reviews(&answer.json)
            } else {
                pulls_query::follow_up_contexts(&answer.json)
            };
            let Some(connection) = connection.filter(|_| answer.errors.is_empty()) else {
                let detail = answer
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(ConnectorError::InvalidResponse {
                    resource: what,
                    detail: format!(
                        "the follow-up for further {} was not answered: {detail}",
                        if is_reviews {
                            "reviews"
                        } else {
                            "check contexts"
                        }
                    ),
                });
            };
            if is_reviews {
                pulls_query::add_reviews(&mut pull.record, &connection.nodes);
            } else {
                pulls_query::add_contexts(&mut pull.record, &connection.nodes);
            }
            after = connection.next;
            if is_reviews {
                reviews.push(answer.body.clone());
            } else {
                contexts.push(answer.body.clone());
            }
        }
    }
    Ok((reviews, contexts))
}

/// The artefact of a pull request read through GraphQL: its node as GitHub sent it, and the
/// follow-up answers when there were any.
fn artefact(pull: &PagePull, reviews: &[Bytes], contexts: &[Bytes]) -> Vec<u8> {
    let reviews_raw = raw_list(&reviews.iter().map(Bytes::as_ref).collect::<Vec<_>>());
    let contexts_raw = raw_list(&contexts.iter().map(Bytes::as_ref).collect::<Vec<_>>());
    let mut parts: Vec<(&str, &[u8])> = vec![("pull_request", &pull.raw)];
    if !reviews.is_empty() {
        parts.push(("more_reviews", &reviews_raw));
    }
    if !contexts.is_empty() {
        parts.push(("more_check_contexts", &contexts_raw));
    }
    raw_object(&parts)
}

/// Collect the merged pull requests of `repo` through GraphQL down to the watermark.
pub(crate) async fn collect(
    run: &mut Run<'_>,
    repo: &RepoRef,
    state: &mut WalkState,
    tags: &Tags,
) -> Result<Walked, ConnectorError> {
    let full = repo.full_name.as_str();
    let list_url = pulls::list_url(run, full);
    let mut query = format!(
        "POST /graphql MergedPullRequests(owner, name): repository.pullRequests(states: [MERGED], orderBy: UPDATED_AT DESC, first: {}) with reviews, mergedBy and the head's statusCheckRollup, until updatedAt reaches the watermark",
        run.settings.per_page
    );
    if let Some(since) = run.settings.since {
        query.push_str(&format!(" or {since}"));
    }
    let mut tally = Tally::new();
    tally.watermark_before = state.watermark;
    tally
        .attributes
        .insert("api".into(), Value::from("graphql"));
    let cost_before = run.client.stats.graphql_cost.load(Ordering::Relaxed);
    let queries_before = run.client.stats.graphql_queries.load(Ordering::Relaxed);
    let mut degraded: BTreeMap<Secondary, Degraded> = BTreeMap::new();

    pulls::retry_last_failures(run, full, state, tags, &mut tally, &mut degraded).await?;

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
        tally.notes.push(format!(
            "resumed an interrupted walk after {} page(s)",
            resume.pages_walked
        ));
    }
    let mut walk = Walk {
        run,
        full,
        tags,
        tally: &mut tally,
        degraded: &mut degraded,
        resume: &mut resume,
        state,
        splits: 0,
        restart_from_top: false,
    };
    let stop = walk.pages().await?;
    if stop == Stop::NoGraphql {
        state.resume = (!fresh).then_some(resume);
        return Ok(Walked::NoGraphql);
    }
    let splits = walk.splits;
    let restart_from_top = walk.restart_from_top;
    match stop {
        Stop::Done if !restart_from_top => {
            if resume.high_water.is_some() {
                state.watermark = resume.high_water;
                state.at_watermark = std::mem::take(&mut resume.at_high_water);
            }
            resume.handled.clear();
            state.resume = None;
            tally.watermark_after = state.watermark;
            if run.settings.api == super::config::ApiMode::Auto {
                prime_first_page(run, state, &list_url, &mut tally).await?;
            }
        }
        Stop::Done | Stop::Incomplete | Stop::NoGraphql => {
            if restart_from_top {
                resume.graphql_after = None;
                tally.incomplete(
                    "GitHub left pull requests out whose numbers it did not give; the walk starts again from the top next run, skipping those handed over",
                );
            }
            tally.watermark_after = state.watermark;
            state.resume = Some(resume.clone());
        }
    }
    tally.pages_walked = resume.pages_walked;
    let cost = run.client.stats.graphql_cost.load(Ordering::Relaxed) - cost_before;
    let queries = run.client.stats.graphql_queries.load(Ordering::Relaxed) - queries_before;
    tally.attributes.insert("graphql_cost".into(), cost.into());
    tally
        .attributes
        .insert("graphql_queries".into(), queries.into());
    if splits > 0 {
        tally.attributes.insert("page_splits".into(), splits.into());
        tally.notes.push(format!(
            "GitHub found a query too heavy {splits} time(s); the page was halved and asked again"
        ));
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
    pulls::degraded_gaps(run, full, degraded).await?;
    let record = tally.record(run.source.clone(), full, &tags.kind, &query);
    run.sink.population(record).await?;
    Ok(Walked::Done)
}

/// How a GraphQL walk of one repository ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Walked {
    /// Walked (completely or not; the tally and gaps say which).
    Done,
    /// The server has no GraphQL endpoint and nothing was read: walk REST instead.
    NoGraphql,
}

/// After a complete backfill, read the REST listing's first page once so the next (REST) run
/// can ask it conditionally. Its ETag is kept only when nothing on it is newer than the new
/// watermark: a 304 then means nothing changed since everything was handed over.
async fn prime_first_page(
    run: &mut Run<'_>,
    state: &mut WalkState,
    list_url: &str,
    tally: &mut Tally,
) -> Result<(), ConnectorError> {
    let page = match run.client.get_json(list_url, None, run.ctx).await {
        Ok(p) => p,
        Err(ConnectorError::Interrupted { .. }) => return Ok(()),
        Err(e) => {
            tally.notes.push(format!(
                "the REST listing's first page could not be read for its ETag ({e}); the next run reads it in full"
            ));
            return Ok(());
        }
    };
    let covered = page.json.as_array().is_some_and(|items| {
        items.iter().all(|item| {
            match (
                item.get("number").and_then(Value::as_u64),
                super::time(item, "updated_at"),
            ) {
                (Some(number), Some(updated)) => {
                    pulls::position(number, updated, state.watermark, &state.at_watermark, None)
                        == Position::Reached
                        || super::time(item, "merged_at").is_none()
                }
                _ => false,
            }
        })
    });
    state.first_page = match (covered, page.etag) {
        (true, Some(etag)) => Some(Etag {
            url: list_url.to_owned(),
            etag,
        }),
        _ => None,
    };
    Ok(())
}

/// One repository's walk in progress.
struct Walk<'r, 'a, 's> {
    run: &'r mut Run<'a>,
    full: &'s str,
    tags: &'s Tags,
    tally: &'s mut Tally,
    degraded: &'s mut BTreeMap<Secondary, Degraded>,
    resume: &'s mut Resume,
    state: &'s mut WalkState,
    splits: u64,
    /// A pull request was left out without its number: the watermark must not move.
    restart_from_top: bool,
}

impl Walk<'_, '_, '_> {
    async fn gap_text(
        &mut self,
        scope: &str,
        category: GapCategory,
        message: String,
    ) -> Result<(), ConnectorError> {
        self.run.gap_message(scope, category, message).await
    }

    fn kind_scope(&self) -> String {
        format!("{} ({})", self.full, self.tags.kind)
    }

    /// Walk the pages from the resumption point.
    async fn pages(&mut self) -> Result<Stop, ConnectorError> {
        let (owner, name) = super::split_full_name(self.full);
        let text = pulls_query::page_query();
        let mut sizes = PageSizes::new(self.run.settings.per_page);
        let mut after = self.resume.graphql_after.clone();
        let mut pages_this_run = 0u64;
        let what = format!("{} merged pull requests", self.full);
        loop {
            if self.run.ctx.shutdown.is_cancelled() {
                self.tally.incomplete(
                    "the run was interrupted; the walk resumes at the next page next run",
                );
                return Ok(Stop::Incomplete);
            }
            if pages_this_run >= MAX_PAGES {
                self.tally.incomplete(format!(
                    "stopped after {MAX_PAGES} pages; the walk resumes next run"
                ));
                return Ok(Stop::Incomplete);
            }
            let query = Query {
                text: &text,
                variables: pulls_query::page_variables(owner, name, sizes, after.as_deref()),
            };
            let answer = match self.run.client.graphql(&query, &what, self.run.ctx).await {
                Ok(Posted::Data(a)) => a,
                Ok(Posted::TooHeavy(detail)) => {
                    if sizes.split() {
                        self.splits += 1;
                        continue;
                    }
                    let scope = self.kind_scope();
                    self.gap_text(
                        &scope,
                        GapCategory::Unreachable,
                        format!("GitHub found even a page of one pull request too heavy ({detail}); the walk resumes at this page next run"),
                    )
                    .await?;
                    self.tally
                        .incomplete("a page stayed too heavy for GitHub at its smallest size");
                    return Ok(Stop::Incomplete);
                }
                Err(ConnectorError::Interrupted { .. }) => {
                    self.tally.incomplete(
                        "the run was interrupted; the walk resumes at this page next run",
                    );
                    return Ok(Stop::Incomplete);
                }
                Err(_)
                    if self.run.settings.api == super::config::ApiMode::Auto
                        && self.resume.pages_walked == 0
                        && after.is_none()
                        && self.run.client.stats.graphql_absent.load(Ordering::Relaxed) =>
                {
                    // Nothing read yet and no GraphQL here at all: the REST walk takes over.
                    return Ok(Stop::NoGraphql);
                }
                Err(e) => {
                    let scope = self.kind_scope();
                    self.run.gap(&scope, &e).await?;
                    self.tally.incomplete(format!(
                        "the query failed ({e}); the walk resumes at this page next run"
                    ));
                    return Ok(Stop::Incomplete);
                }
            };
            pages_this_run += 1;
            self.resume.pages_walked += 1;
            let page = pulls_query::read_page(&answer.json, &answer.body, &answer.errors);
            if let Some(why) = page.repository_missing {
                let scope = self.kind_scope();
                self.gap_text(
                    &scope,
                    GapCategory::NotFound,
                    format!("GitHub's GraphQL API did not give the repository: {why}"),
                )
                .await?;
                self.tally.incomplete("the repository could not be read");
                return Ok(Stop::Incomplete);
            }
            for e in &page.other_errors {
                let scope = self.kind_scope();
                self.gap_text(
                    &scope,
                    GapCategory::InvalidResponse,
                    format!("GitHub's GraphQL answer carried an error next to its data ({e}); the data was kept"),
                )
                .await?;
            }
            let (reached, candidates) = self.triage(page.entries).await?;
            if !self.seal(candidates).await? {
                self.tally
                    .incomplete("the run was interrupted; the walk resumes at this page next run");
                return Ok(Stop::Incomplete);
            }
            match (page.end_cursor, page.has_next && !reached) {
                (Some(next), true) => {
                    after = Some(next);
                    self.resume.graphql_after = after.clone();
                }
                _ => return Ok(Stop::Done),
            }
        }
    }

    /// Sort a page's entries: left-out pull requests become gaps; the walk ends at the
    /// watermark; pull requests already handed over are skipped. Returns whether the
    /// watermark was reached and the pull requests to seal.
    async fn triage(
        &mut self,
        entries: Vec<Entry>,
    ) -> Result<(bool, Vec<PagePull>), ConnectorError> {
        let mut candidates = Vec::new();
        for entry in entries {
            let pull = match entry {
                Entry::Failed {
                    number,
                    position,
                    detail,
                } => {
                    self.tally.failed += 1;
                    let scope = match number {
                        Some(n) => {
                            if !self.state.retry.contains(&n) {
                                self.state.retry.push(n);
                            }
                            format!("{}#{n}", self.full)
                        }
                        None => {
                            self.restart_from_top = true;
                            self.kind_scope()
                        }
                    };
                    let which = match number {
                        Some(n) => format!("pull request #{n}"),
                        None => format!("the pull request at position {position} of a page"),
                    };
                    self.gap_text(
                        &scope,
                        GapCategory::InvalidResponse,
                        format!("GitHub's GraphQL answer left {which} of {} out ({detail}); it is fetched again next run", self.full),
                    )
                    .await?;
                    continue;
                }
                Entry::Pull(pull) => *pull,
            };
            let number = pull.record.number;
            let Some(updated) = pull.updated_at else {
                self.tally.skip("unreadable");
                continue;
            };
            if pulls::position(
                number,
                updated,
                self.state.watermark,
                &self.state.at_watermark,
                self.run.settings.since,
            ) == Position::Reached
            {
                return Ok((true, candidates));
            }
            match self.resume.high_water {
                Some(h) if updated < h => {}
                Some(h) if updated == h => self.resume.at_high_water.push(number),
                _ => {
                    self.resume.high_water = Some(updated);
                    self.resume.at_high_water = vec![number];
                }
            }
            if self.resume.handled.contains(&number) {
                self.tally.unchanged += 1;
                continue;
            }
            let merged = pull
                .record
                .merged_at
                .as_deref()
                .and_then(|t| t.parse::<evidence_model::Timestamp>().ok());
            match merged {
                None => self.tally.skip("closed_unmerged"),
                Some(m) if self.run.settings.since.is_some_and(|s| m < s) => {
                    self.tally.skip("merged_before_since")
                }
                Some(_) => {
                    self.tally.seen += 1;
                    candidates.push(pull);
                }
            }
        }
        Ok((false, candidates))
    }

    /// Complete and seal `candidates` in order. False when the run was interrupted.
    async fn seal(&mut self, candidates: Vec<PagePull>) -> Result<bool, ConnectorError> {
        for mut pull in candidates {
            let number = pull.record.number;
            let reference = format!("{}#{number}", self.full);
            let (reviews, contexts) =
                match complete(self.run.client, self.run.ctx, self.full, &mut pull).await {
                    Ok(pages) => pages,
                    Err(ConnectorError::Interrupted { .. }) => return Ok(false),
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => {
                        self.run.gap(&reference, &e).await?;
                        self.tally.failed += 1;
                        if !self.state.retry.contains(&number) {
                            self.state.retry.push(number);
                        }
                        self.resume.handled.push(number);
                        continue;
                    }
                };
            if let Some(why) = pull.record.unavailable.get(ROLLUP) {
                let entry = self
                    .degraded
                    .entry(ROLLUP_SECONDARY)
                    .or_insert_with(|| Degraded {
                        items: Vec::new(),
                        first: ConnectorError::InvalidResponse {
                            resource: format!("{} statusCheckRollup", self.full),
                            detail: why.clone(),
                        },
                    });
                entry.items.push(reference.clone());
            }
            let follow_ups = reviews.len() + contexts.len();
            let body = artefact(&pull, &reviews, &contexts);
            let (owner, name) = super::split_full_name(self.full);
            let query = if follow_ups == 0 {
                format!(
                    "POST /graphql MergedPullRequests(owner: {owner}, name: {name}) node #{number}"
                )
            } else {
                format!(
                    "POST /graphql MergedPullRequests(owner: {owner}, name: {name}) node #{number}; {follow_ups} follow-up quer{} (PullRequestReviews, PullRequestCheckContexts)",
                    if follow_ups == 1 { "y" } else { "ies" }
                )
            };
            let sealed = pulls::seal(
                self.run,
                self.full,
                &pull.record,
                &body,
                query,
                self.tags,
                self.tally,
            )
            .await?;
            if !sealed && !self.state.retry.contains(&number) {
                self.state.retry.push(number);
            }
            self.resume.handled.push(number);
        }
        Ok(true)
    }
}
