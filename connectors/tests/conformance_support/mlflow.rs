//! MLflow under the conformance suite: a real `mlflow server` from the test virtual
//! environment, behind the fault-injecting proxy, holding finished runs with one metric each.
//! The connector reads its token from the environment only, so the secret check runs in a
//! child process with the variable set.

use std::collections::BTreeMap;

use evidence_connectors::Connector;
use evidence_connectors::mlflow::{MlflowConfig, MlflowConnector};
use evidence_tests::mlflow_server::{MlflowServer, RunSpec};

use super::{Fault, Harness, LATE_ANSWER, Profile, Stall, Target};
use evidence_tests::fault_proxy::{Action, Proxy};

/// The variable the connector reads its bearer token from, and the token.
pub(crate) const TOKEN_ENV: &str = "EVIDENCE_CONFORMANCE_MLFLOW_TOKEN";
pub(crate) const TOKEN: &str = "dapi-conformance-0123456789abcdef-mlflow";

const EXPERIMENT: &str = "conformance";
const T0: i64 = 1_790_000_000_000;
const DAY_MS: i64 = 86_400_000;

pub(crate) struct MlflowHarness {
    server: MlflowServer,
    proxy: Proxy,
    experiment: String,
    runs: Vec<String>,
}

fn is_listing(line: &str) -> bool {
    line.contains("runs/search")
}

fn is_item(line: &str) -> bool {
    line.contains("metrics/get-history")
}

impl MlflowHarness {
    async fn add_run(&mut self) -> String {
        let n = self.runs.len() as i64 + 1;
        let name = format!("train-{n}");
        let id = self
            .server
            .run(RunSpec {
                experiment_id: &self.experiment,
                name: &name,
                user: "alice",
                start_ms: T0 + n * DAY_MS,
                end_ms: Some(T0 + n * DAY_MS + 3_600_000),
                params: vec![("lr", "0.01")],
                metrics: vec![("loss", 0.5, 1), ("loss", 0.25, 2)],
                artifacts: vec![],
            })
            .await;
        let key = format!("runs/{id}");
        self.runs.push(key.clone());
        key
    }

    fn action(fault: Fault) -> Action {
        match fault {
            Fault::ServerError => Action::Status(
                503,
                vec![("content-type".into(), "text/html".into())],
                "<html><body>Service Unavailable</body></html>".into(),
            ),
            Fault::RateLimited => Action::Status(
                429,
                vec![
                    ("retry-after".into(), "1".into()),
                    ("content-type".into(), "application/json".into()),
                ],
                "{\"error_code\": \"REQUEST_LIMIT_EXCEEDED\", \"message\": \"slow down\"}".into(),
            ),
            Fault::Timeout => Action::Delay(LATE_ANSWER),
        }
    }
}

impl Harness for MlflowHarness {
    const TYPE: &'static str = "mlflow";
    const SOURCE: &'static str = "mlflow";
    const ATTEMPTS: u32 = 3;

    async fn start() -> Self {
        let server = MlflowServer::start().await;
        let experiment = server.experiment(EXPERIMENT).await;
        let proxy = Proxy::start(&server.url).await;
        let mut h = Self {
            server,
            proxy,
            experiment,
            runs: Vec::new(),
        };
        for _ in 0..3 {
            h.add_run().await;
        }
        h
    }

    fn connector(&self, profile: Profile) -> Box<dyn Connector> {
        let timeout = match profile {
            Profile::Quick => 1,
            Profile::Patient => 120,
        };
        let text = format!(
            r#"
tracking_uri = "{}"
experiments = ["{EXPERIMENT}"]
registered_models = false
page_size_runs = 2
token_env = "{TOKEN_ENV}"
max_attempts = {}
request_timeout_secs = {timeout}
"#,
            self.proxy.url,
            Self::ATTEMPTS
        );
        let config: MlflowConfig = toml::from_str(&text).unwrap();
        Box::new(MlflowConnector::new(Self::SOURCE.parse().unwrap(), &config).unwrap())
    }

    async fn add_item(&mut self) -> String {
        self.add_run().await
    }

    fn expected(&self) -> BTreeMap<String, String> {
        self.runs
            .iter()
            .map(|k| (k.clone(), "training_run".to_owned()))
            .collect()
    }

    async fn fail(&mut self, fault: Fault, target: Target, times: u32) {
        let action = Self::action(fault);
        match target {
            Target::Listing => self.proxy.fault(is_listing, times, action),
            // A run's metric history is what the connector fetches for each run it lists.
            Target::AnyItem => self.proxy.fault(is_item, times, action),
            Target::Item(key) => {
                let id = format!("run_id={}", key.trim_start_matches("runs/"));
                self.proxy.fault(
                    move |line| is_item(line) && line.contains(&id),
                    times,
                    action,
                );
            }
        }
    }

    async fn stall(&mut self, stall: Stall) {
        let (matches, action): (fn(&str) -> bool, Action) = match stall {
            Stall::NoAnswer => (is_listing, Action::NoAnswer),
            Stall::LongRateLimit => (
                is_listing,
                Action::Status(
                    429,
                    vec![("retry-after".into(), "600".into())],
                    "{\"error_code\": \"REQUEST_LIMIT_EXCEEDED\"}".into(),
                ),
            ),
            Stall::ItemNoAnswer => (is_item, Action::NoAnswer),
        };
        self.proxy.fault(matches, super::ALWAYS, action);
    }

    async fn clear(&mut self) {
        self.proxy.clear();
    }

    async fn faults_served(&self) -> u64 {
        self.proxy.served()
    }

    fn secrets(&self) -> Vec<String> {
        vec![TOKEN.to_owned()]
    }

    async fn credentials_were_sent(&self) -> bool {
        let header = format!("authorization: bearer {}", TOKEN.to_ascii_lowercase());
        self.proxy
            .heads()
            .iter()
            .any(|h| h.to_ascii_lowercase().contains(&header))
    }

    fn secret_env() -> Option<&'static [(&'static str, &'static str)]> {
        Some(&[(TOKEN_ENV, TOKEN)])
    }
}
