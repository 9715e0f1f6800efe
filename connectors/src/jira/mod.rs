//! The Jira Cloud connector: runs each configured JQL through the enhanced search
//! (`/rest/api/3/search/jql`, `nextPageToken` paging, explicit fields), incrementally from a
//! watermark less an overlap window written in the account's time zone, fetches each ticket's
//! full changelog (and remote links), and seals one item per ticket version: the raw JSON as
//! fetched plus who reported, was assigned and resolved it, and when it changed status.

mod client;
pub mod config;
mod cursor;
mod jql;
mod ticket;

use crate::config_error::ConfigError;
use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use evidence_model::{GapCategory, GapRecord, ItemId, PopulationRecord, SourceName};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::connector::{
    CollectContext, Connector, ConnectorError, Cursor, Health, VersionedCursor,
};
use crate::http::RetryPolicy;
use crate::sink::{ItemDraft, ItemSink, end_scope};
pub use client::Credentials;
use client::{SEARCH_PATH, Session};
use config::{AuthConfig, Query, Settings};
pub use config::{JiraConfig, QueryConfig};
use cursor::{JiraCursor, QueryState, WalkResult};
use ticket::{History, Issue, Recognition, RemoteLink};

/// Connector type name.
const CONNECTOR: &str = "jira";

/// Most changelog pages read for one ticket (100 entries each): a guard against a server that
/// never says it is done.
const MAX_CHANGELOG_PAGES: u64 = 1000;

/// A configured Jira Cloud site.
#[derive(Debug, Clone)]
pub struct JiraConnector {
    name: SourceName,
    settings: Settings,
    http: reqwest::Client,
    policy: RetryPolicy,
    /// Credentials given directly instead of read from the environment.
    credentials: Option<Credentials>,
}

/// The time zone JQL literals are written in, and what an auditor should know about it.
struct SearchZone {
    tz: TimeZone,
    name: String,
    account_time_zone: Option<String>,
    notes: Vec<String>,
}

/// The artefact sealed for one ticket version: the bytes Jira sent, side by side.
#[derive(Serialize)]
struct Artefact<'a> {
    issue: &'a RawValue,
    changelog: &'a [Box<RawValue>],
    #[serde(skip_serializing_if = "Option::is_none")]
    remotelinks: Option<&'a RawValue>,
}

/// What every ticket of one query's walk shares.
#[derive(Clone, Copy)]
struct QueryRun<'r> {
    session: &'r Session<'r>,
    ctx: &'r CollectContext<'r>,
    query: &'r Query,
    /// The JQL as sent, recorded in each item's provenance.
    jql_sent: &'r str,
}

/// One version of a ticket as the search returned it.
#[derive(Clone, Copy)]
struct TicketVersion<'t> {
    key: &'t str,
    raw: &'t RawValue,
    issue: &'t Issue,
    /// `None` when `fields.updated` did not read.
    updated: Option<Timestamp>,
    /// Fields whose value had a type this version does not read.
    unparsed: &'t [String],
}

/// A ticket version sealed earlier in this run.
struct SealedNow {
    updated: Timestamp,
    id: ItemId,
}

/// Counters of one query's walk beyond those of the population record.
#[derive(Default)]
struct WalkCounts {
    changelog_pages: u64,
    remote_link_requests: u64,
    duplicates: u64,
    replaced: u64,
    failed: u64,
    /// Tickets sealed with fields that did not parse: `KEY (fields.x, …)`.
    unparsed: Vec<String>,
    /// Tickets sealed without their remote links, with the first failure.
    remote_links_unavailable: Vec<String>,
    remote_links_error: Option<(GapCategory, String)>,
}

/// At most 20 entries of `list`, joined, and how many more there are.
fn shorten(list: &[String]) -> String {
    let shown = list.iter().take(20).cloned().collect::<Vec<_>>().join(", ");
    match list.len().saturating_sub(20) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Count `n` items degraded for `what` in the population record's attributes.
fn attrs_degraded(population: &mut PopulationRecord, what: &str, n: usize) {
    population.attributes.insert(what.into(), n.into());
}

/// True for errors that end the whole collection rather than one ticket or query.
fn stops_the_run(e: &ConnectorError) -> bool {
    e.is_fatal() || matches!(e, ConnectorError::Interrupted { .. })
}

impl JiraConnector {
    /// Check the config and prepare the HTTP client. Reads no credential yet: a missing one is
    /// recorded as a gap when the source runs.
    pub fn new(name: SourceName, config: &JiraConfig) -> Result<Self, ConfigError> {
        let at = format!("source {:?}", name.as_str());
        let settings = config.check(&at)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("evidence-connectors/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::new(&at, format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            name,
            settings,
            http,
            policy: RetryPolicy::default(),
            credentials: None,
        })
    }

    /// Use these credentials instead of reading the configured environment variables (for a
    /// program that keeps secrets elsewhere, and for tests).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Use `policy` for every request (tests shorten its waits).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn session(&self) -> Result<Session<'_>, ConnectorError> {
        let auth_hint = match &self.settings.auth {
            AuthConfig::Basic {
                email_env,
                token_env,
            } => format!("the e-mail in {email_env} and the API token in {token_env}"),
            AuthConfig::Bearer { token_env } => format!("the bearer token in {token_env}"),
        };
        Ok(Session {
            http: &self.http,
            site: &self.settings.site,
            credentials: match &self.credentials {
                Some(c) => c.clone(),
                None => Credentials::from_env(&self.settings.auth, &self.settings.site)?,
            },
            policy: &self.policy,
            auth_hint,
        })
    }

    fn gap(
        &self,
        scope: &str,
        category: GapCategory,
        message: String,
        sink: &dyn ItemSink,
    ) -> GapRecord {
        GapRecord::new(
            CONNECTOR,
            self.name.clone(),
            scope,
            category,
            message,
            sink.collected_at(),
        )
    }

    /// The zone JQL literals are written in: Jira reads them in the account's profile time
    /// zone, so that one wins when it differs from `jql_timezone`, with a note saying so.
    async fn search_zone(
        &self,
        session: &Session<'_>,
        ctx: &CollectContext<'_>,
    ) -> Result<SearchZone, ConnectorError> {
        let configured = SearchZone {
            tz: self.settings.time_zone.clone(),
            name: self.settings.time_zone_name.clone(),
            account_time_zone: None,
            notes: Vec::new(),
        };
        let me = match session.myself(ctx).await {
            Ok(me) => me,
            Err(e) if stops_the_run(&e) => return Err(e),
            Err(e) => {
                return Ok(SearchZone {
                    notes: vec![format!(
                        "the account's time zone could not be read ({e}); JQL times are in jql_timezone {}",
                        configured.name
                    )],
                    ..configured
                });
            }
        };
        let Some(account) = me.time_zone.filter(|z| !z.is_empty()) else {
            return Ok(configured);
        };
        if account == configured.name {
            return Ok(SearchZone {
                account_time_zone: Some(account),
                ..configured
            });
        }
        match TimeZone::get(&account) {
            Ok(tz) => Ok(SearchZone {
                tz,
                notes: vec![format!(
                    "jql_timezone is {} but the account's profile time zone is {account}, which Jira reads JQL times in; they were written in {account}",
                    configured.name
                )],
                name: account.clone(),
                account_time_zone: Some(account),
            }),
            Err(_) => Ok(SearchZone {
                notes: vec![format!(
                    "the account's profile time zone {account:?} is unknown here; JQL times are in jql_timezone {}",
                    configured.name
                )],
                account_time_zone: Some(account),
                ..configured
            }),
        }
    }

    /// Every changelog entry of `key`, oldest first, as Jira sent them.
    async fn changelog(
        &self,
        session: &Session<'_>,
        ctx: &CollectContext<'_>,
        key: &str,
        counts: &mut WalkCounts,
    ) -> Result<Vec<Box<RawValue>>, ConnectorError> {
        let mut values = Vec::new();
        let mut start_at = 0u64;
        for _ in 0..MAX_CHANGELOG_PAGES {
            let page = session
                .changelog_page(ctx, key, start_at, self.settings.changelog_page_size)
                .await?;
            counts.changelog_pages += 1;
            let n = page.values.len() as u64;
            values.extend(page.values);
            start_at += n;
            // `isLast` decides; a `total` already reached ends the walk too (a server that keeps
            // saying `isLast: false` past its own total would otherwise be walked 1000 times).
            let last = match page.is_last {
                Some(last) => last || page.total.is_some_and(|t| start_at >= t),
                None => page.total.is_none_or(|t| start_at >= t),
            };
            if last || n == 0 {
                return Ok(values);
            }
        }
        Err(ConnectorError::InvalidResponse {
            resource: format!("changelog of {key}"),
            detail: format!("more than {MAX_CHANGELOG_PAGES} pages"),
        })
    }

    /// Fetch what belongs to one ticket version and hand it to the sink.
    async fn seal_ticket(
        &self,
        run: &QueryRun<'_>,
        ticket: &TicketVersion<'_>,
        sink: &mut dyn ItemSink,
        counts: &mut WalkCounts,
    ) -> Result<crate::sink::StagedItem, ConnectorError> {
        let QueryRun {
            session,
            ctx,
            query,
            jql_sent,
        } = *run;
        let TicketVersion {
            key,
            raw,
            issue,
            updated,
            unparsed,
        } = *ticket;
        let changelog = self.changelog(session, ctx, key, counts).await?;
        // The remote links are a secondary lookup: when they fail, the ticket is sealed
        // without them and one gap per query says so.
        let mut remote_unavailable = None;
        let remote = if self.settings.remote_links {
            counts.remote_link_requests += 1;
            match session.remote_links(ctx, key).await {
                Ok(r) => Some(r),
                Err(e) if stops_the_run(&e) => return Err(e),
                Err(e) => {
                    counts.remote_links_unavailable.push(key.to_owned());
                    counts
                        .remote_links_error
                        .get_or_insert_with(|| (e.gap_category(), e.to_string()));
                    remote_unavailable = Some(e.to_string());
                    None
                }
            }
        } else {
            None
        };
        let histories: Vec<History> = changelog
            .iter()
            .map(|h| serde_json::from_str(h.get()).unwrap_or_default())
            .collect();
        let remote_links: Vec<RemoteLink> = remote
            .as_deref()
            .and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or_default();
        let facts = ticket::facts(
            issue,
            &histories,
            &remote_links,
            &Recognition {
                done_statuses: &self.settings.done_statuses,
                review_issue_types: &self.settings.review_issue_types,
                review_keywords: &self.settings.review_keywords,
            },
        );
        let bytes = serde_json::to_vec(&Artefact {
            issue: raw,
            changelog: &changelog,
            remotelinks: remote.as_deref(),
        })
        .map_err(|e| ConnectorError::InvalidResponse {
            resource: key.to_owned(),
            detail: format!("cannot assemble the ticket's JSON: {e}"),
        })?;
        let mut attributes = facts.attributes;
        attributes.insert("query".into(), query.name.clone().into());
        if let Some(why) = remote_unavailable {
            attributes.insert("remote_links".into(), format!("unavailable: {why}").into());
        }
        if !unparsed.is_empty() {
            attributes.insert("unparsed_fields".into(), unparsed.to_vec().into());
        }
        let summary = issue.fields.summary.clone().unwrap_or_default();
        let period =
            (facts.period.start.is_some() || facts.period.end.is_some()).then_some(facts.period);
        let draft = ItemDraft::builder(
            &query.tagging,
            key.to_owned(),
            format!("{key}.json"),
            "application/json",
        )
        .title(if summary.is_empty() {
            key.to_owned()
        } else {
            format!("{key}: {summary}")
        })
        .url(format!("{}/browse/{key}", self.settings.site))
        .actors(facts.actors)
        .period(period)
        .source_time(updated)
        .endpoint(self.settings.site.clone())
        .query(jql_sent.to_owned())
        .attributes(attributes)
        .expected_size(bytes.len() as u64)
        .build();
        let staged = sink.put(draft, &mut bytes.as_slice()).await?;
        if !unparsed.is_empty() {
            counts
                .unparsed
                .push(format!("{key} ({})", unparsed.join(", ")));
        }
        Ok(staged)
    }

    /// Walk one query. Failures of the query or of single tickets become gap records; an error
    /// return means the run must stop (interrupted, or the staging area failed).
    async fn collect_query(
        &self,
        session: &Session<'_>,
        zone: &SearchZone,
        query: &Query,
        state: &mut QueryState,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let mut notes = zone.notes.clone();
        if state.jql != query.jql {
            if !state.jql.is_empty() {
                notes.push(
                    "the JQL changed since the last run; the query was walked from the beginning"
                        .into(),
                );
            }
            *state = QueryState {
                jql: query.jql.clone(),
                watermark: None,
                sealed: std::mem::take(&mut state.sealed),
            };
        }
        let watermark_before = state.watermark;
        let overlap = Duration::from_secs(self.settings.overlap_secs);
        let from = jql::search_from(watermark_before, overlap);
        let literal = from.map(|t| jql::local_literal_at_or_before(t, &zone.tz));
        let jql_sent = jql::incremental_jql(&query.jql, literal.as_deref());
        let run = QueryRun {
            session,
            ctx,
            query,
            jql_sent: &jql_sent,
        };

        let mut population = PopulationRecord::new(
            CONNECTOR,
            self.name.clone(),
            &query.name,
            &format!(
                "POST {}{SEARCH_PATH} jql={jql_sent} fields={}",
                self.settings.site,
                self.settings.fields.join(",")
            ),
        );
        population.kind = Some(query.tagging.kind.clone());
        population.watermark_before = watermark_before.map(|t| t.to_string());
        let attrs = &mut population.attributes;
        attrs.insert("jql".into(), jql_sent.clone().into());
        attrs.insert("jql_timezone".into(), zone.name.clone().into());
        if let Some(account) = &zone.account_time_zone {
            attrs.insert("account_time_zone".into(), account.clone().into());
        }
        attrs.insert("overlap_secs".into(), self.settings.overlap_secs.into());
        if let Some(from) = from {
            attrs.insert("updated_from".into(), from.to_string().into());
        }

        let mut counts = WalkCounts::default();
        let mut walk = WalkResult::default();
        let mut sealed_now: BTreeMap<String, SealedNow> = BTreeMap::new();
        let mut token: Option<String> = None;
        let mut stop: Option<ConnectorError> = None;
        ctx.progress.set_items_total(None);
        'pages: loop {
            if ctx.shutdown.is_cancelled() {
                stop = Some(ConnectorError::Interrupted {
                    resource: format!("Jira query {}", query.name),
                });
                break;
            }
            ctx.progress.status(&format!(
                "{}: search page {}",
                query.name,
                population.pages_walked + 1
            ));
            let page = match session
                .search(
                    ctx,
                    &jql_sent,
                    &self.settings.fields,
                    self.settings.page_size,
                    token.as_deref(),
                )
                .await
            {
                Ok(page) => page,
                Err(e) if stops_the_run(&e) => {
                    stop = Some(e);
                    break;
                }
                Err(e) => {
                    let g = self.gap(&query.name, e.gap_category(), e.to_string(), &*sink);
                    sink.gap(g).await?;
                    break;
                }
            };
            population.pages_walked += 1;
            for (position, raw) in page.issues.iter().enumerate() {
                if ctx.shutdown.is_cancelled() {
                    stop = Some(ConnectorError::Interrupted {
                        resource: format!("Jira query {}", query.name),
                    });
                    break 'pages;
                }
                let parsed = ticket::parse_issue(raw.get());
                let key = parsed
                    .as_ref()
                    .ok()
                    .and_then(|p| p.issue.key.clone())
                    .unwrap_or_default();
                let (Ok(parsed), true) = (parsed.as_ref(), ticket::is_issue_key(&key)) else {
                    counts.failed += 1;
                    let shown: String = key.chars().filter(|c| !c.is_control()).take(40).collect();
                    let id = parsed.as_ref().ok().and_then(|p| p.issue.id.clone());
                    let named = match (shown.is_empty(), id) {
                        (false, _) => format!("{shown:?}"),
                        (true, Some(id)) => format!("with id {id}"),
                        (true, None) => format!(
                            "number {} of page {}",
                            position + 1,
                            population.pages_walked
                        ),
                    };
                    let why = match &parsed {
                        Err(e) => e.to_string(),
                        Ok(_) => "it has no valid issue key".to_owned(),
                    };
                    let g = self.gap(
                        &format!(
                            "{}/{}",
                            query.name,
                            if shown.is_empty() { "?" } else { &shown }
                        ),
                        GapCategory::InvalidResponse,
                        format!(
                            "search result {named} of query {}: {why}; it was not collected",
                            query.name
                        ),
                        &*sink,
                    );
                    sink.gap(g).await?;
                    continue;
                };
                let issue = parsed.issue.clone();
                // A ticket whose `updated` does not read is sealed all the same; it takes no
                // part in the watermark and is not remembered as sealed.
                let updated = issue.fields.updated.as_deref().and_then(ticket::parse_time);
                let Some(updated) = updated else {
                    if sealed_now.contains_key(&key) {
                        counts.duplicates += 1;
                        continue;
                    }
                    population.items_seen += 1;
                    let ticket = TicketVersion {
                        key: &key,
                        raw,
                        issue: &issue,
                        updated: None,
                        unparsed: &parsed.unparsed,
                    };
                    match self.seal_ticket(&run, &ticket, sink, &mut counts).await {
                        Ok(staged) => {
                            ctx.progress.add_items(1);
                            ctx.progress.add_bytes(staged.size);
                            population.items_sealed += 1;
                            sealed_now.insert(
                                key.clone(),
                                SealedNow {
                                    updated: Timestamp::MIN,
                                    id: staged.id,
                                },
                            );
                        }
                        Err(e) if stops_the_run(&e) => {
                            stop = Some(e);
                            break 'pages;
                        }
                        Err(e) => {
                            counts.failed += 1;
                            let g = self.gap(
                                &format!("{}/{key}", query.name),
                                e.gap_category(),
                                e.to_string(),
                                &*sink,
                            );
                            sink.gap(g).await?;
                        }
                    }
                    continue;
                };
                if let Some(prev) = sealed_now.get(&key) {
                    if prev.updated >= updated {
                        counts.duplicates += 1;
                        continue;
                    }
                } else {
                    population.items_seen += 1;
                }
                if state.is_sealed(&key, updated) {
                    population.items_unchanged += 1;
                    walk.newest_handled = walk.newest_handled.max(Some(updated));
                    ctx.progress.add_items(1);
                    continue;
                }
                ctx.progress.status(&key);
                let ticket = TicketVersion {
                    key: &key,
                    raw,
                    issue: &issue,
                    updated: Some(updated),
                    unparsed: &parsed.unparsed,
                };
                let staged = self.seal_ticket(&run, &ticket, sink, &mut counts).await;
                let staged = match staged {
                    Ok(s) => s,
                    Err(e) if stops_the_run(&e) => {
                        stop = Some(e);
                        break 'pages;
                    }
                    Err(e) => {
                        counts.failed += 1;
                        walk.oldest_failed =
                            Some(walk.oldest_failed.map_or(updated, |f| f.min(updated)));
                        let g = self.gap(
                            &format!("{}/{key}", query.name),
                            e.gap_category(),
                            e.to_string(),
                            &*sink,
                        );
                        sink.gap(g).await?;
                        continue;
                    }
                };
                ctx.progress.add_items(1);
                ctx.progress.add_bytes(staged.size);
                if let Some(prev) = sealed_now.remove(&key) {
                    sink.discard(&prev.id).await?;
                    counts.replaced += 1;
                } else {
                    population.items_sealed += 1;
                }
                sealed_now.insert(
                    key.clone(),
                    SealedNow {
                        updated,
                        id: staged.id,
                    },
                );
                state.sealed.insert(key, updated);
                walk.newest_handled = walk.newest_handled.max(Some(updated));
            }
            let next = page.next_page_token.filter(|t| !t.is_empty());
            match next {
                Some(next) if page.is_last != Some(true) => {
                    if token.as_deref() == Some(next.as_str()) {
                        let g = self.gap(
                            &query.name,
                            GapCategory::InvalidResponse,
                            format!(
                                "Jira search {}{SEARCH_PATH} returned the same nextPageToken twice; the walk stopped",
                                self.settings.site
                            ),
                            &*sink,
                        );
                        sink.gap(g).await?;
                        break;
                    }
                    token = Some(next);
                }
                _ => {
                    walk.complete = true;
                    break;
                }
            }
        }

        let watermark_after = cursor::next_watermark(watermark_before, walk);
        state.watermark = watermark_after;
        cursor::prune(
            &mut state.sealed,
            jql::search_from(watermark_after, overlap),
        );
        population.watermark_after = watermark_after.map(|t| t.to_string());
        population.complete = walk.complete && counts.failed == 0;
        let attrs = &mut population.attributes;
        attrs.insert("changelog_pages".into(), counts.changelog_pages.into());
        attrs.insert(
            "remote_link_requests".into(),
            counts.remote_link_requests.into(),
        );
        attrs.insert("tickets_failed".into(), counts.failed.into());
        attrs.insert("seen_again_in_run".into(), counts.duplicates.into());
        attrs.insert("replaced_by_newer_version".into(), counts.replaced.into());
        if counts.duplicates + counts.replaced > 0 {
            notes.push(format!(
                "{} ticket(s) appeared more than once while paging (changed during the walk); each was sealed once, in its newest version",
                counts.duplicates + counts.replaced
            ));
        }
        if counts.failed > 0 {
            notes.push(format!(
                "{} ticket(s) could not be collected (see the gap records); the watermark stays before them so the next run retries",
                counts.failed
            ));
        }
        if !walk.complete {
            notes.push("the search was not walked to its end; the watermark did not move".into());
        }
        if let Some((category, first)) = counts.remote_links_error.take() {
            let n = counts.remote_links_unavailable.len();
            attrs_degraded(&mut population, "remote_links_unavailable", n);
            notes.push(format!(
                "{n} ticket(s) were sealed without their remote links (see the gap record)"
            ));
            let g = self.gap(
                &format!("{} (remotelink)", query.name),
                category,
                format!(
                    "{n} ticket(s) were sealed without their remote links ({}): {first}; the account needs permission to read remote links (Browse projects), or the site does not offer /rest/api/3/issue/{{key}}/remotelink",
                    shorten(&counts.remote_links_unavailable)
                ),
                &*sink,
            );
            sink.gap(g).await?;
        }
        if !counts.unparsed.is_empty() {
            let n = counts.unparsed.len();
            attrs_degraded(&mut population, "tickets_with_unparsed_fields", n);
            notes.push(format!(
                "{n} ticket(s) were sealed with fields of an unexpected type, kept in the artefact but not read (see the gap record)"
            ));
            let g = self.gap(
                &format!("{} (fields)", query.name),
                GapCategory::InvalidResponse,
                format!(
                    "{n} ticket(s) were sealed with fields this version could not read: {}",
                    shorten(&counts.unparsed)
                ),
                &*sink,
            );
            sink.gap(g).await?;
        }
        notes.push(
            "Jira's search reports no totals; items_seen counts the distinct tickets returned"
                .into(),
        );
        population.notes = notes;
        end_scope(sink, None, population, stop).await
    }
}

#[async_trait]
impl Connector for JiraConnector {
    fn connector_type(&self) -> &'static str {
        CONNECTOR
    }

    fn name(&self) -> &SourceName {
        &self.name
    }

    async fn healthcheck(&self) -> Result<Health, ConnectorError> {
        let session = self.session()?;
        let ctx = CollectContext {
            shutdown: tokio_util::sync::CancellationToken::new(),
            progress: &crate::connector::NoProgress,
            agent: String::new(),
        };
        let me = session.myself(&ctx).await?;
        let who = me
            .display_name
            .or(me.account_id)
            .unwrap_or_else(|| "an unnamed account".into());
        let zone = me.time_zone.unwrap_or_else(|| "unknown".into());
        if zone != "unknown" && zone != self.settings.time_zone_name {
            return Err(ConnectorError::Config(format!(
                "{} signs in as {who}, whose profile time zone is {zone}, but jql_timezone is {}; set jql_timezone = {zone:?}",
                self.settings.site, self.settings.time_zone_name
            )));
        }
        Ok(Health {
            detail: format!(
                "{} signs in as {who} (time zone {zone})",
                self.settings.site
            ),
        })
    }

    async fn collect(
        &self,
        cursor: &mut Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let mut state: JiraCursor = VersionedCursor::load(cursor)?;
        let session = self.session()?;
        let zone = self.search_zone(&session, ctx).await?;
        let configured: Vec<&str> = self
            .settings
            .queries
            .iter()
            .map(|q| q.name.as_str())
            .collect();
        state
            .queries
            .retain(|name, _| configured.contains(&name.as_str()));
        for query in &self.settings.queries {
            let query_state = state.queries.entry(query.name.clone()).or_default();
            let outcome = self
                .collect_query(&session, &zone, query, query_state, sink, ctx)
                .await;
            VersionedCursor::store(cursor, &state)?;
            outcome?;
        }
        Ok(())
    }
}
