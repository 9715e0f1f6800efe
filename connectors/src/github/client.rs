//! The HTTP side of the connector: authentication (a token, or a GitHub App through octocrab),
//! the pinned API version, conditional requests with our own ETags, retries with `Retry-After`
//! and jittered backoff, waits for the primary rate limit, and streaming downloads. Every wait
//! shows in the progress display and ends early on shutdown.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use octocrab::Octocrab;
use octocrab::secrecy::ExposeSecret;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, IF_NONE_MATCH, USER_AGENT};
use tokio::io::AsyncRead;

use super::config::{AuthConfig, Settings};
use super::ratelimit::{self, Answer, RateInfo, SECONDARY_LIMIT_DEFAULT_WAIT};
use crate::connector::{CollectContext, ConnectorError};
use crate::http::{self, Exchange, Reading, RetryDecision, RetryPolicy, TransportFailure};
use crate::secret::Secret;

/// The REST API version every request pins.
pub(crate) const API_VERSION: &str = "2022-11-28";
/// The media type every API request asks for.
pub(crate) const MEDIA_TYPE: &str = "application/vnd.github+json";
/// The media type for a file's raw bytes (`/contents/{path}`).
pub(crate) const RAW_MEDIA_TYPE: &str = "application/vnd.github.raw+json";
/// How much of an error body is read to classify it.
const ERROR_BODY_LIMIT: usize = 4096;

/// Credentials, resolved at the start of a run.
enum Auth {
    Anonymous,
    Token(Secret),
    /// An octocrab client authenticated as an App installation; it mints and caches the
    /// installation token (JWT → `POST /app/installations/{id}/access_tokens`).
    App(Box<Octocrab>),
}

/// Counters for population records and the progress display.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub requests: AtomicU64,
    pub not_modified: AtomicU64,
    pub retries: AtomicU64,
    /// GraphQL queries answered, and the cost GitHub reported for them (`rateLimit.cost`).
    pub graphql_queries: AtomicU64,
    pub graphql_cost: AtomicU64,
    /// The server has no GraphQL endpoint (404, 410 or 501 to `POST /graphql`: an old GitHub
    /// Enterprise Server, a proxy that passes only REST): `api = "auto"` walks REST instead.
    pub graphql_absent: std::sync::atomic::AtomicBool,
}

/// One answered API request.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub status: u16,
    /// The body exactly as received (empty for 304).
    pub body: Bytes,
    /// The body parsed (`Null` for 304).
    pub json: serde_json::Value,
    pub etag: Option<String>,
    /// The `rel="next"` link, checked to stay on the API's origin.
    pub next: Option<String>,
}

impl Page {
    /// True for a 304 answer to a conditional request.
    pub(crate) fn not_modified(&self) -> bool {
        self.status == 304
    }
}

/// The connector's HTTP client.
pub(crate) struct Client {
    pub(super) http: reqwest::Client,
    api: reqwest::Url,
    /// `POST` target of GraphQL queries: `{api_url}/graphql`, or `https://HOST/api/graphql`
    /// for GitHub Enterprise Server (whose REST API lives under `/api/v3`).
    pub(super) graphql_url: String,
    auth: Auth,
    pub(super) policy: RetryPolicy,
    reserve: u64,
    paused_until: Mutex<Option<Instant>>,
    pub stats: Stats,
}

pub(super) fn unusable(resource: &str, detail: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidResponse {
        resource: resource.to_owned(),
        detail: detail.into(),
    }
}

pub(super) fn now_epoch_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim();
        (is_next && target.starts_with('<') && target.ends_with('>'))
            .then(|| target[1..target.len() - 1].to_owned())
    })
}

/// True when `url` is on the API's origin and under its path (so it may carry the token).
pub(crate) fn is_api_url(api: &reqwest::Url, url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    u.scheme() == api.scheme()
        && u.host_str() == api.host_str()
        && u.port_or_known_default() == api.port_or_known_default()
        && u.path().starts_with(api.path().trim_end_matches('/'))
}

/// A request URL for display: the path and query, never a host's credentials.
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        },
        Err(_) => "(unparsable URL)".into(),
    }
}

impl Client {
    /// Build the client; reads the credential's environment variable named in the config.
    pub(crate) fn new(settings: &Settings, agent: &str) -> Result<Self, ConnectorError> {
        let api = reqwest::Url::parse(&format!("{}/", settings.api_url))
            .map_err(|e| ConnectorError::Config(format!("api_url: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(MEDIA_TYPE));
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        let user_agent = HeaderValue::from_str(&agent.replace(' ', "/"))
            .unwrap_or_else(|_| HeaderValue::from_static("evidence-agent"));
        headers.insert(USER_AGENT, user_agent.clone());
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(settings.policy.timeout)
            .read_timeout(settings.policy.timeout)
            .build()
            .map_err(|e| ConnectorError::Config(format!("cannot build the HTTP client: {e}")))?;
        let auth = match &settings.auth {
            AuthConfig::Anonymous => Auth::Anonymous,
            AuthConfig::Token(token) => Auth::Token(token.clone()),
            AuthConfig::TokenEnv(var) => {
                Auth::Token(Secret::from_env(var).ok_or_else(|| ConnectorError::Denied {
                    resource: settings.api_url.clone(),
                    detail: format!("the environment variable {var} (token_env) is not set"),
                })?)
            }
            AuthConfig::App(app) => {
                let key = Secret::from_env(&app.private_key_env).ok_or_else(|| {
                    ConnectorError::Denied {
                        resource: settings.api_url.clone(),
                        detail: format!(
                            "the environment variable {} (app.private_key_env) is not set",
                            app.private_key_env
                        ),
                    }
                })?;
                let key =
                    octocrab::EncodingKey::from_rsa_pem(key.expose().as_bytes()).map_err(|_| {
                        ConnectorError::Config(format!(
                            "the App private key in {} is not an RSA key in PEM form",
                            app.private_key_env
                        ))
                    })?;
                let crab = Octocrab::builder()
                    .base_uri(octocrab_base(&settings.api_url))
                    .map_err(octocrab_error)?
                    .add_header(version_header(), API_VERSION.to_owned())
                    .app(app.app_id.into(), key)
                    .build()
                    .map_err(octocrab_error)?;
                let installation = crab
                    .installation(app.installation_id.into())
                    .map_err(|e| ConnectorError::Config(format!("GitHub App installation: {e}")))?;
                Auth::App(Box::new(installation))
            }
        };
        Ok(Self {
            http,
            graphql_url: super::graphql::endpoint(&settings.api_url),
            api,
            auth,
            policy: settings.policy.clone(),
            reserve: settings.rate_limit_reserve,
            paused_until: Mutex::new(None),
            stats: Stats::default(),
        })
    }

    /// `api_url` followed by `segments` (each percent-encoded) and `query`.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> String {
        let mut url = self.api.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url.to_string()
    }

    /// True when `url` may be requested with the credentials.
    pub(crate) fn is_api_url(&self, url: &str) -> bool {
        is_api_url(&self.api, url)
    }

    pub(super) async fn authorization(
        &self,
        resource: &str,
    ) -> Result<Option<HeaderValue>, ConnectorError> {
        let token = match &self.auth {
            Auth::Anonymous => return Ok(None),
            Auth::Token(t) => t.expose().to_owned(),
            Auth::App(crab) => crab
                .installation_token()
                .await
                .map_err(|_| ConnectorError::Denied {
                    resource: resource.to_owned(),
                    detail: "the GitHub App installation token could not be obtained".into(),
                })?
                .expose_secret()
                .to_owned(),
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ConnectorError::Config("the token contains characters a header cannot carry".into())
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// Sleep `delay` (shown as waiting for `reason`), or stop early on shutdown.
    pub(super) async fn wait(
        &self,
        ctx: &CollectContext<'_>,
        resource: &str,
        reason: &str,
        delay: Duration,
    ) -> Result<(), ConnectorError> {
        ctx.progress.waiting(reason, delay);
        tokio::select! {
            _ = ctx.shutdown.cancelled() => Err(ConnectorError::Interrupted { resource: resource.to_owned() }),
            _ = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// Wait while the primary rate limit is paused.
    pub(super) async fn respect_pause(
        &self,
        ctx: &CollectContext<'_>,
        resource: &str,
    ) -> Result<(), ConnectorError> {
        let until = self.paused_until.lock().ok().and_then(|g| *g);
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                self.wait(
                    ctx,
                    resource,
                    "GitHub's primary rate limit is nearly used up; waiting for the reset",
                    until - now,
                )
                .await?;
            }
        }
        Ok(())
    }

    pub(super) fn note_rate(&self, info: &RateInfo) {
        if let Some(delay) =
            ratelimit::pause_for_primary_limit(info, self.reserve, now_epoch_secs())
        {
            let until = Instant::now() + delay.min(self.policy.max_delay);
            if let Ok(mut g) = self.paused_until.lock() {
                *g = Some(g.map_or(until, |u| u.max(until)));
            }
        }
    }

    /// Send one GET to `url` with retries; the answer's status is 2xx, 304, or (when
    /// `accept_not_found`) 404. `etag` makes the request conditional.
    async fn send(
        &self,
        url: &str,
        etag: Option<&str>,
        accept_not_found: bool,
        media_type: Option<&'static str>,
        ctx: &CollectContext<'_>,
    ) -> Result<(reqwest::Response, u32), ConnectorError> {
        let resource = shown(url);
        if !self.is_api_url(url) {
            return Err(unusable(
                &resource,
                "a link points outside the configured api_url; not following it with credentials",
            ));
        }
        let exchange = GithubGet {
            client: self,
            url,
            etag,
            accept_not_found,
            media_type,
            resource,
        };
        http::send_with_retry(&exchange, &self.policy, ctx, None).await
    }

    /// GET a JSON document, conditionally when `etag` is given. A body that breaks off or does
    /// not parse is fetched again like a transport failure.
    pub(crate) async fn get_json(
        &self,
        url: &str,
        etag: Option<&str>,
        ctx: &CollectContext<'_>,
    ) -> Result<Page, ConnectorError> {
        self.get_json_inner(url, etag, false, ctx).await
    }

    /// Like [`Client::get_json`], but a 404 is an answer (status 404) rather than an error.
    pub(crate) async fn get_json_or_404(
        &self,
        url: &str,
        etag: Option<&str>,
        ctx: &CollectContext<'_>,
    ) -> Result<Page, ConnectorError> {
        self.get_json_inner(url, etag, true, ctx).await
    }

    async fn get_json_inner(
        &self,
        url: &str,
        etag: Option<&str>,
        accept_not_found: bool,
        ctx: &CollectContext<'_>,
    ) -> Result<Page, ConnectorError> {
        let resource = shown(url);
        let mut body_failures = 0u32;
        loop {
            let (response, attempts) = self.send(url, etag, accept_not_found, None, ctx).await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let tag = headers
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let next = headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            if let Some(n) = &next
                && !self.is_api_url(n)
            {
                return Err(unusable(
                    &resource,
                    "the next-page link points outside the configured api_url",
                ));
            }
            if status == 304 {
                return Ok(Page {
                    status,
                    body: Bytes::new(),
                    json: serde_json::Value::Null,
                    etag: tag.or_else(|| etag.map(str::to_owned)),
                    next,
                });
            }
            let read = tokio::select! {
                _ = ctx.shutdown.cancelled() => return Err(ConnectorError::Interrupted { resource }),
                r = response.bytes() => r,
            };
            let failure = match read {
                Ok(body) => match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(json) => {
                        return Ok(Page {
                            status,
                            body,
                            json,
                            etag: tag,
                            next,
                        });
                    }
                    Err(e) => format!("the body is not complete JSON ({e})"),
                },
                Err(e) if e.is_timeout() => "reading the body timed out".to_owned(),
                Err(_) => "the body broke off".to_owned(),
            };
            body_failures += 1;
            let attempt = attempts.max(body_failures);
            match http::decide_on_transport_error(&self.policy, attempt, &failure, rand::random()) {
                RetryDecision::Retry { delay, reason } => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.wait(ctx, &resource, &format!("{resource}: {reason}"), delay)
                        .await?;
                }
                RetryDecision::GiveUp { reason } => return Err(unusable(&resource, reason)),
                RetryDecision::Accept => return Err(unusable(&resource, failure)),
            }
        }
    }

    /// GET every page from `url` on (following `rel="next"`), for small lists that are always
    /// read whole (reviews, check runs, timelines, artifacts). Returns the pages' bodies.
    pub(crate) async fn get_all_pages(
        &self,
        url: &str,
        ctx: &CollectContext<'_>,
        max_pages: usize,
    ) -> Result<Vec<Page>, ConnectorError> {
        let mut pages = Vec::new();
        let mut next = Some(url.to_owned());
        while let Some(u) = next.take() {
            if pages.len() >= max_pages {
                return Err(unusable(
                    &shown(url),
                    format!("more than {max_pages} pages; refusing to walk further"),
                ));
            }
            let page = self.get_json(&u, None, ctx).await?;
            next = page.next.clone();
            pages.push(page);
        }
        Ok(pages)
    }

    /// Start a download (following redirects; credentials go only to the API's own origin) and
    /// return the body as a stream with its announced length. Memory use does not depend on
    /// the size of the download.
    pub(crate) async fn download(
        &self,
        url: &str,
        media_type: Option<&'static str>,
        ctx: &CollectContext<'_>,
    ) -> Result<Download, ConnectorError> {
        let (response, _) = self.send(url, None, false, media_type, ctx).await?;
        let length = response.content_length();
        let stream = response
            .bytes_stream()
            .map_err(move |e| std::io::Error::other(format!("download broke off: {e}")));
        Ok(Download {
            length,
            reader: Box::new(tokio_util::io::StreamReader::new(stream)),
        })
    }
}

/// One GET against the API: credentials, the conditional ETag, the rate limits' waits and
/// their classification of 403 and 429 ([`ratelimit::classify`]).
struct GithubGet<'a> {
    client: &'a Client,
    url: &'a str,
    etag: Option<&'a str>,
    accept_not_found: bool,
    media_type: Option<&'static str>,
    /// The URL as messages show it.
    resource: String,
}

impl GithubGet<'_> {
    fn resource(&self) -> String {
        self.resource.clone()
    }
}

#[async_trait::async_trait]
impl Exchange for GithubGet<'_> {
    /// The answer and the attempts it took.
    type Output = (reqwest::Response, u32);
    /// The answer, unless its body was read to classify it.
    type Held = Option<reqwest::Response>;
    type Error = ConnectorError;

    async fn request(
        &self,
        ctx: &CollectContext<'_>,
    ) -> Result<reqwest::RequestBuilder, ConnectorError> {
        let client = self.client;
        client.respect_pause(ctx, &self.resource).await?;
        let mut request = client.http.get(self.url).timeout(client.policy.timeout);
        if let Some(auth) = client.authorization(&self.resource).await? {
            request = request.header(AUTHORIZATION, auth);
        }
        if let Some(tag) = self.etag {
            request = request.header(IF_NONE_MATCH, tag);
        }
        if let Some(media_type) = self.media_type {
            request = request.header(ACCEPT, media_type);
        }
        client.stats.requests.fetch_add(1, Ordering::Relaxed);
        Ok(request)
    }

    async fn read(
        &self,
        response: reqwest::Response,
        attempt: u32,
    ) -> Result<Reading<(reqwest::Response, u32), Option<reqwest::Response>>, ConnectorError> {
        let client = self.client;
        let status = response.status().as_u16();
        let info = RateInfo::from_headers(response.headers());
        client.note_rate(&info);
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| http::parse_retry_after(v, jiff::Timestamp::now()));
        if status == 404 && self.accept_not_found {
            return Ok(Reading::Done((response, attempt)));
        }
        let (answer, response) = if matches!(status, 403 | 429) {
            let body = read_limited(response, ERROR_BODY_LIMIT).await;
            let answer = ratelimit::classify(status, &info, retry_after, &body, now_epoch_secs());
            if answer == Answer::Denied {
                return Err(ConnectorError::Denied {
                    resource: self.resource(),
                    detail: format!("HTTP {status}{}", github_message(&body)),
                });
            }
            (answer, None)
        } else {
            (
                ratelimit::classify(status, &info, retry_after, "", now_epoch_secs()),
                Some(response),
            )
        };
        match (answer, response) {
            (Answer::Accept, Some(response)) => Ok(Reading::Done((response, attempt))),
            (Answer::NotModified, Some(response)) => {
                client.stats.not_modified.fetch_add(1, Ordering::Relaxed);
                Ok(Reading::Done((response, attempt)))
            }
            (Answer::Accept | Answer::NotModified, None) => {
                Err(unusable(&self.resource, format!("HTTP {status}")))
            }
            (Answer::Limited { wait, what }, _) => Ok(Reading::Wait {
                delay: wait.unwrap_or(SECONDARY_LIMIT_DEFAULT_WAIT),
                reason: format!("GitHub {what} on {}", self.resource),
            }),
            (Answer::Retry, response) => Ok(Reading::Status {
                status,
                retry_after,
                held: response,
            }),
            (Answer::Denied, _) => Err(ConnectorError::Denied {
                resource: self.resource(),
                detail: format!("HTTP {status}"),
            }),
            (Answer::NotFound, _) => Err(ConnectorError::NotFound {
                resource: self.resource(),
            }),
            (Answer::Unusable, response) => {
                let body = match response {
                    Some(r) => read_limited(r, ERROR_BODY_LIMIT).await,
                    None => String::new(),
                };
                Err(unusable(
                    &self.resource,
                    format!("HTTP {status}{}", github_message(&body)),
                ))
            }
        }
    }

    async fn accept(
        &self,
        status: u16,
        response: Option<reqwest::Response>,
        attempts: u32,
    ) -> Result<(reqwest::Response, u32), ConnectorError> {
        response
            .map(|r| (r, attempts))
            .ok_or_else(|| unusable(&self.resource, format!("HTTP {status}")))
    }

    async fn refuse(
        &self,
        _status: u16,
        reason: String,
        _response: Option<reqwest::Response>,
        _attempts: u32,
    ) -> ConnectorError {
        ConnectorError::Unreachable {
            resource: self.resource(),
            detail: reason,
        }
    }

    fn exhausted(&self, attempts: u32) -> ConnectorError {
        ConnectorError::RateLimited {
            resource: self.resource(),
            attempts,
        }
    }

    fn transport_what(&self, failure: &TransportFailure) -> String {
        transport_what(failure)
    }

    fn unreachable(
        &self,
        failure: TransportFailure,
        reason: String,
        _attempts: u32,
    ) -> ConnectorError {
        transport_error(self.resource(), self.client.policy.timeout, failure, reason)
    }

    fn interrupted(&self, _waiting: bool, _attempts: u32) -> ConnectorError {
        ConnectorError::Interrupted {
            resource: self.resource(),
        }
    }

    fn retry_text(&self, reason: String) -> String {
        format!("{}: {reason}", self.resource)
    }

    fn retrying(&self, _text: &str, _delay: Duration) {
        self.client.stats.retries.fetch_add(1, Ordering::Relaxed);
    }
}

/// A download in progress.
pub(crate) struct Download {
    /// `Content-Length` of the final answer, when announced.
    pub length: Option<u64>,
    pub reader: Box<dyn AsyncRead + Unpin + Send>,
}

/// The octocrab base URI: the API URL with a trailing slash, so GHES paths join under `/api/v3`.
fn octocrab_base(api_url: &str) -> String {
    format!("{}/", api_url.trim_end_matches('/'))
}

fn version_header() -> reqwest::header::HeaderName {
    reqwest::header::HeaderName::from_static("x-github-api-version")
}

fn octocrab_error(e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Config(format!("octocrab client: {e}"))
}

/// Read at most `limit` bytes of an error body, as text.
pub(super) async fn read_limited(response: reqwest::Response, limit: usize) -> String {
    let mut out = Vec::new();
    let mut stream = response.bytes_stream();
    while let Ok(Some(chunk)) = stream.try_next().await {
        out.extend_from_slice(&chunk);
        if out.len() >= limit {
            out.truncate(limit);
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `: <message>` from a GitHub error body, for error messages.
pub(super) fn github_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .map(|m| format!(": {}", m.chars().take(200).collect::<String>()))
        .unwrap_or_default()
}

/// What a transport failure was, for retry messages: the same words for every GitHub request.
pub(crate) fn transport_what(failure: &TransportFailure) -> String {
    if failure.is_timeout() {
        "timed out"
    } else {
        "connection failed"
    }
    .to_owned()
}

/// The error a request to `resource` ends with when the transport kept failing.
pub(crate) fn transport_error(
    resource: String,
    timeout: std::time::Duration,
    failure: TransportFailure,
    reason: String,
) -> ConnectorError {
    if failure.is_timeout() {
        ConnectorError::Timeout { resource, timeout }
    } else {
        ConnectorError::Unreachable {
            resource,
            detail: reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_other_relations() {
        let h = r#"<https://api.github.com/repositories/1/pulls?page=3>; rel="next", <https://api.github.com/repositories/1/pulls?page=9>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/pulls?page=3")
        );
        assert_eq!(
            next_link(r#"<https://x/a?page=1>; rel="prev""#),
            None,
            "the last page has no next"
        );
    }

    #[test]
    fn only_urls_under_the_api_base_may_carry_credentials() {
        let api = reqwest::Url::parse("https://ghe.example.com/api/v3/").unwrap();
        assert!(is_api_url(
            &api,
            "https://ghe.example.com/api/v3/repos/a/b/pulls?page=2"
        ));
        assert!(!is_api_url(&api, "https://evil.example.com/api/v3/repos"));
        assert!(!is_api_url(&api, "https://ghe.example.com/other"));
        assert!(!is_api_url(&api, "http://ghe.example.com/api/v3/repos"));
    }

    #[test]
    fn shown_urls_keep_path_and_query_only() {
        assert_eq!(
            shown("https://user:pw@h.example/api/v3/repos/a/b?page=2"),
            "/api/v3/repos/a/b?page=2"
        );
    }

    #[test]
    fn error_bodies_contribute_their_message() {
        assert_eq!(
            github_message(r#"{"message":"Not Found","documentation_url":"x"}"#),
            ": Not Found"
        );
        assert_eq!(github_message("<html>"), "");
    }
}
