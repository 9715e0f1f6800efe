//! Item proofs: one evidence item (artefact and metadata record) exported from a verified
//! archive with RFC 9162 inclusion proofs into its run's checkpoint, the checkpoint's signature
//! and its time stamp — a directory anyone can check offline, with `evidence-auditor
//! check-proof` or with stock tools (`sha256sum`, `ssh-keygen -Y verify`, `openssl ts -verify`
//! and the small standard-library Python script the directory carries).
//!
//! [`ProofSource`] verifies an archive once and exports any number of items (what workpapers
//! need for a sample); [`export_item_proof`] does both for one item; [`check_item_proof`]
//! verifies a proof directory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use evidence_model::{ItemMeta, Sha256Digest};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::layout;
use crate::log::{Checkpoint, hashes_to_base64, payload_leaf};
use crate::merkle::{self, Hash};
use crate::sshsig::MAX_SIGNATURE_BYTES;
use crate::strict_zip::{Limits, StrictZip};
use crate::tsp::MAX_TOKEN_BYTES;
use crate::verify::trust::{self, SignedCheckpoint, read_small_file};
use crate::verify::{
    ArchiveReport, BundleVisitor, Category, Ctx, LocalDir, Problem, Severity, TrustReport,
    VerifyOptions,
};

/// Schema tag of `proof.json`.
pub const PROOF_SCHEMA: &str = "evidence-proof/1";
/// File names inside a proof directory.
pub const PROOF_JSON: &str = "proof.json";
pub const PROOF_README: &str = "README.txt";
pub const PROOF_CHECKPOINT: &str = "checkpoint";
pub const PROOF_CHECKPOINT_SIG: &str = "checkpoint.sig";
pub const PROOF_CHECKPOINT_TSR: &str = "checkpoint.sig.tsr";
pub const PROOF_METADATA: &str = "metadata.json";
pub const PROOF_SCRIPT: &str = "verify_inclusion.py";
pub const PROOF_ALLOWED_SIGNERS: &str = "allowed_signers";
pub const PROOF_TSA_ROOTS: &str = "tsa-roots.pem";

const MAX_SMALL_FILE: usize = 16 * 1024 * 1024;
const SCRIPT: &str = include_str!("verify_inclusion.py");

/// Exporting a proof failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    #[error(
        "the archive {path} does not verify ({problems} problem(s)); no proof is exported from it"
    )]
    ArchiveInvalid { path: String, problems: usize },
    #[error("no item {0} in the archive")]
    NoSuchItem(String),
    #[error("the item {id} cannot be exported: {reason}")]
    Item { id: String, reason: String },
    #[error("{path} already exists and is not empty; choose a new directory")]
    OutputNotEmpty { path: PathBuf },
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// `proof.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofDoc {
    pub schema: String,
    pub origin: String,
    /// The run that sealed the item; `checkpoint` is that run's.
    pub run: u64,
    pub item: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The metadata record's leaf, then the artefact's.
    pub leaves: Vec<LeafProof>,
}

/// One payload file and its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafProof {
    /// Where the file is in the proof directory: `metadata.json` or `artefact/<name>`.
    pub file: String,
    /// Its name in the bundle, which the leaf commits to.
    pub zip_name: String,
    pub sha256: String,
    pub size: u64,
    pub leaf_index: u64,
    /// RFC 9162 inclusion proof, standard base64, bottom-up.
    pub inclusion: Vec<String>,
}

/// What [`ProofSource::export_item`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedProof {
    pub dir: PathBuf,
    pub item: String,
    pub run: u64,
    pub tree_size: u64,
    pub signed: bool,
    pub timestamped: bool,
    pub files: Vec<String>,
}

/// Trust anchors to copy into a proof directory, as the exporting auditor used them.
#[derive(Debug, Clone, Default)]
pub struct ExportAnchors<'a> {
    /// The allowed_signers file's text.
    pub allowed_signers: Option<&'a [u8]>,
    /// The TSA roots, PEM.
    pub tsa_roots: Option<&'a [u8]>,
}

#[derive(Debug, Clone)]
struct ItemPlace {
    seq: u64,
    meta: ItemMeta,
}

#[derive(Default)]
struct Collect {
    items: BTreeMap<String, ItemPlace>,
}

impl BundleVisitor for Collect {
    fn item(&mut self, seq: u64, _leaf_index: u64, meta: ItemMeta) {
        self.items
            .insert(meta.id.to_string(), ItemPlace { seq, meta });
    }
}

/// A verified archive, ready to export item proofs.
#[derive(Debug)]
pub struct ProofSource {
    dir: PathBuf,
    report: ArchiveReport,
    leaves: Vec<Hash>,
    items: BTreeMap<String, ItemPlace>,
    options: VerifyOptions,
}

impl ProofSource {
    /// The origin of the verified archive.
    pub fn origin(&self) -> Option<&str> {
        self.report.origin.as_deref()
    }

    /// Verify the archive in `dir` with `options`; an archive with any error gives
    /// [`ProofError::ArchiveInvalid`] (a proof from an archive that does not verify proves
    /// nothing).
    pub fn open(dir: &Path, options: &VerifyOptions) -> Result<Self, ProofError> {
        let mut collect = Collect::default();
        let (report, leaves) =
            crate::verify::verify_source_full(&mut LocalDir::new(dir), options, &mut collect, true);
        let errors = report
            .all_problems()
            .filter(|p| p.severity == Severity::Error)
            .count();
        match leaves {
            Some(leaves) if report.valid && errors == 0 => Ok(Self {
                dir: dir.to_owned(),
                report,
                leaves,
                items: collect.items,
                options: options.clone(),
            }),
            _ => Err(ProofError::ArchiveInvalid {
                path: dir.display().to_string(),
                problems: errors.max(1),
            }),
        }
    }

    /// The verification report of the archive.
    pub fn report(&self) -> &ArchiveReport {
        &self.report
    }

    /// The ids of every item in the archive.
    pub fn item_ids(&self) -> impl Iterator<Item = &str> {
        self.items.keys().map(String::as_str)
    }

    /// Write the proof of item `id` into `out_dir` (created; must be new or empty).
    pub fn export_item(
        &self,
        id: &str,
        out_dir: &Path,
        anchors: &ExportAnchors<'_>,
    ) -> Result<ExportedProof, ProofError> {
        let place = self
            .items
            .get(id)
            .ok_or_else(|| ProofError::NoSuchItem(id.to_owned()))?;
        let item_err = |reason: String| ProofError::Item {
            id: id.to_owned(),
            reason,
        };
        let summary = self
            .report
            .bundles
            .iter()
            .filter_map(|b| b.summary.as_ref())
            .find(|s| s.seq == place.seq)
            .ok_or_else(|| item_err("its bundle has no summary".into()))?;
        let checkpoint = summary
            .checkpoint
            .clone()
            .ok_or_else(|| item_err("its bundle has no checkpoint".into()))?;
        let start = summary.previous_checkpoint.as_ref().map_or(0, |c| c.size);
        let tree = usize::try_from(checkpoint.size)
            .ok()
            .and_then(|n| self.leaves.get(..n))
            .ok_or_else(|| item_err("the run's tree is not in the archive's log".into()))?;
        let artefact_name = place
            .meta
            .artefact
            .path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !evidence_model::ids::is_safe_component(&artefact_name, 255) {
            return Err(item_err(format!(
                "unsafe artefact file name {artefact_name:?}"
            )));
        }

        prepare_out_dir(out_dir)?;
        let bag = layout::bag_dir(place.seq);
        let bundle = self.dir.join(layout::bundle_file_name(place.seq));
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| ProofError::Io { path, source }
        };
        let file = File::open(&bundle).map_err(io_err(&bundle))?;
        let mut zip = StrictZip::open(BufReader::with_capacity(1 << 20, file), Limits::default())
            .map_err(|p| {
            item_err(format!("the bundle changed since it was verified: {p:?}"))
        })?;
        let index_of =
            |zip: &StrictZip<_>, name: &str| zip.entries().iter().position(|e| e.name == name);

        let mut leaves = Vec::new();
        let mut tags: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
        for (rel, out_rel) in [
            (
                layout::item_metadata_path(&place.meta.id),
                PROOF_METADATA.to_owned(),
            ),
            (
                layout::item_artefact_path(&place.meta.id, &artefact_name),
                format!("artefact/{artefact_name}"),
            ),
        ] {
            let zip_name = format!("{bag}/{rel}");
            let i = index_of(&zip, &zip_name)
                .ok_or_else(|| item_err(format!("{zip_name} is not in the bundle")))?;
            let target = out_dir.join(&out_rel);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let mut out = File::create(&target).map_err(io_err(&target))?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            zip.read_entry(i, &mut |chunk| {
                hasher.update(chunk);
                size += chunk.len() as u64;
                out.write_all(chunk)
            })
            .map_err(|e| item_err(e.to_string()))?;
            out.sync_all().map_err(io_err(&target))?;
            let digest = Sha256Digest(hasher.finalize().into());
            let leaf = payload_leaf(&zip_name, &digest, size);
            let index = (start..checkpoint.size)
                .find(|&n| usize::try_from(n).ok().and_then(|n| tree.get(n)) == Some(&leaf))
                .ok_or_else(|| {
                    item_err(format!(
                        "{zip_name} is not a leaf of run {}: the bundle changed since it was verified",
                        place.seq
                    ))
                })?;
            let proof =
                merkle::inclusion_proof(tree, index).map_err(|e| item_err(e.to_string()))?;
            leaves.push(LeafProof {
                file: out_rel,
                zip_name,
                sha256: digest.to_string(),
                size,
                leaf_index: index,
                inclusion: hashes_to_base64(&proof),
            });
        }
        for (name, out_name) in [
            (layout::CHECKPOINT, PROOF_CHECKPOINT),
            (layout::CHECKPOINT_SIG, PROOF_CHECKPOINT_SIG),
            (layout::CHECKPOINT_TSR, PROOF_CHECKPOINT_TSR),
        ] {
            if let Some(i) = index_of(&zip, &format!("{bag}/{name}")) {
                let bytes = zip
                    .read_small(i, MAX_SMALL_FILE)
                    .map_err(|e| item_err(e.to_string()))?;
                tags.insert(out_name, bytes);
            }
        }
        if tags.get(PROOF_CHECKPOINT).map(Vec::as_slice) != Some(checkpoint.to_text().as_bytes()) {
            return Err(item_err(
                "the bundle's checkpoint changed since it was verified".into(),
            ));
        }

        let doc = ProofDoc {
            schema: PROOF_SCHEMA.to_owned(),
            origin: checkpoint.origin.clone(),
            run: place.seq,
            item: id.to_owned(),
            tree_size: checkpoint.size,
            leaves,
        };
        let principal = self
            .report
            .bundles
            .iter()
            .find(|b| b.summary.as_ref().is_some_and(|s| s.seq == place.seq))
            .and_then(|b| b.trust.as_ref())
            .and_then(|t| t.checkpoint_signature.as_ref())
            .and_then(|s| s.principals.first().cloned());
        let mut files: Vec<(String, Vec<u8>)> =
            tags.into_iter().map(|(n, b)| (n.to_owned(), b)).collect();
        let json = serde_json::to_vec_pretty(&doc).map_err(|e| item_err(e.to_string()))?;
        files.push((PROOF_JSON.to_owned(), json));
        files.push((PROOF_SCRIPT.to_owned(), SCRIPT.as_bytes().to_vec()));
        if let Some(a) = anchors.allowed_signers {
            files.push((PROOF_ALLOWED_SIGNERS.to_owned(), a.to_vec()));
        }
        if let Some(r) = anchors.tsa_roots {
            files.push((PROOF_TSA_ROOTS.to_owned(), r.to_vec()));
        }
        let signed = files.iter().any(|(n, _)| n == PROOF_CHECKPOINT_SIG);
        let timestamped = files.iter().any(|(n, _)| n == PROOF_CHECKPOINT_TSR);
        let readme = readme(
            &doc,
            &self.options.namespace,
            principal.as_deref(),
            signed,
            timestamped,
            anchors,
        );
        files.push((PROOF_README.to_owned(), readme.into_bytes()));
        for (name, bytes) in &files {
            let path = out_dir.join(name);
            fs::write(&path, bytes).map_err(io_err(&path))?;
        }
        let mut names: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
        names.extend(doc.leaves.iter().map(|l| l.file.clone()));
        names.sort();
        Ok(ExportedProof {
            dir: out_dir.to_owned(),
            item: id.to_owned(),
            run: place.seq,
            tree_size: doc.tree_size,
            signed,
            timestamped,
            files: names,
        })
    }
}

/// Verify the archive in `archive_dir` and export the proof of item `id` into `out_dir`: the
/// one-call form for a single item. Workpapers exporting many items should open a
/// [`ProofSource`] once and call [`ProofSource::export_item`] for each.
pub fn export_item_proof(
    archive_dir: &Path,
    id: &str,
    out_dir: &Path,
    options: &VerifyOptions,
    anchors: &ExportAnchors<'_>,
) -> Result<ExportedProof, ProofError> {
    ProofSource::open(archive_dir, options)?.export_item(id, out_dir, anchors)
}

fn prepare_out_dir(dir: &Path) -> Result<(), ProofError> {
    let io_err = |source| ProofError::Io {
        path: dir.to_owned(),
        source,
    };
    if dir.exists() {
        if fs::read_dir(dir).map_err(io_err)?.next().is_some() {
            return Err(ProofError::OutputNotEmpty {
                path: dir.to_owned(),
            });
        }
    } else {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    Ok(())
}

fn readme(
    doc: &ProofDoc,
    namespace: &str,
    principal: Option<&str>,
    signed: bool,
    timestamped: bool,
    anchors: &ExportAnchors<'_>,
) -> String {
    let artefact = doc
        .leaves
        .get(1)
        .map_or("artefact/<file>", |l| l.file.as_str());
    let principal = principal.unwrap_or("<principal>");
    let mut t = format!(
        "Proof of one evidence item\n\
         ==========================\n\n\
         Item {item}, sealed in run {run} of the evidence archive of {origin}.\n\
         The run's checkpoint commits to a Merkle tree (RFC 6962) of {size} leaves; this\n\
         directory proves that the two files below are leaves of it.\n\n\
         Files\n\
         -----\n\
         metadata.json         the item record (canonical JSON), byte for byte as sealed\n\
         {artefact:<21} the artefact, byte for byte as sealed\n\
         checkpoint            the run's checkpoint: origin, tree size, root (base64)\n",
        item = doc.item,
        run = doc.run,
        origin = doc.origin,
        size = doc.tree_size,
    );
    if signed {
        t.push_str("checkpoint.sig        the agent's SSHSIG signature over checkpoint\n");
    }
    if timestamped {
        t.push_str(
            "checkpoint.sig.tsr    an RFC 3161 time stamp over checkpoint.sig: trusted time\n",
        );
    }
    t.push_str(
        "proof.json            each file's bundle name, SHA-256, size, leaf index and RFC 9162\n\
         \x20                     inclusion proof\n\
         verify_inclusion.py   recomputes both leaves and checks the proofs (Python 3, no modules)\n",
    );
    if anchors.allowed_signers.is_some() {
        t.push_str("allowed_signers       the signing keys the exporting auditor trusted\n");
    }
    if anchors.tsa_roots.is_some() {
        t.push_str("tsa-roots.pem         the time-stamp roots the exporting auditor trusted\n");
    }
    t.push_str(
        "\nCheck it\n\
         --------\n\
         With evidence-auditor (everything below, in one step):\n\n\
         \x20   evidence-auditor check-proof .\n\n\
         With stock tools:\n\n\
         1. The files are what the proof names (compare with proof.json):\n\n\
         \x20   sha256sum metadata.json ",
    );
    t.push_str(artefact);
    t.push_str(
        "\n\n\
         2. Both files are leaves of the checkpoint's tree. A leaf is\n\
         \x20  SHA-256(0x00 || \"evidence-leaf/v1\\n\" + zip_name + \"\\n\" + sha256 + \"\\n\" + size + \"\\n\"),\n\
         \x20  a node SHA-256(0x01 || left || right); the proof is checked as RFC 9162 §2.1.3.2 says:\n\n\
         \x20   python3 verify_inclusion.py\n\n",
    );
    if signed {
        t.push_str(&format!(
            "3. The checkpoint is signed by a key you trust (allowed_signers: ssh-keygen(1)):\n\n\
             \x20   ssh-keygen -Y verify -f allowed_signers -I {principal} -n {namespace} \\\n\
             \x20       -s checkpoint.sig < checkpoint\n\n"
        ));
    }
    if timestamped {
        t.push_str(
            "4. The signature existed at the time stamp's time (the chain is checked at the\n\
             \x20  current time; add -attime with the token's time once the TSA certificate expired):\n\n\
             \x20   openssl ts -verify -data checkpoint.sig -in checkpoint.sig.tsr -CAfile tsa-roots.pem\n\
             \x20   openssl ts -reply -in checkpoint.sig.tsr -text     # shows the time\n",
        );
    }
    t
}

/// The result of checking a proof directory.
#[derive(Debug, Clone, Serialize)]
pub struct ProofCheck {
    pub dir: String,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustReport>,
    /// Where the trust anchors came from: `options`, `directory` or none.
    pub anchors: String,
    pub problems: Vec<Problem>,
}

/// Check a proof directory offline: both files against `proof.json`, both inclusion proofs
/// against the checkpoint, the metadata record against the artefact, and the checkpoint's
/// signature and time stamp. Trust anchors come from `options`; where it has none, from the
/// `allowed_signers` and `tsa-roots.pem` files in the directory (the exporting auditor's).
pub fn check_item_proof(dir: &Path, options: &VerifyOptions) -> ProofCheck {
    let mut ctx = Ctx::new(&dir.display().to_string());
    let mut check = ProofCheck {
        dir: dir.display().to_string(),
        valid: false,
        item: None,
        run: None,
        origin: None,
        checkpoint: None,
        trust: None,
        anchors: String::new(),
        problems: Vec::new(),
    };
    let mut options = options.clone();
    let mut from_dir = false;
    if options.allowed_signers.is_none()
        && let Ok(bytes) = read_small_file(&dir.join(PROOF_ALLOWED_SIGNERS), MAX_SMALL_FILE)
    {
        match std::str::from_utf8(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                crate::allowed_signers::AllowedSigners::parse(t, PROOF_ALLOWED_SIGNERS)
                    .map_err(|e| e.to_string())
            }) {
            Ok(s) => {
                options.allowed_signers = Some(s);
                from_dir = true;
            }
            Err(e) => ctx.error(Some(PROOF_ALLOWED_SIGNERS), Category::Proof, e),
        }
    }
    if options.tsa_roots.is_none()
        && let Ok(bytes) = read_small_file(&dir.join(PROOF_TSA_ROOTS), MAX_SMALL_FILE)
    {
        match crate::tsp::TsaRoots::from_pem(&bytes) {
            Ok(r) => {
                options.tsa_roots = Some(r);
                from_dir = true;
            }
            Err(e) => ctx.error(Some(PROOF_TSA_ROOTS), Category::Proof, e.to_string()),
        }
    }
    check.anchors = if from_dir {
        "directory".into()
    } else if options.allowed_signers.is_some() || options.tsa_roots.is_some() {
        "options".into()
    } else {
        "none".into()
    };

    check_proof_inner(dir, &options, &mut ctx, &mut check);
    check.valid = !ctx.problems.iter().any(|p| p.severity == Severity::Error);
    check.problems = ctx.problems;
    check
}

fn check_proof_inner(dir: &Path, options: &VerifyOptions, ctx: &mut Ctx, check: &mut ProofCheck) {
    let read = |name: &str, max: usize, ctx: &mut Ctx| -> Option<Vec<u8>> {
        match read_small_file(&dir.join(name), max) {
            Ok(b) => Some(b),
            Err(e) => {
                ctx.error(Some(name), Category::Proof, format!("cannot read: {e}"));
                None
            }
        }
    };
    let Some(doc) = read(PROOF_JSON, MAX_SMALL_FILE, ctx).and_then(|b| {
        serde_json::from_slice::<ProofDoc>(&b)
            .map_err(|e| {
                ctx.error(
                    Some(PROOF_JSON),
                    Category::Proof,
                    format!("not a proof: {e}"),
                )
            })
            .ok()
    }) else {
        return;
    };
    if doc.schema != PROOF_SCHEMA {
        ctx.error(
            Some(PROOF_JSON),
            Category::Version,
            format!("proof schema {:?} is not {PROOF_SCHEMA}", doc.schema),
        );
        return;
    }
    check.item = Some(doc.item.clone());
    check.run = Some(doc.run);
    check.origin = Some(doc.origin.clone());
    let Some(cp_bytes) = read(PROOF_CHECKPOINT, 4096, ctx) else {
        return;
    };
    let cp = match std::str::from_utf8(&cp_bytes)
        .map_err(|e| e.to_string())
        .and_then(|t| Checkpoint::parse(t).map_err(|e| e.to_string()))
    {
        Ok(cp) => cp,
        Err(e) => {
            ctx.error(Some(PROOF_CHECKPOINT), Category::Proof, e);
            return;
        }
    };
    check.checkpoint = Some(cp.clone());
    if cp.origin != doc.origin || cp.size != doc.tree_size {
        ctx.error(
            Some(PROOF_JSON),
            Category::Proof,
            "proof.json names another origin or tree size than the checkpoint",
        );
    }

    // The files, their leaves and their inclusion proofs.
    let (Ok(id), Some(bag)) = (
        doc.item.parse::<evidence_model::ItemId>(),
        (doc.run > 0).then(|| layout::bag_dir(doc.run)),
    ) else {
        ctx.error(Some(PROOF_JSON), Category::Proof, "invalid item id or run");
        return;
    };
    let [meta_leaf, art_leaf] = doc.leaves.as_slice() else {
        ctx.error(
            Some(PROOF_JSON),
            Category::Proof,
            "expected two leaves: the metadata record, then the artefact",
        );
        return;
    };
    let artefact_name = art_leaf.file.strip_prefix("artefact/").unwrap_or_default();
    if meta_leaf.file != PROOF_METADATA
        || !evidence_model::ids::is_safe_component(artefact_name, 255)
    {
        ctx.error(
            Some(PROOF_JSON),
            Category::Proof,
            "unexpected file names in proof.json",
        );
        return;
    }
    let expected_zip_names = [
        format!("{bag}/{}", layout::item_metadata_path(&id)),
        format!("{bag}/{}", layout::item_artefact_path(&id, artefact_name)),
    ];
    let mut files = Vec::new();
    for (leaf, zip_name) in [meta_leaf, art_leaf].into_iter().zip(&expected_zip_names) {
        if &leaf.zip_name != zip_name {
            ctx.error(
                Some(&leaf.file),
                Category::Proof,
                format!(
                    "proof.json names it {} but it must be {zip_name}",
                    leaf.zip_name
                ),
            );
            continue;
        }
        let (digest, size) = match hash_file(&dir.join(&leaf.file)) {
            Ok(x) => x,
            Err(e) => {
                ctx.error(
                    Some(&leaf.file),
                    Category::Proof,
                    format!("cannot read: {e}"),
                );
                continue;
            }
        };
        if digest.to_string() != leaf.sha256 || size != leaf.size {
            ctx.error(
                Some(&leaf.file),
                Category::Digest,
                format!(
                    "the file has SHA-256 {digest} and {size} bytes; proof.json says {} and {} bytes: it was modified",
                    leaf.sha256, leaf.size
                ),
            );
        }
        let hashes: Result<Vec<Hash>, _> = leaf
            .inclusion
            .iter()
            .map(|h| merkle::hash_from_base64(h))
            .collect();
        let computed = payload_leaf(zip_name, &digest, size);
        match hashes {
            Err(e) => ctx.error(Some(PROOF_JSON), Category::Proof, e.to_string()),
            Ok(hashes) => {
                if let Err(e) =
                    merkle::verify_inclusion(&computed, leaf.leaf_index, cp.size, &hashes, &cp.root)
                {
                    ctx.error(
                        Some(&leaf.file),
                        Category::Proof,
                        format!("not included in the checkpoint's tree: {e}"),
                    );
                }
            }
        }
        files.push((leaf.file.clone(), digest, size));
    }

    // The record describes the artefact.
    if let Some(meta_bytes) = read(PROOF_METADATA, MAX_SMALL_FILE, ctx) {
        match serde_json::from_slice::<ItemMeta>(&meta_bytes) {
            Ok(meta) => {
                let art = files.iter().find(|(f, _, _)| f == &art_leaf.file);
                let ok = meta.id == id
                    && meta.artefact.path == layout::item_artefact_path(&id, artefact_name)
                    && art.is_none_or(|(_, d, s)| {
                        *d == meta.artefact.sha256 && *s == meta.artefact.size
                    });
                if !ok {
                    ctx.error(
                        Some(PROOF_METADATA),
                        Category::Record,
                        "the item record does not describe this item's artefact",
                    );
                }
            }
            Err(e) => ctx.error(
                Some(PROOF_METADATA),
                Category::Record,
                format!("not a valid item record: {e}"),
            ),
        }
    }

    // The checkpoint's signature and time stamp.
    let sig = read_small_file(&dir.join(PROOF_CHECKPOINT_SIG), MAX_SIGNATURE_BYTES).ok();
    let tsr = read_small_file(&dir.join(PROOF_CHECKPOINT_TSR), MAX_TOKEN_BYTES).ok();
    let (report, _) = trust::check_checkpoint_trust(
        &SignedCheckpoint {
            checkpoint: Some(&cp_bytes),
            signature: sig.as_deref(),
            timestamp: tsr.as_deref(),
            untimestamped: false,
            signature_entry: PROOF_CHECKPOINT_SIG,
            timestamp_entry: PROOF_CHECKPOINT_TSR,
        },
        options,
        ctx,
    );
    check.trust = Some(report);
}

fn hash_file(path: &Path) -> io::Result<(Sha256Digest, u64)> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((Sha256Digest(hasher.finalize().into()), size))
}
