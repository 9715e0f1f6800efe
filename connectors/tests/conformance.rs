//! One conformance suite every connector runs against its test server: the local folder, the
//! fake GitHub, the mock Jira, the in-process S3 and a real MLflow. The checks are written once
//! (`conformance_support::checks`) over a small harness each server implements; where a check
//! cannot apply to a connector, its test name says so and runs the closest equivalent.
#![allow(clippy::unwrap_used)]

mod conformance_support;
mod github_support;

use conformance_support::checks;
use conformance_support::{Fault, Stall, Target};

/// One module of tests per connector: `test => check;`, with a test's attributes before it.
macro_rules! suite {
    ($module:ident, $harness:ty, { $( $(#[$attr:meta])* $test:ident => $check:expr; )* }) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            #[allow(dead_code)]
            type H = $harness;
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $test() {
                    $check
                }
            )*
        }
    };
}

/// The checks of a connector behind an HTTP server, where every fault applies, and the
/// connector's further `test => check;` entries (those a defect keeps ignored for some).
macro_rules! http_suite {
    ($module:ident, $harness:ty, { $($extra:tt)* }) => {
        suite!($module, $harness, {
            collects_every_item_tagged => checks::collects_every_item_tagged::<H>().await;
            is_incremental => checks::is_incremental::<H>().await;
            resumes_after_an_interrupted_run => checks::resumes_after_an_interrupted_run::<H>().await;
            a_run_cancelled_before_it_starts_stops_at_once =>
                checks::a_run_cancelled_before_it_starts_stops_at_once::<H>().await;
            stops_at_once_when_cancelled_mid_run => checks::stops_at_once_when_cancelled_mid_run::<H>().await;
            stops_in_time_when_cancelled_during_a_listing_that_never_answers =>
                checks::stops_in_time_when_cancelled_during::<H>(Stall::NoAnswer).await;
            stops_in_time_when_cancelled_during_a_ten_minute_rate_limit_wait =>
                checks::stops_in_time_when_cancelled_during::<H>(Stall::LongRateLimit).await;
            retries_server_errors_on_the_listing =>
                checks::retries::<H>(Fault::ServerError, Target::Listing).await;
            retries_server_errors_on_items =>
                checks::retries::<H>(Fault::ServerError, Target::AnyItem).await;
            retries_rate_limiting_on_the_listing =>
                checks::retries::<H>(Fault::RateLimited, Target::Listing).await;
            retries_rate_limiting_on_items =>
                checks::retries::<H>(Fault::RateLimited, Target::AnyItem).await;
            retries_timeouts_on_the_listing =>
                checks::retries::<H>(Fault::Timeout, Target::Listing).await;
            retries_timeouts_on_items =>
                checks::retries::<H>(Fault::Timeout, Target::AnyItem).await;
            a_persistent_server_error_is_a_gap_and_the_item_comes_next_run =>
                checks::a_persistent_failure_is_a_gap_and_the_item_comes_next_run::<H>(Fault::ServerError).await;
            persistent_rate_limiting_is_a_gap_and_the_item_comes_next_run =>
                checks::a_persistent_failure_is_a_gap_and_the_item_comes_next_run::<H>(Fault::RateLimited).await;
            a_listing_that_keeps_failing_is_a_gap_not_a_crash =>
                checks::a_listing_that_keeps_failing_is_a_gap_not_a_crash::<H>().await;
            writes_population_records => checks::writes_population_records::<H>().await;
            never_writes_a_secret =>
                checks::never_writes_a_secret::<H>(concat!(stringify!($module), "::never_writes_a_secret")).await;
            $($extra)*
        });
    };
}

suite!(local, conformance_support::local::LocalHarness, {
    collects_every_item_tagged => checks::collects_every_item_tagged::<H>().await;
    is_incremental => checks::is_incremental::<H>().await;
    resumes_after_an_interrupted_run => checks::resumes_after_an_interrupted_run::<H>().await;
    a_run_cancelled_before_it_starts_stops_at_once =>
        checks::a_run_cancelled_before_it_starts_stops_at_once::<H>().await;
    // A folder never keeps the connector waiting: cancellation mid-walk is the closest
    // equivalent of a stalled server.
    stops_at_once_when_cancelled_mid_walk_as_no_server_can_stall =>
        checks::stops_at_once_when_cancelled_mid_run::<H>().await;
    // No 5xx, 429 or timeout reaches a folder, and it does not retry a read within a run: a
    // file whose read fails is a gap, and the next run collects it.
    an_unreadable_file_instead_of_5xx_429_or_timeouts_is_a_gap_and_comes_next_run =>
        checks::a_persistent_failure_is_a_gap_and_the_item_comes_next_run::<H>(Fault::ServerError).await;
    // A failing listing: the folder is gone.
    a_missing_folder_instead_of_a_failing_listing_is_a_failed_source_not_a_crash =>
        checks::a_listing_that_keeps_failing_is_a_gap_not_a_crash::<H>().await;
    writes_population_records => checks::writes_population_records::<H>().await;
    // No credential: a secret in a hidden `.env` of the folder and the machine's absolute path
    // are what must not be written.
    never_writes_a_secret_of_the_folder =>
        checks::never_writes_a_secret::<H>("local::never_writes_a_secret_of_the_folder").await;
    // Nor the machine's absolute path, which a bundle must not depend on: the agent records a
    // failed source's error as a gap record in the bundle.
    a_failed_source_names_its_folder_as_configured_not_by_its_absolute_path =>
        local_failure_names_no_absolute_path().await;
});

/// The local folder's error when its folder is missing names the folder as configured.
async fn local_failure_names_no_absolute_path() {
    use conformance_support::Harness;
    use conformance_support::local::LocalHarness;
    let mut h = LocalHarness::start().await;
    h.fail(Fault::ServerError, Target::Listing, 1).await;
    let c = h.connector(conformance_support::Profile::Quick);
    let mut cursor = evidence_connectors::Cursor::default();
    let out = checks::run(&h, &*c, &mut cursor, checks::RunOpts::default()).await;
    let err = out.result.unwrap_err().to_string();
    assert!(err.contains("evidence"), "{err}");
    assert!(!err.contains(&h.absolute()), "{err}");
}

http_suite!(github, conformance_support::github::GithubHarness, {
    stops_in_time_when_cancelled_during_a_download_that_never_answers =>
        checks::stops_in_time_when_cancelled_during::<H>(Stall::ItemNoAnswer).await;
});

http_suite!(jira, conformance_support::jira::JiraHarness, {
    stops_in_time_when_cancelled_during_a_download_that_never_answers =>
        checks::stops_in_time_when_cancelled_during::<H>(Stall::ItemNoAnswer).await;
});

http_suite!(s3, conformance_support::s3::S3Harness, {
    stops_in_time_when_cancelled_during_a_download_that_never_answers =>
        checks::stops_in_time_when_cancelled_during::<H>(Stall::ItemNoAnswer).await;
});

http_suite!(mlflow, conformance_support::mlflow::MlflowHarness, {
    stops_in_time_when_cancelled_during_a_download_that_never_answers =>
        checks::stops_in_time_when_cancelled_during::<H>(Stall::ItemNoAnswer).await;
});
