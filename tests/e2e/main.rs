//! End-to-end tests: both binaries run as a user would, against real files and real outside
//! verifiers. One test binary; one module per area.

mod bundles;
mod github;
