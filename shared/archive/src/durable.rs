//! Durable file replacement: write a temporary file beside the target, fsync it, rename (or
//! link, to refuse overwriting) it into place, then fsync the directory. A crash at any point
//! leaves either the old state or the new one, never a torn file. Large files are written
//! through [`EarlyWriteback`], so that the disk works while the writer computes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// How much is written before the kernel is asked to start writing it to disk.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// A file whose written bytes are sent to disk as they come, by a thread that syncs it every
/// few megabytes while the writer goes on, rather than all at the final fsync: the fsync then
/// finds little left to do, and the disk's time overlaps the writer's. Durability is
/// unchanged: only the caller's final `sync_all` promises anything.
pub struct EarlyWriteback {
    file: File,
    pos: u64,
    /// The position at which the syncing thread was last woken.
    started: u64,
    syncer: Option<Syncer>,
}

/// The thread syncing the file; dropping it stops the thread and waits for it.
struct Syncer {
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl EarlyWriteback {
    pub fn new(file: File) -> Self {
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let syncer = file.try_clone().ok().and_then(|clone| {
            std::thread::Builder::new()
                .name("writeback".into())
                .spawn(move || {
                    for () in woken {
                        // A failure here only leaves the bytes to the final fsync.
                        let _ = clone.sync_data();
                    }
                })
                .ok()
        });
        Self {
            file,
            pos: 0,
            started: 0,
            syncer: syncer.map(|thread| Syncer {
                wake: Some(wake),
                thread: Some(thread),
            }),
        }
    }

    /// The file, to sync and close, once the syncing thread has stopped.
    pub fn into_inner(self) -> File {
        drop(self.syncer);
        self.file
    }

    fn start_writeback(&mut self) {
        if self.pos < self.started.saturating_add(WRITEBACK_STEP) {
            return;
        }
        if let Some(wake) = self.syncer.as_ref().and_then(|s| s.wake.as_ref()) {
            // Full: the thread is syncing already and will see these bytes when it next does.
            let _ = wake.try_send(());
        }
        self.started = self.pos;
    }
}

impl Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.pos += n as u64;
        self.start_writeback();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for EarlyWriteback {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        // A header rewritten behind `started` is dirty again; the final fsync writes it.
        self.pos = self.file.seek(pos)?;
        Ok(self.pos)
    }
}

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
