//! The events source over real files in temporary folders: windows and metadata, incremental
//! reads, rotation by rename, gzip segments, truncation, a writer or a run crashing mid-segment
//! (nothing lost, nothing twice), time going backwards, silent windows, typed config errors.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;

use evidence_connectors::connector::NoProgress;
use evidence_connectors::testing::{MemorySink, test_pseudonymiser};
use evidence_connectors::{
    CollectContext, Connector, ConnectorError, Cursor, ItemDraft, ItemSink, SinkError,
    SourceConfig, StagedItem,
};
use evidence_model::{GapRecord, ItemId, PopulationRecord, Timestamp};
use serde_json::Value;

const NOW: &str = "2026-12-03T06:00:00Z";

/// One LiteLLM standard-logging line at `time` (RFC 3339) by user `user`, with a prompt.
fn litellm(time: &str, user: &str, status: &str) -> String {
    let t: Timestamp = time.parse().unwrap();
    serde_json::json!({
        "id": format!("chatcmpl-{}", t.as_second()),
        "trace_id": format!("trace-{}", t.as_second()),
        "call_type": "acompletion",
        "status": status,
        "model": "gpt-4o-2024-08-06",
        "model_id": "deploy-eu-1",
        "model_group": "gpt-4o",
        "startTime": t.as_second() as f64,
        "endTime": t.as_second() as f64 + 1.5,
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "end_user": user,
        "metadata": {"user_api_key_team_alias": "claims-assistant", "user_api_key_hash": "88dc28"},
        "messages": [{"role": "user", "content": format!("my policy number is {user}-secret-prompt")}],
        "response": {"choices": [{"message": {"content": "the answer"}}]},
    })
    .to_string()
}

fn lines(times: &[&str]) -> String {
    times
        .iter()
        .map(|t| litellm(t, "alice@example.com", "success") + "\n")
        .collect()
}

fn connector(dir: &Path, extra: &str) -> Box<dyn Connector> {
    let text = format!(
        "name = \"ai-events\"\ntype = \"events\"\npath = {:?}\n{extra}",
        dir.display().to_string()
    );
    let config: SourceConfig = toml::from_str(&text).unwrap();
    config.build(dir).unwrap()
}

async fn collect_with(
    c: &dyn Connector,
    cursor: &mut Cursor,
    sink: &mut dyn ItemSink,
) -> Result<(), ConnectorError> {
    let progress = NoProgress;
    let ctx = CollectContext {
        shutdown: tokio_util::sync::CancellationToken::new(),
        progress: &progress,
        agent: "evidence-agent test".into(),
    };
    c.collect(cursor, sink, &ctx).await
}

async fn collect(c: &dyn Connector, cursor: &mut Cursor) -> MemorySink {
    let mut sink = MemorySink::new("ai-events", NOW.parse().unwrap());
    collect_with(c, cursor, &mut sink).await.unwrap();
    sink
}

/// Every line of every artefact, as JSON.
fn events(sink: &MemorySink) -> Vec<Value> {
    sink.items
        .iter()
        .flat_map(|(_, _, bytes)| {
            String::from_utf8(bytes.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// Sets a file's modification time, so that the order of segments is the rotation's.
fn touch(path: &Path, time: &str) {
    let t: Timestamp = time.parse().unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::from(t)).unwrap();
}

fn gaps_text(sink: &MemorySink) -> String {
    sink.gaps
        .iter()
        .map(|g| format!("{} | {}", g.scope, g.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn one_item_per_system_and_day_with_its_summary_prompts_dropped_users_pseudonymised() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = lines(&[
        "2026-11-30T09:00:00Z",
        "2026-11-30T10:00:00Z",
        "2026-12-01T08:00:00Z",
    ]);
    text.push_str(&(litellm("2026-12-01T09:00:00Z", "bob", "failure") + "\n"));
    write(&dir.path().join("app.jsonl"), &text);
    let c = connector(dir.path(), "");
    let mut cursor = Cursor::default();
    let sink = collect(&*c, &mut cursor).await;

    assert_eq!(sink.items.len(), 2, "{:?}", gaps_text(&sink));
    assert!(sink.gaps.is_empty(), "{}", gaps_text(&sink));
    let day2: &ItemDraft = sink.drafts().nth(1).unwrap();
    assert_eq!(day2.kind.as_str(), "event_log");
    let controls: Vec<&str> = day2.controls.iter().map(|c| c.as_str()).collect();
    assert!(controls.contains(&"A.6.2.8"), "{controls:?}");
    assert_eq!(day2.natural_key, "claims-assistant/2026-12-01T00:00:00Z");
    assert_eq!(day2.file_name, "claims-assistant-2026-12-01.jsonl");
    let a = &day2.attributes;
    assert_eq!(a["events"], 2);
    assert_eq!(a["errors"], 1);
    assert_eq!(a["first_event"], "2026-12-01T08:00:00Z");
    assert_eq!(a["last_event"], "2026-12-01T09:00:00Z");
    assert_eq!(a["models"]["gpt-4o-2024-08-06 (deploy-eu-1)"], 2);
    assert_eq!(a["user_count"], 2);
    let p = test_pseudonymiser();
    let users = a["users"].to_string();
    assert!(
        users.contains(&p.pseudonym("alice@example.com")) && users.contains(&p.pseudonym("bob"))
    );

    let all = sink
        .items
        .iter()
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .collect::<String>();
    assert!(!all.contains("secret-prompt") && !all.contains("the answer"));
    assert!(!all.contains("alice@example.com") && !all.contains("\"bob\""));
    assert!(all.contains(&p.pseudonym("alice@example.com")));
    assert_eq!(events(&sink).len(), 4);

    let pop = &sink.populations[0];
    assert!(pop.complete);
    assert_eq!(pop.attributes["events"], 4);
    assert_eq!(
        pop.attributes["events_per_window"]["claims-assistant/2026-11-30T00:00:00Z"]["events"],
        2
    );
}

#[tokio::test]
async fn a_second_run_reads_only_the_lines_appended_since() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.jsonl");
    write(
        &log,
        &lines(&["2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z"]),
    );
    let c = connector(dir.path(), "");
    let mut cursor = Cursor::default();
    let first = collect(&*c, &mut cursor).await;
    assert_eq!(events(&first).len(), 2);

    let nothing = collect(&*c, &mut cursor).await;
    assert!(nothing.items.is_empty(), "nothing new, nothing sealed");

    append(
        &log,
        &lines(&["2026-11-30T11:00:00Z", "2026-12-01T01:00:00Z"]),
    );
    let second = collect(&*c, &mut cursor).await;
    assert_eq!(events(&second).len(), 2);
    let part2 = second.drafts().next().unwrap();
    assert_eq!(
        part2.natural_key,
        "claims-assistant/2026-11-30T00:00:00Z/part-2"
    );
    assert_eq!(part2.attributes["events"], 1);
    assert_eq!(part2.attributes["events_in_window"], 3);
}

#[tokio::test]
async fn rotation_by_rename_and_gzip_loses_nothing_and_reads_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    write(
        &live,
        &lines(&["2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z"]),
    );
    touch(&live, "2026-11-30T10:00:00Z");
    let c = connector(dir.path(), "");
    let mut cursor = Cursor::default();
    let mut seen = events(&collect(&*c, &mut cursor).await);

    // The writer adds a line, then logrotate renames the file and starts a new one.
    append(&live, &lines(&["2026-11-30T11:00:00Z"]));
    std::fs::rename(&live, dir.path().join("app.jsonl.1")).unwrap();
    touch(&dir.path().join("app.jsonl.1"), "2026-11-30T11:00:00Z");
    write(&live, &lines(&["2026-11-30T12:00:00Z"]));
    touch(&live, "2026-11-30T12:00:00Z");
    let second = collect(&*c, &mut cursor).await;
    assert!(second.gaps.is_empty(), "{}", gaps_text(&second));
    seen.extend(events(&second));

    // The next rotation compresses .1 into .2.gz; the live file grows.
    let old = std::fs::read_to_string(dir.path().join("app.jsonl.1")).unwrap();
    std::fs::remove_file(dir.path().join("app.jsonl.1")).unwrap();
    std::fs::write(dir.path().join("app.jsonl.2.gz"), gzip(&old)).unwrap();
    touch(&dir.path().join("app.jsonl.2.gz"), "2026-11-30T11:00:00Z");
    append(&live, &lines(&["2026-11-30T13:00:00Z"]));
    touch(&live, "2026-11-30T13:00:00Z");
    let third = collect(&*c, &mut cursor).await;
    assert!(third.gaps.is_empty(), "{}", gaps_text(&third));
    seen.extend(events(&third));

    assert_eq!(seen.len(), 5, "every line once");
    let mut expected = ids(&seen);
    expected.dedup();
    assert_eq!(expected.len(), 5, "no line twice");
}

#[tokio::test]
async fn gzip_segments_are_read_on_a_first_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app-2026-11-29.jsonl.gz"),
        gzip(&lines(&["2026-11-29T09:00:00Z", "2026-11-29T10:00:00Z"])),
    )
    .unwrap();
    touch(
        &dir.path().join("app-2026-11-29.jsonl.gz"),
        "2026-11-29T23:59:00Z",
    );
    // A second gzip member appended to the same file (what `gzip -c >>` does).
    let mut two = gzip(&lines(&["2026-11-30T09:00:00Z"]));
    two.extend(gzip(&lines(&["2026-11-30T10:00:00Z"])));
    std::fs::write(dir.path().join("app-2026-11-30.jsonl.gz"), two).unwrap();
    touch(
        &dir.path().join("app-2026-11-30.jsonl.gz"),
        "2026-11-30T23:59:00Z",
    );
    write(
        &dir.path().join("app.jsonl"),
        &lines(&["2026-12-01T09:00:00Z"]),
    );
    let c = connector(dir.path(), "");
    let mut cursor = Cursor::default();
    let sink = collect(&*c, &mut cursor).await;
    assert!(sink.gaps.is_empty(), "{}", gaps_text(&sink));
    assert_eq!(events(&sink).len(), 5);
    assert_eq!(sink.items.len(), 3);
    assert!(collect(&*c, &mut cursor).await.items.is_empty());
}

#[tokio::test]
async fn a_truncated_file_is_a_gap_naming_it_and_reading_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    write(
        &live,
        &lines(&[
            "2026-11-30T09:00:00Z",
            "2026-11-30T10:00:00Z",
            "2026-11-30T11:00:00Z",
        ]),
    );
    let c = connector(dir.path(), "");
    let mut cursor = Cursor::default();
    collect(&*c, &mut cursor).await;
    // Someone cuts the file back to its first line, then the writer goes on.
    let first_line = lines(&["2026-11-30T09:00:00Z"]);
    write(&live, &first_line);
    append(&live, &lines(&["2026-11-30T12:00:00Z"]));
    let sink = collect(&*c, &mut cursor).await;
    assert_eq!(sink.gaps.len(), 1, "{}", gaps_text(&sink));
    assert_eq!(sink.gaps[0].scope, "app.jsonl");
    assert!(
        sink.gaps[0].message.contains("app.jsonl was truncated"),
        "{}",
        gaps_text(&sink)
    );
    assert!(!sink.populations[0].complete);
    // Reading resumed at the file's new end (the gap says what may be lost); nothing is read
    // twice.
    let again = collect(&*c, &mut cursor).await;
    assert!(again.items.is_empty());
}

#[tokio::test]
async fn a_line_the_writer_has_not_finished_is_read_once_when_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let full = litellm("2026-11-30T10:00:00Z", "carol", "success");
    let (head, tail) = full.split_at(40);
    write(&live, &(lines(&["2026-11-30T09:00:00Z"]) + head));
    let c = connector(dir.path(), "");
    let mut cursor = Cursor::default();
    let first = collect(&*c, &mut cursor).await;
    assert_eq!(events(&first).len(), 1);
    assert!(
        first.gaps.is_empty(),
        "a half-written line is not an error: {}",
        gaps_text(&first)
    );
    append(&live, &format!("{tail}\n"));
    let second = collect(&*c, &mut cursor).await;
    assert_eq!(events(&second).len(), 1);
    assert_eq!(
        events(&second)[0]["end_user"],
        test_pseudonymiser().pseudonym("carol")
    );
}

/// A sink whose staging area fails on the second item: the run cannot be sealed.
struct FailingSink {
    inner: MemorySink,
    fail_at: usize,
}

#[async_trait::async_trait]
impl ItemSink for FailingSink {
    async fn put(
        &mut self,
        draft: ItemDraft,
        body: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
    ) -> Result<StagedItem, SinkError> {
        if self.inner.items.len() + 1 == self.fail_at {
            return Err(SinkError::Staging("disk full".into()));
        }
        self.inner.put(draft, body).await
    }
    async fn discard(&mut self, id: &ItemId) -> Result<(), SinkError> {
        self.inner.discard(id).await
    }
    async fn population(&mut self, r: PopulationRecord) -> Result<(), SinkError> {
        self.inner.population(r).await
    }
    async fn gap(&mut self, r: GapRecord) -> Result<(), SinkError> {
        self.inner.gap(r).await
    }
    fn collected_at(&self) -> Timestamp {
        self.inner.collected_at()
    }
    fn pseudonymiser(&self) -> evidence_connectors::Pseudonymiser {
        self.inner.pseudonymiser()
    }
}

#[tokio::test]
async fn a_run_failing_mid_segment_leaves_the_cursor_so_the_next_run_reads_it_all_once() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("app.jsonl"),
        &lines(&[
            "2026-11-29T09:00:00Z",
            "2026-11-30T09:00:00Z",
            "2026-12-01T09:00:00Z",
        ]),
    );
    let c = connector(dir.path(), "");
    let mut cursor = Cursor::default();
    let mut failing = FailingSink {
        inner: MemorySink::new("ai-events", NOW.parse().unwrap()),
        fail_at: 2,
    };
    let err = collect_with(&*c, &mut cursor, &mut failing)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(
        failing.inner.items.is_empty(),
        "what was staged is taken back"
    );
    assert_eq!(cursor, Cursor::default(), "the cursor did not move");
    let sink = collect(&*c, &mut cursor).await;
    assert_eq!(events(&sink).len(), 3);
}

#[tokio::test]
async fn time_going_backwards_is_a_gap_naming_the_segment_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("app.jsonl"),
        &lines(&[
            "2026-11-30T10:00:00Z",
            "2026-11-30T10:00:30Z",
            "2026-11-30T08:00:00Z",
        ]),
    );
    let c = connector(dir.path(), "");
    let sink = collect(&*c, &mut Cursor::default()).await;
    assert_eq!(sink.gaps.len(), 1, "{}", gaps_text(&sink));
    let g = &sink.gaps[0].message;
    assert!(
        g.contains("app.jsonl at line 3") && g.contains("backwards"),
        "{g}"
    );
    assert_eq!(events(&sink).len(), 3, "the lines are still kept");
}

#[tokio::test]
async fn a_declared_system_silent_for_a_day_is_a_gap_once() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("app.jsonl"),
        &lines(&["2026-11-29T09:00:00Z", "2026-12-01T09:00:00Z"]),
    );
    let c = connector(
        dir.path(),
        "systems_in_use = [\"claims-assistant\", \"fraud-scorer\"]",
    );
    let mut cursor = Cursor::default();
    let sink = collect(&*c, &mut cursor).await;
    let text = gaps_text(&sink);
    assert!(
        text.contains("claims-assistant/2026-11-30T00:00:00Z")
            && text.contains("logged no event from 2026-11-30T00:00:00Z"),
        "{text}"
    );
    assert!(
        text.contains("claims-assistant/2026-12-02T00:00:00Z"),
        "{text}"
    );
    assert!(
        text.contains("fraud-scorer is declared in use but its log holds no event"),
        "{text}"
    );
    assert_eq!(sink.gaps.len(), 3, "{text}");
    // The next run the same day reports no silent window twice.
    let again = collect(&*c, &mut cursor).await;
    assert_eq!(gaps_text(&again).matches("claims-assistant/").count(), 0);
}

#[tokio::test]
async fn opentelemetry_lines_and_kept_content() {
    let dir = tempfile::tempdir().unwrap();
    let span = serde_json::json!({
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat gpt-4o",
        "startTimeUnixNano": "1764493925000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.input.messages", "value": {"stringValue": "kept prompt"}},
            {"key": "enduser.id", "value": {"stringValue": "dave"}}],
        "resource": {"attributes": {"service.name": "support-bot"}}
    });
    write(&dir.path().join("spans.jsonl"), &format!("{span}\n"));
    let c = connector(
        dir.path(),
        "shape = \"otel-genai\"\ninclude_content = true\nwindow = \"6h\"",
    );
    let sink = collect(&*c, &mut Cursor::default()).await;
    let d = sink.drafts().next().unwrap();
    assert_eq!(d.natural_key, "support-bot/2025-11-30T06:00:00Z");
    let text = String::from_utf8_lossy(&sink.items[0].2).into_owned();
    assert!(text.contains("kept prompt"), "include_content keeps it");
    assert!(!text.contains("\"dave\""));
    assert_eq!(d.attributes["content_included"], true);
}

#[tokio::test]
async fn lines_that_are_not_events_are_counted_and_named_in_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("app.jsonl"),
        &(lines(&["2026-11-30T09:00:00Z"]) + "INFO starting worker\n"),
    );
    let c = connector(dir.path(), "");
    let sink = collect(&*c, &mut Cursor::default()).await;
    assert_eq!(sink.gaps.len(), 1);
    assert!(
        sink.gaps[0].message.contains("app.jsonl line 2: not JSON"),
        "{}",
        gaps_text(&sink)
    );
    assert_eq!(
        sink.drafts().next().unwrap().attributes["unreadable_lines"],
        1
    );
}

#[test]
fn config_errors_are_typed_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key) in [
        ("window = \"3w\"", "window"),
        ("files = \"[\"", "files"),
        ("systems_in_use = [\"\"]", "systems_in_use"),
        ("kind = \"ai_policy\"", "kind"),
        ("reorder_tolerance_secs = 100000", "reorder_tolerance_secs"),
        ("bucket = \"ai-logs\"", "bucket"),
        ("prefix = \"proxy/\"", "prefix"),
        ("endpoint_url = \"http://127.0.0.1:9\"", "endpoint_url"),
    ] {
        let text = format!("name = \"ai-events\"\ntype = \"events\"\npath = \"logs\"\n{extra}");
        let config: SourceConfig = toml::from_str(&text).unwrap();
        let Err(e) = config.build(dir.path()) else {
            panic!("{extra} was accepted");
        };
        assert!(e.at.starts_with("source \"ai-events\""), "{extra}: {e}");
        if key != "kind" {
            assert_eq!(e.key.as_deref(), Some(key), "{extra}: {e}");
        }
    }
    let bad_shape = "name = \"e\"\ntype = \"events\"\npath = \"l\"\nshape = \"otel\"";
    assert!(toml::from_str::<SourceConfig>(bad_shape).is_err());
}

#[tokio::test]
async fn a_live_segment_rotated_away_and_deleted_before_it_was_read_is_a_gap_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    write(&live, &lines(&["2026-11-30T09:00:00Z"]));
    let c = connector(dir.path(), "");
    let mut cursor = Cursor::default();
    collect(&*c, &mut cursor).await;
    // It grew, was rotated to .1, and .1 was deleted before the next run; a new live file.
    std::fs::remove_file(&live).unwrap();
    write(&live, &lines(&["2026-11-30T12:00:00Z"]));
    let sink = collect(&*c, &mut cursor).await;
    assert_eq!(sink.gaps.len(), 1, "{}", gaps_text(&sink));
    assert!(
        sink.gaps[0]
            .message
            .contains("app.jsonl was rotated away and deleted"),
        "{}",
        gaps_text(&sink)
    );
    assert_eq!(events(&sink).len(), 1, "the new live file is read");
}
