//! Gathering the readiness inputs from an engagement, and reading the latest sealed SoA's bytes
//! back out of its bundle (through the strict ZIP reader, checked against the digest ingested).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use evidence_archive::layout;
use evidence_archive::strict_zip::{Limits, StrictZip};
use evidence_model::Timestamp;
use sha2::{Digest, Sha256};

use super::compute::{Inputs, Overrides, SoaInput};
use super::soa;
use crate::engagement::Result;
use crate::engagement::db::Engagement;
use crate::engagement::readiness_queries::SoaLocation;

/// Largest SoA read into memory.
const MAX_SOA_BYTES: usize = 16 * 1024 * 1024;

/// Where the SoA comes from.
#[derive(Debug, Clone, Default)]
pub enum SoaSource {
    /// The latest sealed version, read from the archive its origin was ingested from.
    #[default]
    Archive,
    /// The latest sealed version, read from this archive directory.
    ArchiveAt(PathBuf),
}

/// Everything `compute` needs at `as_of`.
pub fn inputs(
    e: &Engagement,
    as_of: Timestamp,
    overrides: &Overrides,
    soa_source: &SoaSource,
) -> Result<Inputs> {
    let soa = latest_soa(e, as_of, soa_source)?;
    Ok(Inputs {
        groups: e.readiness_groups(as_of)?,
        source_kinds: e.readiness_source_kinds()?,
        gaps: e.readiness_gaps()?,
        runs: e.readiness_runs()?,
        checkpoints: e.readiness_checkpoints()?,
        soa,
        overrides: overrides.clone(),
    })
}

/// The latest SoA sealed by `as_of`, read from its bundle and parsed strictly.
pub fn latest_soa(e: &Engagement, as_of: Timestamp, soa_source: &SoaSource) -> Result<SoaInput> {
    Ok(match e.readiness_latest_soa(as_of)? {
        None => SoaInput::Absent,
        Some(loc) => {
            let dir = match soa_source {
                SoaSource::ArchiveAt(d) => d.clone(),
                SoaSource::Archive => PathBuf::from(&loc.archive),
            };
            read_soa(&dir, &loc)
        }
    })
}

/// Whether an SoA artefact is a workbook (by media type or name); otherwise CSV.
fn is_xlsx(loc: &SoaLocation) -> bool {
    loc.media_type.contains("spreadsheetml")
        || loc.artefact_path.to_ascii_lowercase().ends_with(".xlsx")
}

fn read_soa(dir: &Path, loc: &SoaLocation) -> SoaInput {
    let item = loc.item.clone();
    match read_artefact(dir, loc) {
        Err(reason) => SoaInput::Unreadable { item, reason },
        Ok(bytes) => match soa::parse(&bytes, is_xlsx(loc)) {
            Ok(soa) => SoaInput::Parsed { item, soa },
            Err(problems) => SoaInput::Malformed { item, problems },
        },
    }
}

/// The artefact's bytes from its bundle, checked against the digest the engagement holds.
fn read_artefact(dir: &Path, loc: &SoaLocation) -> std::result::Result<Vec<u8>, String> {
    if matches!(
        loc.archive.parse::<evidence_store::ArchiveSource>(),
        Ok(evidence_store::ArchiveSource::S3(_))
    ) && !dir.is_dir()
    {
        return Err(format!(
            "the archive {} is in S3; run readiness on a local copy of it",
            loc.archive
        ));
    }
    let bundle = dir.join(layout::bundle_file_name(loc.item.bundle_seq));
    let file = File::open(&bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
    let mut zip = StrictZip::open(BufReader::new(file), Limits::default())
        .map_err(|_| format!("{} is not a readable bundle", bundle.display()))?;
    let name = format!(
        "{}/{}",
        layout::bag_dir(loc.item.bundle_seq),
        loc.artefact_path
    );
    let index = zip
        .entries()
        .iter()
        .position(|e| e.name == name)
        .ok_or_else(|| format!("{name} is not in {}", bundle.display()))?;
    let bytes = zip
        .read_small(index, MAX_SOA_BYTES)
        .map_err(|e| format!("{name}: {e}"))?;
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    let digest = hex::encode(digest);
    if digest != loc.item.sha256 {
        return Err(format!(
            "{name} in {} no longer has the SHA-256 ingested ({}): the bundle changed since",
            bundle.display(),
            loc.item.sha256
        ));
    }
    Ok(bytes)
}
