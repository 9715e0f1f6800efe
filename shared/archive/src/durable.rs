//! Durable file replacement: write a temporary file beside the target, fsync it, rename (or
//! link, to refuse overwriting) it into place, then fsync the directory. A crash at any point
//! leaves either the old state or the new one, never a torn file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// fsync a directory so a rename or link inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The temporary name used beside `target`: `.<name>.tmp`, hidden from archive listings.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp"))
}

/// Atomically replace `target` with `bytes`.
pub fn write_replace(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path_for(target);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, target)?;
    sync_dir(parent_of(target))
}

/// Move the finished, already-synced file `tmp` to `target`, refusing to overwrite an existing
/// `target` (`AlreadyExists`), and make the new name durable.
pub fn publish_new(tmp: &Path, target: &Path) -> io::Result<()> {
    fs::hard_link(tmp, target)?;
    fs::remove_file(tmp)?;
    sync_dir(parent_of(target))
}

fn parent_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replace_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state.json");
        write_replace(&target, b"one").unwrap();
        write_replace(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert!(!temp_path_for(&target).exists());
    }

    #[test]
    fn publish_new_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run-000001.zip");
        fs::write(&target, b"sealed").unwrap();
        let tmp = dir.path().join(".run-000001.zip.tmp");
        fs::write(&tmp, b"other").unwrap();
        let err = publish_new(&tmp, &target).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&target).unwrap(), b"sealed");
    }
}
