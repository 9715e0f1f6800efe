//! A sink in front of the in-memory one that can cancel the run after a number of items (an
//! interrupted run) and fail reading an item's body (the local folder's unreadable file).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{ItemDraft, ItemSink, SinkError, StagedItem};
use evidence_model::{GapRecord, ItemId, PopulationRecord, Timestamp};
use tokio::io::AsyncRead;
use tokio_util::sync::CancellationToken;

/// Read failures to inject: natural key → how many more reads of it fail.
#[derive(Debug, Clone, Default)]
pub(crate) struct SinkFaults(Arc<Mutex<BTreeMap<String, u32>>>);

impl SinkFaults {
    /// The next `times` reads of `key` fail.
    pub(crate) fn fail(&self, key: &str, times: u32) {
        self.0.lock().unwrap().insert(key.to_owned(), times);
    }

    pub(crate) fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// Whether this read of `key` fails (and count it).
    fn take(&self, key: &str) -> bool {
        let mut faults = self.0.lock().unwrap();
        match faults.get_mut(key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

/// The sink every check collects into.
pub(crate) struct CheckSink {
    pub(crate) inner: MemorySink,
    /// Cancel this token once this many items were put.
    cancel_after: Option<(usize, CancellationToken)>,
    faults: Option<SinkFaults>,
    /// Reads failed on purpose.
    pub(crate) failed_reads: u64,
    /// Items put after the token was cancelled.
    pub(crate) puts_after_cancel: usize,
    cancelled_by: Option<CancellationToken>,
}

impl CheckSink {
    pub(crate) fn new(source: &str) -> Self {
        Self {
            inner: MemorySink::new(source, collected_at()),
            cancel_after: None,
            faults: None,
            failed_reads: 0,
            puts_after_cancel: 0,
            cancelled_by: None,
        }
    }

    pub(crate) fn cancel_after(mut self, items: usize, token: CancellationToken) -> Self {
        self.cancelled_by = Some(token.clone());
        self.cancel_after = Some((items, token));
        self
    }

    pub(crate) fn watch(mut self, token: CancellationToken) -> Self {
        self.cancelled_by = Some(token);
        self
    }

    pub(crate) fn with_faults(mut self, faults: Option<&SinkFaults>) -> Self {
        self.faults = faults.cloned();
        self
    }
}

/// The run time every check's sink reports.
pub(crate) fn collected_at() -> Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

#[async_trait]
impl ItemSink for CheckSink {
    async fn put(
        &mut self,
        draft: ItemDraft,
        body: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<StagedItem, SinkError> {
        if self.cancelled_by.as_ref().is_some_and(|t| t.is_cancelled()) {
            self.puts_after_cancel += 1;
        }
        if let Some(f) = &self.faults
            && f.take(&draft.natural_key)
        {
            self.failed_reads += 1;
            return Err(SinkError::Body {
                reference: draft.reference,
                bytes: 0,
                source: std::io::Error::other("injected read failure"),
            });
        }
        let staged = self.inner.put(draft, body).await?;
        if let Some((n, token)) = &self.cancel_after
            && self.inner.items.len() >= *n
        {
            token.cancel();
        }
        Ok(staged)
    }

    async fn discard(&mut self, id: &ItemId) -> Result<(), SinkError> {
        self.inner.discard(id).await
    }

    async fn population(&mut self, record: PopulationRecord) -> Result<(), SinkError> {
        self.inner.population(record).await
    }

    async fn gap(&mut self, record: GapRecord) -> Result<(), SinkError> {
        self.inner.gap(record).await
    }

    fn collected_at(&self) -> Timestamp {
        self.inner.collected_at()
    }

    fn pseudonymiser(&self) -> evidence_connectors::Pseudonymiser {
        self.inner.pseudonymiser()
    }
}
