//! A real MLflow tracking server for tests: `mlflow server` from the test virtual environment on
//! a free loopback port, with a SQLite backend and proxied artifacts in a temporary folder.
//! Waits until `/health` answers, offers a small REST client to seed experiments, runs,
//! metrics, artifacts and registered models, and kills the server on Drop.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long the server may take to start (the first start migrates the database).
const STARTUP_LIMIT: Duration = Duration::from_secs(120);

/// A running server.
pub struct MlflowServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// A free loopback port (bound and released; the server binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl MlflowServer {
    /// Start `mlflow server` and wait for it. Fails with the test command to run when the
    /// virtual environment has no MLflow.
    pub async fn start() -> Self {
        let mlflow = crate::venv().join("bin").join("mlflow");
        assert!(
            mlflow.exists(),
            "{} is missing: the MLflow tests need the test virtual environment. Run the README's test command (scripts/test), which installs scripts/requirements-test.txt, or set EVIDENCE_TEST_VENV to a venv that has mlflow",
            mlflow.display()
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("create server log");
        let log_err = log.try_clone().expect("clone the log handle");
        let child = Command::new(&mlflow)
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.path().join("db").display()))
            .arg("--artifacts-destination")
            .arg(dir.path().join("artifacts"))
            .args(["--workers", "1"])
            .env("MLFLOW_DISABLE_TELEMETRY", "true")
            .env("DO_NOT_TRACK", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            // Its own process group: `mlflow server` runs the web server as a child process,
            // and Drop must stop both.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", mlflow.display()));
        let server = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
            http: reqwest::Client::new(),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let started = Instant::now();
        let health = format!("{}/health", self.url);
        while started.elapsed() < STARTUP_LIMIT {
            if let Ok(r) = self.http.get(&health).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        panic!("mlflow server did not answer /health within {STARTUP_LIMIT:?}; its log:\n{log}");
    }

    /// POST JSON to an API path (e.g. `api/2.0/mlflow/runs/create`) and return the answer.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "POST {path} answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Create an experiment and return its id.
    pub async fn experiment(&self, name: &str) -> String {
        let v = self
            .post("api/2.0/mlflow/experiments/create", json!({"name": name}))
            .await;
        v["experiment_id"]
            .as_str()
            .expect("an experiment id")
            .to_owned()
    }

    /// Create a run by `user`, log `params` and metric `history` (`(key, value, step)`), upload
    /// `artifacts` (`(path, bytes)`), and end it at `end_ms` unless `end_ms` is `None`.
    pub async fn run(&self, spec: RunSpec<'_>) -> String {
        let v = self
            .post(
                "api/2.0/mlflow/runs/create",
                json!({"experiment_id": spec.experiment_id, "start_time": spec.start_ms, "run_name": spec.name, "user_id": spec.user}),
            )
            .await;
        let run_id = v["run"]["info"]["run_id"]
            .as_str()
            .expect("a run id")
            .to_owned();
        let params: Vec<Value> = spec
            .params
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let metrics: Vec<Value> = spec
            .metrics
            .iter()
            .map(|(k, v, step)| json!({"key": k, "value": v, "timestamp": spec.start_ms + step * 1000, "step": step}))
            .collect();
        for chunk in metrics.chunks(1000) {
            self.post(
                "api/2.0/mlflow/runs/log-batch",
                json!({"run_id": run_id, "metrics": chunk, "params": []}),
            )
            .await;
        }
        self.post(
            "api/2.0/mlflow/runs/log-batch",
            json!({"run_id": run_id, "params": params, "metrics": []}),
        )
        .await;
        for (path, bytes) in spec.artifacts {
            let url = format!(
                "{}/api/2.0/mlflow-artifacts/artifacts/{}/{run_id}/artifacts/{path}",
                self.url, spec.experiment_id
            );
            let r = self
                .http
                .put(&url)
                .body(bytes.to_vec())
                .send()
                .await
                .unwrap_or_else(|e| panic!("upload {path}: {e}"));
            assert!(r.status().is_success(), "upload {path}: {}", r.status());
        }
        if let Some(end) = spec.end_ms {
            self.post(
                "api/2.0/mlflow/runs/update",
                json!({"run_id": run_id, "status": "FINISHED", "end_time": end}),
            )
            .await;
        }
        run_id
    }

    /// Register `model` (once) with a version from `run_id`, move it to `stage`, and return
    /// the version number.
    pub async fn model_version(&self, model: &str, run_id: &str, stage: &str) -> String {
        let _ = self
            .http
            .post(format!(
                "{}/api/2.0/mlflow/registered-models/create",
                self.url
            ))
            .json(&json!({"name": model}))
            .send()
            .await;
        let v = self
            .post(
                "api/2.0/mlflow/model-versions/create",
                json!({"name": model, "source": format!("runs:/{run_id}/model"), "run_id": run_id}),
            )
            .await;
        let version = v["model_version"]["version"]
            .as_str()
            .expect("a version")
            .to_owned();
        self.post(
            "api/2.0/mlflow/model-versions/transition-stage",
            json!({"name": model, "version": version, "stage": stage, "archive_existing_versions": false}),
        )
        .await;
        version
    }
}

/// What [`MlflowServer::run`] creates.
#[derive(Debug, Clone, Default)]
pub struct RunSpec<'a> {
    pub experiment_id: &'a str,
    pub name: &'a str,
    pub user: &'a str,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub params: Vec<(&'a str, &'a str)>,
    pub metrics: Vec<(&'a str, f64, i64)>,
    pub artifacts: Vec<(&'a str, &'a [u8])>,
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        // Signal the whole process group this server leads (its id is the child's pid).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}
