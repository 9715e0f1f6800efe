//! Retry policy shared by the HTTP connectors: which answers are worth retrying, how long to
//! wait (`Retry-After` first, then jittered exponential backoff), and when to give up. The
//! policy is pure ([`decide`], [`decide_on_transport_error`], [`backoff`]); one loop,
//! `send_with_retry`, applies it to reqwest requests for every HTTP connector: waits show in the
//! progress display and stop on shutdown, and what an answer means is the connector's
//! `Exchange`.

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
pub enum RetryDecision {
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
) -> RetryDecision {
    let retryable = matches!(status, 408 | 429 | 500 | 502 | 503 | 504);
    if !retryable {
        return if (200..400).contains(&status) {
            RetryDecision::Accept
        } else {
            RetryDecision::GiveUp {
                reason: format!("HTTP {status}"),
            }
        };
    }
    if attempt >= policy.max_attempts {
        return RetryDecision::GiveUp {
            reason: format!("HTTP {status} after {attempt} attempts"),
        };
    }
    let delay = match retry_after {
        Some(d) => d.min(policy.max_delay),
        None => backoff(policy, attempt, unit),
    };
    RetryDecision::Retry {
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
) -> RetryDecision {
    if attempt >= policy.max_attempts {
        RetryDecision::GiveUp {
            reason: format!("{what} after {attempt} attempts"),
        }
    } else {
        RetryDecision::Retry {
            delay: backoff(policy, attempt, unit),
            reason: format!("{what}, retry {attempt}/{}", policy.max_attempts - 1),
        }
    }
}

/// What one answer means to the connector that asked.
#[cfg(any(
    feature = "github",
    feature = "jira",
    feature = "mlflow",
    feature = "events"
))]
pub(crate) enum Reading<T, H> {
    /// The answer is final: [`send_with_retry`] returns it.
    Done(T),
    /// An HTTP status for the policy ([`decide`]): retried while worth it, else accepted
    /// ([`Exchange::accept`]) or refused ([`Exchange::refuse`]) with what the connector `held`
    /// of the answer (its body, or the response itself).
    Status {
        status: u16,
        retry_after: Option<Duration>,
        held: H,
    },
    /// Wait `delay` and try again (a rate limit that says when it resets); shown as `reason`.
    /// Once attempts run out, [`Exchange::exhausted`] is the answer.
    Wait { delay: Duration, reason: String },
    /// The answer broke off while it was read: retried like a transport failure.
    BrokenOff(String),
}

/// An attempt that got no usable answer.
#[cfg(any(
    feature = "github",
    feature = "jira",
    feature = "mlflow",
    feature = "events"
))]
#[derive(Debug)]
pub(crate) enum TransportFailure {
    /// The attempt (sending and reading) outlasted its timeout.
    Elapsed,
    /// The request failed (connection refused or reset, a timeout inside reqwest).
    Failed(reqwest::Error),
    /// The answer broke off while it was read.
    BrokenOff(String),
}

#[cfg(any(
    feature = "github",
    feature = "jira",
    feature = "mlflow",
    feature = "events"
))]
impl TransportFailure {
    /// True when the attempt ran out of time.
    pub(crate) fn is_timeout(&self) -> bool {
        match self {
            TransportFailure::Elapsed => true,
            TransportFailure::Failed(e) => e.is_timeout(),
            TransportFailure::BrokenOff(_) => false,
        }
    }
}

/// One request as a connector sends it: how each attempt is built and what its answer means.
/// [`send_with_retry`] does the rest (attempts, waits, shutdown).
#[cfg(any(
    feature = "github",
    feature = "jira",
    feature = "mlflow",
    feature = "events"
))]
#[async_trait::async_trait]
pub(crate) trait Exchange: Sync {
    /// What a successful exchange returns.
    type Output: Send;
    /// What the connector keeps of an answer the policy decides on.
    type Held: Send;
    /// How the exchange fails.
    type Error: Send;

    /// Build the request afresh for the next attempt (credentials, conditional headers). May
    /// wait (a paused rate limit) or fail.
    async fn request(
        &self,
        ctx: &crate::connector::CollectContext<'_>,
    ) -> Result<reqwest::RequestBuilder, Self::Error>;

    /// Read the answer to attempt `attempt`; an error ends the exchange at once.
    async fn read(
        &self,
        response: reqwest::Response,
        attempt: u32,
    ) -> Result<Reading<Self::Output, Self::Held>, Self::Error>;

    /// The policy accepted a held answer (a 2xx or 3xx status).
    async fn accept(
        &self,
        status: u16,
        held: Self::Held,
        attempts: u32,
    ) -> Result<Self::Output, Self::Error>;

    /// The policy gave up on a held answer (a client error, or retries exhausted); `reason`
    /// says why.
    async fn refuse(
        &self,
        status: u16,
        reason: String,
        held: Self::Held,
        attempts: u32,
    ) -> Self::Error;

    /// Attempts ran out while the source kept asking to wait ([`Reading::Wait`]).
    fn exhausted(&self, attempts: u32) -> Self::Error;

    /// How a transport failure is named in the policy's reasons (`timed out`).
    fn transport_what(&self, failure: &TransportFailure) -> String;

    /// The policy gave up after a transport failure; `reason` says why.
    fn unreachable(&self, failure: TransportFailure, reason: String, attempts: u32) -> Self::Error;

    /// Shutdown cut the exchange short, while a request was out or (`waiting`) during a wait.
    fn interrupted(&self, waiting: bool, attempts: u32) -> Self::Error;

    /// The text shown while waiting to retry for the policy's `reason`.
    fn retry_text(&self, reason: String) -> String {
        reason
    }

    /// A retry is about to wait `delay`, shown as `text` (counters, logs).
    fn retrying(&self, _text: &str, _delay: Duration) {}
}

/// Send `exchange`'s request until an answer is final, retrying what [`decide`] and
/// [`decide_on_transport_error`] say is worth retrying (honouring `Retry-After`, else with
/// jittered [`backoff`]). With `attempt_timeout`, sending and reading each attempt together
/// must finish within it. Every wait shows in the progress display; the shutdown token ends
/// the exchange at once, whether a request is out or a wait is running.
#[cfg(any(
    feature = "github",
    feature = "jira",
    feature = "mlflow",
    feature = "events"
))]
pub(crate) async fn send_with_retry<X: Exchange + ?Sized>(
    exchange: &X,
    policy: &RetryPolicy,
    ctx: &crate::connector::CollectContext<'_>,
    attempt_timeout: Option<Duration>,
) -> Result<X::Output, X::Error> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        if ctx.shutdown.is_cancelled() {
            return Err(exchange.interrupted(false, attempt));
        }
        let request = exchange.request(ctx).await?;
        let one = async {
            match request.send().await {
                Ok(response) => exchange.read(response, attempt).await.map(Ok),
                Err(e) => Ok(Err(TransportFailure::Failed(e))),
            }
        };
        let timed = async {
            match attempt_timeout {
                Some(limit) => tokio::time::timeout(limit, one)
                    .await
                    .unwrap_or(Ok(Err(TransportFailure::Elapsed))),
                None => one.await,
            }
        };
        let outcome = tokio::select! {
            r = timed => r?,
            () = ctx.shutdown.cancelled() => return Err(exchange.interrupted(false, attempt)),
        };
        let unit = rand::random::<f64>();
        let (delay, text) = match outcome {
            Ok(Reading::Done(output)) => return Ok(output),
            Ok(Reading::Status {
                status,
                retry_after,
                held,
            }) => match decide(policy, attempt, status, retry_after, unit) {
                RetryDecision::Accept => return exchange.accept(status, held, attempt).await,
                RetryDecision::GiveUp { reason } => {
                    return Err(exchange.refuse(status, reason, held, attempt).await);
                }
                RetryDecision::Retry { delay, reason } => (delay, exchange.retry_text(reason)),
            },
            Ok(Reading::Wait { delay, reason }) => {
                if attempt >= policy.max_attempts {
                    return Err(exchange.exhausted(attempt));
                }
                (delay.min(policy.max_delay), reason)
            }
            Ok(Reading::BrokenOff(detail)) => {
                let failure = TransportFailure::BrokenOff(detail);
                match transport_decision(exchange, policy, attempt, failure, unit) {
                    Ok(retry) => retry,
                    Err(e) => return Err(e),
                }
            }
            Err(failure) => match transport_decision(exchange, policy, attempt, failure, unit) {
                Ok(retry) => retry,
                Err(e) => return Err(e),
            },
        };
        exchange.retrying(&text, delay);
        ctx.progress.waiting(&text, delay);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = ctx.shutdown.cancelled() => return Err(exchange.interrupted(true, attempt)),
        }
    }
}

/// The wait before retrying after a transport failure, or the error once the policy gives up.
#[cfg(any(
    feature = "github",
    feature = "jira",
    feature = "mlflow",
    feature = "events"
))]
fn transport_decision<X: Exchange + ?Sized>(
    exchange: &X,
    policy: &RetryPolicy,
    attempt: u32,
    failure: TransportFailure,
    unit: f64,
) -> Result<(Duration, String), X::Error> {
    let what = exchange.transport_what(&failure);
    match decide_on_transport_error(policy, attempt, &what, unit) {
        RetryDecision::Retry { delay, reason } => Ok((delay, exchange.retry_text(reason))),
        RetryDecision::GiveUp { reason } => Err(exchange.unreachable(failure, reason, attempt)),
        // The policy never accepts a failure; if it did, the failure still ends the exchange.
        RetryDecision::Accept => Err(exchange.unreachable(failure, what, attempt)),
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
            RetryDecision::Retry { .. }
        ));
        assert!(matches!(
            decide(&p, 3, 503, None, 0.5),
            RetryDecision::GiveUp { .. }
        ));
        assert_eq!(
            decide(&p, 1, 429, Some(Duration::from_secs(7)), 0.5),
            RetryDecision::Retry {
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
            RetryDecision::GiveUp { .. }
        ));
        assert_eq!(decide(&p, 1, 200, None, 0.5), RetryDecision::Accept);
        assert_eq!(decide(&p, 1, 304, None, 0.5), RetryDecision::Accept);
    }

    #[test]
    fn backoff_grows_but_never_exceeds_the_cap() {
        let p = policy();
        assert!(backoff(&p, 1, 0.999) <= Duration::from_secs(1));
        assert!(backoff(&p, 30, 0.999) <= Duration::from_secs(60));
        assert!(backoff(&p, 3, 0.999) > Duration::from_secs(3));
    }
}
