//! The connector conformance suite: one harness trait every connector's test server implements,
//! and the checks every connector must pass, written once as generic functions over it.
#![allow(dead_code, clippy::unwrap_used)]

pub(crate) mod capture;
pub(crate) mod checks;
pub(crate) mod github;
pub(crate) mod jira;
pub(crate) mod local;
pub(crate) mod mlflow;
pub(crate) mod s3;
pub(crate) mod sink;

use std::collections::BTreeMap;
use std::time::Duration;

use evidence_connectors::Connector;

/// A failure the test server injects instead of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A server error (503, or the source's own 5xx).
    ServerError,
    /// Rate limiting (429 with a short `Retry-After`, or the source's own throttling answer).
    RateLimited,
    /// An answer that arrives after the connector's request timeout.
    Timeout,
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The listing or search that finds the items.
    Listing,
    /// The request that fetches any item's content.
    AnyItem,
    /// The requests that fetch the item with this natural key.
    Item(String),
}

/// How the server keeps the connector waiting, for the shutdown checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stall {
    /// The listing is accepted but never answered.
    NoAnswer,
    /// The listing answers 429 with a `Retry-After` of ten minutes (or the source's own
    /// throttling, where it has no `Retry-After`).
    LongRateLimit,
    /// The listing answers, but every item's download is accepted and never answered.
    ItemNoAnswer,
}

/// How the connector under test is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// Short timeouts and backoff: faults are retried quickly.
    Quick,
    /// Timeouts and waits of minutes: only cancellation can end a stalled run in time.
    Patient,
}

/// The request timeout of the quick profile; a `Fault::Timeout` answers after
/// [`LATE_ANSWER`].
pub(crate) const QUICK_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const LATE_ANSWER: Duration = Duration::from_millis(2500);

/// Times a persistent fault repeats: more than any connector retries.
pub(crate) const ALWAYS: u32 = 1_000_000;

/// A connector's test server with the items it holds, and the connector configured for it.
pub(crate) trait Harness: Sized {
    /// The connector type (`Connector::connector_type`).
    const TYPE: &'static str;
    /// The source name the connector is configured with.
    const SOURCE: &'static str;
    /// Attempts per request in the quick profile, the first included.
    const ATTEMPTS: u32;

    /// Start a server holding three items.
    async fn start() -> Self;

    /// The connector for this server.
    fn connector(&self, profile: Profile) -> Box<dyn Connector>;

    /// Add one item to the server; returns its natural key.
    async fn add_item(&mut self) -> String;

    /// Every item the server holds: natural key → the kind it must be tagged with.
    fn expected(&self) -> BTreeMap<String, String>;

    /// The next `times` requests matching `target` fail with `fault`.
    async fn fail(&mut self, fault: Fault, target: Target, times: u32);

    /// Keep the connector waiting as `stall` says, until `clear`.
    async fn stall(&mut self, stall: Stall);

    /// Remove every fault and stall.
    async fn clear(&mut self);

    /// Faults injected so far that the server actually served.
    async fn faults_served(&self) -> u64;

    /// The credentials the connector was given, in every form it could leak (raw, encoded).
    fn secrets(&self) -> Vec<String>;

    /// Whether the server saw the credentials (a check of the secret check itself).
    async fn credentials_were_sent(&self) -> bool;

    /// Faults applied by the sink instead of the server (the local folder has no server).
    fn sink_faults(&self) -> Option<&sink::SinkFaults> {
        None
    }

    /// Environment variables the connector reads its credentials from, when it cannot be
    /// handed them directly: the secret check then runs in a child process with them set.
    fn secret_env() -> Option<&'static [(&'static str, &'static str)]> {
        None
    }
}
