//! The trust pass: the checks `verify_*_with` adds to the structural ones. The bundle's bytes
//! against its `.sig` sidecar (before parsing), the checkpoint signature inside it, the RFC 3161
//! time stamp over that signature, co-signatures beside it, each signer's key against the
//! verifier's allowed_signers file at the trusted time, and an archive against a checkpoint the
//! verifier pinned at an earlier audit.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::Parsed;
use super::options::VerifyOptions;
use super::report::{
    ArchiveReport, Category, Ctx, PinReport, SignatureReport, TimeStampReport, TrustReport,
};
use crate::allowed_signers::SignerLookup;
use crate::layout;
use crate::log::{Checkpoint, hashes_to_base64};
use crate::merkle::{self, Hash};
use crate::sshsig::{MAX_SIGNATURE_BYTES, SshSignature};
use crate::tsp;

/// A bundle signature that verified before parsing; its key's validity window is checked once
/// the run's trusted time is known.
pub(crate) struct BundleSignature {
    file: String,
    sig: SshSignature,
}

/// Read a small sidecar or proof file, refusing large ones.
pub(crate) fn read_small_file(path: &Path, max: usize) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(bytes)
}

/// With allowed signers: check the bundle's bytes against its `.sig` sidecar before anything
/// is parsed. `Err` means the bundle must not be parsed (the problem is recorded).
pub(crate) fn authenticate_bundle(
    path: &Path,
    file: &mut File,
    options: &VerifyOptions,
    ctx: &mut Ctx,
) -> Result<Option<BundleSignature>, ()> {
    let Some(signers) = &options.allowed_signers else {
        return Ok(None);
    };
    let mut sidecar = path.as_os_str().to_owned();
    sidecar.push(".sig");
    let sidecar = Path::new(&sidecar);
    let sig_name = sidecar
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut fail = |message: String| {
        ctx.error(
            None,
            Category::Signature,
            format!("{message}; the bundle was not read"),
        );
        Err(())
    };
    let bytes = match read_small_file(sidecar, MAX_SIGNATURE_BYTES) {
        Ok(b) => b,
        Err(e) => {
            return fail(format!(
                "unsigned: cannot read its signature {sig_name} ({e})"
            ));
        }
    };
    let sig = match SshSignature::parse(&bytes) {
        Ok(s) => s,
        Err(e) => return fail(format!("{sig_name}: {e}")),
    };
    match signers.lookup(&sig, &options.namespace, options.now) {
        SignerLookup::Allowed { .. } | SignerLookup::OutsideValidity { .. } => {}
        SignerLookup::NamespaceNotAllowed { .. } => {
            return fail(format!(
                "{sig_name}: key {} may not sign in namespace {:?}",
                sig.fingerprint(),
                options.namespace
            ));
        }
        SignerLookup::Unknown => {
            return fail(format!(
                "{sig_name}: signed by key {}, which is not in the allowed signers",
                sig.fingerprint()
            ));
        }
    }
    if let Err(e) = sig.verify_reader(
        &options.namespace,
        BufReader::with_capacity(1 << 20, &mut *file),
    ) {
        return fail(format!("{sig_name}: {e}"));
    }
    if let Err(e) = file.rewind() {
        ctx.error(
            None,
            Category::Io,
            format!("cannot re-read {}: {e}", path.display()),
        );
        return Err(());
    }
    Ok(Some(BundleSignature {
        file: sig_name,
        sig,
    }))
}

/// The checks on a parsed bundle: time stamp, checkpoint signature, bundle signer's validity
/// window and co-signatures. `None` when the bundle has none of these and none were asked for.
pub(crate) fn check_bundle_trust(
    path: &Path,
    inner: &Parsed,
    bundle_sig: Option<BundleSignature>,
    untimestamped: bool,
    options: &VerifyOptions,
    ctx: &mut Ctx,
) -> Option<TrustReport> {
    let checkpoint = inner.tags.get(layout::CHECKPOINT);
    let sig_bytes = inner.tags.get(layout::CHECKPOINT_SIG);
    let tsr = inner.tags.get(layout::CHECKPOINT_TSR);
    let cosig_files = cosignature_files(path, inner.summary.seq);
    if sig_bytes.is_none()
        && bundle_sig.is_none()
        && cosig_files.is_empty()
        && options.allowed_signers.is_none()
        && options.tsa_roots.is_none()
    {
        return None;
    }
    let (mut report, at) = check_checkpoint_trust(
        &SignedCheckpoint {
            checkpoint: checkpoint.map(Vec::as_slice),
            signature: sig_bytes.map(Vec::as_slice),
            timestamp: tsr.map(Vec::as_slice),
            untimestamped,
            signature_entry: layout::CHECKPOINT_SIG,
            timestamp_entry: layout::CHECKPOINT_TSR,
        },
        options,
        ctx,
    );

    // The bundle signature's key at the trusted time.
    if let (Some(b), Some(signers)) = (bundle_sig, &options.allowed_signers) {
        let lookup = signers.lookup(&b.sig, &options.namespace, at);
        let (valid, principals, note) = match lookup {
            SignerLookup::Allowed { principals } => (true, principals, None),
            SignerLookup::OutsideValidity { principals } => {
                let note = format!(
                    "key {} is outside its validity window (valid-after/valid-before) at {at}",
                    b.sig.fingerprint()
                );
                ctx.error(None, Category::Signature, format!("{}: {note}", b.file));
                (false, principals, Some(note))
            }
            _ => (false, Vec::new(), Some("not an allowed signer".into())),
        };
        report.bundle_signature = Some(SignatureReport {
            file: b.file,
            key: b.sig.fingerprint(),
            valid,
            principals,
            identity_checked: true,
            note,
        });
    }

    // Co-signatures: people who signed this run's checkpoint after the fact.
    if let Some(cp) = checkpoint {
        for (name, file) in cosig_files {
            match read_small_file(&file, MAX_SIGNATURE_BYTES) {
                Ok(bytes) => {
                    if let Some(r) = check_signature(
                        &name,
                        &bytes,
                        cp,
                        options,
                        at,
                        Strictness::Optional,
                        ctx,
                        None,
                    ) {
                        report.cosignatures.push(r);
                    }
                }
                Err(e) => ctx.error(
                    None,
                    Category::Signature,
                    format!("{name}: cannot read: {e}"),
                ),
            }
        }
    }
    Some(report)
}

/// A checkpoint with its signature and time stamp, wherever they were read from.
pub(crate) struct SignedCheckpoint<'a> {
    pub(crate) checkpoint: Option<&'a [u8]>,
    pub(crate) signature: Option<&'a [u8]>,
    pub(crate) timestamp: Option<&'a [u8]>,
    pub(crate) untimestamped: bool,
    /// How problems name the signature and time-stamp files.
    pub(crate) signature_entry: &'a str,
    pub(crate) timestamp_entry: &'a str,
}

/// Check a checkpoint's time stamp and signature; returns the report and the time at which
/// signing keys must be valid (the verified time stamp's, or the verifier's clock).
pub(crate) fn check_checkpoint_trust(
    input: &SignedCheckpoint<'_>,
    options: &VerifyOptions,
    ctx: &mut Ctx,
) -> (TrustReport, Timestamp) {
    let (checkpoint, sig_bytes, tsr) = (input.checkpoint, input.signature, input.timestamp);
    let mut report = TrustReport {
        untimestamped: input.untimestamped,
        ..TrustReport::default()
    };

    // The time stamp first: its time is when signing keys must have been valid.
    if let (Some(tsr), Some(sig_bytes)) = (tsr, sig_bytes) {
        let entry = Some(input.timestamp_entry);
        match &options.tsa_roots {
            Some(roots) => match tsp::verify_response(tsr, sig_bytes, roots) {
                Ok(info) => {
                    report.timestamp = Some(TimeStampReport {
                        info,
                        verified: true,
                    })
                }
                Err(e) => ctx.error(entry, Category::Timestamp, e.to_string()),
            },
            None => match tsp::inspect_response(tsr, sig_bytes, None) {
                Ok(info) => {
                    report.timestamp = Some(TimeStampReport {
                        info,
                        verified: false,
                    })
                }
                Err(e) => ctx.error(entry, Category::Timestamp, e.to_string()),
            },
        }
    } else if options.tsa_roots.is_some() {
        let message = if input.untimestamped {
            "untimestamped: the time-stamp authority could not be reached when the run was sealed (see its gap record)"
        } else {
            "the run has no time stamp"
        };
        ctx.warning(Some(input.timestamp_entry), Category::Timestamp, message);
    }
    let at = match &report.timestamp {
        Some(t) if t.verified => t.info.time,
        _ => options.now,
    };
    if options.allowed_signers.is_some() {
        report.keys_checked_at = Some(at);
    }

    // The checkpoint signature.
    match (checkpoint, sig_bytes) {
        (Some(cp), Some(sig_bytes)) => {
            let r = check_signature(
                input.signature_entry,
                sig_bytes,
                cp,
                options,
                at,
                Strictness::Required,
                ctx,
                Some(input.signature_entry),
            );
            report.checkpoint_signature = r;
        }
        (_, None) if options.allowed_signers.is_some() => ctx.error(
            Some(input.signature_entry),
            Category::Signature,
            "unsigned: the checkpoint has no signature",
        ),
        _ => {}
    }
    (report, at)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    /// The agent's own signature: an unknown key is a failure.
    Required,
    /// A co-signature: an unknown key is worth a warning; a bad signature is still a failure.
    Optional,
}

#[allow(clippy::too_many_arguments)]
fn check_signature(
    name: &str,
    sig_bytes: &[u8],
    message: &[u8],
    options: &VerifyOptions,
    at: Timestamp,
    strictness: Strictness,
    ctx: &mut Ctx,
    entry: Option<&str>,
) -> Option<SignatureReport> {
    let label = |m: &str| match entry {
        Some(_) => m.to_owned(),
        None => format!("{name}: {m}"),
    };
    let sig = match SshSignature::parse(sig_bytes) {
        Ok(s) => s,
        Err(e) => {
            ctx.error(entry, Category::Signature, label(&e.to_string()));
            return None;
        }
    };
    let mut report = SignatureReport {
        file: name.to_owned(),
        key: sig.fingerprint(),
        valid: false,
        principals: Vec::new(),
        identity_checked: options.allowed_signers.is_some(),
        note: None,
    };
    // Without allowed signers, only check that it is a signature over these bytes by the key it
    // names, in whatever namespace it says.
    let namespace = match options.allowed_signers {
        Some(_) => options.namespace.as_str(),
        None => sig.namespace(),
    };
    if let Err(e) = sig.verify(namespace, message) {
        let note = e.to_string();
        ctx.error(entry, Category::Signature, label(&note));
        report.note = Some(note);
        return Some(report);
    }
    let Some(signers) = &options.allowed_signers else {
        report.valid = true;
        report.note = Some("signer not checked: no allowed_signers file was given".into());
        return Some(report);
    };
    match signers.lookup(&sig, namespace, at) {
        SignerLookup::Allowed { principals } => {
            report.valid = true;
            report.principals = principals;
        }
        SignerLookup::OutsideValidity { principals } => {
            let note = format!(
                "key {} is outside its validity window (valid-after/valid-before) at {at}",
                report.key
            );
            ctx.error(entry, Category::Signature, label(&note));
            report.principals = principals;
            report.note = Some(note);
        }
        SignerLookup::NamespaceNotAllowed { principals } => {
            let note = format!("key {} may not sign in namespace {namespace:?}", report.key);
            ctx.error(entry, Category::Signature, label(&note));
            report.principals = principals;
            report.note = Some(note);
        }
        SignerLookup::Unknown => {
            let note = format!(
                "signed by key {}, which is not in the allowed signers",
                report.key
            );
            match strictness {
                Strictness::Required => ctx.error(entry, Category::Signature, label(&note)),
                Strictness::Optional => ctx.warning(entry, Category::Signature, label(&note)),
            }
            report.note = Some(note);
        }
    }
    Some(report)
}

/// The co-signature sidecars of bundle `seq` beside `bundle`, sorted by name.
fn cosignature_files(bundle: &Path, seq: u64) -> Vec<(String, PathBuf)> {
    let dir = match bundle.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let (s, _) = layout::parse_cosignature_file_name(&name)?;
            (s == seq).then(|| (name, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Does the verified archive extend `pinned`? It must be the same origin, at least as large,
/// and the tree of its first `pinned.size` leaves must have the pinned root — shown by a
/// consistency proof computed from the archive's leaves and checked like any other.
pub(crate) fn check_pin(
    pinned: &Checkpoint,
    report: &ArchiveReport,
    leaves: Option<&[Hash]>,
) -> (PinReport, Vec<String>) {
    let matches_run = report
        .bundles
        .iter()
        .filter_map(|b| b.summary.as_ref())
        .find(|s| s.checkpoint.as_ref() == Some(pinned))
        .map(|s| s.seq);
    let mut pin = PinReport {
        checkpoint: pinned.clone(),
        extended: false,
        matches_run,
        consistency_proof: None,
    };
    let mut problems = Vec::new();
    if let Some(origin) = &report.origin
        && origin != &pinned.origin
    {
        problems.push(format!(
            "the pinned checkpoint is for origin {:?}, the archive is {origin:?}",
            pinned.origin
        ));
        return (pin, problems);
    }
    let latest = report.latest_checkpoint.as_ref();
    let (Some(leaves), Some(latest)) = (leaves, latest) else {
        problems.push(
            "cannot show that the archive extends the pinned checkpoint: the archive does not verify"
                .into(),
        );
        return (pin, problems);
    };
    if pinned.size > latest.size {
        problems.push(format!(
            "rolled back or truncated: the pinned checkpoint has {} leaves, the archive only {} (its latest run is older than the one pinned)",
            pinned.size, latest.size
        ));
        return (pin, problems);
    }
    let Ok(size) = usize::try_from(latest.size) else {
        problems.push("the archive's log is too large for this machine".into());
        return (pin, problems);
    };
    let proof = leaves
        .get(..size)
        .ok_or(())
        .and_then(|l| merkle::consistency_proof(l, pinned.size).map_err(|_| ()));
    match proof {
        Ok(proof)
            if merkle::verify_consistency(
                pinned.size,
                latest.size,
                &pinned.root,
                &latest.root,
                &proof,
            )
            .is_ok() =>
        {
            pin.extended = true;
            pin.consistency_proof = Some(hashes_to_base64(&proof));
        }
        _ => problems.push(format!(
            "forked: the archive's first {} leaves do not have the pinned root; its history was rewritten since the checkpoint was pinned",
            pinned.size
        )),
    }
    (pin, problems)
}
