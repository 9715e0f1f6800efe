//! The checks every connector runs against its test server, written once over [`Harness`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use evidence_connectors::connector::CollectContext;
use evidence_connectors::{Connector, ConnectorError, Cursor, ItemDraft};
use evidence_model::GapRecord;
use tokio_util::sync::CancellationToken;

use super::capture::{LogCapture, RecordingProgress};
use super::sink::CheckSink;
use super::{ALWAYS, Fault, Harness, Profile, Stall, Target};

/// How long a connector may take to stop once cancelled: well below the agent's default
/// shutdown deadline (20 s), after which it would be abandoned.
pub(crate) const STOP_WITHIN: Duration = Duration::from_secs(5);

/// When the shutdown checks cancel the run.
const CANCEL_AFTER: Duration = Duration::from_millis(300);

/// What one collection produced.
pub(crate) struct Outcome {
    pub(crate) sink: CheckSink,
    pub(crate) result: Result<(), ConnectorError>,
    pub(crate) progress: RecordingProgress,
    pub(crate) logs: String,
    pub(crate) elapsed: Duration,
}

impl Outcome {
    /// Natural keys handed over, in order.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.sink
            .inner
            .drafts()
            .map(|d| d.natural_key.clone())
            .collect()
    }

    pub(crate) fn draft(&self, key: &str) -> Option<&ItemDraft> {
        self.sink.inner.drafts().find(|d| d.natural_key == key)
    }

    fn ok(&self) -> &Self {
        if let Err(e) = &self.result {
            panic!("the source failed as a whole: {e} ({e:?})");
        }
        self
    }

    fn no_gaps(&self) -> &Self {
        assert!(
            self.sink.inner.gaps.is_empty(),
            "gaps: {:?}",
            self.sink.inner.gaps
        );
        self
    }

    fn interrupted(&self) -> &Self {
        assert!(
            matches!(self.result, Err(ConnectorError::Interrupted { .. })),
            "a cancelled run ends as interrupted: {:?}",
            self.result
        );
        assert!(
            self.sink.inner.populations.iter().all(|p| !p.complete),
            "an interrupted run claims a complete population: {:?}",
            self.sink.inner.populations
        );
        self
    }

    /// Everything the connector emitted or returned, as text.
    fn everything(&self, cursor: &Cursor) -> String {
        let mut text = String::new();
        for (staged, draft, bytes) in &self.sink.inner.items {
            text.push_str(&format!(
                "{staged:?}\n{draft:?}\n{}\n",
                String::from_utf8_lossy(bytes)
            ));
        }
        text.push_str(&format!(
            "{:?}\n{:?}\n",
            self.sink.inner.gaps, self.sink.inner.populations
        ));
        text.push_str(&serde_json::to_string(&cursor.0).unwrap());
        if let Err(e) = &self.result {
            text.push_str(&format!("\n{e}\n{e:?}\n"));
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!("{s}\n"));
                source = s.source();
            }
        }
        text.push_str(&self.progress.text());
        text.push_str(&self.logs);
        text
    }
}

/// How a check's collection runs.
#[derive(Default)]
pub(crate) struct RunOpts {
    /// Cancel once this many items were handed over.
    cancel_after_items: Option<usize>,
    /// Cancel after this long.
    cancel_after: Option<Duration>,
    /// Cancel before the run starts.
    cancelled: bool,
    /// The run's token (cancelled from outside), instead of a fresh one.
    token: Option<CancellationToken>,
}

/// Collect once from `c` into a fresh sink.
pub(crate) async fn run<H: Harness>(
    h: &H,
    c: &dyn Connector,
    cursor: &mut Cursor,
    opts: RunOpts,
) -> Outcome {
    let token = opts.token.unwrap_or_default();
    let mut sink = CheckSink::new(H::SOURCE)
        .with_faults(h.sink_faults())
        .watch(token.clone());
    if let Some(n) = opts.cancel_after_items {
        sink = sink.cancel_after(n, token.clone());
    }
    if let Some(d) = opts.cancel_after {
        let t = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            t.cancel();
        });
    }
    if opts.cancelled {
        token.cancel();
    }
    let progress = RecordingProgress::default();
    let logs = LogCapture::default();
    let started = Instant::now();
    let result = {
        let _guard = tracing::subscriber::set_default(logs.clone());
        let ctx = CollectContext {
            shutdown: token,
            progress: &progress,
            agent: "evidence-agent conformance".into(),
        };
        c.collect(cursor, &mut sink, &ctx).await
    };
    Outcome {
        sink,
        result,
        progress,
        logs: logs.text(),
        elapsed: started.elapsed(),
    }
}

/// Assert that `keys` hold every expected item exactly once.
fn each_once(mut keys: Vec<String>, expected: &BTreeMap<String, String>, what: &str) {
    keys.sort();
    let want: Vec<String> = expected.keys().cloned().collect();
    assert_eq!(keys, want, "{what}: every item exactly once");
}

/// Whether `gap` names the item `key`: its whole key, or the key's last segment when no other
/// item shares it (`runs/<id>` → `<id>`).
fn names(gap: &GapRecord, key: &str, all: &BTreeMap<String, String>) -> bool {
    let last = key.rsplit('/').next().unwrap_or(key);
    let unique = all
        .keys()
        .filter(|k| k.rsplit('/').next() == Some(last))
        .count()
        == 1;
    let says = |s: &str| s.contains(key) || (unique && s.contains(last));
    says(&gap.scope) || says(&gap.message)
}

// ---------------------------------------------------------------------------------------------
// Collects.

/// A first run hands over every item the server holds, once, tagged with its kind and
/// controls, with no gap, and leaves a cursor.
pub(crate) async fn collects_every_item_tagged<H: Harness>() {
    let h = H::start().await;
    let c = h.connector(Profile::Quick);
    assert_eq!(c.connector_type(), H::TYPE);
    assert_eq!(c.name().as_str(), H::SOURCE);
    let mut cursor = Cursor::default();
    let out = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    out.ok().no_gaps();
    let expected = h.expected();
    each_once(out.keys(), &expected, "first run");
    for (_, draft, bytes) in &out.sink.inner.items {
        assert_eq!(
            draft.kind.as_str(),
            expected[&draft.natural_key],
            "{} is tagged with its kind",
            draft.natural_key
        );
        assert!(
            !draft.controls.is_empty(),
            "{} is tagged with controls",
            draft.natural_key
        );
        assert!(!draft.title.is_empty() && !draft.reference.is_empty());
        assert!(!draft.file_name.is_empty() && !draft.media_type.is_empty());
        assert!(!bytes.is_empty(), "{} has content", draft.natural_key);
    }
    assert_ne!(cursor, Cursor::default(), "the run left a cursor");
}

// ---------------------------------------------------------------------------------------------
// Incremental.

/// A second run with the cursor hands over only the item added since; a third, nothing.
pub(crate) async fn is_incremental<H: Harness>() {
    let mut h = H::start().await;
    let c = h.connector(Profile::Quick);
    let mut cursor = Cursor::default();
    run(&h, &*c, &mut cursor, RunOpts::default())
        .await
        .ok()
        .no_gaps();
    let added = h.add_item().await;
    let second = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    second.ok().no_gaps();
    assert_eq!(
        second.keys(),
        [added],
        "the second run seals only what is new"
    );
    let third = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    third.ok().no_gaps();
    assert!(third.keys().is_empty(), "nothing new: {:?}", third.keys());
}

// ---------------------------------------------------------------------------------------------
// Resumes.

/// A run cancelled after two items keeps a cursor covering what it handed over; the next run
/// with that cursor hands over the rest: nothing lost, nothing twice.
pub(crate) async fn resumes_after_an_interrupted_run<H: Harness>() {
    let mut h = H::start().await;
    h.add_item().await;
    h.add_item().await;
    let c = h.connector(Profile::Quick);
    let mut cursor = Cursor::default();
    let opts = RunOpts {
        cancel_after_items: Some(2),
        ..RunOpts::default()
    };
    let first = run(&h, &*c, &mut cursor, opts).await;
    let expected = h.expected();
    let mut all = first.keys();
    assert!(
        all.len() >= 2,
        "the first run handed over two items: {all:?}"
    );
    assert!(
        all.len() < expected.len(),
        "the cancelled run stopped early: {all:?}"
    );
    first.interrupted();
    let second = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    second.ok().no_gaps();
    all.extend(second.keys());
    each_once(all, &expected, "interrupted run and its resumption");
}

// ---------------------------------------------------------------------------------------------
// Cancellation and the shutdown deadline.

/// A run whose token is cancelled before it starts stops at once, hands over nothing, and
/// says it was interrupted; the next run collects everything.
pub(crate) async fn a_run_cancelled_before_it_starts_stops_at_once<H: Harness>() {
    let h = H::start().await;
    let c = h.connector(Profile::Patient);
    let mut cursor = Cursor::default();
    let opts = RunOpts {
        cancelled: true,
        ..RunOpts::default()
    };
    let first = run(&h, &*c, &mut cursor, opts).await;
    assert!(first.elapsed < STOP_WITHIN, "{:?}", first.elapsed);
    first.interrupted();
    assert!(first.keys().is_empty(), "{:?}", first.keys());
    let second = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    second.ok().no_gaps();
    each_once(second.keys(), &h.expected(), "after a cancelled run");
}

/// A run kept waiting by the server (`stall`) stops within [`STOP_WITHIN`] of its
/// cancellation, far below the agent's shutdown deadline, with timeouts and waits of minutes
/// configured; the next run collects everything exactly once.
pub(crate) async fn stops_in_time_when_cancelled_during<H: Harness>(stall: Stall) {
    let mut h = H::start().await;
    h.stall(stall).await;
    let c = h.connector(Profile::Patient);
    let mut cursor = Cursor::default();
    let token = CancellationToken::new();
    let opts = RunOpts {
        token: Some(token.clone()),
        ..RunOpts::default()
    };
    // Cancel once the server has kept the run waiting for a while.
    let watch = async {
        let limit = Instant::now() + Duration::from_secs(120);
        while h.faults_served().await == 0 && Instant::now() < limit {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(CANCEL_AFTER).await;
        token.cancel();
        Instant::now()
    };
    let (first, cancelled_at) = tokio::join!(run(&h, &*c, &mut cursor, opts), watch);
    let stopped_after = cancelled_at.elapsed();
    assert!(h.faults_served().await > 0, "the server stalled the run");
    assert!(
        stopped_after < STOP_WITHIN,
        "the run stopped {stopped_after:?} after its cancellation ({stall:?})"
    );
    first.interrupted();
    h.clear().await;
    let second = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    second.ok().no_gaps();
    let mut all = first.keys();
    all.extend(second.keys());
    each_once(all, &h.expected(), "stalled run and the next");
}

// ---------------------------------------------------------------------------------------------
// Retries and gaps.

/// `fault` on `target`, one attempt short of the configured attempts, is retried: the run
/// completes with every item and no gap.
pub(crate) async fn retries<H: Harness>(fault: Fault, target: Target) {
    let mut h = H::start().await;
    let times = H::ATTEMPTS - 1;
    h.fail(fault, target.clone(), times).await;
    let c = h.connector(Profile::Quick);
    let out = run(&h, &*c, &mut Cursor::default(), RunOpts::default()).await;
    out.ok().no_gaps();
    each_once(out.keys(), &h.expected(), "after retries");
    assert_eq!(
        h.faults_served().await,
        u64::from(times),
        "the server served every injected {fault:?} on {target:?}"
    );
}

/// An item whose fetch fails on every attempt is a gap naming it, never a crash or silence;
/// every other item is collected, the population says incomplete, and the next run (the fault
/// gone) collects the item, whole.
pub(crate) async fn a_persistent_failure_is_a_gap_and_the_item_comes_next_run<H: Harness>(
    fault: Fault,
) {
    let mut h = H::start().await;
    let expected = h.expected();
    let broken = expected.keys().nth(1).unwrap().clone();
    h.fail(fault, Target::Item(broken.clone()), ALWAYS).await;
    let c = h.connector(Profile::Quick);
    let mut cursor = Cursor::default();
    let first = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    first.ok();
    let gaps = &first.sink.inner.gaps;
    assert!(!gaps.is_empty(), "the failure is recorded, not silent");
    assert!(
        gaps.iter().any(|g| names(g, &broken, &expected)),
        "a gap names {broken}: {gaps:?}"
    );
    for g in gaps {
        assert_eq!(g.source.as_str(), H::SOURCE);
        assert_eq!(g.connector, H::TYPE);
        assert!(!g.message.is_empty());
    }
    assert!(
        first.sink.inner.populations.iter().any(|p| !p.complete),
        "a population says it is incomplete: {:?}",
        first.sink.inner.populations
    );
    let mut others: Vec<String> = first.keys().into_iter().filter(|k| *k != broken).collect();
    others.push(broken.clone());
    each_once(others, &expected, "every other item");
    if let Some(d) = first.draft(&broken) {
        assert!(
            d.attributes.contains_key("unavailable"),
            "{broken} was sealed although it failed, without saying what is missing: {d:?}"
        );
    }
    h.clear().await;
    let second = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    second.ok().no_gaps();
    assert_eq!(
        second.keys(),
        std::slice::from_ref(&broken),
        "only the failed item again"
    );
    assert!(
        !second
            .draft(&broken)
            .unwrap()
            .attributes
            .contains_key("unavailable"),
        "whole this time"
    );
}

/// A listing that fails on every attempt is a gap or a failed source (which the agent records
/// as a gap), never a crash, silence or a complete population; the next run collects all.
pub(crate) async fn a_listing_that_keeps_failing_is_a_gap_not_a_crash<H: Harness>() {
    let mut h = H::start().await;
    h.fail(Fault::ServerError, Target::Listing, ALWAYS).await;
    let c = h.connector(Profile::Quick);
    let mut cursor = Cursor::default();
    let first = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    assert!(
        first.result.is_err() || !first.sink.inner.gaps.is_empty(),
        "the failure is recorded, not silent"
    );
    if let Err(e) = &first.result {
        assert!(!e.is_fatal(), "{e}");
    }
    assert!(first.keys().is_empty(), "{:?}", first.keys());
    assert!(
        first.sink.inner.populations.iter().all(|p| !p.complete),
        "{:?}",
        first.sink.inner.populations
    );
    h.clear().await;
    let second = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    second.ok().no_gaps();
    each_once(second.keys(), &h.expected(), "after the source came back");
}

// ---------------------------------------------------------------------------------------------
// Population records.

/// Every run writes population records for this source that account for what it handed
/// over: complete when nothing failed, items sealed = items handed over.
pub(crate) async fn writes_population_records<H: Harness>() {
    let mut h = H::start().await;
    let c = h.connector(Profile::Quick);
    let mut cursor = Cursor::default();
    for round in 0..2 {
        if round == 1 {
            h.add_item().await;
        }
        let out = run(&h, &*c, &mut cursor, RunOpts::default()).await;
        out.ok().no_gaps();
        let pops = &out.sink.inner.populations;
        assert!(!pops.is_empty(), "run {round} wrote population records");
        for p in pops {
            assert_eq!(p.connector, H::TYPE);
            assert_eq!(p.source.as_str(), H::SOURCE);
            assert!(p.complete, "{p:?}");
            assert!(!p.scope.is_empty() && !p.query.is_empty(), "{p:?}");
            assert!(p.items_seen >= p.items_sealed, "{p:?}");
        }
        let sealed: u64 = pops.iter().map(|p| p.items_sealed).sum();
        assert_eq!(
            sealed,
            out.keys().len() as u64,
            "run {round}: items sealed in the population records = items handed over: {pops:?}"
        );
        assert_eq!(out.keys().len(), if round == 0 { 3 } else { 1 });
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets.

/// The credentials the connector was given appear nowhere in what it emitted or returned
/// (drafts and their bytes, gaps, population records, cursor, errors, progress messages,
/// logs), through a normal run, retries, a failing item, a failing source and a cancelled run.
pub(crate) async fn never_writes_a_secret<H: Harness>(test: &str) {
    if let Some(vars) = H::secret_env()
        && in_child_with_env(test, vars)
    {
        return;
    }
    let mut h = H::start().await;
    let c = h.connector(Profile::Quick);
    let mut cursor = Cursor::default();
    let mut said = Vec::new();
    let first = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    first.ok();
    said.push(first.everything(&cursor));

    let added = h.add_item().await;
    h.fail(Fault::RateLimited, Target::AnyItem, 1).await;
    h.fail(Fault::ServerError, Target::Item(added), ALWAYS)
        .await;
    let second = run(&h, &*c, &mut cursor, RunOpts::default()).await;
    said.push(second.everything(&cursor));
    h.clear().await;

    h.fail(Fault::ServerError, Target::Listing, ALWAYS).await;
    let mut fresh = Cursor::default();
    let third = run(&h, &*c, &mut fresh, RunOpts::default()).await;
    said.push(third.everything(&fresh));
    h.clear().await;

    let opts = RunOpts {
        cancelled: true,
        ..RunOpts::default()
    };
    let mut fresh = Cursor::default();
    let fourth = run(&h, &*c, &mut fresh, opts).await;
    said.push(fourth.everything(&fresh));

    let said = said.join("\n");
    let secrets = h.secrets();
    assert!(!secrets.is_empty());
    for secret in &secrets {
        assert!(!secret.is_empty());
        if let Some(at) = said.find(secret.as_str()) {
            let from = at.saturating_sub(200);
            panic!(
                "a credential ({} characters) was written at [{at}]: …{}[{}]{}…",
                secret.len(),
                &said[from..at],
                &said[at..at + secret.len()],
                &said[at + secret.len()..(at + secret.len() + 100).min(said.len())]
            );
        }
    }
    assert!(
        h.credentials_were_sent().await,
        "the connector used the credentials (or the check would prove nothing)"
    );
}

/// Run the test `test` (its full name) again in a child process with `vars` set, for a
/// connector that reads its credentials from the environment only. Returns false in the child.
pub(crate) fn in_child_with_env(test: &str, vars: &[(&str, &str)]) -> bool {
    if vars
        .iter()
        .all(|(k, v)| std::env::var(k).ok().as_deref() == Some(*v))
    {
        return false;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads", "1"]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{test} in a child process:\n{text}");
    assert!(
        text.contains("1 passed"),
        "{test} ran in the child process:\n{text}"
    );
    true
}

/// A run cancelled after its first item hands over nothing more, stops at once and says it
/// was interrupted.
pub(crate) async fn stops_at_once_when_cancelled_mid_run<H: Harness>() {
    let mut h = H::start().await;
    h.add_item().await;
    let c = h.connector(Profile::Patient);
    let mut cursor = Cursor::default();
    let opts = RunOpts {
        cancel_after_items: Some(1),
        ..RunOpts::default()
    };
    let first = run(&h, &*c, &mut cursor, opts).await;
    assert!(first.elapsed < STOP_WITHIN, "{:?}", first.elapsed);
    first.interrupted();
    assert_eq!(
        first.sink.puts_after_cancel,
        0,
        "items handed over after the cancellation: {:?}",
        first.keys()
    );
}
