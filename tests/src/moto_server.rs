//! moto's S3 server, a second and independent S3 implementation for the tests: run as a child
//! process (`moto_server` from the test virtual environment) on a free loopback port. It follows
//! rules of AWS that s3s-fs does not check — an upload carrying Object Lock retention must send
//! `Content-MD5` or `x-amz-sdk-checksum-algorithm`, retention is stored and enforced, conditional
//! writes answer 412 — so the archive's S3 code is proven on both. Stopped on Drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::s3_server;

/// A running moto server.
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    child: Child,
}

impl MotoServer {
    /// Start a server with `buckets`; those in `locked` are created with Object Lock enabled.
    pub fn start(buckets: &[&str], locked: &[&str]) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
            l.local_addr().expect("an address").port()
        };
        let child = Command::new(crate::venv_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let mut server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let client = server.client();
        let buckets: Vec<(String, bool)> = buckets
            .iter()
            .map(|b| ((*b).to_owned(), locked.contains(b)))
            .collect();
        blocking(async move {
            for (bucket, lock) in buckets {
                client
                    .create_bucket()
                    .bucket(&bucket)
                    .object_lock_enabled_for_bucket(lock)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
            }
        });
        server
    }

    /// Store `bytes` under `key` (to seed a source bucket).
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let (client, bucket, key, bytes) = (
            self.client(),
            bucket.to_owned(),
            key.to_owned(),
            bytes.to_vec(),
        );
        blocking(async move {
            client
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(bytes.into())
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
        });
    }

    /// The keys under `prefix` of `bucket`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (client, bucket, prefix) = (self.client(), bucket.to_owned(), prefix.to_owned());
        blocking(async move {
            let mut keys = Vec::new();
            let mut pages = client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.unwrap_or_else(|e| panic!("list {bucket}: {e:?}"));
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned)),
                );
            }
            keys.sort();
            keys
        })
    }

    /// The SDK configuration that reaches this server.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        s3_server::sdk_config(&self.endpoint)
    }

    /// A client for seeding and inspecting the server.
    pub fn client(&self) -> aws_sdk_s3::Client {
        s3_server::client(&self.endpoint)
    }

    /// Environment for a child process to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        s3_server::child_env()
    }
}

/// Run `f` to completion on a runtime of its own thread: callable from sync and async tests alike.
fn blocking<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f)
    })
    .join()
    .expect("the S3 call finished")
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
