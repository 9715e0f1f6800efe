//! The Jira Cloud REST client: credentials from the environment, one request with the shared
//! retry policy (429 with `Retry-After` or `X-RateLimit-Reset`, 5xx, timeouts, resets), waits
//! that show in the progress display and stop on shutdown, and HTTP failures mapped to the
//! connector's error categories with messages that name the resource and never a credential.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::config::AuthConfig;
use crate::connector::{CollectContext, ConnectorError};
use crate::http::{self, Exchange, Reading, RetryPolicy, TransportFailure};
use crate::secret::Secret;

/// Largest response body accepted; Jira's pages are far smaller.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Path of the enhanced JQL search, the successor of the removed `/rest/api/3/search`.
pub(super) const SEARCH_PATH: &str = "/rest/api/3/search/jql";

/// Jira credentials: an account's e-mail address with an API token (basic authentication), or
/// an OAuth 2.0 access token (bearer). Tokens never print.
#[derive(Debug, Clone)]
pub enum Credentials {
    Basic { email: String, token: Secret },
    Bearer { token: Secret },
}

impl Credentials {
    /// Read the variables `auth` names; a missing one is an access failure naming the variable.
    pub(crate) fn from_env(auth: &AuthConfig, site: &str) -> Result<Self, ConnectorError> {
        let missing = |var: &str| ConnectorError::Denied {
            resource: format!("Jira site {site}"),
            detail: format!("environment variable {var} is not set"),
        };
        match auth {
            AuthConfig::Basic {
                email_env,
                token_env,
            } => {
                let email = Secret::from_env(email_env).ok_or_else(|| missing(email_env))?;
                let token = Secret::from_env(token_env).ok_or_else(|| missing(token_env))?;
                Ok(Credentials::Basic {
                    email: email.expose().to_owned(),
                    token,
                })
            }
            AuthConfig::Bearer { token_env } => Ok(Credentials::Bearer {
                token: Secret::from_env(token_env).ok_or_else(|| missing(token_env))?,
            }),
        }
    }

    fn token(&self) -> &Secret {
        match self {
            Credentials::Basic { token, .. } | Credentials::Bearer { token } => token,
        }
    }

    fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Credentials::Basic { email, token } => request.basic_auth(email, Some(token.expose())),
            Credentials::Bearer { token } => request.bearer_auth(token.expose()),
        }
    }
}

/// A signed-in session against one site.
#[derive(Debug)]
pub(super) struct Session<'a> {
    pub http: &'a reqwest::Client,
    pub site: &'a str,
    pub credentials: Credentials,
    pub policy: &'a RetryPolicy,
    /// Names the credentials' variables in access-denied messages.
    pub auth_hint: String,
}

/// The account the connector runs as (`/rest/api/3/myself`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Myself {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// One page of `/rest/api/3/search/jql`, issues kept as the bytes Jira sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SearchPage {
    #[serde(default)]
    pub issues: Vec<Box<RawValue>>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub is_last: Option<bool>,
}

/// One page of `/rest/api/3/issue/{key}/changelog`, entries kept as the bytes Jira sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ChangelogPage {
    #[serde(default)]
    pub values: Vec<Box<RawValue>>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub is_last: Option<bool>,
}

/// The body of a search request.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest<'a> {
    jql: &'a str,
    max_results: u32,
    fields: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<&'a str>,
}

/// Jira's error body: `{"errorMessages": [...], "errors": {"field": "message"}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    error_messages: Vec<String>,
    #[serde(default)]
    errors: std::collections::BTreeMap<String, String>,
}

/// Parse `X-RateLimit-Reset`, an ISO 8601 time such as `2026-01-15T10:31Z`, into a wait.
pub(super) fn parse_rate_limit_reset(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    let at = value.parse::<Timestamp>().ok().or_else(|| {
        jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M%:z", value.replace('Z', "+00:00"))
            .ok()?
            .to_timestamp()
            .ok()
    })?;
    let delta = at.as_second() - now.as_second();
    Some(Duration::from_secs(u64::try_from(delta).unwrap_or(0)))
}

/// The wait a refused attempt asks for: `Retry-After` first, then, for 429, the reset time.
fn requested_wait(response: &reqwest::Response, now: Timestamp) -> Option<Duration> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(d) = header("retry-after").and_then(|v| http::parse_retry_after(&v, now)) {
        return Some(d);
    }
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        return header("x-ratelimit-reset").and_then(|v| parse_rate_limit_reset(&v, now));
    }
    None
}

/// A one-line description of a transport error and its causes.
fn transport_detail(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Read a body up to [`MAX_BODY_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_detail(&e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!(
                "the response is larger than {MAX_BODY_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What Jira said about a failure: its error messages, or the start of the body.
fn error_text(body: &[u8]) -> String {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let mut text = match parsed {
        Some(e) if !e.error_messages.is_empty() || !e.errors.is_empty() => e
            .error_messages
            .into_iter()
            .chain(e.errors.into_iter().map(|(k, v)| format!("{k}: {v}")))
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::from_utf8_lossy(body).chars().take(200).collect(),
    };
    text.retain(|c| !c.is_control());
    text.chars().take(500).collect()
}

impl Session<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.site)
    }

    /// Remove the credential from a message, should a server ever echo it back.
    fn scrub(&self, text: String) -> String {
        let token = self.credentials.token().expose();
        if token.len() >= 4 && text.contains(token) {
            text.replace(token, "***")
        } else {
            text
        }
    }

    /// Send a request (rebuilt for every attempt) and return the body of its 2xx answer.
    /// `resource` names what is read, for messages.
    pub(super) async fn send(
        &self,
        ctx: &CollectContext<'_>,
        resource: &str,
        build: &(dyn Fn() -> RequestBuilder + Send + Sync),
    ) -> Result<Vec<u8>, ConnectorError> {
        let exchange = JiraExchange {
            session: self,
            resource,
            build,
        };
        http::send_with_retry(&exchange, self.policy, ctx, Some(self.policy.timeout)).await
    }

    /// Map a refused request to an error category with a message an operator can act on.
    fn failure(
        &self,
        resource: &str,
        status: StatusCode,
        attempts: u32,
        reason: String,
        body: &[u8],
    ) -> ConnectorError {
        let said = self.scrub(error_text(body));
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        let resource = resource.to_owned();
        match status.as_u16() {
            401 => ConnectorError::Denied {
                resource,
                detail: format!(
                    "HTTP 401 Unauthorized: the credentials were refused; check {}{said}",
                    self.auth_hint
                ),
            },
            403 => ConnectorError::Denied {
                resource,
                detail: format!("HTTP 403 Forbidden: the account lacks permission{said}"),
            },
            404 => ConnectorError::NotFound { resource },
            410 => ConnectorError::InvalidResponse {
                resource,
                detail: format!(
                    "HTTP 410 Gone: Jira Cloud removed its old search API (/rest/api/3/search); this connector uses {SEARCH_PATH}, and the site answered that it is gone too, so check that `site` is a Jira Cloud site{said}"
                ),
            },
            400 => {
                ConnectorError::Config(format!("{resource} rejected the request (HTTP 400){said}"))
            }
            429 => ConnectorError::RateLimited { resource, attempts },
            500..=599 | 408 => ConnectorError::Unreachable {
                resource,
                detail: format!("{reason}{said}"),
            },
            _ => ConnectorError::InvalidResponse {
                resource,
                detail: format!("{reason}{said}"),
            },
        }
    }

    /// GET a JSON document.
    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        ctx: &CollectContext<'_>,
        resource: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ConnectorError> {
        let url = reqwest::Url::parse_with_params(&self.url(path), query).map_err(|e| {
            ConnectorError::Config(format!("{resource}: cannot form the request URL: {e}"))
        })?;
        let body = self
            .send(ctx, resource, &|| {
                self.http
                    .request(Method::GET, url.clone())
                    .header("Accept", "application/json")
            })
            .await?;
        parse(resource, &body)
    }

    /// The account the credentials belong to.
    pub(super) async fn myself(&self, ctx: &CollectContext<'_>) -> Result<Myself, ConnectorError> {
        let resource = format!("Jira account at {}", self.url("/rest/api/3/myself"));
        self.get_json(ctx, &resource, "/rest/api/3/myself", &[])
            .await
    }

    /// One page of a JQL search.
    pub(super) async fn search(
        &self,
        ctx: &CollectContext<'_>,
        jql: &str,
        fields: &[String],
        page_size: u32,
        next_page_token: Option<&str>,
    ) -> Result<SearchPage, ConnectorError> {
        let url = self.url(SEARCH_PATH);
        let resource = format!("Jira search {url}");
        let body = SearchRequest {
            jql,
            max_results: page_size,
            fields,
            next_page_token,
        };
        let body = self
            .send(ctx, &resource, &|| {
                self.http
                    .request(Method::POST, &url)
                    .header("Accept", "application/json")
                    .json(&body)
            })
            .await?;
        parse(&resource, &body)
    }

    /// One page of an issue's changelog.
    pub(super) async fn changelog_page(
        &self,
        ctx: &CollectContext<'_>,
        key: &str,
        start_at: u64,
        page_size: u32,
    ) -> Result<ChangelogPage, ConnectorError> {
        let path = format!("/rest/api/3/issue/{key}/changelog");
        let resource = format!("changelog of {key}");
        self.get_json(
            ctx,
            &resource,
            &path,
            &[
                ("startAt", start_at.to_string()),
                ("maxResults", page_size.to_string()),
            ],
        )
        .await
    }

    /// An issue's remote links, as the bytes Jira sent (a JSON array).
    pub(super) async fn remote_links(
        &self,
        ctx: &CollectContext<'_>,
        key: &str,
    ) -> Result<Box<RawValue>, ConnectorError> {
        let path = format!("/rest/api/3/issue/{key}/remotelink");
        let resource = format!("remote links of {key}");
        self.get_json(ctx, &resource, &path, &[]).await
    }
}

/// One Jira request: the answer is the body of a 2xx response, read whole (and bounded) within
/// the attempt's timeout.
struct JiraExchange<'a> {
    session: &'a Session<'a>,
    resource: &'a str,
    build: &'a (dyn Fn() -> RequestBuilder + Send + Sync),
}

#[async_trait::async_trait]
impl Exchange for JiraExchange<'_> {
    type Output = Vec<u8>;
    /// The refused answer's status and body.
    type Held = (StatusCode, Vec<u8>);
    type Error = ConnectorError;

    async fn request(&self, _ctx: &CollectContext<'_>) -> Result<RequestBuilder, ConnectorError> {
        Ok(self.session.credentials.apply((self.build)()))
    }

    async fn read(
        &self,
        response: reqwest::Response,
        _attempt: u32,
    ) -> Result<Reading<Vec<u8>, (StatusCode, Vec<u8>)>, ConnectorError> {
        let status = response.status();
        if status.is_success() {
            return Ok(match read_body(response).await {
                Ok(body) => Reading::Done(body),
                Err(e) => Reading::BrokenOff(format!("reading the response failed: {e}")),
            });
        }
        let retry_after = requested_wait(&response, Timestamp::now());
        let body = read_body(response).await.unwrap_or_default();
        Ok(Reading::Status {
            status: status.as_u16(),
            retry_after,
            held: (status, body),
        })
    }

    async fn accept(
        &self,
        status: u16,
        _held: (StatusCode, Vec<u8>),
        _attempts: u32,
    ) -> Result<Vec<u8>, ConnectorError> {
        // Only a 3xx the client did not follow gets here: not an answer to read.
        Err(ConnectorError::InvalidResponse {
            resource: self.resource.to_owned(),
            detail: format!("HTTP {status}"),
        })
    }

    async fn refuse(
        &self,
        _status: u16,
        reason: String,
        (status, body): (StatusCode, Vec<u8>),
        attempts: u32,
    ) -> ConnectorError {
        self.session
            .failure(self.resource, status, attempts, reason, &body)
    }

    fn exhausted(&self, attempts: u32) -> ConnectorError {
        ConnectorError::RateLimited {
            resource: self.resource.to_owned(),
            attempts,
        }
    }

    fn transport_what(&self, failure: &TransportFailure) -> String {
        match failure {
            TransportFailure::Elapsed => "timed out".to_owned(),
            TransportFailure::Failed(e) => self.session.scrub(transport_detail(e)),
            TransportFailure::BrokenOff(detail) => self.session.scrub(detail.clone()),
        }
    }

    fn unreachable(
        &self,
        failure: TransportFailure,
        reason: String,
        _attempts: u32,
    ) -> ConnectorError {
        let resource = self.resource.to_owned();
        match failure {
            TransportFailure::Elapsed => ConnectorError::Timeout {
                resource,
                timeout: self.session.policy.timeout,
            },
            _ => ConnectorError::Unreachable {
                resource,
                detail: reason,
            },
        }
    }

    fn interrupted(&self, _waiting: bool, _attempts: u32) -> ConnectorError {
        ConnectorError::Interrupted {
            resource: self.resource.to_owned(),
        }
    }

    fn retrying(&self, text: &str, delay: Duration) {
        let resource = self.resource;
        tracing::debug!(resource, ?delay, "{text}");
    }
}

fn parse<T: serde::de::DeserializeOwned>(resource: &str, body: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(body).map_err(|e| ConnectorError::InvalidResponse {
        resource: resource.to_owned(),
        detail: format!("not the expected JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_reset_in_minutes_parses_into_a_wait() {
        let now: Timestamp = "2026-01-15T10:30:20Z".parse().unwrap();
        assert_eq!(
            parse_rate_limit_reset("2026-01-15T10:31Z", now),
            Some(Duration::from_secs(40))
        );
        assert_eq!(
            parse_rate_limit_reset("2026-01-15T10:31:30Z", now),
            Some(Duration::from_secs(70))
        );
        assert_eq!(
            parse_rate_limit_reset("2026-01-15T10:00Z", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_rate_limit_reset("tomorrow", now), None);
    }

    #[test]
    fn jira_error_bodies_become_one_line() {
        let body = br#"{"errorMessages":["The value 'NOPE' does not exist for the field 'project'."],"errors":{"jql":"bad\nquery"}}"#;
        assert_eq!(
            error_text(body),
            "The value 'NOPE' does not exist for the field 'project'.; jql: badquery"
        );
        assert_eq!(error_text(b"<html>oops</html>"), "<html>oops</html>");
    }
}
