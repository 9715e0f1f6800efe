//! A 2 GB object streams from a real S3 server (s3s-fs, in-process) into the sink with flat
//! memory, verified end to end. The object is a sparse file: it reads as 2 GB and takes 128 MiB
//! of disk. Its own test binary, so the peak RSS it checks is its own.

use std::io::Write;

use async_trait::async_trait;
use evidence_connectors::connector::NoProgress;
use evidence_connectors::s3::{S3Config, S3Connector};
use evidence_connectors::{
    CollectContext, Connector, Cursor, ItemDraft, ItemSink, SinkError, StagedItem,
};
use evidence_model::{GapRecord, ItemId, PopulationRecord, Sha256Digest, Timestamp};
use evidence_tests::s3_server::S3Server;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};

const BUCKET: &str = "datasets";
const SIZE: u64 = 2 * 1024 * 1024 * 1024;
const CHUNK: usize = 1 << 20;

/// A sink that hashes and counts bytes and keeps none of them.
#[derive(Default)]
struct HashingSink {
    items: Vec<(ItemDraft, Sha256Digest, u64)>,
    gaps: Vec<GapRecord>,
}

#[async_trait]
impl ItemSink for HashingSink {
    async fn put(
        &mut self,
        draft: ItemDraft,
        body: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<StagedItem, SinkError> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = body
                .read(&mut buf)
                .await
                .map_err(|source| SinkError::Body {
                    reference: draft.reference.clone(),
                    bytes: size,
                    source,
                })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        let sha256 = Sha256Digest(hasher.finalize().into());
        let id = ItemId::derive(
            &"big".parse().expect("name"),
            &draft.natural_key,
            &sha256.to_hex(),
        );
        self.items.push((draft, sha256, size));
        Ok(StagedItem { id, sha256, size })
    }
    async fn discard(&mut self, _: &ItemId) -> Result<(), SinkError> {
        Ok(())
    }
    async fn population(&mut self, _: PopulationRecord) -> Result<(), SinkError> {
        Ok(())
    }
    async fn gap(&mut self, g: GapRecord) -> Result<(), SinkError> {
        self.gaps.push(g);
        Ok(())
    }
    fn collected_at(&self) -> Timestamp {
        Timestamp::UNIX_EPOCH
    }
    fn pseudonymiser(&self) -> evidence_connectors::Pseudonymiser {
        evidence_connectors::testing::test_pseudonymiser()
    }
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_gigabyte_object_streams_in_flat_memory() {
    let server = S3Server::start(&[BUCKET]);
    let mut expected = Sha256::new();
    // One mebibyte in sixteen carries a pattern that differs per chunk (so a reordered or
    // repeated chunk changes the digest); the rest are holes, read back as zeros, so the object
    // takes 128 MiB of disk rather than 2 GiB.
    server.seed_file(BUCKET, "raw/corpus.log", |f| {
        use std::io::{Seek, SeekFrom};
        let mut chunk = vec![0u8; CHUNK];
        let zeros = vec![0u8; CHUNK];
        for i in 0..SIZE / CHUNK as u64 {
            if i % 16 == 0 {
                for (j, b) in chunk.iter_mut().enumerate() {
                    *b = (i as usize).wrapping_mul(31).wrapping_add(j) as u8;
                }
                expected.update(&chunk);
                f.write_all(&chunk).expect("write");
            } else {
                expected.update(&zeros);
                f.seek(SeekFrom::Current(CHUNK as i64)).expect("seek");
            }
        }
        f.set_len(SIZE).expect("the object's length");
    });
    let expected = Sha256Digest(expected.finalize().into());
    let before = peak_rss();

    let config: S3Config = toml::from_str(&format!(
        "bucket = \"{BUCKET}\"\nendpoint_url = \"{}\"\n[[rule]]\nglob = \"raw/**\"\nkind = \"training_run\"\n",
        server.endpoint
    ))
    .expect("config");
    let c = S3Connector::new("big".parse().expect("name"), &config)
        .expect("checks")
        .with_sdk_config(&server.sdk_config());
    let mut sink = HashingSink::default();
    let progress = NoProgress;
    let ctx = CollectContext {
        shutdown: tokio_util::sync::CancellationToken::new(),
        progress: &progress,
        agent: "test".into(),
    };
    c.collect(&mut Cursor::default(), &mut sink, &ctx)
        .await
        .expect("collects");

    assert!(sink.gaps.is_empty(), "{:?}", sink.gaps);
    let (draft, sha256, size) = &sink.items[0];
    assert_eq!((*size, *sha256), (SIZE, expected));
    assert_eq!(draft.expected_size, Some(SIZE));
    let growth = peak_rss().saturating_sub(before);
    assert!(
        growth < 64 * 1024 * 1024,
        "peak RSS grew by {} MiB while streaming 2 GiB (client and server in this process)",
        growth >> 20
    );
}
