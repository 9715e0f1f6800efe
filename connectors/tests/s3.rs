//! The S3 connector against a real S3 server (s3s-fs, in-process): pagination, increments,
//! transfer verification, and denied prefixes recorded as gaps.

use evidence_connectors::connector::NoProgress;
use evidence_connectors::s3::{S3Config, S3Connector};
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{CollectContext, Connector, Cursor};
use evidence_model::{GapCategory, Sha256Digest, Timestamp};
use evidence_tests::s3_server::S3Server;
use std::io::Write;

const BUCKET: &str = "ml-evidence";

fn connector(server: &S3Server, extra: &str) -> S3Connector {
    let text = format!(
        r#"
bucket = "{BUCKET}"
endpoint_url = "{}"
{extra}

[[rule]]
glob = "**/*.md"
kind = "model_card"

[[rule]]
glob = "**/*.log"
kind = "training_run"
"#,
        server.endpoint
    );
    let config: S3Config = toml::from_str(&text).expect("a valid S3 source config");
    S3Connector::new("models".parse().expect("a source name"), &config)
        .expect("the config checks")
        .with_sdk_config(&server.sdk_config())
}

fn now() -> Timestamp {
    "2026-11-22T10:00:00Z".parse().expect("a timestamp")
}

async fn collect(c: &S3Connector, cursor: &mut Cursor) -> MemorySink {
    let mut sink = MemorySink::new("models", now());
    let progress = NoProgress;
    let ctx = CollectContext {
        shutdown: tokio_util::sync::CancellationToken::new(),
        progress: &progress,
        agent: "evidence-agent test".into(),
    };
    c.collect(cursor, &mut sink, &ctx)
        .await
        .expect("the source as a whole does not fail");
    sink
}

#[tokio::test]
async fn listing_walks_every_page_and_later_runs_seal_only_what_changed() {
    let server = S3Server::start(&[BUCKET]);
    for i in 0..600 {
        server.seed_file(BUCKET, &format!("runs/{i:05}/train.log"), |f| {
            write!(f, "epoch 1 loss 0.{i}").expect("write")
        });
    }
    server.seed_file(BUCKET, "runs/README.txt", |f| {
        f.write_all(b"no rule").expect("write")
    });
    let c = connector(&server, "prefixes = [\"runs/\"]\npage_size_keys = 50");
    let mut cursor = Cursor::default();

    let first = collect(&c, &mut cursor).await;
    assert_eq!(first.items.len(), 600);
    assert!(first.gaps.is_empty(), "{:?}", first.gaps);
    let p = &first.populations[0];
    assert_eq!(p.pages_walked, 13, "601 keys in pages of 50");
    assert_eq!(
        (p.items_seen, p.items_sealed, p.items_unchanged),
        (600, 600, 0)
    );
    assert_eq!(
        p.attributes["unmatched"],
        serde_json::json!(["runs/README.txt"])
    );
    assert!(p.complete);
    let (_, draft, bytes) = &first.items[7];
    assert_eq!(draft.kind.as_str(), "training_run");
    assert_eq!(bytes, b"epoch 1 loss 0.7");
    assert_eq!(
        draft.reference,
        format!("s3://{BUCKET}/runs/00007/train.log")
    );
    assert!(
        draft.attributes.contains_key("etag"),
        "{:?}",
        draft.attributes
    );

    let second = collect(&c, &mut cursor).await;
    assert!(second.items.is_empty());
    assert_eq!(second.populations[0].items_unchanged, 600);

    server
        .client()
        .put_object()
        .bucket(BUCKET)
        .key("runs/00003/train.log")
        .body(b"epoch 2 loss 0.01".to_vec().into())
        .send()
        .await
        .expect("overwrite one object");
    let third = collect(&c, &mut cursor).await;
    assert_eq!(third.items.len(), 1);
    assert_eq!(third.items[0].2, b"epoch 2 loss 0.01");
}

#[tokio::test]
async fn a_corrupted_object_is_refused_and_recorded_as_a_gap() {
    let server = S3Server::start(&[BUCKET]);
    let client = server.client();
    for (key, body) in [
        ("cards/good.md", "# Good card"),
        ("cards/bad.md", "# Bad card!"),
    ] {
        use base64::Engine;
        let sum = base64::engine::general_purpose::STANDARD
            .encode(Sha256Digest::of(body.as_bytes()).as_bytes());
        client
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .checksum_sha256(sum)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("upload with a SHA-256 checksum");
    }
    // Bit rot behind S3's back: same length, different bytes; S3 still states the old digest.
    std::fs::write(server.object_path(BUCKET, "cards/bad.md"), "# Bad card?").expect("corrupt");

    let c = connector(&server, "");
    let mut cursor = Cursor::default();
    let sink = collect(&c, &mut cursor).await;
    let keys: Vec<_> = sink.drafts().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(keys, ["cards/good.md"]);
    assert_eq!(sink.gaps.len(), 1, "{:?}", sink.gaps);
    let gap = &sink.gaps[0];
    assert_eq!(gap.scope, "cards/bad.md");
    assert_eq!(gap.category, GapCategory::InvalidResponse);
    assert!(!sink.populations[0].complete);
    let verified = &sink.items[0].1.attributes["transfer_verified_by"];
    assert_eq!(
        verified,
        &serde_json::json!(["length", "sha256", "etag-md5"])
    );

    // The corrupted object was not remembered, so the next run tries it again.
    let again = collect(&c, &mut cursor).await;
    assert!(again.items.is_empty());
    assert_eq!(again.gaps.len(), 1);
}

#[tokio::test]
async fn a_denied_prefix_becomes_a_gap_and_the_other_prefixes_are_collected() {
    let server = S3Server::start(&[BUCKET]);
    server.seed_file(BUCKET, "public/model/MODEL_CARD.md", |f| {
        f.write_all(b"# Card").expect("write")
    });
    server.seed_file(BUCKET, "restricted/hr/notes.md", |f| {
        f.write_all(b"secret").expect("write")
    });
    server.deny_prefix(BUCKET, "restricted/");
    let c = connector(&server, "prefixes = [\"public/\", \"restricted/\"]");
    let mut cursor = Cursor::default();
    let sink = collect(&c, &mut cursor).await;

    assert_eq!(sink.items.len(), 1);
    assert_eq!(sink.items[0].1.kind.as_str(), "model_card");
    assert_eq!(sink.gaps.len(), 1);
    let gap = &sink.gaps[0];
    assert_eq!(gap.category, GapCategory::Denied);
    assert_eq!(gap.scope, format!("s3://{BUCKET}/restricted/"));
    assert!(gap.message.contains("AccessDenied"), "{}", gap.message);
    let by_scope: Vec<_> = sink
        .populations
        .iter()
        .map(|p| (p.scope.as_str(), p.complete))
        .collect();
    assert_eq!(
        by_scope,
        [
            (format!("s3://{BUCKET}/public/").as_str(), true),
            (format!("s3://{BUCKET}/restricted/").as_str(), false)
        ]
    );
}

#[tokio::test]
async fn the_healthcheck_names_a_missing_bucket() {
    let server = S3Server::start(&[]);
    let c = connector(&server, "");
    let err = c
        .healthcheck()
        .await
        .expect_err("the bucket does not exist");
    assert!(err.to_string().contains(BUCKET), "{err}");
}

#[tokio::test]
async fn indexed_listings_page_exactly_like_the_file_system_listing() {
    // The benchmark serves listings from an index; it must page as s3s-fs (and S3) do.
    let server = S3Server::start(&[BUCKET]);
    for i in 0..250 {
        server.seed_file(BUCKET, &format!("m/{:02}/{i:04}.md", i % 7), |f| {
            f.write_all(b"# card").expect("write")
        });
    }
    server.seed_file(BUCKET, "other/x.md", |f| {
        f.write_all(b"# x").expect("write")
    });
    let c = connector(&server, "prefixes = [\"m/\"]\npage_size_keys = 40");
    let plain = collect(&c, &mut Cursor::default()).await;
    server.index_listings(BUCKET);
    let indexed = collect(&c, &mut Cursor::default()).await;
    let keys = |s: &MemorySink| {
        s.drafts()
            .map(|d| d.natural_key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&plain).len(), 250);
    assert_eq!(keys(&plain), keys(&indexed));
    assert_eq!(indexed.populations[0].pages_walked, 7);
    assert_eq!(plain.populations[0].pages_walked, 7);
}
