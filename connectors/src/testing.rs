//! An in-memory [`ItemSink`] for connector tests: keeps every draft with its bytes, and every
//! population and gap record, so a test can assert on exactly what a connector handed over.

use async_trait::async_trait;
use evidence_model::{GapRecord, ItemId, PopulationRecord, Sha256Digest, SourceName, Timestamp};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::sink::{ItemDraft, ItemSink, Pseudonymiser, SinkError, StagedItem};

/// What a connector delivered.
#[derive(Debug, Default)]
pub struct MemorySink {
    pub source: Option<SourceName>,
    pub items: Vec<(StagedItem, ItemDraft, Vec<u8>)>,
    pub populations: Vec<PopulationRecord>,
    pub gaps: Vec<GapRecord>,
    pub collected_at: Option<Timestamp>,
}

impl MemorySink {
    /// A sink for `source` whose run time is `collected_at`.
    pub fn new(source: &str, collected_at: Timestamp) -> Self {
        Self {
            source: source.parse().ok(),
            collected_at: Some(collected_at),
            ..Self::default()
        }
    }

    /// The drafts delivered, in order.
    pub fn drafts(&self) -> impl Iterator<Item = &ItemDraft> {
        self.items.iter().map(|(_, d, _)| d)
    }
}

#[async_trait]
impl ItemSink for MemorySink {
    async fn put(
        &mut self,
        draft: ItemDraft,
        body: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<StagedItem, SinkError> {
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes)
            .await
            .map_err(|source| SinkError::Body {
                reference: draft.reference.clone(),
                bytes: bytes.len() as u64,
                source,
            })?;
        let sha256 = Sha256Digest::of(&bytes);
        if let Some(e) = draft.expected_sha256.filter(|e| *e != sha256) {
            return Err(SinkError::TransferMismatch {
                reference: draft.reference,
                what: "SHA-256",
                expected: e.to_string(),
                actual: sha256.to_string(),
            });
        }
        if let Some(e) = draft.expected_size.filter(|e| *e != bytes.len() as u64) {
            return Err(SinkError::TransferMismatch {
                reference: draft.reference,
                what: "length",
                expected: e.to_string(),
                actual: bytes.len().to_string(),
            });
        }
        let source = self
            .source
            .clone()
            .unwrap_or_else(|| "test".parse().expect("`test` is a valid source name"));
        let staged = StagedItem {
            id: ItemId::derive(&source, &draft.natural_key, &sha256.to_hex()),
            sha256,
            size: bytes.len() as u64,
        };
        self.items.push((staged.clone(), draft, bytes));
        Ok(staged)
    }

    async fn discard(&mut self, id: &ItemId) -> Result<(), SinkError> {
        self.items.retain(|(s, _, _)| &s.id != id);
        Ok(())
    }

    async fn population(&mut self, record: PopulationRecord) -> Result<(), SinkError> {
        self.populations.push(record);
        Ok(())
    }

    async fn gap(&mut self, record: GapRecord) -> Result<(), SinkError> {
        self.gaps.push(record);
        Ok(())
    }

    fn collected_at(&self) -> Timestamp {
        self.collected_at.unwrap_or_else(Timestamp::now)
    }

    fn pseudonymiser(&self) -> Pseudonymiser {
        test_pseudonymiser()
    }
}

/// The key test sinks pseudonymise with.
pub const TEST_KEY: &[u8] = b"connector-tests-redaction-key";

/// Pseudonyms under [`TEST_KEY`], as the test sinks give them.
pub fn test_pseudonymiser() -> Pseudonymiser {
    Pseudonymiser::new(
        evidence_redact::RedactionKey::new(TEST_KEY.to_vec(), "test")
            .unwrap_or_else(|_| unreachable!("the test key is longer than the minimum")),
    )
}
