//! What a verification checks beyond the bundles' structure: the trust anchors, the SSHSIG
//! namespace, a pinned checkpoint and the time at which keys are judged without a time stamp.

use jiff::Timestamp;

use crate::allowed_signers::AllowedSigners;
use crate::log::Checkpoint;
use crate::sshsig::DEFAULT_NAMESPACE;
use crate::tsp::TsaRoots;

/// What to check beyond the bundles' structure.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Keys trusted to sign (ssh-keygen's allowed_signers). With them, every bundle must be
    /// signed, and signed by one of them.
    pub allowed_signers: Option<AllowedSigners>,
    /// The SSHSIG namespace signatures must be made in.
    pub namespace: String,
    /// Roots trusted for time stamps. With them, time stamps are verified.
    pub tsa_roots: Option<TsaRoots>,
    /// A checkpoint kept from an earlier audit: the archive must extend it.
    pub expected_checkpoint: Option<Checkpoint>,
    /// When a run has no verified time stamp, signing keys' validity is checked at this time
    /// (ssh-keygen's default: now).
    pub now: Timestamp,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            allowed_signers: None,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            tsa_roots: None,
            expected_checkpoint: None,
            now: Timestamp::now(),
        }
    }
}
