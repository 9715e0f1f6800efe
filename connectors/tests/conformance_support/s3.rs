//! S3 under the conformance suite: the in-process s3s-fs server of the connector tests, behind
//! the fault-injecting proxy. S3 throttles with `503 SlowDown` rather than 429, so
//! `Fault::RateLimited` is that answer (the closest equivalent); server errors are
//! `500 InternalError`.

use std::collections::BTreeMap;

use evidence_connectors::Connector;
use evidence_connectors::s3::{S3Config, S3Connector};
use evidence_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};

use super::{Fault, Harness, LATE_ANSWER, Profile, Stall, Target};
use evidence_tests::fault_proxy::{Action, Proxy};

const BUCKET: &str = "ml-evidence";

pub(crate) struct S3Harness {
    server: S3Server,
    proxy: Proxy,
    keys: Vec<String>,
}

fn s3_error(status: u16, code: &str, message: &str) -> Action {
    Action::Status(
        status,
        vec![("content-type".into(), "application/xml".into())],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>conformance</RequestId></Error>"
        ),
    )
}

fn is_listing(line: &str) -> bool {
    line.contains("list-type=2")
}

fn is_download(line: &str) -> bool {
    line.starts_with(&format!("GET /{BUCKET}/")) && !is_listing(line)
}

impl S3Harness {
    fn put(&mut self) -> String {
        let n = self.keys.len() + 1;
        let key = format!("cards/model-{n}/MODEL_CARD.md");
        self.server.seed_file(BUCKET, &key, |f| {
            use std::io::Write;
            write!(f, "# Model card {n}\n\nIntended use: triage.\n").unwrap()
        });
        self.keys.push(key.clone());
        key
    }

    fn action(fault: Fault) -> Action {
        match fault {
            Fault::ServerError => s3_error(
                500,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ),
            Fault::RateLimited => s3_error(503, "SlowDown", "Please reduce your request rate."),
            Fault::Timeout => Action::Delay(LATE_ANSWER),
        }
    }
}

impl Harness for S3Harness {
    const TYPE: &'static str = "s3";
    const SOURCE: &'static str = "models";
    const ATTEMPTS: u32 = 3;

    async fn start() -> Self {
        let server = S3Server::start(&[BUCKET]);
        let proxy = Proxy::start(&server.endpoint).await;
        let mut h = Self {
            server,
            proxy,
            keys: Vec::new(),
        };
        for _ in 0..3 {
            h.put();
        }
        h
    }

    fn connector(&self, profile: Profile) -> Box<dyn Connector> {
        let read_timeout = match profile {
            Profile::Quick => 1,
            Profile::Patient => 120,
        };
        let text = format!(
            r#"
bucket = "{BUCKET}"
endpoint_url = "{}"
page_size_keys = 2
max_attempts = {}
read_timeout_secs = {read_timeout}

[[rule]]
glob = "**/MODEL_CARD.md"
kind = "model_card"
"#,
            self.proxy.url,
            Self::ATTEMPTS
        );
        let config: S3Config = toml::from_str(&text).unwrap();
        Box::new(
            S3Connector::new(Self::SOURCE.parse().unwrap(), &config)
                .unwrap()
                .with_sdk_config(&self.server.sdk_config()),
        )
    }

    async fn add_item(&mut self) -> String {
        self.put()
    }

    fn expected(&self) -> BTreeMap<String, String> {
        self.keys
            .iter()
            .map(|k| (k.clone(), "model_card".to_owned()))
            .collect()
    }

    async fn fail(&mut self, fault: Fault, target: Target, times: u32) {
        let action = Self::action(fault);
        match target {
            Target::Listing => self.proxy.fault(is_listing, times, action),
            Target::AnyItem => self.proxy.fault(is_download, times, action),
            Target::Item(key) => {
                let path = format!("/{BUCKET}/{key}");
                self.proxy.fault(
                    move |line| is_download(line) && line.contains(&path),
                    times,
                    action,
                );
            }
        }
    }

    async fn stall(&mut self, stall: Stall) {
        match stall {
            Stall::NoAnswer => self
                .proxy
                .fault(is_listing, super::ALWAYS, Action::NoAnswer),
            Stall::LongRateLimit => self.proxy.fault(
                is_listing,
                super::ALWAYS,
                s3_error(503, "SlowDown", "Please reduce your request rate."),
            ),
            Stall::ItemNoAnswer => self
                .proxy
                .fault(is_download, super::ALWAYS, Action::NoAnswer),
        }
    }

    async fn clear(&mut self) {
        self.proxy.clear();
    }

    async fn faults_served(&self) -> u64 {
        self.proxy.served()
    }

    fn secrets(&self) -> Vec<String> {
        vec![SECRET_KEY.to_owned()]
    }

    async fn credentials_were_sent(&self) -> bool {
        // The secret key only signs; the access key in each signature shows it was used.
        self.proxy
            .heads()
            .iter()
            .any(|h| h.contains(&format!("Credential={ACCESS_KEY}/")))
    }
}
