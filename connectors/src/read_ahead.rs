//! A file read ahead on a blocking thread: the next chunks are read from disk while the sink
//! hashes and stages the current one, so reading and staging a large artefact use two cores
//! instead of taking turns. At most [`IN_FLIGHT`] chunks are ahead, and their buffers are
//! reused: memory stays flat whatever the file's size.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::mpsc as recycle;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

/// Bytes read from the file at a time.
const CHUNK: usize = 1024 * 1024;
/// Chunks read ahead of the one being consumed.
const IN_FLIGHT: usize = 3;

/// An [`AsyncRead`] over a file that a blocking thread reads ahead.
#[derive(Debug)]
pub struct ReadAheadFile {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    /// Consumed chunks go back to the reading thread for reuse.
    spent: recycle::Sender<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ReadAheadFile {
    /// Start reading `file` on a blocking thread of the current runtime. Dropping the reader
    /// stops the thread at its next chunk.
    pub fn new(file: std::fs::File) -> Self {
        let (sender, chunks) = mpsc::channel(IN_FLIGHT);
        let (spent, reusable) = recycle::channel::<Vec<u8>>();
        tokio::task::spawn_blocking(move || {
            let mut file = file;
            loop {
                let mut buf = reusable.try_recv().unwrap_or_default();
                buf.resize(CHUNK, 0);
                match read_up_to(&mut file, &mut buf) {
                    // The end of the file: dropping the sender ends the stream.
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if sender.blocking_send(Ok(buf)).is_err() {
                            return; // the reader was dropped
                        }
                    }
                    Err(e) => {
                        let _ = sender.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        ReadAheadFile {
            chunks,
            spent,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

/// Fills `buf` as far as the reader goes; the bytes read.
pub(crate) fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl AsyncRead for ReadAheadFile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.at == this.chunk.len() {
            match ready!(this.chunks.poll_recv(cx)) {
                Some(Ok(chunk)) => {
                    let spent = std::mem::replace(&mut this.chunk, chunk);
                    if spent.capacity() > 0 {
                        let _ = this.spent.send(spent);
                    }
                    this.at = 0;
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = out.remaining().min(this.chunk.len() - this.at);
        out.put_slice(&this.chunk[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::AsyncReadExt;

    async fn read_through(bytes: &[u8], buffer: usize) -> Vec<u8> {
        let mut file = tempfile::tempfile().expect("temporary file");
        file.write_all(bytes).expect("write");
        use std::io::Seek;
        file.rewind().expect("rewind");
        let mut reader = ReadAheadFile::new(file);
        let mut out = Vec::new();
        let mut buf = vec![0; buffer];
        loop {
            let n = reader.read(&mut buf).await.expect("read");
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_back_every_byte_in_order_at_any_size() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 12_345] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
            for buffer in [7, 16 * 1024, 3 * CHUNK] {
                assert_eq!(
                    read_through(&bytes, buffer).await,
                    bytes,
                    "{len} bytes through a {buffer}-byte buffer"
                );
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_reader_early_stops_the_reading_thread() {
        let bytes = vec![7u8; 20 * CHUNK];
        let mut file = tempfile::tempfile().expect("temporary file");
        file.write_all(&bytes).expect("write");
        use std::io::Seek;
        file.rewind().expect("rewind");
        let mut reader = ReadAheadFile::new(file);
        let mut buf = vec![0; 100];
        reader.read_exact(&mut buf).await.expect("read");
        drop(reader);
        // The runtime shuts down only when its blocking threads are done: the test ending
        // (rather than hanging) shows the reader thread stopped.
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_error_reaches_the_reader() {
        // A directory opens as a file on Linux but fails to read (EISDIR).
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = std::fs::File::open(dir.path()).expect("open the directory");
        let mut reader = ReadAheadFile::new(file);
        let mut buf = vec![0; 100];
        let err = reader
            .read(&mut buf)
            .await
            .expect_err("reading a directory fails");
        assert_eq!(err.raw_os_error(), Some(21), "{err}");
    }
}
