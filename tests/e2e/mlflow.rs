//! The MLflow connector end to end: a real `mlflow server` (from the test virtual environment)
//! seeded through its REST API with a finished training run, its metric history and model card,
//! and a registered model in Production; `evidence-agent collect` seals them, and
//! `evidence-auditor verify` and bagit-python accept the archive.

use evidence_tests::mlflow_server::{MlflowServer, RunSpec};
use evidence_tests::{Sandbox, json, run, text, venv_tool};

const EPOCH: u64 = 1_775_000_000;
const T0: i64 = 1_774_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_runs_model_cards_and_model_versions_are_sealed_and_verify() {
    let server = MlflowServer::start().await;
    let exp = server.experiment("claims-triage").await;
    let metrics: Vec<(&str, f64, i64)> = (0..50)
        .map(|s| ("val_auc", 0.5 + s as f64 / 100.0, s))
        .collect();
    let run_id = server
        .run(RunSpec {
            experiment_id: &exp,
            name: "train-2026-03-20",
            user: "alice@example.org",
            start_ms: T0,
            end_ms: Some(T0 + 5_400_000),
            params: vec![("learning_rate", "0.003")],
            metrics,
            artifacts: vec![(
                "model/MODEL_CARD.md",
                b"# Claims triage\nIntended use: triage\n",
            )],
        })
        .await;
    server
        .model_version("claims-triage", &run_id, "Production")
        .await;

    let s = Sandbox::empty();
    s.write(
        "agent.toml",
        format!(
            r#"
[archive]
path = "evidence"
origin = "example.org/ai"

[[source]]
type = "mlflow"
name = "mlflow"
tracking_uri = "{}"

[[source.artifact]]
glob = "**/MODEL_CARD.md"
kind = "model_card"
"#,
            server.url
        ),
    );
    let o = s.collect(Some(EPOCH));
    assert!(o.status.success(), "{}", text(&o));
    let summary = json(&o);
    assert_eq!(
        summary["items"], 3,
        "a run, its model card, a model version: {summary:#}"
    );

    let v = s.verify();
    assert!(v.status.success(), "{}", text(&v));
    assert_eq!(json(&v)["valid"], true);

    // Outside check: the bag inside the bundle validates with bagit-python.
    let unzipped = s.path().join("unzipped");
    let o = run(std::process::Command::new("unzip")
        .arg("-q")
        .arg(s.archive().join("run-000001.zip"))
        .arg("-d")
        .arg(&unzipped));
    assert!(o.status.success(), "{}", text(&o));
    let bag = run(std::process::Command::new(venv_tool("bagit.py"))
        .arg("--validate")
        .arg(unzipped.join("run-000001")));
    assert!(bag.status.success(), "{}", text(&bag));

    // The sealed run record names its author and keeps the full metric history.
    let items = unzipped.join("run-000001/data/items");
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(&items).unwrap() {
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(entry.unwrap().path().join("metadata.json")).unwrap(),
        )
        .unwrap();
        kinds.push(meta["kind"].as_str().unwrap().to_owned());
        if meta["kind"] == "training_run" {
            assert_eq!(meta["actors"][0]["name"], "alice@example.org");
            assert_eq!(meta["attributes"]["params"]["learning_rate"], "0.003");
            let artefact = unzipped
                .join("run-000001")
                .join(meta["artefact"]["path"].as_str().unwrap());
            let doc: serde_json::Value =
                serde_json::from_slice(&std::fs::read(artefact).unwrap()).unwrap();
            assert_eq!(
                doc["metric_history"]["val_auc"].as_array().map(Vec::len),
                Some(50)
            );
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["deployment_record", "model_card", "training_run"]);

    // Nothing new: the next run seals an empty run record.
    let o = s.collect(Some(EPOCH + 60));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&o)["items"], 0);
}
