//! The trust options shared by `verify`, `prove` and `check-proof` (allowed signers, TSA
//! roots, namespace), and how signatures, time stamps and pins print for a person.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use evidence_archive::allowed_signers::AllowedSigners;
use evidence_archive::sshsig::DEFAULT_NAMESPACE;
use evidence_archive::trust::{PinReport, SignatureReport, TrustReport, VerifyOptions};
use evidence_archive::tsp::TsaRoots;

/// Trust anchors: whose signatures and which time-stamp authorities to trust.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// An ssh-keygen allowed_signers file: every bundle must be signed, by a key it lists, valid
    /// (valid-after/valid-before) at the run's trusted time. Checked before a bundle is parsed.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// A PEM file of trusted time-stamp authority roots: time stamps are verified offline as
    /// `openssl ts -verify` does, and each run's trusted time is reported.
    #[arg(long, value_name = "FILE")]
    pub tsa_roots: Option<PathBuf>,
    /// The SSHSIG namespace signatures must be made in (ssh-keygen -n).
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
}

impl Default for TrustArgs {
    fn default() -> Self {
        Self {
            allowed_signers: None,
            tsa_roots: None,
            namespace: DEFAULT_NAMESPACE.to_owned(),
        }
    }
}

/// The anchors as loaded: options for the verifier, and the files' bytes (copied into proofs).
#[derive(Debug)]
pub struct LoadedTrust {
    pub options: VerifyOptions,
    pub allowed_signers_bytes: Option<Vec<u8>>,
    pub tsa_roots_bytes: Option<Vec<u8>>,
}

impl TrustArgs {
    /// Read and parse the anchor files; a malformed one is a usage error.
    pub fn load(&self) -> anyhow::Result<LoadedTrust> {
        let mut options = VerifyOptions {
            namespace: self.namespace.clone(),
            ..VerifyOptions::default()
        };
        let mut allowed_signers_bytes = None;
        if let Some(path) = &self.allowed_signers {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let text = std::str::from_utf8(&bytes)
                .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
            let signers = AllowedSigners::parse(text, &path.display().to_string())?;
            if signers.is_empty() {
                anyhow::bail!("{} lists no keys", path.display());
            }
            options.allowed_signers = Some(signers);
            allowed_signers_bytes = Some(bytes);
        }
        let mut tsa_roots_bytes = None;
        if let Some(path) = &self.tsa_roots {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let roots =
                TsaRoots::from_pem(&bytes).with_context(|| format!("{}", path.display()))?;
            options.tsa_roots = Some(roots);
            tsa_roots_bytes = Some(bytes);
        }
        Ok(LoadedTrust {
            options,
            allowed_signers_bytes,
            tsa_roots_bytes,
        })
    }
}

fn signer(s: &SignatureReport) -> String {
    let who = if s.principals.is_empty() {
        format!("key {}", s.key)
    } else {
        format!("{} (key {})", s.principals.join(" | "), s.key)
    };
    match (s.valid, s.identity_checked, &s.note) {
        (true, true, _) => who,
        (true, false, _) => format!("{who}, signer not checked (no --allowed-signers)"),
        (false, _, Some(n)) => format!("INVALID: {n}"),
        (false, _, None) => "INVALID".into(),
    }
}

/// The trust lines under a bundle or proof.
pub fn print_trust(t: &TrustReport, indent: &str) {
    if let Some(s) = &t.bundle_signature {
        crate::outln!("{indent}bundle signed by {}", signer(s));
    }
    if let Some(s) = &t.checkpoint_signature {
        crate::outln!("{indent}checkpoint signed by {}", signer(s));
    }
    match &t.timestamp {
        Some(ts) if ts.verified => crate::outln!(
            "{indent}trusted time {} (RFC 3161, {}, serial {})",
            ts.info.time,
            ts.info.tsa.as_deref().unwrap_or("TSA"),
            ts.info.serial
        ),
        Some(ts) => crate::outln!(
            "{indent}time stamp claims {} (not verified: no --tsa-roots)",
            ts.info.time
        ),
        None if t.untimestamped => {
            crate::outln!("{indent}untimestamped: the TSA was unavailable when it was sealed")
        }
        None => {}
    }
    for c in &t.cosignatures {
        crate::outln!("{indent}co-signed ({}) by {}", c.file, signer(c));
    }
}

/// The pin line of an archive.
pub fn print_pin(p: &PinReport) {
    let size = p.checkpoint.size;
    if p.extended {
        match p.matches_run {
            Some(run) => crate::outln!(
                "Pinned checkpoint (tree size {size}): the archive extends it (it is run {run}'s)."
            ),
            None => crate::outln!(
                "Pinned checkpoint (tree size {size}): the archive extends it (consistency proof of {} hash(es)).",
                p.consistency_proof.as_ref().map_or(0, Vec::len)
            ),
        }
    } else {
        crate::outln!(
            "Pinned checkpoint (tree size {size}): NOT extended — the archive was rolled back, truncated or forked."
        );
    }
}
