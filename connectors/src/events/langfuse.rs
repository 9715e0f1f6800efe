//! Langfuse's public API as an input of the events source: the observations that started in a
//! pass's time range (`GET /api/public/v2/observations`, one query per collected type, paged by
//! `meta.cursor`) and, when no `system` is configured, the names of their traces
//! (`GET /api/public/traces`, paged by page number). HTTP Basic auth with the project's public
//! and secret keys from the environment; requests through the kit's retry loop. A page that is
//! not the documented shape fails the pass, naming the URL and the page.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::config::LangfuseSettings;
use super::observation::{self, Range};
use super::pass::Windows;
use crate::connector::{CollectContext, ConnectorError};
use crate::http::{self, Exchange, Reading, RetryPolicy, TransportFailure};
use crate::secret::Secret;

/// How far before a pass's range trace names are looked up: a trace starts before its
/// observations.
const TRACE_LOOKBACK: SignedDuration = SignedDuration::from_hours(24);
/// Traces per page of the trace lookup (the API's maximum is 100).
const TRACE_PAGE_SIZE: u32 = 100;
/// Observations path of the v2 API.
pub(crate) const OBSERVATIONS_PATH: &str = "api/public/v2/observations";
const TRACES_PATH: &str = "api/public/traces";

/// The project's API keys.
#[derive(Clone)]
struct Credentials {
    public_key: String,
    secret_key: Secret,
}

/// A configured Langfuse project.
pub(crate) struct Langfuse {
    pub(crate) settings: LangfuseSettings,
    credentials: Option<Credentials>,
    client: reqwest::Client,
    policy: RetryPolicy,
    /// Names the source in errors: `Langfuse at <url> (source "name")`.
    resource: String,
}

/// What a pass over the API read besides its windows.
#[derive(Debug, Default)]
pub(crate) struct ApiRead {
    /// Why trace names are missing (the observations were filed under the default system).
    pub(crate) trace_names_failed: Option<String>,
}

impl Langfuse {
    /// The client for `settings`, its keys read from the environment (missing keys fail the
    /// first request, naming the variables).
    pub(crate) fn new(settings: LangfuseSettings, source: &str) -> Result<Self, reqwest::Error> {
        let credentials = match (
            std::env::var(&settings.public_key_env)
                .ok()
                .filter(|k| !k.is_empty()),
            Secret::from_env(&settings.secret_key_env),
        ) {
            (Some(public_key), Some(secret_key)) => Some(Credentials {
                public_key,
                secret_key,
            }),
            _ => None,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(settings.timeout)
            .user_agent(concat!("evidence-agent-events/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let policy = RetryPolicy {
            max_attempts: settings.max_attempts,
            timeout: settings.timeout,
            ..RetryPolicy::default()
        };
        Ok(Self {
            resource: format!("Langfuse at {} (source {source:?})", settings.base),
            settings,
            credentials,
            client,
            policy,
        })
    }

    /// Use these keys instead of the environment's.
    pub(crate) fn set_credentials(&mut self, public_key: String, secret_key: Secret) {
        self.credentials = Some(Credentials {
            public_key,
            secret_key,
        });
    }

    /// How errors name this input.
    pub(crate) fn resource(&self) -> &str {
        &self.resource
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.settings.base)
    }

    /// GETs `path` with `query`, as page `page` (for messages), and parses the answer.
    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        page: &str,
        ctx: &CollectContext<'_>,
    ) -> Result<Value, ConnectorError> {
        let Some(credentials) = &self.credentials else {
            return Err(ConnectorError::Denied {
                resource: self.resource.clone(),
                detail: format!(
                    "no API keys: set {} (public key) and {} (secret key)",
                    self.settings.public_key_env, self.settings.secret_key_env
                ),
            });
        };
        let url = self.url(path);
        let exchange = LangfuseExchange {
            langfuse: self,
            credentials,
            url: &url,
            query,
            page,
        };
        let body = http::send_with_retry(&exchange, &self.policy, ctx, None).await?;
        serde_json::from_slice(&body)
            .map_err(|e| self.malformed(&url, page, &format!("not JSON ({e})")))
    }

    fn malformed(&self, url: &str, page: &str, why: &str) -> ConnectorError {
        ConnectorError::InvalidResponse {
            resource: self.resource.clone(),
            detail: format!("{url} {page}: {why}"),
        }
    }

    /// One request of the first page of observations: the connection and the keys work.
    pub(crate) async fn probe(&self, ctx: &CollectContext<'_>) -> Result<(), ConnectorError> {
        let query = [("limit", "1".to_owned()), ("fields", "core".to_owned())];
        self.get(OBSERVATIONS_PATH, &query, "page 1", ctx)
            .await
            .map(|_| ())
    }

    /// Reads every collected observation that started in `range` into `windows`. Trace names
    /// are looked up first unless `system` is configured; a failing lookup degrades (the
    /// observations go to the default system, and the failure is returned), never fails.
    pub(crate) async fn read(
        &self,
        range: Range,
        system: Option<&str>,
        windows: &mut Windows<'_>,
        ctx: &CollectContext<'_>,
    ) -> Result<ApiRead, ConnectorError> {
        let mut read = ApiRead::default();
        let names = match system {
            Some(_) => HashMap::new(),
            None => match self.trace_names(range, ctx).await {
                Ok(names) => names,
                Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
                Err(e) => {
                    read.trace_names_failed = Some(e.to_string());
                    HashMap::new()
                }
            },
        };
        for kind in &self.settings.types {
            self.read_type(kind, range, system, &names, windows, ctx)
                .await?;
        }
        Ok(read)
    }

    /// The observations of one type, page by page until `meta.cursor` is absent.
    async fn read_type(
        &self,
        kind: &str,
        range: Range,
        system: Option<&str>,
        names: &HashMap<String, String>,
        windows: &mut Windows<'_>,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let include_content = windows.include_content();
        let mut cursor: Option<String> = None;
        let mut page = 0u64;
        loop {
            page += 1;
            let label = format!("{kind} page {page}");
            let mut query = vec![
                ("type", kind.to_owned()),
                (
                    "fields",
                    observation::field_groups(include_content).to_owned(),
                ),
                ("limit", self.settings.page_size.to_string()),
                ("toStartTime", range.until.to_string()),
            ];
            if let Some(from) = range.from {
                query.push(("fromStartTime", from.to_string()));
            }
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let url = self.url(OBSERVATIONS_PATH);
            let body = self.get(OBSERVATIONS_PATH, &query, &label, ctx).await?;
            let (data, next) = observations_page(body)
                .map_err(|why| self.malformed(&url, &format!("(observations {label})"), why))?;
            windows.out.pages += 1;
            let source = format!("observations {label}");
            for (i, value) in data.into_iter().enumerate() {
                let trace_name = value
                    .get("traceId")
                    .and_then(Value::as_str)
                    .and_then(|t| names.get(t))
                    .map(String::as_str);
                match observation::read(value, trace_name, system, include_content) {
                    Ok(o) => {
                        // Defensive: only what this query asked for, in this pass's range.
                        let started = o.event.time.is_some_and(|t| range.contains(t));
                        if started && observation::is_collected(o.kind.as_deref(), &[kind]) {
                            windows
                                .record(&source, &o.event, o.value)
                                .map_err(|e| self.io(e))?;
                        }
                    }
                    Err(e) => windows.unreadable(&source, i as u64 + 1, e.to_string()),
                }
            }
            match next {
                None => return Ok(()),
                Some(n) if cursor.as_deref() == Some(n.as_str()) => {
                    return Err(self.malformed(
                        &url,
                        &format!("(observations {label})"),
                        "meta.cursor did not move on",
                    ));
                }
                Some(n) => cursor = Some(n),
            }
            if ctx.shutdown.is_cancelled() {
                return Err(ConnectorError::Interrupted {
                    resource: self.resource.clone(),
                });
            }
        }
    }

    /// Trace id → name for the traces that started from a day before `range` to its end.
    async fn trace_names(
        &self,
        range: Range,
        ctx: &CollectContext<'_>,
    ) -> Result<HashMap<String, String>, ConnectorError> {
        let mut names = HashMap::new();
        let url = self.url(TRACES_PATH);
        let mut page = 0u64;
        loop {
            page += 1;
            let label = format!("(traces page {page})");
            let mut query = vec![
                ("page", page.to_string()),
                ("limit", TRACE_PAGE_SIZE.to_string()),
                ("toTimestamp", range.until.to_string()),
            ];
            if let Some(from) = range.from.and_then(|f| f.checked_sub(TRACE_LOOKBACK).ok()) {
                query.push(("fromTimestamp", from.to_string()));
            }
            let body = self.get(TRACES_PATH, &query, &label, ctx).await?;
            let (traces, total_pages) =
                traces_page(&body).map_err(|why| self.malformed(&url, &label, why))?;
            for (id, name) in traces {
                names.insert(id, name);
            }
            if page >= total_pages {
                return Ok(names);
            }
        }
    }

    fn io(&self, source: std::io::Error) -> ConnectorError {
        ConnectorError::Io {
            resource: format!("the window files of {}", self.resource),
            source,
        }
    }
}

/// `{ "data": [...], "meta": { "cursor": "..." } }`: the observations and the next cursor
/// (none, null or empty: the last page).
fn observations_page(body: Value) -> Result<(Vec<Value>, Option<String>), &'static str> {
    let Value::Object(mut o) = body else {
        return Err("the answer is not a JSON object");
    };
    let next = match o.get("meta") {
        Some(Value::Object(meta)) => match meta.get("cursor") {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) if c.is_empty() => None,
            Some(Value::String(c)) => Some(c.clone()),
            Some(_) => return Err("meta.cursor is not a string"),
        },
        None | Some(Value::Null) => None,
        Some(_) => return Err("meta is not an object"),
    };
    match o.remove("data") {
        Some(Value::Array(data)) => Ok((data, next)),
        Some(_) => Err("data is not a list"),
        None => Err("the answer has no data"),
    }
}

/// Trace id → name, of the traces of one page that have a name.
type TraceNames = Vec<(String, String)>;

/// `{ "data": [{ "id", "name", … }], "meta": { "page", "totalPages", … } }`: the named traces
/// and the number of pages.
fn traces_page(body: &Value) -> Result<(TraceNames, u64), &'static str> {
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or("the answer has no data list")?;
    let total_pages = body
        .get("meta")
        .and_then(|m| m.get("totalPages"))
        .and_then(Value::as_u64)
        .ok_or("the answer has no meta.totalPages")?;
    let named = data
        .iter()
        .filter_map(|t| {
            let id = t.get("id")?.as_str()?;
            let name = t.get("name")?.as_str().filter(|n| !n.is_empty())?;
            Some((id.to_owned(), name.to_owned()))
        })
        .collect();
    Ok((named, total_pages))
}

/// The start of the range a pass collects: where the last one ended.
pub(crate) fn range(
    collected_until: Option<Timestamp>,
    now: Timestamp,
    lag: SignedDuration,
) -> Range {
    Range {
        from: collected_until,
        until: now.checked_sub(lag).unwrap_or(now),
    }
}

/// One GET of the API: the body of a 2xx answer.
struct LangfuseExchange<'a> {
    langfuse: &'a Langfuse,
    credentials: &'a Credentials,
    url: &'a str,
    query: &'a [(&'a str, String)],
    /// `GENERATION page 3`, for messages.
    page: &'a str,
}

impl LangfuseExchange<'_> {
    fn what(&self) -> String {
        format!("{} {}", self.url, self.page)
    }
}

#[async_trait::async_trait]
impl Exchange for LangfuseExchange<'_> {
    type Output = Vec<u8>;
    type Held = ();
    type Error = ConnectorError;

    async fn request(
        &self,
        _ctx: &CollectContext<'_>,
    ) -> Result<reqwest::RequestBuilder, ConnectorError> {
        Ok(self
            .langfuse
            .client
            .get(self.url)
            .query(self.query)
            .basic_auth(
                &self.credentials.public_key,
                Some(self.credentials.secret_key.expose()),
            )
            .timeout(self.langfuse.policy.timeout))
    }

    async fn read(
        &self,
        response: reqwest::Response,
        _attempt: u32,
    ) -> Result<Reading<Vec<u8>, ()>, ConnectorError> {
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| http::parse_retry_after(v, Timestamp::now()));
            return Ok(Reading::Status {
                status,
                retry_after,
                held: (),
            });
        }
        match response.bytes().await {
            Ok(body) => Ok(Reading::Done(body.to_vec())),
            Err(e) => Ok(Reading::BrokenOff(format!(
                "the answer broke off: {}",
                without_url(&e)
            ))),
        }
    }

    async fn accept(
        &self,
        status: u16,
        _held: (),
        _attempts: u32,
    ) -> Result<Vec<u8>, ConnectorError> {
        Err(self.langfuse.malformed(
            self.url,
            self.page,
            &format!("HTTP {status} where a page was expected"),
        ))
    }

    async fn refuse(
        &self,
        status: u16,
        reason: String,
        _held: (),
        attempts: u32,
    ) -> ConnectorError {
        let resource = self.langfuse.resource.clone();
        let what = self.what();
        match status {
            401 | 403 => ConnectorError::Denied {
                resource,
                detail: format!(
                    "{what}: HTTP {status}; check the keys in {} and {}",
                    self.langfuse.settings.public_key_env, self.langfuse.settings.secret_key_env
                ),
            },
            404 => ConnectorError::NotFound {
                resource: format!("{resource}: {what}"),
            },
            429 => ConnectorError::RateLimited { resource, attempts },
            500..=599 => ConnectorError::Unreachable {
                resource,
                detail: format!("{what}: {reason}"),
            },
            _ => ConnectorError::InvalidResponse {
                resource,
                detail: format!("{what}: {reason}"),
            },
        }
    }

    fn exhausted(&self, attempts: u32) -> ConnectorError {
        ConnectorError::RateLimited {
            resource: self.langfuse.resource.clone(),
            attempts,
        }
    }

    fn transport_what(&self, failure: &TransportFailure) -> String {
        if failure.is_timeout() {
            "timeout"
        } else {
            "connection failure"
        }
        .to_owned()
    }

    fn unreachable(
        &self,
        failure: TransportFailure,
        reason: String,
        _attempts: u32,
    ) -> ConnectorError {
        let resource = self.langfuse.resource.clone();
        match failure {
            TransportFailure::Elapsed => ConnectorError::Timeout {
                resource,
                timeout: self.langfuse.policy.timeout,
            },
            TransportFailure::Failed(e) => ConnectorError::Unreachable {
                resource,
                detail: format!("{}: {} ({reason})", self.what(), without_url(&e)),
            },
            TransportFailure::BrokenOff(detail) => ConnectorError::Unreachable {
                resource,
                detail: format!("{}: {detail} ({reason})", self.what()),
            },
        }
    }

    fn interrupted(&self, _waiting: bool, _attempts: u32) -> ConnectorError {
        ConnectorError::Interrupted {
            resource: self.langfuse.resource.clone(),
        }
    }
}

/// A reqwest error's text without its URL (the message names the URL once, without query).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_observations_page_gives_its_data_and_the_next_cursor() {
        let (data, next) =
            observations_page(json!({"data": [{"id": "a"}], "meta": {"cursor": "eyJ9"}})).unwrap();
        assert_eq!((data.len(), next.as_deref()), (1, Some("eyJ9")));
        for last in [
            json!({"data": []}),
            json!({"data": [], "meta": {}}),
            json!({"data": [], "meta": {"cursor": null}}),
        ] {
            assert_eq!(observations_page(last).unwrap().1, None);
        }
        assert_eq!(
            observations_page(json!({"meta": {}})).unwrap_err(),
            "the answer has no data"
        );
        assert_eq!(
            observations_page(json!({"data": {}})).unwrap_err(),
            "data is not a list"
        );
        assert!(observations_page(json!([1])).is_err());
    }

    #[test]
    fn a_traces_page_gives_the_named_traces_and_the_page_count() {
        let body = json!({"data": [{"id": "t1", "name": "claims"}, {"id": "t2", "name": null}],
            "meta": {"page": 1, "limit": 100, "totalItems": 2, "totalPages": 1}});
        let (named, pages) = traces_page(&body).unwrap();
        assert_eq!(named, vec![("t1".to_owned(), "claims".to_owned())]);
        assert_eq!(pages, 1);
        assert!(traces_page(&json!({"data": []})).is_err());
    }

    #[test]
    fn a_pass_collects_from_where_the_last_ended_to_the_lag_before_now() {
        let now: Timestamp = "2026-12-03T06:00:00Z".parse().unwrap();
        let r = range(None, now, SignedDuration::from_mins(30));
        assert_eq!(r.from, None);
        assert_eq!(
            r.until,
            "2026-12-03T05:30:00Z".parse::<Timestamp>().unwrap()
        );
        let last: Timestamp = "2026-12-02T05:30:00Z".parse().unwrap();
        assert_eq!(
            range(Some(last), now, SignedDuration::ZERO).from,
            Some(last)
        );
    }
}
