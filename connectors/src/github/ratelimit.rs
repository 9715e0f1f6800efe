//! GitHub's answers, classified without IO: the primary rate limit (`x-ratelimit-*`), the
//! secondary limits (403/429 with `retry-after`, or a message saying so), and which failures are
//! worth another attempt. The client does the waiting.

use std::time::Duration;

/// GitHub's documented wait when a secondary limit gives no `retry-after`: at least a minute.
pub(crate) const SECONDARY_LIMIT_DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// The `x-ratelimit-*` headers of one response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RateInfo {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Epoch seconds when the window resets.
    pub reset_epoch_secs: Option<i64>,
    /// `core`, `search`, …
    pub resource: Option<String>,
}

impl RateInfo {
    /// Read the headers (missing or malformed values stay `None`).
    pub(crate) fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            limit: text("x-ratelimit-limit").and_then(|v| v.trim().parse().ok()),
            remaining: text("x-ratelimit-remaining").and_then(|v| v.trim().parse().ok()),
            reset_epoch_secs: text("x-ratelimit-reset").and_then(|v| v.trim().parse().ok()),
            resource: text("x-ratelimit-resource").map(str::to_owned),
        }
    }

    /// Seconds until the window resets, from `now_epoch_secs` (zero when already past).
    pub(crate) fn until_reset(&self, now_epoch_secs: i64) -> Option<Duration> {
        self.reset_epoch_secs
            .map(|r| Duration::from_secs(u64::try_from(r - now_epoch_secs).unwrap_or(0) + 1))
    }
}

/// How long to pause before the next request because the primary limit is nearly used up:
/// `Some` when no more than `reserve` requests remain and the reset is still ahead.
pub(crate) fn pause_for_primary_limit(
    info: &RateInfo,
    reserve: u64,
    now_epoch_secs: i64,
) -> Option<Duration> {
    let remaining = info.remaining?;
    let reset = info.reset_epoch_secs?;
    (remaining <= reserve && reset >= now_epoch_secs)
        .then(|| info.until_reset(now_epoch_secs))
        .flatten()
}

/// What an HTTP status means for the request that got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// 2xx (and 3xx the client did not follow).
    Accept,
    /// 304: the representation is unchanged since the ETag sent.
    NotModified,
    /// A rate limit: wait this long (when GitHub says) and try again.
    Limited {
        wait: Option<Duration>,
        what: &'static str,
    },
    /// A 5xx or 408: retry with backoff.
    Retry,
    /// 401 or a 403 that is not a rate limit.
    Denied,
    /// 404 or 410.
    NotFound,
    /// Anything else (400, 409, 422, …): GitHub will answer the same again.
    Unusable,
}

/// Classify `status`. `retry_after` is the parsed `Retry-After`; `body` is the start of the
/// response body (GitHub names secondary limits in the message).
pub(crate) fn classify(
    status: u16,
    info: &RateInfo,
    retry_after: Option<Duration>,
    body: &str,
    now_epoch_secs: i64,
) -> Answer {
    match status {
        304 => Answer::NotModified,
        200..=399 => Answer::Accept,
        403 | 429 => {
            if let Some(wait) = retry_after {
                return Answer::Limited {
                    wait: Some(wait),
                    what: "secondary rate limit",
                };
            }
            if info.remaining == Some(0) {
                return Answer::Limited {
                    wait: info.until_reset(now_epoch_secs),
                    what: "primary rate limit",
                };
            }
            let lower = body.to_ascii_lowercase();
            if status == 429 || lower.contains("secondary rate limit") || lower.contains("abuse") {
                return Answer::Limited {
                    wait: None,
                    what: "secondary rate limit",
                };
            }
            Answer::Denied
        }
        401 => Answer::Denied,
        404 | 410 => Answer::NotFound,
        408 | 500..=599 => Answer::Retry,
        _ => Answer::Unusable,
    }
}

/// What `check` says about a server from its `/rate_limit` answer (`status` 200 or 404).
/// Read leniently: the quota is `resources.core` (2014 on), else the old top-level `rate`
/// (2013), and either may lack fields (`used` came in 2020). A 404 is a GitHub Enterprise
/// Server with rate limiting disabled: healthy, with no quota to report.
pub(crate) fn health_detail(api_url: &str, status: u16, body: &serde_json::Value) -> String {
    if status == 404 {
        return format!(
            "{api_url} answers; rate limiting is disabled on this server (/rate_limit answers 404)"
        );
    }
    let quota = body
        .get("resources")
        .and_then(|r| r.get("core"))
        .or_else(|| body.get("rate"));
    let field = |key: &str| {
        quota
            .and_then(|q| q.get(key))
            .and_then(serde_json::Value::as_u64)
    };
    match (field("remaining"), field("limit")) {
        (Some(remaining), Some(limit)) => {
            format!("{api_url} answers; {remaining} of {limit} core requests left this hour")
        }
        (Some(remaining), None) => {
            format!("{api_url} answers; {remaining} core requests left this hour")
        }
        _ => format!("{api_url} answers; its /rate_limit answer names no core quota"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rate_limit_shape_github_has_sent_is_healthy() {
        let api = "https://api.github.com";
        // Today's shape, with `used`.
        let now = serde_json::json!({"resources": {"core": {"limit": 5000, "remaining": 4999, "reset": 1, "used": 1}}, "rate": {"limit": 5000, "remaining": 4999, "reset": 1, "used": 1}});
        assert!(health_detail(api, 200, &now).contains("4999 of 5000 core requests left"));
        // 2019: no `used` anywhere.
        let old = serde_json::json!({"resources": {"core": {"limit": 60, "remaining": 58, "reset": 1}}, "rate": {"limit": 60, "remaining": 58, "reset": 1}});
        assert!(health_detail(api, 200, &old).contains("58 of 60 core requests left"));
        // 2013: only the top-level `rate`.
        let older = serde_json::json!({"rate": {"limit": 60, "remaining": 60, "reset": 1}});
        assert!(health_detail(api, 200, &older).contains("60 of 60 core requests left"));
        // Something else entirely still answers.
        assert!(health_detail(api, 200, &serde_json::json!({})).contains("names no core quota"));
        // GitHub Enterprise Server with rate limiting disabled.
        let ghes = serde_json::json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"});
        assert!(health_detail(api, 404, &ghes).contains("rate limiting is disabled"));
    }

    fn info(remaining: u64, reset: i64) -> RateInfo {
        RateInfo {
            limit: Some(5000),
            remaining: Some(remaining),
            reset_epoch_secs: Some(reset),
            resource: Some("core".into()),
        }
    }

    #[test]
    fn a_403_with_retry_after_is_a_secondary_limit_that_says_how_long_to_wait() {
        let a = classify(403, &info(4000, 0), Some(Duration::from_secs(7)), "", 0);
        assert_eq!(
            a,
            Answer::Limited {
                wait: Some(Duration::from_secs(7)),
                what: "secondary rate limit"
            }
        );
    }

    #[test]
    fn a_403_with_no_requests_left_waits_for_the_reset() {
        let a = classify(
            403,
            &info(0, 1_000_100),
            None,
            "API rate limit exceeded",
            1_000_000,
        );
        assert_eq!(
            a,
            Answer::Limited {
                wait: Some(Duration::from_secs(101)),
                what: "primary rate limit"
            }
        );
    }

    #[test]
    fn a_403_naming_the_secondary_limit_is_one_even_without_headers() {
        let body = r#"{"message":"You have exceeded a secondary rate limit."}"#;
        assert!(matches!(
            classify(403, &RateInfo::default(), None, body, 0),
            Answer::Limited { wait: None, .. }
        ));
    }

    #[test]
    fn a_plain_403_is_a_denial_and_a_404_is_not_found() {
        let body = r#"{"message":"Resource not accessible by integration"}"#;
        assert_eq!(classify(403, &info(4000, 0), None, body, 0), Answer::Denied);
        assert_eq!(classify(404, &info(4000, 0), None, "", 0), Answer::NotFound);
    }

    #[test]
    fn server_errors_are_retried_and_304_means_unchanged() {
        assert_eq!(
            classify(502, &RateInfo::default(), None, "", 0),
            Answer::Retry
        );
        assert_eq!(
            classify(304, &RateInfo::default(), None, "", 0),
            Answer::NotModified
        );
        assert_eq!(
            classify(422, &RateInfo::default(), None, "", 0),
            Answer::Unusable
        );
    }

    #[test]
    fn the_client_pauses_only_when_the_reserve_is_reached_before_the_reset() {
        assert_eq!(
            pause_for_primary_limit(&info(10, 1_000_030), 50, 1_000_000),
            Some(Duration::from_secs(31))
        );
        assert_eq!(
            pause_for_primary_limit(&info(51, 1_000_030), 50, 1_000_000),
            None
        );
        assert_eq!(
            pause_for_primary_limit(&info(10, 999_000), 50, 1_000_000),
            None,
            "a reset in the past needs no wait"
        );
    }
}
