//! Retry policy shared by the HTTP connectors: which answers are worth retrying, how long to
//! wait (`Retry-After` first, then jittered exponential backoff), and when to give up. Pure:
//! connectors do the sleeping, so waits show in the progress display and stop on shutdown.

use std::time::Duration;

use jiff::Timestamp;

/// How persistently to retry one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// First backoff delay; doubles with each attempt.
    pub base_delay: Duration,
    /// Longest single wait, also for `Retry-After` and rate-limit resets.
    pub max_delay: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(15 * 60),
            timeout: Duration::from_secs(60),
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Use the response.
    Accept,
    /// Wait this long, then try again; `reason` is shown to the user.
    Retry { delay: Duration, reason: String },
    /// Do not retry (a client error, or attempts exhausted).
    GiveUp { reason: String },
}

/// Parse `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let delta = at.as_second() - now.as_second();
    Some(Duration::from_secs(u64::try_from(delta).unwrap_or(0)))
}

/// Full-jitter exponential backoff for attempt `attempt` (1-based): a delay drawn uniformly from
/// `[0, min(max, base·2^(attempt-1))]`, using `unit` ∈ [0,1) as the random draw.
pub fn backoff(policy: &RetryPolicy, attempt: u32, unit: f64) -> Duration {
    let exp = policy.base_delay.saturating_mul(
        1u32.checked_shl(attempt.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX),
    );
    let cap = exp.min(policy.max_delay);
    cap.mul_f64(unit.clamp(0.0, 1.0))
        .max(Duration::from_millis(10))
}

/// Decide on an HTTP status after attempt `attempt`. `retry_after` is the parsed header, if any;
/// `unit` ∈ [0,1) is a random draw for jitter.
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    status: u16,
    retry_after: Option<Duration>,
    unit: f64,
) -> Decision {
    let retryable = matches!(status, 408 | 429 | 500 | 502 | 503 | 504);
    if !retryable {
        return if (200..400).contains(&status) {
            Decision::Accept
        } else {
            Decision::GiveUp {
                reason: format!("HTTP {status}"),
            }
        };
    }
    if attempt >= policy.max_attempts {
        return Decision::GiveUp {
            reason: format!("HTTP {status} after {attempt} attempts"),
        };
    }
    let delay = match retry_after {
        Some(d) => d.min(policy.max_delay),
        None => backoff(policy, attempt, unit),
    };
    Decision::Retry {
        delay,
        reason: format!("HTTP {status}, retry {attempt}/{}", policy.max_attempts - 1),
    }
}

/// Decide after a transport failure (connection reset, timeout) of attempt `attempt`.
pub fn decide_on_transport_error(
    policy: &RetryPolicy,
    attempt: u32,
    what: &str,
    unit: f64,
) -> Decision {
    if attempt >= policy.max_attempts {
        Decision::GiveUp {
            reason: format!("{what} after {attempt} attempts"),
        }
    } else {
        Decision::Retry {
            delay: backoff(policy, attempt, unit),
            reason: format!("{what}, retry {attempt}/{}", policy.max_attempts - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn server_errors_and_429_are_retried_until_attempts_run_out() {
        let p = policy();
        assert!(matches!(
            decide(&p, 1, 503, None, 0.5),
            Decision::Retry { .. }
        ));
        assert!(matches!(
            decide(&p, 3, 503, None, 0.5),
            Decision::GiveUp { .. }
        ));
        assert_eq!(
            decide(&p, 1, 429, Some(Duration::from_secs(7)), 0.5),
            Decision::Retry {
                delay: Duration::from_secs(7),
                reason: "HTTP 429, retry 1/2".into()
            }
        );
    }

    #[test]
    fn client_errors_are_not_retried_and_success_is_accepted() {
        let p = policy();
        assert!(matches!(
            decide(&p, 1, 404, None, 0.5),
            Decision::GiveUp { .. }
        ));
        assert_eq!(decide(&p, 1, 200, None, 0.5), Decision::Accept);
        assert_eq!(decide(&p, 1, 304, None, 0.5), Decision::Accept);
    }

    #[test]
    fn backoff_grows_but_never_exceeds_the_cap() {
        let p = policy();
        assert!(backoff(&p, 1, 0.999) <= Duration::from_secs(1));
        assert!(backoff(&p, 30, 0.999) <= Duration::from_secs(60));
        assert!(backoff(&p, 3, 0.999) > Duration::from_secs(3));
    }
}
