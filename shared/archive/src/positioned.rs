//! Files read at positions of their own (`pread`), so that several threads can read different
//! parts of one file through one handle: [`PositionedFile`] reads straight through, and
//! [`WindowedFile`] keeps a read window across seeks for many small reads close together.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// A file read at a position of its own (`pread`), whatever other handles on it do: several
/// threads can each read a different part of one file through one `File`.
#[derive(Debug)]
pub struct PositionedFile<'a> {
    file: &'a File,
    pos: u64,
}

impl<'a> PositionedFile<'a> {
    pub fn new(file: &'a File) -> Self {
        Self::at(file, 0)
    }

    /// Reading from `pos` on.
    pub fn at(file: &'a File, pos: u64) -> Self {
        Self { file, pos }
    }
}

impl Read for PositionedFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for PositionedFile<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = target(self.file, self.pos, pos)?;
        Ok(self.pos)
    }
}

/// The position `pos` asks for, from `current` and the file's length.
fn target(file: &File, current: u64, pos: SeekFrom) -> io::Result<u64> {
    let target = match pos {
        SeekFrom::Start(p) => Some(p),
        SeekFrom::Current(d) => current.checked_add_signed(d),
        SeekFrom::End(d) => file.metadata()?.len().checked_add_signed(d),
    };
    target.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "seek before the start of the file",
        )
    })
}

/// A [`PositionedFile`] with a read window that survives seeks: reading many small entries of
/// one file, nearly in order, costs one `pread` per window, where std's `BufReader` drops its
/// buffer at every seek and reads a whole buffer again for each entry.
#[derive(Debug)]
pub struct WindowedFile<'a> {
    file: &'a File,
    pos: u64,
    window: Vec<u8>,
    /// File offset of `window[0]`; `filled` bytes of it are valid.
    start: u64,
    filled: usize,
}

impl<'a> WindowedFile<'a> {
    /// Reading from the start, through a window of `capacity` bytes (allocated on first use).
    pub fn new(file: &'a File, capacity: usize) -> Self {
        WindowedFile {
            file,
            pos: 0,
            window: Vec::with_capacity(capacity.max(1)),
            start: 0,
            filled: 0,
        }
    }
}

impl Read for WindowedFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let capacity = self.window.capacity();
        let in_window = self.pos >= self.start && self.pos < self.start + self.filled as u64;
        if !in_window {
            if buf.len() >= capacity {
                // Large reads go straight to the caller's buffer.
                let n = self.file.read_at(buf, self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            self.window.resize(capacity, 0);
            let n = self.file.read_at(&mut self.window, self.pos)?;
            (self.start, self.filled) = (self.pos, n);
            if n == 0 {
                return Ok(0);
            }
        }
        let at = (self.pos - self.start) as usize;
        let available = &self.window[at..self.filled];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for WindowedFile<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = target(self.file, self.pos, pos)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_windowed_file_reads_what_a_positioned_file_reads_at_every_seek() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut file = tempfile::tempfile().expect("temporary file");
        file.write_all(&bytes).expect("write");
        // Forward, backward, past the end, straddling the window, larger than the window.
        let reads = [
            (0u64, 10usize),
            (5, 100),
            (4000, 300),
            (100, 50),
            (4090, 20),
            (9_990, 50),
            (20_000, 5),
            (1, 5_000),
            (3, 1),
        ];
        let mut windowed = WindowedFile::new(&file, 4096);
        for (at, len) in reads {
            let mut expected = Vec::new();
            PositionedFile::at(&file, at)
                .take(len as u64)
                .read_to_end(&mut expected)
                .expect("positioned read");
            windowed.seek(SeekFrom::Start(at)).expect("seek");
            let mut got = Vec::new();
            (&mut windowed)
                .take(len as u64)
                .read_to_end(&mut got)
                .expect("windowed read");
            assert_eq!(got, expected, "{len} bytes at {at}");
        }
        assert_eq!(windowed.seek(SeekFrom::End(-1)).expect("seek"), 9_999);
        assert!(windowed.seek(SeekFrom::Current(-10_000)).is_err());
    }
}
