//! SHA-256 on a second core: one thread hashes the chunks it is handed, in order, while the
//! caller goes on writing them. Chunks are shared (`Arc`), not copied; the caller reuses a
//! chunk's buffer once the thread has let go of it ([`HashPipe::settle`]), so memory stays
//! fixed and nothing is allocated per chunk.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use evidence_model::Sha256Digest;
use sha2::{Digest, Sha256};

enum Message {
    Chunk(Arc<Vec<u8>>),
    /// Send the digest of everything since the previous `Finish` and start over.
    Finish,
}

/// A hashing thread fed with shared chunks.
pub struct HashPipe {
    to_hasher: Option<SyncSender<Message>>,
    /// One message per chunk the thread has hashed and let go of.
    released: Receiver<()>,
    digests: Receiver<Sha256Digest>,
    /// Chunks handed over and not yet let go of.
    in_flight: usize,
    thread: Option<JoinHandle<()>>,
}

impl HashPipe {
    /// Start the hashing thread; fails only when it cannot be started.
    pub fn new() -> std::io::Result<Self> {
        let (to_hasher, inbox) = sync_channel::<Message>(4);
        let (release, released) = sync_channel::<()>(64);
        let (send_digest, digests) = sync_channel::<Sha256Digest>(1);
        let thread = std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || {
                let mut hasher = Sha256::new();
                for message in inbox {
                    match message {
                        Message::Chunk(chunk) => {
                            hasher.update(chunk.as_slice());
                            drop(chunk);
                            if release.send(()).is_err() {
                                return;
                            }
                        }
                        Message::Finish => {
                            let digest = Sha256Digest(hasher.finalize_reset().into());
                            if send_digest.send(digest).is_err() {
                                return;
                            }
                        }
                    }
                }
            })?;
        Ok(HashPipe {
            to_hasher: Some(to_hasher),
            released,
            digests,
            in_flight: 0,
            thread: Some(thread),
        })
    }

    /// Hash `chunk` after what was handed over before.
    pub fn hash(&mut self, chunk: Arc<Vec<u8>>) {
        self.send(Message::Chunk(chunk));
        self.in_flight += 1;
        // Acknowledgements are read back before the channel that carries them can fill up.
        if self.in_flight >= 32 {
            self.settle(16);
        }
    }

    /// Wait until at most `at_most` of the chunks handed over are still held by the thread;
    /// the others' buffers are the caller's alone again.
    pub fn settle(&mut self, at_most: usize) {
        while self.in_flight > at_most {
            if self.released.recv().is_err() {
                panic!("the hashing thread stopped while the pipe is open");
            }
            self.in_flight -= 1;
        }
    }

    /// The digest of every byte handed over since the last call; every chunk is let go of.
    pub fn finish(&mut self) -> Sha256Digest {
        self.send(Message::Finish);
        let digest = self
            .digests
            .recv()
            .expect("the hashing thread stopped while the pipe is open");
        self.settle(0);
        digest
    }

    fn send(&mut self, message: Message) {
        let sender = self.to_hasher.as_ref().expect("the pipe is open");
        sender
            .send(message)
            .expect("the hashing thread stopped while the pipe is open");
    }
}

impl Drop for HashPipe {
    fn drop(&mut self) {
        self.to_hasher = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_hashing_in_place_and_buffers_come_back() {
        let mut pipe = HashPipe::new().unwrap();
        let mut buffers = [Arc::new(Vec::new()), Arc::new(Vec::new())];
        for content in [&b"first entry, longer than one buffer"[..], b"", b"x"] {
            for (i, chunk) in content.chunks(8).enumerate() {
                pipe.settle(1);
                let buf = Arc::get_mut(&mut buffers[i % 2]).expect("let go of");
                buf.clear();
                buf.extend_from_slice(chunk);
                pipe.hash(Arc::clone(&buffers[i % 2]));
            }
            assert_eq!(pipe.finish(), Sha256Digest::of(content));
            assert!(buffers.iter_mut().all(|b| Arc::get_mut(b).is_some()));
        }
    }
}
