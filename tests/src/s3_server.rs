//! A real S3 server for tests, in-process: s3s-fs over a temporary directory, served on
//! 127.0.0.1 with SigV4 authentication on its own thread and runtime (so sync tests, async tests
//! and child processes can all use it). Two test hooks sit in front of the file system: key
//! prefixes that answer AccessDenied, buckets that claim Object Lock and remember the retention
//! each upload asked for, and a switch that makes UploadPart fail. Stopped on Drop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

/// Access key the server accepts.
pub const ACCESS_KEY: &str = "evidence-test";
/// Its secret (test-only; the server listens on loopback).
pub const SECRET_KEY: &str = "evidence-test-secret-key";

/// The retention an upload asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub mode: String,
    pub retain_until: String,
}

impl Retention {
    /// The retention an upload's Object Lock headers ask for, if any.
    fn asked(mode: Option<&ObjectLockMode>, until: Option<&Timestamp>) -> Option<Self> {
        mode.map(|m| Self {
            mode: m.as_str().to_owned(),
            retain_until: format!("{until:?}"),
        })
    }
}

/// A bucket's keys, sorted, with size and modification time: listings served from it cost
/// O(page) as on S3, where s3s-fs walks the whole bucket for every page.
type Index = Vec<(String, u64, std::time::SystemTime)>;

#[derive(Debug, Default)]
struct Hooks {
    indexes: BTreeMap<String, Arc<Index>>,
    denied_prefixes: Vec<(String, String)>,
    locked_buckets: Vec<String>,
    retention: BTreeMap<(String, String), Retention>,
    /// Retention asked for by multipart uploads in progress, by upload id.
    pending_retention: BTreeMap<String, ((String, String), Retention)>,
    /// Multipart uploads aborted, by key.
    aborted_uploads: Vec<String>,
    /// Buckets whose UploadPart answers 500 (a failing store).
    failing_parts: Vec<String>,
}

struct TestS3 {
    fs: s3s_fs::FileSystem,
    hooks: Arc<Mutex<Hooks>>,
}

impl TestS3 {
    fn denied(&self, bucket: &str, key: &str) -> bool {
        let hooks = self.hooks.lock().expect("hooks lock");
        hooks
            .denied_prefixes
            .iter()
            .any(|(b, p)| b == bucket && key.starts_with(p.as_str()))
    }
}

#[async_trait::async_trait]
impl S3 for TestS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let prefix = req.input.prefix.clone().unwrap_or_default();
        if self.denied(&req.input.bucket, &prefix) {
            return Err(s3_error!(AccessDenied, "test policy denies this prefix"));
        }
        let index = self
            .hooks
            .lock()
            .expect("hooks lock")
            .indexes
            .get(&req.input.bucket)
            .cloned();
        match index {
            Some(index) if req.input.delimiter.is_none() => {
                Ok(S3Response::new(list_from_index(&index, req.input)))
            }
            _ => self.fs.list_objects_v2(req).await,
        }
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        if self.denied(&req.input.bucket, &req.input.key) {
            return Err(s3_error!(AccessDenied, "test policy denies this key"));
        }
        let if_match = req.input.if_match.clone();
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let out = self.fs.get_object(req).await?;
        // s3s-fs ignores If-Match on GET; answer as S3 does.
        if let (Some(ETagCondition::ETag(want)), Some(have)) = (&if_match, &out.output.e_tag)
            && want.value() != have.value()
        {
            let _ = (bucket, key);
            return Err(s3_error!(PreconditionFailed));
        }
        Ok(out)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let id = (req.input.bucket.clone(), req.input.key.clone());
        let mut out = self.fs.head_object(req).await?;
        if let Some(r) = self.hooks.lock().expect("hooks lock").retention.get(&id) {
            out.output.object_lock_mode = Some(ObjectLockMode::from(r.mode.clone()));
        }
        Ok(out)
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let id = (req.input.bucket.clone(), req.input.key.clone());
        let retention = Retention::asked(
            req.input.object_lock_mode.as_ref(),
            req.input.object_lock_retain_until_date.as_ref(),
        );
        let out = self.fs.put_object(req).await?;
        if let Some(r) = retention {
            self.hooks
                .lock()
                .expect("hooks lock")
                .retention
                .insert(id, r);
        }
        Ok(out)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let id = (req.input.bucket.clone(), req.input.key.clone());
        let retention = Retention::asked(
            req.input.object_lock_mode.as_ref(),
            req.input.object_lock_retain_until_date.as_ref(),
        );
        let out = self.fs.create_multipart_upload(req).await?;
        if let (Some(r), Some(upload)) = (retention, &out.output.upload_id) {
            self.hooks
                .lock()
                .expect("hooks lock")
                .pending_retention
                .insert(upload.clone(), (id, r));
        }
        Ok(out)
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let failing = self
            .hooks
            .lock()
            .expect("hooks lock")
            .failing_parts
            .contains(&req.input.bucket);
        if failing {
            return Err(s3_error!(
                InternalError,
                "test fault: the part was not stored"
            ));
        }
        self.fs.upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let upload = req.input.upload_id.clone();
        let out = self.fs.complete_multipart_upload(req).await?;
        let mut hooks = self.hooks.lock().expect("hooks lock");
        if let Some((id, r)) = hooks.pending_retention.remove(&upload) {
            hooks.retention.insert(id, r);
        }
        Ok(out)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let key = req.input.key.clone();
        let out = self.fs.abort_multipart_upload(req).await?;
        self.hooks
            .lock()
            .expect("hooks lock")
            .aborted_uploads
            .push(key);
        Ok(out)
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let locked = self
            .hooks
            .lock()
            .expect("hooks lock")
            .locked_buckets
            .contains(&req.input.bucket);
        if !locked {
            return Err(s3_error!(ObjectLockConfigurationNotFoundError));
        }
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(
                    ObjectLockEnabled::ENABLED,
                )),
                rule: None,
            }),
        }))
    }
}

/// One ListObjectsV2 page from an index: keys after the continuation token (or start-after)
/// that start with the prefix, at most `max-keys` of them.
fn list_from_index(index: &Index, input: ListObjectsV2Input) -> ListObjectsV2Output {
    let prefix = input.prefix.clone().unwrap_or_default();
    let after = match (&input.continuation_token, &input.start_after) {
        (Some(t), Some(s)) => Some(t.max(s).clone()),
        (t, s) => t.clone().or_else(|| s.clone()),
    };
    let start = match &after {
        Some(a) => index.partition_point(|(k, _, _)| k <= a),
        None => index.partition_point(|(k, _, _)| k.as_str() < prefix.as_str()),
    };
    let max = usize::try_from(input.max_keys.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
    let mut contents = Vec::new();
    let mut last = None;
    let mut rest = index[start..]
        .iter()
        .filter(|(k, _, _)| k.starts_with(&prefix))
        .peekable();
    while contents.len() < max {
        let Some((key, size, modified)) = rest.next() else {
            break;
        };
        last = Some(key.clone());
        contents.push(Object {
            key: Some(key.clone()),
            size: i64::try_from(*size).ok(),
            last_modified: Some(Timestamp::from(*modified)),
            ..Default::default()
        });
    }
    let truncated = rest.peek().is_some();
    ListObjectsV2Output {
        key_count: i32::try_from(contents.len()).ok(),
        max_keys: input.max_keys,
        is_truncated: Some(truncated),
        contents: Some(contents),
        continuation_token: input.continuation_token,
        next_continuation_token: if truncated { last } else { None },
        name: Some(input.bucket),
        prefix: input.prefix,
        start_after: input.start_after,
        ..Default::default()
    }
}

/// An AWS configuration with the test credentials and `endpoint` (shared by both test S3s).
pub fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "test",
        )))
        .build()
}

/// A path-style client for seeding and inspecting a test S3 at `endpoint`.
pub fn client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(endpoint))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Environment for a child process (the agent, the auditor) to reach a test S3 through the
/// standard AWS chain, isolated from the machine's own AWS files.
pub fn child_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config".to_owned()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials".to_owned(),
        ),
    ]
}

/// A running server. Dropping it stops the server and removes its files.
pub struct S3Server {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    root: tempfile::TempDir,
    hooks: Arc<Mutex<Hooks>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Start a server with the given buckets.
    pub fn start(buckets: &[&str]) -> Self {
        let root = tempfile::tempdir().expect("a temporary directory");
        for b in buckets {
            std::fs::create_dir_all(root.path().join(b)).expect("create bucket folder");
        }
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs opens its root");
        let hooks = Arc::new(Mutex::new(Hooks::default()));
        let service = {
            let mut b = s3s::service::S3ServiceBuilder::new(TestS3 {
                fs,
                hooks: Arc::clone(&hooks),
            });
            b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let endpoint = format!(
            "http://{}",
            listener.local_addr().expect("the listener has an address")
        );
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the server runtime starts");
            rt.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let http = ConnBuilder::new(TokioExecutor::new());
                loop {
                    let socket = tokio::select! {
                        r = listener.accept() => match r {
                            Ok((s, _)) => {
                                // Small responses would otherwise wait for delayed ACKs.
                                let _ = s.set_nodelay(true);
                                s
                            }
                            Err(_) => continue,
                        },
                        _ = &mut stop_rx => break,
                    };
                    let conn = http
                        .serve_connection(TokioIo::new(socket), service.clone())
                        .into_owned();
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
            });
            rt.shutdown_background();
        });
        Self {
            endpoint,
            root,
            hooks,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// The folder s3s-fs keeps a bucket's objects in (one file per key).
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.path().join(bucket)
    }

    /// The file behind an object, to seed large objects quickly or corrupt one on purpose.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.bucket_dir(bucket).join(key)
    }

    /// The server's root folder.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Make listing or reading keys under `prefix` of `bucket` answer AccessDenied.
    pub fn deny_prefix(&self, bucket: &str, prefix: &str) {
        self.hooks
            .lock()
            .expect("hooks lock")
            .denied_prefixes
            .push((bucket.to_owned(), prefix.to_owned()));
    }

    /// Serve listings of `bucket` from a sorted index of the keys present now (for benchmarks
    /// over many keys; keys written later are not listed).
    pub fn index_listings(&self, bucket: &str) {
        let root = self.bucket_dir(bucket);
        let mut index = Index::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read bucket folder") {
                let entry = entry.expect("dir entry");
                let meta = entry.metadata().expect("metadata");
                if meta.is_dir() {
                    dirs.push(entry.path());
                } else if let Ok(rel) = entry.path().strip_prefix(&root) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    let modified = meta.modified().expect("modification time");
                    index.push((key, meta.len(), modified));
                }
            }
        }
        index.sort();
        self.hooks
            .lock()
            .expect("hooks lock")
            .indexes
            .insert(bucket.to_owned(), Arc::new(index));
    }

    /// Make `bucket` report Object Lock as enabled.
    pub fn enable_object_lock(&self, bucket: &str) {
        self.hooks
            .lock()
            .expect("hooks lock")
            .locked_buckets
            .push(bucket.to_owned());
    }

    /// The retention an upload of `key` asked for, if any.
    /// Make UploadPart fail with 500 in `bucket` (`on`), or work again.
    pub fn fail_upload_parts(&self, bucket: &str, on: bool) {
        let mut hooks = self.hooks.lock().expect("hooks lock");
        hooks.failing_parts.retain(|b| b != bucket);
        if on {
            hooks.failing_parts.push(bucket.to_owned());
        }
    }

    /// Keys whose multipart uploads were aborted, in order.
    pub fn aborted_uploads(&self) -> Vec<String> {
        self.hooks
            .lock()
            .expect("hooks lock")
            .aborted_uploads
            .clone()
    }

    pub fn retention(&self, bucket: &str, key: &str) -> Option<Retention> {
        self.hooks
            .lock()
            .expect("hooks lock")
            .retention
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
    }

    /// An AWS configuration with the server's credentials and endpoint.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config(&self.endpoint)
    }

    /// A client for seeding and inspecting the server.
    pub fn client(&self) -> aws_sdk_s3::Client {
        client(&self.endpoint)
    }

    /// Environment for a child process to reach this server (see [`child_env`]).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        child_env()
    }

    /// Write an object's file directly (bypassing the API; no stored checksum or ETag): the fast
    /// way to seed many or very large objects. `fill` writes the content.
    pub fn seed_file(&self, bucket: &str, key: &str, fill: impl FnOnce(&mut std::fs::File)) {
        let path = self.object_path(bucket, key);
        std::fs::create_dir_all(path.parent().expect("an object has a folder"))
            .expect("create key folders");
        let mut f = std::fs::File::create(&path).expect("create object file");
        fill(&mut f);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
