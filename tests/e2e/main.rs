//! End-to-end tests: both binaries run as a user would, against real files and real outside
//! verifiers. One test binary; one module per area.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input_agent;
mod bundles;
mod daemon;
mod deploy;
mod engagement;
mod engagement_race;
mod events;
mod github;
#[path = "../../connectors/tests/github_support/mod.rs"]
mod github_support;
mod internal_audit;
mod jira;
mod mlflow;
mod readiness;
mod redaction;
mod reliability;
mod s3;
mod tidy;
mod trust;
