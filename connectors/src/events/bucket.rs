//! The event log's segments under an S3 prefix: listed with ListObjectsV2, each known by its
//! first bytes (a ranged GetObject, decompressed when gzip), and opened at an offset (a ranged
//! GetObject for plain objects; compressed ones are decompressed from their start). The client
//! comes from `evidence-s3`. Called from the reading pass's blocking task: each request blocks
//! on the runtime's handle, and a body is read chunk by chunk as the pass asks for it.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Mutex;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use evidence_s3::{ClientSettings, plain_detail};
use globset::GlobMatcher;
use jiff::Timestamp;
use tokio::runtime::Handle;
use tokio::sync::OnceCell;

use super::folder::{SegmentStore, read_up_to, skip};
use super::segments::{FINGERPRINT_LEN, SegmentFile};

/// Compressed bytes fetched to find a segment's first decompressed bytes.
const PREFIX_FETCH: u64 = 64 * 1024;
/// Read buffer per open segment.
const READ_BUFFER: usize = 256 * 1024;

/// The segments of one log under one prefix of a bucket: the keys directly under it whose
/// names match a glob.
pub(crate) struct Bucket {
    pub(crate) settings: ClientSettings,
    pub(crate) client: OnceCell<Client>,
    pub(crate) bucket: String,
    /// Ends with `/` unless empty.
    pub(crate) prefix: String,
    pub(crate) files: GlobMatcher,
    /// Per name, as last listed: its size and whether it is gzip.
    listed: Mutex<HashMap<String, (u64, bool)>>,
}

impl Bucket {
    pub(crate) fn new(
        settings: ClientSettings,
        bucket: String,
        prefix: String,
        files: GlobMatcher,
    ) -> Self {
        Self {
            settings,
            client: OnceCell::new(),
            bucket,
            prefix,
            files,
            listed: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, handle: &Handle) -> Client {
        handle
            .block_on(self.client.get_or_init(|| self.settings.connect()))
            .clone()
    }

    /// The body of `name` from byte `from` (to its end), as a blocking reader.
    fn get(&self, handle: &Handle, name: &str, from: u64) -> io::Result<BlockingBody> {
        let key = format!("{}{name}", self.prefix);
        let mut request = self
            .client(handle)
            .get_object()
            .bucket(&self.bucket)
            .key(&key);
        if from > 0 {
            request = request.range(format!("bytes={from}-"));
        }
        let object = handle.block_on(request.send()).map_err(|e| {
            io::Error::other(format!("s3://{}/{key}: {}", self.bucket, plain_detail(&e)))
        })?;
        Ok(BlockingBody {
            body: object.body,
            chunk: Vec::new(),
            at: 0,
            handle: handle.clone(),
        })
    }

    /// The first bytes of `name` (decompressed) and whether it is gzip.
    fn prefix_of(&self, handle: &Handle, name: &str, size: u64) -> io::Result<(Vec<u8>, bool)> {
        if size == 0 {
            return Ok((Vec::new(), false));
        }
        let key = format!("{}{name}", self.prefix);
        let request = self
            .client(handle)
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .range(format!("bytes=0-{}", PREFIX_FETCH.min(size) - 1));
        let object = handle.block_on(request.send()).map_err(|e| {
            io::Error::other(format!("s3://{}/{key}: {}", self.bucket, plain_detail(&e)))
        })?;
        let head = handle
            .block_on(object.body.collect())
            .map_err(io::Error::other)?
            .into_bytes()
            .to_vec();
        let compressed = head.starts_with(&[0x1f, 0x8b]);
        let mut prefix = vec![0u8; FINGERPRINT_LEN];
        let n = if compressed {
            // The fetched bytes may end inside the stream: keep what decompressed before that.
            partial(
                &mut flate2::read::MultiGzDecoder::new(&head[..]),
                &mut prefix,
            )
        } else {
            read_up_to(&mut &head[..], &mut prefix)?
        };
        prefix.truncate(n);
        Ok((prefix, compressed))
    }

    fn list_keys(&self, handle: &Handle) -> io::Result<Vec<(String, u64, Timestamp)>> {
        let client = self.client(handle);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix);
            if let Some(t) = &token {
                request = request.continuation_token(t);
            }
            let page = handle.block_on(request.send()).map_err(|e| {
                io::Error::other(format!(
                    "s3://{}/{}: {}",
                    self.bucket,
                    self.prefix,
                    plain_detail(&e)
                ))
            })?;
            for object in page.contents() {
                let Some(name) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) else {
                    continue;
                };
                if name.contains('/') || name.starts_with('.') || !self.files.is_match(name) {
                    continue;
                }
                let modified = object
                    .last_modified()
                    .and_then(|t| Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok())
                    .unwrap_or(Timestamp::UNIX_EPOCH);
                let size = object
                    .size()
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0);
                out.push((name.to_owned(), size, modified));
            }
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() || page.is_truncated() != Some(true) {
                return Ok(out);
            }
        }
    }
}

/// Reads as much as decompresses before an error (a stream cut short on purpose).
fn partial(reader: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

impl SegmentStore for Bucket {
    fn list(&self) -> io::Result<Vec<SegmentFile>> {
        let handle = Handle::current();
        let mut out = Vec::new();
        let mut listed = HashMap::new();
        for (name, size, modified) in self.list_keys(&handle)? {
            let (prefix, compressed) = self.prefix_of(&handle, &name, size)?;
            listed.insert(name.clone(), (size, compressed));
            out.push(SegmentFile {
                name,
                modified,
                prefix,
                len: (!compressed).then_some(size),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        if let Ok(mut l) = self.listed.lock() {
            *l = listed;
        }
        Ok(out)
    }

    fn open(&self, name: &str, offset: u64) -> io::Result<Box<dyn BufRead + Send>> {
        let handle = Handle::current();
        let known = self.listed.lock().ok().and_then(|l| l.get(name).copied());
        match known {
            Some((size, false)) if offset >= size => Ok(Box::new(io::empty())),
            Some((_, false)) => Ok(Box::new(BufReader::with_capacity(
                READ_BUFFER,
                self.get(&handle, name, offset)?,
            ))),
            _ => {
                let mut body = BufReader::with_capacity(READ_BUFFER, self.get(&handle, name, 0)?);
                if body.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
                    let mut decoded = BufReader::with_capacity(
                        READ_BUFFER,
                        flate2::read::MultiGzDecoder::new(body),
                    );
                    skip(&mut decoded, offset)?;
                    Ok(Box::new(decoded))
                } else {
                    skip(&mut body, offset)?;
                    Ok(Box::new(body))
                }
            }
        }
    }
}

/// An object's body read from a blocking thread, one chunk at a time.
struct BlockingBody {
    body: ByteStream,
    chunk: Vec<u8>,
    at: usize,
    handle: Handle,
}

impl Read for BlockingBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.chunk.len() {
            match self.handle.block_on(self.body.try_next()) {
                Ok(Some(bytes)) => {
                    self.chunk = bytes.to_vec();
                    self.at = 0;
                }
                Ok(None) => return Ok(0),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
