//! Jira under the conformance suite: the mock Jira Cloud of the reliability tests (enhanced JQL
//! search bounded by `updated >=`, newest first, paged by `nextPageToken`), with faults answered
//! by one higher-priority wiremock mock over it. (Scoped mocks cannot be used: wiremock 0.6
//! sorts its mocks by priority in place, so a scoped mock's guard ends up pointing at another
//! mock.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use evidence_connectors::http::RetryPolicy;
use evidence_connectors::jira::{Credentials, JiraConfig, JiraConnector};
use evidence_connectors::{Connector, Secret};
use evidence_tests::mock_jira::MockJira;
use jiff::Timestamp;
use serde_json::json;
use wiremock::{Match, Mock, Request, Respond, ResponseTemplate};

use super::{ALWAYS, Fault, Harness, LATE_ANSWER, Profile, QUICK_TIMEOUT, Stall, Target};

const EMAIL: &str = "evidence-bot@example.org";
const TOKEN: &str = "ATATT3xFfGF0-conformance-token-never-printed";
const SEARCH: &str = "/rest/api/3/search/jql";

type Matcher = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

struct Injected {
    matches: Matcher,
    times: u32,
    answer: ResponseTemplate,
}

/// The faults in force: a wiremock matcher (some fault applies) and responder (the first that
/// applies answers). Wiremock calls both under one lock, so they agree.
#[derive(Clone, Default)]
struct Faults {
    list: Arc<Mutex<Vec<Injected>>>,
    served: Arc<AtomicU64>,
}

impl Match for Faults {
    fn matches(&self, request: &Request) -> bool {
        self.list
            .lock()
            .unwrap()
            .iter()
            .any(|f| f.times > 0 && (f.matches)(request))
    }
}

impl Respond for Faults {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut list = self.list.lock().unwrap();
        let f = list
            .iter_mut()
            .find(|f| f.times > 0 && (f.matches)(request))
            .unwrap();
        f.times -= 1;
        self.served.fetch_add(1, Ordering::Relaxed);
        f.answer.clone()
    }
}

fn is_search(r: &Request) -> bool {
    r.method.as_str() == "POST" && r.url.path() == SEARCH
}

/// The key of a changelog request, if it is one.
fn changelog_of(r: &Request) -> Option<String> {
    let rest = r.url.path().strip_prefix("/rest/api/3/issue/")?;
    let key = rest.strip_suffix("/changelog")?;
    (r.method.as_str() == "GET").then(|| key.to_owned())
}

pub(crate) struct JiraHarness {
    jira: MockJira,
    keys: Vec<String>,
    faults: Faults,
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

    fn inject(&self, matches: Matcher, times: u32, answer: ResponseTemplate) {
        self.faults.list.lock().unwrap().push(Injected {
            matches,
            times,
            answer,
        });
    }
}

impl Harness for JiraHarness {
    const TYPE: &'static str = "jira";
    const SOURCE: &'static str = "jira";
    const ATTEMPTS: u32 = 3;

    async fn start() -> Self {
        let jira = MockJira::start().await;
        let faults = Faults::default();
        Mock::given(faults.clone())
            .respond_with(faults.clone())
            .with_priority(1)
            .mount(&jira.server)
            .await;
        let mut h = Self {
            jira,
            keys: Vec::new(),
            faults,
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
        let matches: Matcher = match target {
            Target::Listing => Arc::new(is_search),
            // A ticket's own answers are its search entry and its changelog.
            Target::AnyItem => Arc::new(|r| changelog_of(r).is_some()),
            Target::Item(key) => Arc::new(move |r| changelog_of(r).as_deref() == Some(&key)),
        };
        self.inject(matches, times, Self::answer(fault));
    }

    async fn stall(&mut self, stall: Stall) {
        let (matches, answer): (Matcher, ResponseTemplate) = match stall {
            Stall::NoAnswer => (
                Arc::new(is_search),
                ResponseTemplate::new(200)
                    .set_body_json(json!({"issues": [], "isLast": true}))
                    .set_delay(Duration::from_secs(600)),
            ),
            Stall::LongRateLimit => (
                Arc::new(is_search),
                ResponseTemplate::new(429).insert_header("Retry-After", "600"),
            ),
            Stall::ItemNoAnswer => (
                Arc::new(|r| changelog_of(r).is_some()),
                ResponseTemplate::new(200)
                    .set_body_json(json!({"isLast": true, "values": []}))
                    .set_delay(Duration::from_secs(600)),
            ),
        };
        self.inject(matches, ALWAYS, answer);
    }

    async fn clear(&mut self) {
        self.faults.list.lock().unwrap().clear();
    }

    async fn faults_served(&self) -> u64 {
        self.faults.served.load(Ordering::Relaxed)
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
