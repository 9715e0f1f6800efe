//! A real RFC 3161 time-stamp authority for the tests: `tests/tools/local_tsa.sh` makes a root
//! CA and a TSA certificate with the openssl CLI, and `tests/tools/tsa_http.py` serves
//! `openssl ts -reply` over HTTP on 127.0.0.1, on a free port it reports. Stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::repo_root;

/// A running local TSA.
pub struct LocalTsa {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

/// The TSA's files without a server: a root CA and a TSA certificate (P-256, or RSA).
pub struct TsaFiles {
    pub dir: tempfile::TempDir,
}

impl TsaFiles {
    /// Create a TSA with a P-256 (`"ec"`) or RSA-2048 (`"rsa"`) key.
    pub fn create(key_type: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let o = Command::new("bash")
            .arg(repo_root().join("tests/tools/local_tsa.sh"))
            .arg(dir.path())
            .arg(key_type)
            .output()
            .expect("bash runs");
        assert!(
            o.status.success(),
            "local_tsa.sh failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Self { dir }
    }

    /// The root certificate (PEM), for `--tsa-roots` and `openssl ts -verify -CAfile`.
    pub fn roots(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Stamp `file` the stock way (`openssl ts -query` and `-reply`) and return the response.
    pub fn stamp_with_openssl(&self, file: &Path) -> PathBuf {
        let o = Command::new("bash")
            .arg(repo_root().join("tests/tools/local_tsa.sh"))
            .arg(self.dir.path())
            .arg("stamp")
            .arg(file)
            .output()
            .expect("bash runs");
        assert!(
            o.status.success(),
            "stamping failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut tsr = file.as_os_str().to_owned();
        tsr.push(".tsr");
        PathBuf::from(tsr)
    }
}

impl LocalTsa {
    /// Start a TSA that answers every request.
    pub fn start() -> Self {
        Self::start_failing_first(0)
    }

    /// Start a TSA that answers the first `n` requests with HTTP 503.
    pub fn start_failing_first(n: u32) -> Self {
        let files = TsaFiles::create("ec");
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/tools/tsa_http.py"))
            .arg(files.dir.path())
            .args(["--port", "0", "--fail-first", &n.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the TSA prints its port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the TSA did not start (printed {line:?})")
        });
        Self {
            dir: files.dir,
            child,
            port,
        }
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The root certificate (PEM).
    pub fn roots(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

impl Drop for LocalTsa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A URL on 127.0.0.1 where nothing listens: connections are refused.
pub fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("a local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}
