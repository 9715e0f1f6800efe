//! GitHub's GraphQL API (`POST {api}/graphql`) through the kit's retry loop: the same token,
//! pause for the primary limit and secondary-limit waits as REST; a `RATE_LIMITED` answer waits
//! for the window's reset; an answer too heavy for GitHub (the node limit, a query that timed
//! out, a 502 or 504) is handed back as such so the caller can split it; partial `errors` next
//! to `data` are kept for the caller. Every answer's `rateLimit.cost` is summed in the stats.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use super::client::{
    Client, github_message, now_epoch_secs, read_limited, transport_error, transport_what, unusable,
};
use super::ratelimit::{self, Answer, RateInfo, SECONDARY_LIMIT_DEFAULT_WAIT};
use crate::connector::{CollectContext, ConnectorError};
use crate::http::{self, Exchange, Reading, TransportFailure};

/// How error bodies are named in messages (never with the token).
const RESOURCE: &str = "GitHub GraphQL API (POST /graphql)";

/// The GraphQL endpoint of `api_url`: `https://api.github.com/graphql`, or for GitHub
/// Enterprise Server (`https://HOST/api/v3`) `https://HOST/api/graphql`.
pub(crate) fn endpoint(api_url: &str) -> String {
    let base = api_url.trim_end_matches('/');
    match base.strip_suffix("/v3") {
        Some(api) if api.ends_with("/api") => format!("{api}/graphql"),
        _ => format!("{base}/graphql"),
    }
}

/// One step of an error's `path`: a field name or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathStep {
    Field(String),
    Index(usize),
}

/// One entry of an answer's `errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphqlError {
    /// GitHub's `type` (`RATE_LIMITED`, `NOT_FOUND`, `MAX_NODE_LIMIT_EXCEEDED`, …).
    pub kind: Option<String>,
    pub message: String,
    pub path: Vec<PathStep>,
}

impl GraphqlError {
    fn from_json(v: &Value) -> Self {
        let path = v
            .get("path")
            .and_then(Value::as_array)
            .map(|steps| {
                steps
                    .iter()
                    .filter_map(|s| match s {
                        Value::String(f) => Some(PathStep::Field(f.clone())),
                        Value::Number(n) => n
                            .as_u64()
                            .and_then(|i| usize::try_from(i).ok())
                            .map(PathStep::Index),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            kind: v.get("type").and_then(Value::as_str).map(str::to_owned),
            message: v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .chars()
                .take(300)
                .collect(),
            path,
        }
    }

    /// True for an error saying the query asked too much of GitHub: the node limit, a
    /// complexity or cost limit, or a query that timed out on GitHub's side.
    pub(crate) fn is_too_heavy(&self) -> bool {
        let kind = self.kind.as_deref().unwrap_or("");
        let message = self.message.to_ascii_lowercase();
        kind == "MAX_NODE_LIMIT_EXCEEDED"
            || kind == "EXCESSIVE_PAGINATION"
            || message.contains("too expensive")
            || message.contains("node limit")
            || message.contains("timeout")
            || message.contains("timed out")
    }
}

/// The errors of an answer.
pub(crate) fn errors_of(json: &Value) -> Vec<GraphqlError> {
    json.get("errors")
        .and_then(Value::as_array)
        .map(|e| e.iter().map(GraphqlError::from_json).collect())
        .unwrap_or_default()
}

/// A query with its variables.
#[derive(Debug, Clone)]
pub(crate) struct Query<'a> {
    pub text: &'a str,
    pub variables: Value,
}

/// An answer with `data` (possibly with partial `errors`).
#[derive(Debug, Clone)]
pub(crate) struct Answered {
    /// The body exactly as received.
    pub body: Bytes,
    pub json: Value,
    pub errors: Vec<GraphqlError>,
    /// `rateLimit.cost` as GitHub reported it.
    pub cost: Option<u64>,
}

/// What a query got.
#[derive(Debug, Clone)]
pub(crate) enum Posted {
    Data(Answered),
    /// The query asked too much of GitHub (node limit, too expensive, timed out, 502/504):
    /// ask again with smaller pages.
    TooHeavy(String),
}

/// What one answer's envelope means, without IO.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Envelope {
    /// `data` is there (with or without partial errors).
    Data,
    /// `RATE_LIMITED`: wait for the window's reset.
    RateLimited,
    /// Too heavy: split.
    TooHeavy(String),
    /// Errors and no data: the query failed for a reason splitting does not cure.
    Failed { not_found: bool, detail: String },
}

/// Classify an answer's body.
pub(crate) fn envelope(json: &Value) -> Envelope {
    let errors = errors_of(json);
    if errors
        .iter()
        .any(|e| e.kind.as_deref() == Some("RATE_LIMITED"))
    {
        return Envelope::RateLimited;
    }
    let has_data = json.get("data").is_some_and(|d| !d.is_null());
    if let Some(heavy) = errors.iter().find(|e| e.is_too_heavy())
        && !has_data
    {
        return Envelope::TooHeavy(heavy.message.clone());
    }
    if has_data {
        return Envelope::Data;
    }
    let detail = if errors.is_empty() {
        "the answer has neither data nor errors".to_owned()
    } else {
        errors
            .iter()
            .map(|e| match &e.kind {
                Some(kind) => format!("{kind}: {}", e.message),
                None => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    Envelope::Failed {
        not_found: errors
            .iter()
            .any(|e| e.kind.as_deref() == Some("NOT_FOUND")),
        detail,
    }
}

impl Client {
    /// Send `query` and return its answer. Transport failures, 5xx other than 502/504,
    /// secondary limits and `RATE_LIMITED` are retried and waited out under the policy;
    /// `Posted::TooHeavy` asks the caller to split.
    pub(crate) async fn graphql(
        &self,
        query: &Query<'_>,
        what: &str,
        ctx: &CollectContext<'_>,
    ) -> Result<Posted, ConnectorError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "query": query.text,
            "variables": query.variables,
        }))
        .map_err(|e| unusable(RESOURCE, format!("the query cannot be encoded: {e}")))?;
        let exchange = GraphqlPost {
            client: self,
            body: Bytes::from(body),
            what,
        };
        let posted = http::send_with_retry(&exchange, &self.policy, ctx, None).await?;
        if let Posted::Data(answer) = &posted {
            self.stats.graphql_queries.fetch_add(1, Ordering::Relaxed);
            self.stats
                .graphql_cost
                .fetch_add(answer.cost.unwrap_or(1), Ordering::Relaxed);
        }
        Ok(posted)
    }
}

/// One `POST /graphql`.
struct GraphqlPost<'a> {
    client: &'a Client,
    body: Bytes,
    /// What is being asked, for messages (`acme/model pull requests`).
    what: &'a str,
}

impl GraphqlPost<'_> {
    fn resource(&self) -> String {
        format!("{RESOURCE} for {}", self.what)
    }
}

/// The wait a `RATE_LIMITED` answer asks for: until `x-ratelimit-reset`, else GitHub's minute.
fn rate_limited_wait(info: &RateInfo, now_epoch_secs: i64) -> Duration {
    info.until_reset(now_epoch_secs)
        .unwrap_or(SECONDARY_LIMIT_DEFAULT_WAIT)
}

#[async_trait::async_trait]
impl Exchange for GraphqlPost<'_> {
    type Output = Posted;
    type Held = ();
    type Error = ConnectorError;

    async fn request(
        &self,
        ctx: &CollectContext<'_>,
    ) -> Result<reqwest::RequestBuilder, ConnectorError> {
        let client = self.client;
        client.respect_pause(ctx, RESOURCE).await?;
        let mut request = client
            .http
            .post(&client.graphql_url)
            .timeout(client.policy.timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(self.body.clone());
        if let Some(auth) = client.authorization(RESOURCE).await? {
            request = request.header(AUTHORIZATION, auth);
        }
        client.stats.requests.fetch_add(1, Ordering::Relaxed);
        Ok(request)
    }

    async fn read(
        &self,
        response: reqwest::Response,
        _attempt: u32,
    ) -> Result<Reading<Posted, ()>, ConnectorError> {
        let client = self.client;
        let status = response.status().as_u16();
        let info = RateInfo::from_headers(response.headers());
        client.note_rate(&info);
        let now = now_epoch_secs();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| http::parse_retry_after(v, jiff::Timestamp::now()));
        match status {
            200 => {}
            502 | 504 => {
                return Ok(Reading::Done(Posted::TooHeavy(format!(
                    "HTTP {status} (GitHub gives up on queries that take too long)"
                ))));
            }
            401 => {
                let body = read_limited(response, 4096).await;
                return Err(ConnectorError::Denied {
                    resource: self.resource(),
                    detail: format!("HTTP 401{}: the token was refused", github_message(&body)),
                });
            }
            403 | 429 => {
                let body = read_limited(response, 4096).await;
                return match ratelimit::classify(status, &info, retry_after, &body, now) {
                    Answer::Limited { wait, what } => Ok(Reading::Wait {
                        delay: wait.unwrap_or(SECONDARY_LIMIT_DEFAULT_WAIT),
                        reason: format!("GitHub {what} on {}", self.resource()),
                    }),
                    _ => Err(ConnectorError::Denied {
                        resource: self.resource(),
                        detail: format!("HTTP {status}{}", github_message(&body)),
                    }),
                };
            }
            // No GraphQL endpoint here (an old GitHub Enterprise Server, a REST-only proxy).
            404 | 410 | 501 => {
                client.stats.graphql_absent.store(true, Ordering::Relaxed);
                let body = read_limited(response, 4096).await;
                return Err(unusable(
                    &self.resource(),
                    format!("HTTP {status}{}", github_message(&body)),
                ));
            }
            408 | 500..=599 => {
                return Ok(Reading::Status {
                    status,
                    retry_after,
                    held: (),
                });
            }
            _ => {
                let body = read_limited(response, 4096).await;
                return Err(unusable(
                    &self.resource(),
                    format!("HTTP {status}{}", github_message(&body)),
                ));
            }
        }
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => {
                return Ok(Reading::BrokenOff("reading the body timed out".into()));
            }
            Err(_) => return Ok(Reading::BrokenOff("the body broke off".into())),
        };
        let json: Value = match serde_json::from_slice(&body) {
            Ok(j) => j,
            Err(e) => {
                return Ok(Reading::BrokenOff(format!(
                    "the body is not complete JSON ({e})"
                )));
            }
        };
        match envelope(&json) {
            Envelope::Data => {
                let cost = json["data"]["rateLimit"]["cost"].as_u64();
                Ok(Reading::Done(Posted::Data(Answered {
                    errors: errors_of(&json),
                    body,
                    json,
                    cost,
                })))
            }
            Envelope::RateLimited => Ok(Reading::Wait {
                delay: rate_limited_wait(&info, now),
                reason: format!(
                    "GitHub's GraphQL rate limit (RATE_LIMITED) on {}",
                    self.what
                ),
            }),
            Envelope::TooHeavy(detail) => Ok(Reading::Done(Posted::TooHeavy(detail))),
            Envelope::Failed { not_found, detail } => Err(if not_found {
                ConnectorError::NotFound {
                    resource: format!("{} ({detail})", self.resource()),
                }
            } else {
                unusable(&self.resource(), detail)
            }),
        }
    }

    async fn accept(
        &self,
        status: u16,
        _held: (),
        _attempts: u32,
    ) -> Result<Posted, ConnectorError> {
        Err(unusable(&self.resource(), format!("HTTP {status}")))
    }

    async fn refuse(
        &self,
        _status: u16,
        reason: String,
        _held: (),
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
        format!("{}: {reason}", self.resource())
    }

    fn retrying(&self, _text: &str, _delay: Duration) {
        self.client.stats.retries.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_endpoint_of_github_com_and_of_an_enterprise_server() {
        assert_eq!(
            endpoint("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            endpoint("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/api/graphql"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:9/"),
            "http://127.0.0.1:9/graphql"
        );
    }

    #[test]
    fn rate_limited_answers_wait_and_heavy_ones_split() {
        let limited = json!({"data": null, "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]});
        assert_eq!(envelope(&limited), Envelope::RateLimited);
        let nodes = json!({"errors": [{"type": "MAX_NODE_LIMIT_EXCEEDED", "message": "This query requests up to 600,000 possible nodes which exceeds the maximum limit of 500,000."}]});
        assert!(matches!(envelope(&nodes), Envelope::TooHeavy(_)));
        let timeout = json!({"data": null, "errors": [{"message": "Something went wrong while executing your query. This may be the result of a timeout, or it could be a GitHub bug."}]});
        assert!(matches!(envelope(&timeout), Envelope::TooHeavy(_)));
    }

    #[test]
    fn partial_errors_next_to_data_keep_the_data_and_their_path() {
        let partial = json!({
            "data": {"repository": {"pullRequests": {"nodes": [null]}}},
            "errors": [{"type": "FORBIDDEN", "message": "no", "path": ["repository", "pullRequests", "nodes", 0]}]
        });
        assert_eq!(envelope(&partial), Envelope::Data);
        assert_eq!(
            errors_of(&partial)[0].path,
            [
                PathStep::Field("repository".into()),
                PathStep::Field("pullRequests".into()),
                PathStep::Field("nodes".into()),
                PathStep::Index(0)
            ]
        );
        let missing = json!({"data": {"repository": null}, "errors": [{"type": "NOT_FOUND", "message": "Could not resolve to a Repository"}]});
        assert_eq!(envelope(&missing), Envelope::Data);
        let failed = json!({"errors": [{"type": "NOT_FOUND", "message": "gone"}]});
        assert!(matches!(
            envelope(&failed),
            Envelope::Failed {
                not_found: true,
                ..
            }
        ));
    }

    #[test]
    fn a_rate_limited_answer_waits_until_the_reset() {
        let info = RateInfo {
            reset_epoch_secs: Some(1_000),
            ..RateInfo::default()
        };
        assert_eq!(rate_limited_wait(&info, 970), Duration::from_secs(31));
        assert_eq!(
            rate_limited_wait(&RateInfo::default(), 970),
            SECONDARY_LIMIT_DEFAULT_WAIT
        );
    }
}
