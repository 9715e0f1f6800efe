//! Jira under the conformance suite: the mock Jira Cloud of the reliability tests (enhanced JQL
//! search bounded by `updated >=`, newest first, paged by `nextPageToken`), with faults mounted
//! over it as higher-priority wiremock mocks.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use evidence_connectors::http::RetryPolicy;
use evidence_connectors::jira::{Credentials, JiraConfig, JiraConnector};
use evidence_connectors::{Connector, Secret};
use evidence_tests::mock_jira::MockJira;
use jiff::Timestamp;
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockGuard, ResponseTemplate};

use super::{ALWAYS, Fault, Harness, LATE_ANSWER, Profile, QUICK_TIMEOUT, Stall, Target};

const EMAIL: &str = "evidence-bot@example.org";
const TOKEN: &str = "ATATT3xFfGF0-conformance-token-never-printed";
const SEARCH: &str = "/rest/api/3/search/jql";

pub(crate) struct JiraHarness {
    jira: MockJira,
    keys: Vec<String>,
    faults: Vec<MockGuard>,
    /// Faults served by mocks already removed.
    served_before: u64,
}

impl JiraHarness {
    fn upsert(&mut self) -> String {
        let n = self.keys.len() + 1;
        let key = format!("AIOPS-{n}");
        let updated: Timestamp = format!("2026-01-{:02}T10:00:00Z", n).parse().unwrap();
        self.jira
            .upsert(&key, &format!("Model drift alert {n}"), updated);
        self.keys.push(key.clone());
        key
    }

    fn answer(fault: Fault) -> ResponseTemplate {
        match fault {
            Fault::ServerError => ResponseTemplate::new(503).set_body_string("Service Unavailable"),
            Fault::RateLimited => ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            Fault::Timeout => ResponseTemplate::new(200)
                .set_body_json(json!({"maxResults": 100, "startAt": 0, "total": 0, "isLast": true, "values": []}))
                .set_delay(LATE_ANSWER),
        }
    }

    async fn mount(&mut self, mock: Mock) {
        let guard = mock
            .with_priority(1)
            .mount_as_scoped(&self.jira.server)
            .await;
        self.faults.push(guard);
    }
}

impl Harness for JiraHarness {
    const TYPE: &'static str = "jira";
    const SOURCE: &'static str = "jira";
    const ATTEMPTS: u32 = 3;

    async fn start() -> Self {
        let mut h = Self {
            jira: MockJira::start().await,
            keys: Vec::new(),
            faults: Vec::new(),
            served_before: 0,
        };
        for _ in 0..3 {
            h.upsert();
        }
        h
    }

    fn connector(&self, profile: Profile) -> Box<dyn Connector> {
        let text = format!(
            r#"
site = "{}"
email_env = "EVIDENCE_CONFORMANCE_JIRA_EMAIL"
api_token_env = "EVIDENCE_CONFORMANCE_JIRA_TOKEN"
jql_timezone = "UTC"
page_size = 2

[[query]]
name = "incidents"
jql = "project = AIOPS AND type = Incident"
kind = "incident_ticket"
"#,
            self.jira.server.uri()
        );
        let config: JiraConfig = toml::from_str(&text).unwrap();
        let policy = match profile {
            Profile::Quick => RetryPolicy {
                max_attempts: Self::ATTEMPTS,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_secs(5),
                timeout: QUICK_TIMEOUT,
            },
            Profile::Patient => RetryPolicy {
                max_attempts: Self::ATTEMPTS,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_secs(600),
                timeout: Duration::from_secs(120),
            },
        };
        Box::new(
            JiraConnector::new(Self::SOURCE.parse().unwrap(), &config)
                .unwrap()
                .with_credentials(Credentials::Basic {
                    email: EMAIL.into(),
                    token: Secret::new(TOKEN),
                })
                .with_retry_policy(policy),
        )
    }

    async fn add_item(&mut self) -> String {
        self.upsert()
    }

    fn expected(&self) -> BTreeMap<String, String> {
        self.keys
            .iter()
            .map(|k| (k.clone(), "incident_ticket".to_owned()))
            .collect()
    }

    async fn fail(&mut self, fault: Fault, target: Target, times: u32) {
        let mock = match target {
            Target::Listing => Mock::given(method("POST")).and(path(SEARCH)),
            // A ticket's own answers are its search entry and its changelog.
            Target::AnyItem => Mock::given(method("GET"))
                .and(path_regex(r"^/rest/api/3/issue/[A-Z]+-[0-9]+/changelog$")),
            Target::Item(key) => {
                Mock::given(method("GET")).and(path(format!("/rest/api/3/issue/{key}/changelog")))
            }
        };
        let mut mock = mock.respond_with(Self::answer(fault));
        if times != ALWAYS {
            mock = mock.up_to_n_times(u64::from(times));
        }
        self.mount(mock).await;
    }

    async fn stall(&mut self, stall: Stall) {
        let search = Mock::given(method("POST")).and(path(SEARCH));
        let mock = match stall {
            Stall::NoAnswer => search.respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"issues": [], "isLast": true}))
                    .set_delay(Duration::from_secs(600)),
            ),
            Stall::LongRateLimit => {
                search.respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "600"))
            }
            Stall::ItemNoAnswer => Mock::given(method("GET"))
                .and(path_regex(r"^/rest/api/3/issue/[A-Z]+-[0-9]+/changelog$"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(json!({"isLast": true, "values": []}))
                        .set_delay(Duration::from_secs(600)),
                ),
        };
        self.mount(mock).await;
    }

    async fn clear(&mut self) {
        self.served_before = self.faults_served().await;
        self.faults.clear();
    }

    async fn faults_served(&self) -> u64 {
        let mut served = self.served_before;
        for g in &self.faults {
            served += g.received_requests().await.len() as u64;
        }
        served
    }

    fn secrets(&self) -> Vec<String> {
        vec![
            TOKEN.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}")),
        ]
    }

    async fn credentials_were_sent(&self) -> bool {
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"))
        );
        self.jira
            .server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| {
                r.headers
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes() == basic.as_bytes())
            })
    }
}
