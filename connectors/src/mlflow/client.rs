//! The MLflow REST client: URLs, authentication, requests with the shared retry policy, JSON
//! answers, and failures as gap categories.

use evidence_model::{GapCategory, GapRecord, Timestamp};
use serde_json::Value;

use super::MlflowConnector;
use super::config::Auth;
use crate::connector::{CollectContext, ConnectorError};
use crate::http::{self, Exchange, Reading, TransportFailure};
use crate::sink::ItemSink;

/// A failure while reading one part of the source.
pub(super) struct Failure {
    pub(super) category: GapCategory,
    pub(super) message: String,
    pub(super) attempts: u32,
}

impl Failure {
    pub(super) fn into_error(self, resource: &str) -> ConnectorError {
        let detail = self.message;
        let resource = resource.to_owned();
        match self.category {
            GapCategory::Denied => ConnectorError::Denied { resource, detail },
            GapCategory::NotFound => ConnectorError::NotFound { resource },
            GapCategory::RateLimited => ConnectorError::RateLimited {
                resource,
                attempts: self.attempts,
            },
            GapCategory::Unreachable | GapCategory::Timeout => {
                ConnectorError::Unreachable { resource, detail }
            }
            GapCategory::Interrupted => ConnectorError::Interrupted { resource },
            _ => ConnectorError::InvalidResponse { resource, detail },
        }
    }
}

pub(super) fn category_for_status(status: u16) -> GapCategory {
    match status {
        401 | 403 => GapCategory::Denied,
        404 => GapCategory::NotFound,
        429 => GapCategory::RateLimited,
        408 | 504 => GapCategory::Timeout,
        500..=599 => GapCategory::Unreachable,
        _ => GapCategory::InvalidResponse,
    }
}

/// A reqwest error's text without the URL (query strings may carry ids; never credentials, but
/// keep messages short and stable).
pub(super) fn strip_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

impl MlflowConnector {
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub(super) fn authorise(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => r,
            Auth::Bearer(t) => r.bearer_auth(t.expose()),
            Auth::Basic { user, password } => r.basic_auth(user, Some(password.expose())),
        }
    }

    /// Send a request built by `build`, retrying 5xx, 429 and transport failures with backoff
    /// (honouring `Retry-After`). Waits show in the progress display and stop on shutdown.
    pub(super) async fn send(
        &self,
        build: &(dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
        what: &str,
        ctx: &CollectContext<'_>,
        whole_timeout: bool,
    ) -> Result<reqwest::Response, Failure> {
        let exchange = MlflowExchange {
            connector: self,
            build,
            what,
            whole_timeout,
        };
        http::send_with_retry(&exchange, &self.policy, ctx, None).await
    }

    /// GET or POST a JSON endpoint and parse the answer.
    pub(super) async fn json(
        &self,
        build: &(dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
        what: &str,
        ctx: &CollectContext<'_>,
    ) -> Result<Value, Failure> {
        let response = self.send(build, what, ctx, true).await?;
        let bytes = response.bytes().await.map_err(|e| Failure {
            category: GapCategory::InvalidResponse,
            message: format!("{what}: the body could not be read: {}", strip_url(&e)),
            attempts: 1,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Failure {
            category: GapCategory::InvalidResponse,
            message: format!("{what}: the answer is not JSON: {e}"),
            attempts: 1,
        })
    }

    pub(super) fn gap(&self, scope: &str, f: Failure, sink: &dyn ItemSink) -> GapRecord {
        let mut g = GapRecord::new(
            "mlflow",
            self.name.clone(),
            scope,
            f.category,
            f.message,
            sink.collected_at(),
        );
        g.attempts = f.attempts.max(1);
        g
    }
}

/// One MLflow request: the answer is the response itself, whatever its status, once the
/// retry policy accepts it.
struct MlflowExchange<'a> {
    connector: &'a MlflowConnector,
    build: &'a (dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
    what: &'a str,
    /// Bound the whole request (API calls), not only each read (downloads).
    whole_timeout: bool,
}

#[async_trait::async_trait]
impl Exchange for MlflowExchange<'_> {
    type Output = reqwest::Response;
    type Held = reqwest::Response;
    type Error = Failure;

    async fn request(&self, _ctx: &CollectContext<'_>) -> Result<reqwest::RequestBuilder, Failure> {
        let request = self.connector.authorise((self.build)());
        Ok(if self.whole_timeout {
            request.timeout(self.connector.policy.timeout)
        } else {
            request
        })
    }

    async fn read(
        &self,
        response: reqwest::Response,
        _attempt: u32,
    ) -> Result<Reading<reqwest::Response, reqwest::Response>, Failure> {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| http::parse_retry_after(v, Timestamp::now()));
        Ok(Reading::Status {
            status: response.status().as_u16(),
            retry_after,
            held: response,
        })
    }

    async fn accept(
        &self,
        _status: u16,
        response: reqwest::Response,
        _attempts: u32,
    ) -> Result<reqwest::Response, Failure> {
        Ok(response)
    }

    async fn refuse(
        &self,
        status: u16,
        reason: String,
        response: reqwest::Response,
        attempts: u32,
    ) -> Failure {
        let what = self.what;
        let body = response.text().await.unwrap_or_default();
        let code = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
            v.get("error_code")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let mut category = category_for_status(status);
        if code.as_deref() == Some("RESOURCE_DOES_NOT_EXIST") {
            category = GapCategory::NotFound;
        }
        Failure {
            category,
            message: format!(
                "{what}: {reason}{}",
                code.map(|c| format!(" ({c})")).unwrap_or_default()
            ),
            attempts,
        }
    }

    fn exhausted(&self, attempts: u32) -> Failure {
        Failure {
            category: GapCategory::RateLimited,
            message: format!("{}: rate limited after {attempts} attempts", self.what),
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

    fn unreachable(&self, failure: TransportFailure, _reason: String, attempts: u32) -> Failure {
        let category = if failure.is_timeout() {
            GapCategory::Timeout
        } else {
            GapCategory::Unreachable
        };
        let detail = match &failure {
            TransportFailure::Failed(e) => strip_url(e),
            TransportFailure::Elapsed => {
                format!("no answer within {:?}", self.connector.policy.timeout)
            }
            TransportFailure::BrokenOff(detail) => detail.clone(),
        };
        Failure {
            category,
            message: format!("{}: {detail} after {attempts} attempt(s)", self.what),
            attempts,
        }
    }

    fn interrupted(&self, waiting: bool, attempts: u32) -> Failure {
        let what = self.what;
        let message = if waiting {
            format!("interrupted while waiting to retry {what}")
        } else {
            format!("interrupted while requesting {what}")
        };
        Failure {
            category: GapCategory::Interrupted,
            message,
            attempts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_gap_categories() {
        assert_eq!(category_for_status(401), GapCategory::Denied);
        assert_eq!(category_for_status(404), GapCategory::NotFound);
        assert_eq!(category_for_status(429), GapCategory::RateLimited);
        assert_eq!(category_for_status(503), GapCategory::Unreachable);
        assert_eq!(category_for_status(400), GapCategory::InvalidResponse);
    }
}
