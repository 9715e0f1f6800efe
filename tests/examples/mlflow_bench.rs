//! Figures for the MLflow connector against a real `mlflow server` on 127.0.0.1: seed `<runs>`
//! finished runs (3 metrics × 20 points, 2 params, one model card each), then time
//! `evidence-agent collect`. Run through `bench/mlflow.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use evidence_tests::mlflow_server::{MlflowServer, RunSpec};
use evidence_tests::{bin, text};

#[tokio::main]
async fn main() {
    let runs: i64 = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let server = MlflowServer::start().await;
    let exp = server.experiment("bench").await;
    let t = Instant::now();
    for r in 0..runs {
        let metrics: Vec<(&str, f64, i64)> = ["loss", "val_loss", "auc"]
            .iter()
            .flat_map(|k| (0..20).map(move |s| (*k, 1.0 / (s as f64 + 1.0), s)))
            .collect();
        let start = 1_774_000_000_000 + r * 60_000;
        server
            .run(RunSpec {
                experiment_id: &exp,
                name: "bench-run",
                user: "bench",
                start_ms: start,
                end_ms: Some(start + 30_000),
                params: vec![("lr", "0.01"), ("epochs", "20")],
                metrics,
                artifacts: vec![("model/MODEL_CARD.md", b"# card\n")],
            })
            .await;
    }
    eprintln!("seeded {runs} runs in {:.1}s", t.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agent.toml"),
        format!(
            "[archive]\npath = \"evidence\"\norigin = \"bench.example.org\"\n\n[[source]]\ntype = \"mlflow\"\nname = \"mlflow\"\ntracking_uri = \"{}\"\nexperiments = [\"bench\"]\nregistered_models = false\n\n[[source.artifact]]\nglob = \"**/MODEL_CARD.md\"\nkind = \"model_card\"\n",
            server.url
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin("evidence-agent"))
        .args(["collect", "--quiet", "--json", "--config"])
        .arg(dir.path().join("agent.toml"))
        .output()
        .expect("/usr/bin/time runs");
    let secs = started.elapsed().as_secs_f64();
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(summary["items"].as_i64(), Some(runs * 2), "{}", text(&out));
    let rss: f64 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    println!(
        "mlflow: {runs} runs (each: run record with 3 metric histories + 1 artifact) in {secs:.1}s = {:.1} runs/s, peak RSS {:.1} MiB",
        runs as f64 / secs,
        rss / 1024.0
    );
}
