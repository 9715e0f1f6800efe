//! Harness for the end-to-end tests: finds the built `evidence-agent` and `evidence-auditor`
//! binaries, the Python tools the test command installs (bagit-python), and runs commands the
//! way a user types them. `tsa` runs a local RFC 3161 time-stamp authority.

pub mod background;
pub mod browser;
pub mod fault_proxy;
pub mod inventory;
pub mod mock_jira;
pub mod rng;
pub mod tamper;
pub mod tmpfs;
pub mod tsa;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod mlflow_server;
pub mod moto_server;
pub mod s3_server;

/// A zip archive of `(name, body)` entries, as a CI artifact or a workflow's log download is.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("a zip entry starts in memory");
        zip.write_all(body)
            .expect("a zip entry is written in memory");
    }
    zip.finish().expect("a zip in memory finishes").into_inner()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits one level below the repository root")
        .to_owned()
}

/// Path of a workspace binary built next to this test (`cargo build --bins` builds them; the
/// README's test command does this first).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// A command for a workspace binary, with a clean environment for our variables.
pub fn cmd(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    c.env_remove("SOURCE_DATE_EPOCH")
        .env_remove("EVIDENCE_AGENT_CRASH_AT")
        .env_remove("EVIDENCE_AGENT_STALL_AT")
        .env_remove("EVIDENCE_AGENT_CONFIG")
        .env("NO_COLOR", "1");
    c
}

/// Run and capture, never panicking on a non-zero exit.
pub fn run(c: &mut Command) -> Output {
    c.output().expect("the command starts")
}

/// Stdout and stderr of an output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The Python virtual environment the test command prepares (`EVIDENCE_TEST_VENV`, default
/// `<repo>/.venv`).
pub fn venv() -> PathBuf {
    std::env::var_os("EVIDENCE_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"))
}

/// A tool installed in the test virtual environment, e.g. `bagit.py`.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = venv().join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing; the README's test command (scripts/test) installs it",
        path.display()
    );
    path
}

/// A scratch directory holding a copy of the example workspace and a config for it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A copy of `examples/workspace` and `examples/agent.toml` in a fresh directory.
    pub fn with_example() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        copy_dir(
            &repo_root().join("examples/workspace"),
            &dir.path().join("workspace"),
        );
        std::fs::copy(
            repo_root().join("examples/agent.toml"),
            dir.path().join("agent.toml"),
        )
        .expect("copy the example config");
        Self { dir }
    }

    /// An empty sandbox.
    pub fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("agent.toml")
    }

    pub fn archive(&self) -> PathBuf {
        self.path().join("evidence")
    }

    /// Write a file relative to the sandbox, creating folders.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("a relative path has a parent"))
            .expect("create folders");
        std::fs::write(&p, contents).expect("write file");
        p
    }

    /// `evidence-agent collect --config agent.toml --json`, with `SOURCE_DATE_EPOCH` when given.
    pub fn collect(&self, epoch: Option<u64>) -> Output {
        let mut c = cmd("evidence-agent");
        c.args(["collect", "--json", "--config"]).arg(self.config());
        if let Some(e) = epoch {
            c.env("SOURCE_DATE_EPOCH", e.to_string());
        }
        run(&mut c)
    }

    /// `evidence-auditor verify <archive> --json`.
    pub fn verify(&self) -> Output {
        run(cmd("evidence-auditor")
            .args(["verify", "--json"])
            .arg(self.archive()))
    }
}

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create target");
    for entry in std::fs::read_dir(from).expect("read source dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Parse stdout as one JSON object.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", text(o)))
}
