//! The events source over an S3 prefix, against the in-process S3 server (s3s-fs) and moto's:
//! rotated plain and gzip segments read once across runs, growth read from the cursor, keys
//! outside the prefix or the glob left alone, a missing bucket a failure naming it.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use evidence_connectors::connector::NoProgress;
use evidence_connectors::events::{EventsConfig, EventsConnector};
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{CollectContext, Connector, ConnectorError, Cursor};
use evidence_model::Timestamp;
use evidence_tests::moto_server::MotoServer;
use evidence_tests::s3_server::S3Server;

const BUCKET: &str = "ai-logs";

fn line(time: &str, user: &str) -> String {
    let t: Timestamp = time.parse().unwrap();
    serde_json::json!({
        "id": format!("chatcmpl-{}", t.as_second()),
        "call_type": "acompletion",
        "status": "success",
        "model": "gpt-4o-2024-08-06",
        "startTime": t.as_second() as f64,
        "end_user": user,
        "metadata": {"user_api_key_team_alias": "claims-assistant"},
        "messages": [{"role": "user", "content": "PROMPT"}],
    })
    .to_string()
        + "\n"
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn connector(endpoint: &str, sdk: &aws_config::SdkConfig, bucket: &str) -> EventsConnector {
    let text = format!(
        "bucket = \"{bucket}\"\nprefix = \"proxy/\"\nendpoint_url = \"{endpoint}\"\nfiles = \"app.jsonl*\"\nshape = \"litellm\"\n"
    );
    let config: EventsConfig = toml::from_str(&text).unwrap();
    EventsConnector::new(
        "ai-events".parse().unwrap(),
        &config,
        std::path::Path::new("."),
    )
    .unwrap()
    .with_sdk_config(sdk)
}

async fn collect(c: &EventsConnector, cursor: &mut Cursor) -> Result<MemorySink, ConnectorError> {
    let mut sink = MemorySink::new("ai-events", "2026-12-03T06:00:00Z".parse().unwrap());
    let progress = NoProgress;
    let ctx = CollectContext {
        shutdown: tokio_util::sync::CancellationToken::new(),
        progress: &progress,
        agent: "evidence-agent test".into(),
    };
    c.collect(cursor, &mut sink, &ctx).await?;
    Ok(sink)
}

fn events(sink: &MemorySink) -> usize {
    sink.items
        .iter()
        .map(|(_, _, b)| String::from_utf8_lossy(b).lines().count())
        .sum()
}

/// Rotation as a log shipper does it on S3: every run finds new segments; the newest may still
/// grow (re-uploaded longer). `put` writes an object.
async fn rotation_is_read_once(put: impl Fn(&str, Vec<u8>), c: &EventsConnector) {
    let day1 = line("2026-11-28T09:00:00Z", "alice") + &line("2026-11-28T10:00:00Z", "bob");
    put("proxy/app.jsonl.2.gz", gzip(&day1));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    put(
        "proxy/app.jsonl.1",
        line("2026-11-29T09:00:00Z", "alice").into_bytes(),
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    put(
        "proxy/app.jsonl",
        line("2026-11-30T09:00:00Z", "carol").into_bytes(),
    );
    put(
        "other/app.jsonl",
        line("2026-11-30T09:00:00Z", "x").into_bytes(),
    );
    put("proxy/README.txt", b"not a segment".to_vec());

    let mut cursor = Cursor::default();
    let first = collect(c, &mut cursor).await.unwrap();
    assert!(first.gaps.is_empty(), "{:?}", first.gaps);
    assert_eq!(events(&first), 4);
    assert_eq!(first.items.len(), 3, "one item per day");
    let text: String = first
        .items
        .iter()
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(!text.contains("PROMPT") && !text.contains("\"alice\""));

    // The live segment grows (uploaded again, longer).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    put(
        "proxy/app.jsonl",
        (line("2026-11-30T09:00:00Z", "carol") + &line("2026-11-30T11:00:00Z", "dave"))
            .into_bytes(),
    );
    let second = collect(c, &mut cursor).await.unwrap();
    assert!(second.gaps.is_empty(), "{:?}", second.gaps);
    assert_eq!(events(&second), 1, "only the new line");
    let third = collect(c, &mut cursor).await.unwrap();
    assert!(third.items.is_empty(), "nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_under_a_prefix_of_the_in_process_s3_are_read_once() {
    let server = S3Server::start(&[BUCKET]);
    let client = server.client();
    let c = connector(&server.endpoint, &server.sdk_config(), BUCKET);
    let put = |key: &str, bytes: Vec<u8>| {
        let client = client.clone();
        let key = key.to_owned();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                client
                    .put_object()
                    .bucket(BUCKET)
                    .key(key)
                    .body(bytes.into())
                    .send()
                    .await
                    .unwrap();
            });
        });
    };
    rotation_is_read_once(put, &c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_under_a_prefix_of_moto_are_read_once() {
    let moto = tokio::task::spawn_blocking(|| MotoServer::start(&[BUCKET], &[]))
        .await
        .unwrap();
    let c = connector(&moto.endpoint, &moto.sdk_config(), BUCKET);
    let put = |key: &str, bytes: Vec<u8>| {
        tokio::task::block_in_place(|| moto.put(BUCKET, key, &bytes));
    };
    rotation_is_read_once(put, &c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_fails_the_source_naming_it() {
    let server = S3Server::start(&[BUCKET]);
    let c = connector(&server.endpoint, &server.sdk_config(), "no-such-bucket");
    let err = collect(&c, &mut Cursor::default()).await.unwrap_err();
    assert!(err.to_string().contains("no-such-bucket"), "{err}");
}
