//! `evidence-agent keygen` and `evidence-agent cosign`: make the agent's signing key, and let a
//! person (the AIMS owner after a management review, say) co-sign a run's checkpoint. A
//! co-signature is a sidecar beside the bundle; the bundle itself is never modified.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use evidence_archive::layout;
use evidence_archive::seal::write_new_durably;
use evidence_archive::sshsig::{self, DEFAULT_NAMESPACE, MAX_SIGNATURE_BYTES, SshSignature};
use evidence_archive::verify::{NoVisitor, verify_bundle};

use crate::exit::EXIT_OK;
use crate::keys;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (OpenSSH format, mode 0600); the public key goes to
    /// FILE.pub. Existing files are never replaced. `--out` is its old name.
    #[arg(long, short, alias = "out", value_name = "FILE")]
    pub output: PathBuf,
    /// The principal the allowed_signers line names, e.g. `evidence-agent@example.org`.
    #[arg(long, default_value = "evidence-agent")]
    pub principal: String,
    /// The SSHSIG namespace the key may sign in (allowed_signers `namespaces=`).
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// The key's comment; defaults to the principal.
    #[arg(long)]
    pub comment: Option<String>,
    /// Print one JSON object on stdout (paths, fingerprint, allowed_signers line).
    #[arg(long)]
    pub json: bool,
}

/// Generate the key and print its allowed_signers line on stdout.
pub fn keygen(args: &KeygenArgs) -> anyhow::Result<u8> {
    check_principal(&args.principal)?;
    let comment = args.comment.as_deref().unwrap_or(&args.principal);
    let key = keys::generate(&args.output, comment)?;
    let line = keys::allowed_signers_line(&key, &args.principal, &args.namespace)?;
    if args.json {
        let mut public = args.output.clone().into_os_string();
        public.push(".pub");
        crate::outln!(
            "{}",
            serde_json::json!({
                "key": args.output,
                "public_key": PathBuf::from(public),
                "fingerprint": keys::fingerprint(&key).to_string(),
                "allowed_signers": line,
            })
        );
        return Ok(EXIT_OK);
    }
    eprintln!(
        "evidence-agent: wrote {} (private, mode 0600) and {}.pub; key {}",
        args.output.display(),
        args.output.display(),
        keys::fingerprint(&key)
    );
    eprintln!(
        "Add this line to the allowed_signers file your auditors verify with, and set [signing] key in the agent's config:"
    );
    crate::outln!("{line}");
    Ok(EXIT_OK)
}

fn check_principal(p: &str) -> anyhow::Result<()> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
        bail!("--principal {p:?} must be printable ASCII without spaces or quotes");
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct CosignArgs {
    /// The archive directory.
    #[arg(long, value_name = "DIR")]
    pub archive: PathBuf,
    /// The run to co-sign.
    #[arg(long, value_name = "N")]
    pub run: u64,
    /// Sign with this OpenSSH private key (Ed25519, unencrypted, mode 0600).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "signature",
        required_unless_present = "signature"
    )]
    pub key: Option<PathBuf>,
    /// Install a signature made elsewhere over the run's checkpoint, e.g. with
    /// `ssh-keygen -Y sign -f KEY -n NAMESPACE checkpoint` (passphrase, ssh-agent, hardware keys).
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// Names the co-signature file `run-NNNNNN.zip.cosig.<LABEL>.sig` ([A-Za-z0-9_-], ≤ 64);
    /// defaults to one derived from the key's comment or fingerprint.
    #[arg(long)]
    pub label: Option<String>,
    /// The SSHSIG namespace.
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Print one JSON object on stdout (run, checkpoint, key, signature file).
    #[arg(long)]
    pub json: bool,
}

/// Co-sign run `--run`'s checkpoint and write the sidecar.
pub fn cosign(args: &CosignArgs) -> anyhow::Result<u8> {
    let bundle = args.archive.join(layout::bundle_file_name(args.run));
    let checkpoint = read_checkpoint(&bundle)?;
    let checkpoint_text = checkpoint.to_text();
    let (armored, comment) = match (&args.key, &args.signature) {
        (Some(key_path), _) => {
            let key = keys::load(key_path)?;
            let sig = sshsig::sign(&key, &args.namespace, checkpoint_text.as_bytes())?;
            (sig.to_armored()?, key.comment().to_owned())
        }
        (None, Some(sig_path)) => {
            let bytes = std::fs::read(sig_path)
                .with_context(|| format!("cannot read {}", sig_path.display()))?;
            if bytes.len() > MAX_SIGNATURE_BYTES {
                bail!("{} is too large to be a signature", sig_path.display());
            }
            let sig =
                SshSignature::parse(&bytes).with_context(|| format!("{}", sig_path.display()))?;
            sig.verify(&args.namespace, checkpoint_text.as_bytes())
                .with_context(|| {
                    format!(
                        "{} is not a signature over run {}'s checkpoint",
                        sig_path.display(),
                        args.run
                    )
                })?;
            (String::from_utf8_lossy(&bytes).into_owned(), String::new())
        }
        (None, None) => bail!("give --key or --signature"),
    };
    let sig = SshSignature::parse(armored.as_bytes())?;
    let label = match &args.label {
        Some(l) if layout::is_valid_label(l) => l.clone(),
        Some(l) => bail!("--label {l:?} must be 1-64 characters of [A-Za-z0-9_-]"),
        None => derive_label(&comment, &sig.fingerprint()),
    };
    let target = args
        .archive
        .join(layout::cosignature_file_name(args.run, &label));
    write_new_durably(&target, armored.as_bytes()).map_err(|e| match e {
        evidence_archive::SealError::AlreadyExists { path } => {
            anyhow::anyhow!("{} already exists; choose another --label", path.display())
        }
        other => other.into(),
    })?;
    let (origin, size, root) = (
        &checkpoint.origin,
        checkpoint.size,
        checkpoint.root_base64(),
    );
    if args.json {
        crate::outln!(
            "{}",
            serde_json::json!({
                "run": args.run,
                "origin": origin,
                // A string, as the checkpoint's second line.
                "tree_size": size.to_string(),
                "root": root,
                "key": sig.fingerprint().to_string(),
                "label": label,
                "signature": target,
            })
        );
        return Ok(EXIT_OK);
    }
    crate::outln!(
        "Co-signed run {} of {origin}: tree size {size}, root {root}",
        args.run
    );
    crate::outln!("  key:       {}", sig.fingerprint());
    crate::outln!("  signature: {}", target.display());
    crate::outln!(
        "Check it:   unzip -p {} {}/{} | ssh-keygen -Y verify -f allowed_signers -I <principal> -n {} -s {}",
        bundle.display(),
        layout::bag_dir(args.run),
        layout::CHECKPOINT,
        args.namespace,
        target.display()
    );
    Ok(EXIT_OK)
}

/// The exact checkpoint text of an intact bundle.
fn read_checkpoint(bundle: &Path) -> anyhow::Result<evidence_archive::Checkpoint> {
    if !bundle.exists() {
        bail!("{} does not exist", bundle.display());
    }
    let report = verify_bundle(bundle, &mut NoVisitor);
    if !report.is_valid() {
        let first = report
            .problems
            .first()
            .map(|p| p.message.clone())
            .unwrap_or_default();
        bail!(
            "{} does not verify ({first}); it is not co-signed",
            bundle.display()
        );
    }
    report
        .summary
        .and_then(|s| s.checkpoint)
        .context("the bundle has no checkpoint")
}

fn derive_label(comment: &str, fingerprint: &str) -> String {
    let from = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect::<String>()
            .trim_matches('-')
            .to_owned()
    };
    let label = from(comment);
    if layout::is_valid_label(&label) {
        return label;
    }
    let fp = fingerprint.trim_start_matches("SHA256:");
    let fp: String = fp
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("key-{fp}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_comment_or_the_fingerprint() {
        assert_eq!(
            derive_label("aims.owner@example.org", "SHA256:x"),
            "aims-owner-example-org"
        );
        assert_eq!(
            derive_label("", "SHA256:ab+/cdEF0123456789"),
            "key-abcdEF012345"
        );
        assert_eq!(derive_label("@@@", "SHA256:Q"), "key-Q");
    }
}
