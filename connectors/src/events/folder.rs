//! The event log's segments in a local folder: listing them with their identity prefix, and
//! opening one decompressed at an offset. A segment is gzip-compressed when its bytes start with
//! the gzip magic, whatever its name. Blocking IO: the connector calls it from a blocking task.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use globset::GlobMatcher;
use jiff::Timestamp;

use super::segments::{FINGERPRINT_LEN, SegmentFile};
pub(crate) use crate::read_ahead::read_up_to;

/// Read buffer per open segment.
const READ_BUFFER: usize = 256 * 1024;

/// Where a log's segments are found and how one is opened.
pub(crate) trait SegmentStore: Send + Sync {
    /// The segments there now, with their first bytes (decompressed).
    fn list(&self) -> io::Result<Vec<SegmentFile>>;
    /// The decompressed content of segment `name` from byte `offset` on.
    fn open(&self, name: &str, offset: u64) -> io::Result<Box<dyn BufRead + Send>>;
}

/// The segments of one log in one folder: the files directly in it whose names match a glob
/// (dot-files left out).
#[derive(Debug, Clone)]
pub(crate) struct Folder {
    pub(crate) root: PathBuf,
    pub(crate) files: GlobMatcher,
}

impl SegmentStore for Folder {
    fn list(&self) -> io::Result<Vec<SegmentFile>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !self.files.is_match(&name) {
                continue;
            }
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            let path = entry.path();
            let (prefix, compressed) = prefix_of(&path)?;
            out.push(SegmentFile {
                modified: meta
                    .modified()
                    .ok()
                    .and_then(|t| Timestamp::try_from(t).ok())
                    .unwrap_or(Timestamp::UNIX_EPOCH),
                prefix,
                len: (!compressed).then_some(meta.len()),
                name,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn open(&self, name: &str, offset: u64) -> io::Result<Box<dyn BufRead + Send>> {
        let path = self.root.join(name);
        let mut file = File::open(&path)?;
        if is_gzip(&mut file)? {
            let mut decoded = BufReader::with_capacity(
                READ_BUFFER,
                flate2::read::MultiGzDecoder::new(BufReader::new(file)),
            );
            skip(&mut decoded, offset)?;
            Ok(Box::new(decoded))
        } else {
            file.seek(SeekFrom::Start(offset))?;
            Ok(Box::new(BufReader::with_capacity(READ_BUFFER, file)))
        }
    }
}

/// Whether `file` starts with the gzip magic; leaves it at its start.
fn is_gzip(file: &mut File) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    let n = read_up_to(file, &mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// The first [`FINGERPRINT_LEN`] decompressed bytes of `path`, and whether it is compressed.
fn prefix_of(path: &Path) -> io::Result<(Vec<u8>, bool)> {
    let mut file = File::open(path)?;
    let compressed = is_gzip(&mut file)?;
    let mut prefix = vec![0u8; FINGERPRINT_LEN];
    let n = if compressed {
        read_up_to(&mut flate2::read::MultiGzDecoder::new(file), &mut prefix)?
    } else {
        read_up_to(&mut file, &mut prefix)?
    };
    prefix.truncate(n);
    Ok((prefix, compressed))
}

/// Reads and drops `n` bytes; fewer available is an error (the segment shrank).
pub(crate) fn skip(reader: &mut impl Read, n: u64) -> io::Result<()> {
    let skipped = io::copy(&mut reader.take(n), &mut io::sink())?;
    if skipped < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the segment holds {skipped} bytes, fewer than the {n} already read"),
        ));
    }
    Ok(())
}
