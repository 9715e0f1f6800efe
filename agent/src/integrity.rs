//! Does the archive still hold what the state says the agent sealed? A cheap check made before
//! every run and by `check`: every run up to the state's head has its bundle (or, in an S3
//! archive, the receipt of its upload), each bundle still starts like a ZIP and has the size it
//! was sealed with (when the state recorded it), and the last bundle holds the checkpoint the
//! state continues from. Full verification stays the auditor's job.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use evidence_archive::layout;
use evidence_archive::strict_zip::{Limits, StrictZip};

use crate::state::AgentState;

/// What one archive file stands for.
enum Held {
    /// A sealed bundle of this many bytes.
    Bundle(u64),
    /// The receipt of a bundle uploaded to the S3 archive (the bundle itself left).
    Receipt,
}

/// Every way the archive in `archive_dir` falls short of `state`, one line each naming the
/// file; empty when it holds everything the state says was sealed.
pub fn damage(archive_dir: &Path, state: &AgentState) -> io::Result<Vec<String>> {
    let Some(head) = &state.head else {
        return Ok(Vec::new());
    };
    let held = list(archive_dir)?;
    let mut problems = Vec::new();
    for seq in 1..=head.seq {
        let name = layout::bundle_file_name(seq);
        match held.get(&seq) {
            None => problems.push(format!(
                "{name} is missing (the state says run {seq} was sealed)"
            )),
            Some(Held::Receipt) => {}
            Some(Held::Bundle(size)) => {
                let path = archive_dir.join(&name);
                if let Some(sealed) = state.bundle_bytes.get(&seq)
                    && sealed != size
                {
                    problems.push(format!(
                        "{name} is {size} bytes, but was sealed with {sealed} bytes (truncated or replaced)"
                    ));
                } else if !starts_like_a_zip(&path)? {
                    problems.push(format!("{name} is not a ZIP file any more (replaced)"));
                } else if seq == head.seq && !holds_checkpoint(&path, seq, &head.checkpoint) {
                    problems.push(format!(
                        "{name} does not hold the checkpoint the state continues from (damaged or replaced)"
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// The runs the archive folder holds, by sequence number.
fn list(archive_dir: &Path) -> io::Result<BTreeMap<u64, Held>> {
    let mut held = BTreeMap::new();
    let entries = match fs::read_dir(archive_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(held),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = layout::parse_bundle_file_name(name) {
            held.insert(seq, Held::Bundle(entry.metadata()?.len()));
        } else if let Some(seq) = crate::upload::sealed_seq(name) {
            held.entry(seq).or_insert(Held::Receipt);
        }
    }
    Ok(held)
}

fn starts_like_a_zip(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 4];
    let mut file = File::open(path)?;
    match file.read_exact(&mut magic) {
        Ok(()) => Ok(magic == *b"PK\x03\x04"),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// True when bundle `seq` at `path` opens as a ZIP and its `log/checkpoint` is `checkpoint`.
fn holds_checkpoint(path: &Path, seq: u64, checkpoint: &evidence_archive::Checkpoint) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let Ok(mut zip) = StrictZip::open(io::BufReader::new(file), Limits::default()) else {
        return false;
    };
    let wanted = format!("{}/{}", layout::bag_dir(seq), layout::CHECKPOINT);
    let Some(index) = zip.entries().iter().position(|e| e.name == wanted) else {
        return false;
    };
    zip.read_small(index, 64 * 1024)
        .is_ok_and(|bytes| bytes == checkpoint.to_text().as_bytes())
}
