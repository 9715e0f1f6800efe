//! The local folder under the conformance suite. It has no server: faults are reads that fail
//! (the sink's read of a file's body), and its "credential" is what the folder must not leak:
//! a secret in a hidden `.env` file the walk leaves out (and, checked on its own, the
//! machine's absolute path).

use std::collections::BTreeMap;
use std::path::PathBuf;

use evidence_connectors::Connector;
use evidence_connectors::local::{LocalConfig, LocalConnector};

use super::sink::SinkFaults;
use super::{Fault, Harness, Profile, Stall, Target};

const ENV_SECRET: &str = "sk-local-0123456789abcdefSECRET";

pub(crate) struct LocalHarness {
    dir: tempfile::TempDir,
    files: Vec<String>,
    faults: SinkFaults,
    injected: u64,
}

impl LocalHarness {
    /// The folder's absolute path on this machine.
    pub(crate) fn absolute(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn folder(&self) -> PathBuf {
        self.dir.path().join("evidence")
    }

    fn write(&mut self) -> String {
        let n = self.files.len() + 1;
        let rel = format!("policies/policy-{n}.md");
        let path = self.folder().join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("# AI policy {n}\n\nVersion {n}.\n")).unwrap();
        self.files.push(rel.clone());
        rel
    }
}

impl Harness for LocalHarness {
    const TYPE: &'static str = "local";
    const SOURCE: &'static str = "docs";
    /// The local folder does not retry a read within a run.
    const ATTEMPTS: u32 = 1;

    async fn start() -> Self {
        let mut h = Self {
            dir: tempfile::tempdir().unwrap(),
            files: Vec::new(),
            faults: SinkFaults::default(),
            injected: 0,
        };
        std::fs::create_dir_all(h.folder()).unwrap();
        std::fs::write(
            h.folder().join(".env"),
            format!("OPENAI_API_KEY={ENV_SECRET}\n"),
        )
        .unwrap();
        for _ in 0..3 {
            h.write();
        }
        h
    }

    fn connector(&self, _: Profile) -> Box<dyn Connector> {
        let config: LocalConfig = toml::from_str(
            "path = \"evidence\"\n[[rule]]\nglob = \"policies/*.md\"\nkind = \"ai_policy\"\n",
        )
        .unwrap();
        Box::new(
            LocalConnector::new(Self::SOURCE.parse().unwrap(), &config, self.dir.path()).unwrap(),
        )
    }

    async fn add_item(&mut self) -> String {
        self.write()
    }

    fn expected(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|f| (f.clone(), "ai_policy".to_owned()))
            .collect()
    }

    /// Every fault is a read failure of a file: the closest equivalent of a 5xx, a 429 or a
    /// timeout for a folder. A failing listing is a folder that is not there.
    async fn fail(&mut self, _: Fault, target: Target, times: u32) {
        match target {
            Target::Item(key) => self.faults.fail(&key, times),
            Target::AnyItem => {
                for f in &self.files {
                    self.faults.fail(f, times);
                }
            }
            Target::Listing => {
                let from = self.folder();
                std::fs::rename(from, self.dir.path().join("moved-away")).unwrap();
            }
        }
        self.injected += u64::from(times.min(1));
    }

    async fn stall(&mut self, _: Stall) {
        unreachable!("a folder cannot stall; the local suite checks cancellation mid-walk")
    }

    async fn clear(&mut self) {
        self.faults.clear();
        let moved = self.dir.path().join("moved-away");
        if moved.exists() {
            std::fs::rename(moved, self.folder()).unwrap();
        }
    }

    async fn faults_served(&self) -> u64 {
        self.injected
    }

    fn secrets(&self) -> Vec<String> {
        vec![ENV_SECRET.to_owned()]
    }

    async fn credentials_were_sent(&self) -> bool {
        // Nothing to send; the secret file sits in the walked folder.
        self.folder().join(".env").exists()
    }

    fn sink_faults(&self) -> Option<&SinkFaults> {
        Some(&self.faults)
    }
}
