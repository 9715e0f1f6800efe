//! The evidence archive format: the only code that writes or reads sealed bundles. A bundle is a
//! deterministic ZIP holding one BagIt bag per collection run; the runs of one origin form an
//! append-only RFC 6962 Merkle log whose checkpoint every bundle carries.

pub mod allowed_signers;
pub mod bag;
pub mod durable;
pub mod hash_pipe;
pub mod layout;
pub mod log;
pub mod merkle;
pub mod positioned;
pub mod proof;
pub mod run_record;
pub mod seal;
pub mod sshsig;
pub mod staging;
pub mod strict_zip;
pub mod trust;
pub mod tsp;
pub mod verify;
pub mod zip_write;

pub use log::Checkpoint;
pub use seal::{ChainHead, PreparedBundle, SealError, SealInput, Sealed, prepare, prepare_signed};
pub use staging::{SPOOL_MAX, StagedBytes, Staging, StagingError};
