//! GitHub under the conformance suite: the fake GitHub of the connector tests (answers built
//! from GitHub's OpenAPI examples and checked against its schemas), holding merged pull
//! requests; faults are the fake's own.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use evidence_connectors::github::{GithubConfig, GithubConnector};
use evidence_connectors::{Connector, Secret};

use super::{Fault, Harness, LATE_ANSWER, Profile, Stall, Target};
use crate::github_support::{FakeGithub, FaultAction, PullSpec, RepoSpec, serve};

const TOKEN: &str = "ghp_CONFORMANCE0123456789abcdefghijklmn";

pub(crate) struct GithubHarness {
    fake: FakeGithub,
    server: wiremock::MockServer,
    /// Fault budgets injected so far.
    injected: u64,
}

impl GithubHarness {
    fn pull(number: u64) -> PullSpec {
        PullSpec::merged(
            number,
            "ana",
            "ben",
            &format!("2026-03-{:02}T10:00:00Z", number),
        )
    }

    fn action(fault: Fault) -> FaultAction {
        match fault {
            Fault::ServerError => {
                FaultAction::Status(503, vec![], "{\"message\":\"Service Unavailable\"}".into())
            }
            Fault::RateLimited => FaultAction::Status(
                429,
                vec![("retry-after".into(), "1".into())],
                "{\"message\":\"slow down\"}".into(),
            ),
            Fault::Timeout => FaultAction::Delay(LATE_ANSWER),
        }
    }

    fn remaining(&self) -> u64 {
        self.fake
            .faults
            .lock()
            .unwrap()
            .iter()
            .map(|f| u64::from(f.times))
            .sum()
    }
}

impl Harness for GithubHarness {
    const TYPE: &'static str = "github";
    const SOURCE: &'static str = "gh";
    const ATTEMPTS: u32 = 4;

    async fn start() -> Self {
        let mut repo = RepoSpec::new("model");
        repo.pulls = (1..=3).map(Self::pull).collect();
        let fake = FakeGithub::new("acme", vec![repo]);
        let server = serve(&fake).await;
        Self {
            fake,
            server,
            injected: 0,
        }
    }

    fn connector(&self, profile: Profile) -> Box<dyn Connector> {
        let retry = match profile {
            Profile::Quick => {
                "max_attempts = 4\nbase_delay_ms = 5\nmax_delay_secs = 1\ntimeout_secs = 1"
            }
            Profile::Patient => {
                "max_attempts = 4\nbase_delay_ms = 5\nmax_delay_secs = 600\ntimeout_secs = 120"
            }
        };
        // The REST walk, one request per pull request's reviews: the per-item faults this suite
        // injects need per-item requests. The GraphQL backfill walk, where a page's pull
        // requests come in one answer, has its fault tests in `github_graphql.rs`.
        let text = format!(
            "api_url = \"{}\"\napi = \"rest\"\nrepos = [\"acme/model\"]\nper_page = 2\nmax_concurrent_requests = 1\n[protection]\nenabled = false\n[releases]\nenabled = false\n[retry]\n{retry}\n",
            self.server.uri()
        );
        let config: GithubConfig = toml::from_str(&text).unwrap();
        Box::new(
            GithubConnector::new(Self::SOURCE.parse().unwrap(), &config)
                .unwrap()
                .with_token(Secret::new(TOKEN)),
        )
    }

    async fn add_item(&mut self) -> String {
        let mut repos = self.fake.repos.lock().unwrap();
        let number = repos[0].pulls.len() as u64 + 1;
        repos[0].pulls.push(Self::pull(number));
        format!("acme/model#{number}")
    }

    fn expected(&self) -> BTreeMap<String, String> {
        self.fake.repos.lock().unwrap()[0]
            .pulls
            .iter()
            .map(|p| (format!("acme/model#{}", p.number), "pr_approval".to_owned()))
            .collect()
    }

    async fn fail(&mut self, fault: Fault, target: Target, times: u32) {
        let matching = match target {
            Target::Listing => "/pulls?".to_owned(),
            // A pull request's primary answers are the pull and its reviews.
            Target::AnyItem => "/reviews".to_owned(),
            Target::Item(key) => {
                let number = key.rsplit('#').next().unwrap();
                format!("/pulls/{number}/reviews")
            }
        };
        self.fake.fault(&matching, times, Self::action(fault));
        self.injected += u64::from(times);
    }

    async fn stall(&mut self, stall: Stall) {
        let (matching, action) = match stall {
            Stall::NoAnswer => ("/pulls?", FaultAction::Delay(Duration::from_secs(600))),
            Stall::LongRateLimit => (
                "/pulls?",
                FaultAction::Status(
                    429,
                    vec![("retry-after".into(), "600".into())],
                    "{\"message\":\"slow down\"}".into(),
                ),
            ),
            Stall::ItemNoAnswer => ("/reviews", FaultAction::Delay(Duration::from_secs(600))),
        };
        self.fake.fault(matching, super::ALWAYS, action);
        self.injected += u64::from(super::ALWAYS);
    }

    async fn clear(&mut self) {
        let left = self.remaining();
        self.fake.faults.lock().unwrap().clear();
        self.injected -= left;
    }

    async fn faults_served(&self) -> u64 {
        self.injected - self.remaining()
    }

    fn secrets(&self) -> Vec<String> {
        vec![
            TOKEN.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(TOKEN),
        ]
    }

    async fn credentials_were_sent(&self) -> bool {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| {
                r.headers
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes())
            })
    }
}
