//! The MLflow connector against a real `mlflow server` (started from the test virtual
//! environment): runs with params and full metric histories, configured artifacts, registered
//! model versions, increments by end time, and runs that have not ended yet.

use evidence_connectors::connector::NoProgress;
use evidence_connectors::mlflow::{MlflowConfig, MlflowConnector};
use evidence_connectors::testing::MemorySink;
use evidence_connectors::{CollectContext, Connector, Cursor};
use evidence_model::Timestamp;
use evidence_tests::fault_proxy::{Action, Proxy};
use evidence_tests::mlflow_server::{MlflowServer, RunSpec};
use serde_json::Value;

const T0: i64 = 1_790_000_000_000;

fn connector(server: &MlflowServer) -> MlflowConnector {
    connector_at(&server.url)
}

fn connector_at(url: &str) -> MlflowConnector {
    let text = format!(
        r#"
tracking_uri = "{url}"
experiments = ["claims-triage"]

[[artifact]]
glob = "**/MODEL_CARD.md"
kind = "model_card"

[[artifact]]
glob = "eval/*.json"
kind = "training_run"
controls = ["A.6.2.4"]
phase = "verification_validation"
"#
    );
    let config: MlflowConfig = toml::from_str(&text).expect("a valid MLflow source config");
    MlflowConnector::new("mlflow".parse().expect("a source name"), &config)
        .expect("the config checks")
}

async fn collect(c: &MlflowConnector, cursor: &mut Cursor) -> MemorySink {
    let mut sink = MemorySink::new(
        "mlflow",
        "2026-11-22T10:00:00Z".parse::<Timestamp>().expect("time"),
    );
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
async fn runs_artifacts_and_model_versions_are_sealed_once_and_increments_follow_end_times() {
    let server = MlflowServer::start().await;
    let exp = server.experiment("claims-triage").await;
    let history: Vec<(&str, f64, i64)> = (0..120)
        .map(|s| ("loss", 1.0 / (s as f64 + 1.0), s))
        .collect();
    let run1 = server
        .run(RunSpec {
            experiment_id: &exp,
            name: "train-2026-09-14",
            user: "alice",
            start_ms: T0,
            end_ms: Some(T0 + 3_600_000),
            params: vec![("learning_rate", "0.01"), ("epochs", "120")],
            metrics: history,
            artifacts: vec![
                ("model/MODEL_CARD.md", b"# Claims triage model card\n"),
                ("eval/report.json", br#"{"auc": 0.91}"#),
                ("checkpoints/weights.bin", b"\x00\x01"),
            ],
        })
        .await;
    let running = server
        .run(RunSpec {
            experiment_id: &exp,
            name: "still-training",
            user: "bob",
            start_ms: T0 + 10_000,
            end_ms: None,
            ..RunSpec::default()
        })
        .await;
    server
        .model_version("claims-triage", &run1, "Production")
        .await;
    let c = connector(&server);
    let mut cursor = Cursor::default();

    let first = collect(&c, &mut cursor).await;
    assert!(first.gaps.is_empty(), "{:?}", first.gaps);
    let kinds: Vec<(&str, &str)> = first
        .drafts()
        .map(|d| (d.kind.as_str(), d.natural_key.as_str()))
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    let run_item = first
        .items
        .iter()
        .find(|(_, d, _)| d.natural_key == format!("runs/{run1}"))
        .expect("the finished run is sealed");
    let (_, draft, bytes) = run_item;
    assert_eq!(draft.kind.as_str(), "training_run");
    assert_eq!(draft.actors[0].name, "alice");
    assert_eq!(draft.attributes["params"]["learning_rate"], "0.01");
    assert_eq!(
        draft.attributes["metrics"]["loss"],
        Value::String((1.0f64 / 120.0).to_string())
    );
    let doc: Value = serde_json::from_slice(bytes).expect("the run artefact is JSON");
    assert_eq!(
        doc["metric_history"]["loss"].as_array().map(Vec::len),
        Some(120)
    );
    assert_eq!(
        doc["artifacts"]["files"].as_array().map(Vec::len),
        Some(6),
        "3 files in 3 folders"
    );
    let card = first
        .items
        .iter()
        .find(|(_, d, _)| d.kind.as_str() == "model_card")
        .expect("the model card artifact is sealed");
    assert_eq!(card.2, b"# Claims triage model card\n");
    let report = first
        .drafts()
        .find(|d| d.natural_key.ends_with("eval/report.json"))
        .expect("the evaluation report is sealed");
    assert_eq!(
        report
            .controls
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        ["A.6.2.4"]
    );
    let deployment = first
        .drafts()
        .find(|d| d.kind.as_str() == "deployment_record")
        .expect("the model version is sealed");
    assert_eq!(deployment.attributes["stage"], "Production");
    assert!(deployment.controls.iter().any(|c| c.as_str() == "A.6.2.5"));
    assert!(
        !first.drafts().any(|d| d.natural_key.contains(&running)),
        "a running run waits"
    );
    let runs_population = &first.populations[0];
    assert_eq!(runs_population.attributes["runs_not_ended"], 1);
    for (_, d, _) in &first.items {
        let attributes = serde_json::to_value(&d.attributes).expect("attributes serialise");
        assert!(
            evidence_model::canonical::to_vec(&attributes).is_ok(),
            "no floats in {attributes}"
        );
    }

    // Nothing new: nothing sealed.
    let second = collect(&c, &mut cursor).await;
    assert!(
        second.items.is_empty(),
        "{:?}",
        second.drafts().map(|d| &d.natural_key).collect::<Vec<_>>()
    );

    // The running run ends, a model version moves to Archived: both are sealed next time.
    server
        .post(
            "api/2.0/mlflow/runs/update",
            serde_json::json!({"run_id": running, "status": "FAILED", "end_time": T0 + 7_200_000}),
        )
        .await;
    server
        .post(
            "api/2.0/mlflow/model-versions/transition-stage",
            serde_json::json!({"name": "claims-triage", "version": "1", "stage": "Archived", "archive_existing_versions": false}),
        )
        .await;
    let third = collect(&c, &mut cursor).await;
    let sealed: Vec<&str> = third.drafts().map(|d| d.kind.as_str()).collect();
    assert_eq!(
        sealed,
        ["training_run", "deployment_record"],
        "{:?}",
        third.gaps
    );
    assert_eq!(third.items[0].1.actors[0].name, "bob");
    assert_eq!(third.items[1].1.attributes["stage"], "Archived");
}

#[tokio::test]
async fn a_missing_experiment_is_a_gap_and_an_unreachable_server_fails_the_source() {
    let server = MlflowServer::start().await;
    let c = connector(&server);
    let sink = collect(&c, &mut Cursor::default()).await;
    assert_eq!(sink.gaps.len(), 1);
    assert_eq!(sink.gaps[0].category, evidence_model::GapCategory::NotFound);
    assert_eq!(sink.gaps[0].scope, "experiment claims-triage");

    let config: MlflowConfig = toml::from_str(
        "tracking_uri = \"http://127.0.0.1:9\"\nmax_attempts = 2\nrequest_timeout_secs = 2\n",
    )
    .expect("config");
    let down = MlflowConnector::new("mlflow".parse().expect("name"), &config).expect("checks");
    let err = down
        .healthcheck()
        .await
        .expect_err("nothing listens on port 9");
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}

#[tokio::test]
async fn an_artifact_cut_off_in_transfer_is_a_gap_and_its_run_is_collected_again_next_time() {
    let server = MlflowServer::start().await;
    let exp = server.experiment("claims-triage").await;
    let report: &[u8] = br#"{"auc": 0.91, "note": "long enough to be cut off"}"#;
    let run_id = server
        .run(RunSpec {
            experiment_id: &exp,
            name: "train-2026-09-14",
            user: "alice",
            start_ms: T0,
            end_ms: Some(T0 + 3_600_000),
            artifacts: vec![("eval/report.json", report)],
            ..RunSpec::default()
        })
        .await;
    // The first download of the report is cut off ten bytes short of its end.
    let proxy = Proxy::start(&server.url).await;
    proxy.fault(
        |line| line.contains("eval/report.json"),
        1,
        Action::Truncate(10),
    );
    let c = connector_at(&proxy.url);
    let mut cursor = Cursor::default();

    let first = collect(&c, &mut cursor).await;
    assert_eq!(first.gaps.len(), 1, "{:?}", first.gaps);
    assert_eq!(
        first.gaps[0].scope,
        format!("run {run_id} artifact eval/report.json")
    );
    assert!(
        first
            .drafts()
            .all(|d| !d.attributes.contains_key("artifact_path")),
        "the report is not sealed"
    );
    assert_eq!(first.items.len(), 1, "the run record is");
    assert!(first.populations.iter().any(|p| !p.complete));

    // The next run collects the run again, and this time the report arrives whole.
    let second = collect(&c, &mut cursor).await;
    assert!(second.gaps.is_empty(), "{:?}", second.gaps);
    let sealed = second
        .items
        .iter()
        .find(|(_, d, _)| {
            d.attributes.get("artifact_path") == Some(&Value::from("eval/report.json"))
        })
        .expect("the report is sealed on the second run");
    assert_eq!(sealed.2, report);

    // Then the run is done: a third run seals nothing.
    let third = collect(&c, &mut cursor).await;
    assert!(third.items.is_empty() && third.gaps.is_empty());
}

/// A run once read is always sealed: its metric history and artifact listing failing on every
/// retry (cut-off answers) leave the run sealed with those parts marked unavailable, one gap
/// each naming the run, and the run collected again next time, whole.
#[tokio::test]
async fn a_run_whose_history_and_artifact_listing_fail_is_sealed_degraded_never_dropped() {
    let server = MlflowServer::start().await;
    let exp = server.experiment("claims-triage").await;
    let run_id = server
        .run(RunSpec {
            experiment_id: &exp,
            name: "train-2026-09-15",
            user: "alice",
            start_ms: T0,
            end_ms: Some(T0 + 3_600_000),
            metrics: vec![("loss", 0.41, 1), ("loss", 0.22, 2)],
            artifacts: vec![("eval/report.json", br#"{"auc": 0.9}"#)],
            ..RunSpec::default()
        })
        .await;
    // Every metric-history and artifact-list answer is cut off ten bytes short of its end.
    let proxy = Proxy::start(&server.url).await;
    proxy.fault(
        |line| line.contains("metrics/get-history"),
        1000,
        Action::Truncate(10),
    );
    proxy.fault(
        |line| line.contains("artifacts/list"),
        1000,
        Action::Truncate(10),
    );
    let c = connector_at(&proxy.url);
    let mut cursor = Cursor::default();

    let first = collect(&c, &mut cursor).await;
    let run = first
        .drafts()
        .find(|d| d.natural_key == format!("runs/{run_id}"))
        .expect("the run is sealed although its secondary lookups failed");
    let unavailable = run.attributes["unavailable"].as_object().expect("recorded");
    assert!(
        unavailable.contains_key("metric_history.loss"),
        "{unavailable:?}"
    );
    assert!(unavailable.contains_key("artifacts"), "{unavailable:?}");
    let scopes: Vec<&str> = first.gaps.iter().map(|g| g.scope.as_str()).collect();
    assert_eq!(
        scopes,
        [
            format!("run {run_id} (metric history loss)"),
            format!("run {run_id} (artifacts)")
        ],
        "{:?}",
        first.gaps
    );
    assert!(first.populations.iter().any(|p| !p.complete));

    // Against the server directly, the next run collects the run again, whole.
    let direct = connector(&server);
    let second = collect(&direct, &mut cursor).await;
    assert!(second.gaps.is_empty(), "{:?}", second.gaps);
    let again = second
        .drafts()
        .find(|d| d.natural_key == format!("runs/{run_id}"))
        .expect("collected again");
    assert!(!again.attributes.contains_key("unavailable"));
}
