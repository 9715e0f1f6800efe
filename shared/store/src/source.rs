//! An S3 location as archive sources for the verifier: one [`RemoteOrigin`] per origin folder,
//! implementing the archive crate's `BundleSource`. Listing is the location's listing, already
//! taken; fetching downloads one bundle and its sidecars into a private folder (checked against
//! the digest in the key, in bounded memory) and releasing deletes them, so one bundle is on
//! disk at a time. The verifier itself knows nothing of S3.

use std::path::{Path, PathBuf};

use evidence_archive::layout;
use evidence_archive::verify::{
    BundleSource, Category, Problem, SourceBundle, SourceError, SourceListing,
};
use tokio::runtime::Handle;

use crate::remote::{RemoteArchive, RemoteBundle, RemoteListing};

/// The bundles of one origin under an S3 location.
pub struct RemoteOrigin<'a> {
    archive: &'a RemoteArchive,
    runtime: Handle,
    /// `s3://bucket/prefix/<slug>/`.
    folder: String,
    slug: String,
    /// The origin the folder is named for, when the slug decodes.
    origin: Option<String>,
    /// The first bundle stored for each run, in run order.
    bundles: Vec<&'a RemoteBundle>,
    /// Runs stored more than once: one error per run, naming every key.
    problems: Vec<Problem>,
    scratch: PathBuf,
    fetched: Vec<PathBuf>,
}

impl std::fmt::Debug for RemoteOrigin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOrigin")
            .field("folder", &self.folder)
            .field("bundles", &self.bundles.len())
            .finish_non_exhaustive()
    }
}

impl RemoteListing {
    /// Warnings about the keys under the location that are not bundles (never read).
    pub fn foreign_key_problems(&self, label: &str) -> Vec<Problem> {
        self.foreign_keys
            .iter()
            .map(|k| {
                Problem::warning(
                    label,
                    Category::Layout,
                    "not a bundle key (<origin>/run-NNNNNN-<sha256>.zip); ignored",
                )
                .at(k.clone())
            })
            .collect()
    }

    /// One source per origin folder, in folder order. `runtime` runs the downloads (call the
    /// verifier outside it); `scratch` is a private folder the bundles are fetched into.
    pub fn origins<'a>(
        &'a self,
        archive: &'a RemoteArchive,
        runtime: Handle,
        scratch: &Path,
    ) -> Vec<RemoteOrigin<'a>> {
        let label = archive.location().to_string();
        let forks = self.forked_runs();
        let mut out: Vec<RemoteOrigin<'a>> = Vec::new();
        for b in &self.bundles {
            let slug = &b.bundle.origin_slug;
            if out.last().is_none_or(|o| &o.slug != slug) {
                out.push(RemoteOrigin {
                    archive,
                    runtime: runtime.clone(),
                    folder: format!("{}/{slug}/", label.trim_end_matches('/')),
                    slug: slug.clone(),
                    origin: b.bundle.origin(),
                    bundles: Vec::new(),
                    problems: Vec::new(),
                    scratch: scratch.to_owned(),
                    fetched: Vec::new(),
                });
            }
            let Some(o) = out.last_mut() else { continue };
            if o.bundles
                .last()
                .is_some_and(|l| l.bundle.seq == b.bundle.seq)
            {
                // Reported once per run, at its second key, naming every key that claims it.
                if let Some(fork) = forks
                    .iter()
                    .find(|f| &f.origin_slug == slug && f.seq == b.bundle.seq)
                    && fork.keys.get(1) == Some(&b.key)
                {
                    o.problems.push(
                        Problem::error(&o.folder, Category::Chain, fork.to_string())
                            .at(b.key.clone()),
                    );
                }
                continue;
            }
            o.bundles.push(b);
        }
        out
    }
}

impl RemoteOrigin<'_> {
    /// The origin folder's name in the bucket.
    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// The origin the folder is named for, when its name decodes.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Findings about the folder itself: runs stored more than once (a forked log).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    fn remove_fetched(&mut self) {
        for f in self.fetched.drain(..) {
            let _ = std::fs::remove_file(f);
        }
    }
}

impl Drop for RemoteOrigin<'_> {
    fn drop(&mut self) {
        self.remove_fetched();
    }
}

impl BundleSource for RemoteOrigin<'_> {
    fn label(&self) -> String {
        self.folder.clone()
    }

    fn list(&mut self) -> Result<SourceListing, SourceError> {
        Ok(SourceListing {
            bundles: self
                .bundles
                .iter()
                .map(|b| SourceBundle {
                    seq: b.bundle.seq,
                    name: b.key.clone(),
                    size: b.size,
                })
                .collect(),
            problems: self.problems.clone(),
            origin: self.origin.clone(),
        })
    }

    fn fetch(&mut self, bundle: &SourceBundle) -> Result<PathBuf, SourceError> {
        let Some(b) = self.bundles.iter().copied().find(|b| b.key == bundle.name) else {
            return Err(SourceError(format!("{} is not listed", bundle.name)));
        };
        let name = layout::bundle_file_name(b.bundle.seq);
        let file = self.scratch.join(&name);
        self.fetched.push(file.clone());
        let archive = self.archive;
        self.runtime
            .block_on(archive.download(b, &file))
            .map_err(|e| SourceError(e.to_string()))?;
        for (suffix, key) in &b.sidecars {
            let dest = self.scratch.join(format!("{name}.{suffix}"));
            self.fetched.push(dest.clone());
            self.runtime
                .block_on(archive.download_sidecar(key, &dest))
                .map_err(|e| SourceError(e.to_string()))?;
        }
        Ok(file)
    }

    fn release(&mut self, _bundle: &SourceBundle) {
        self.remove_fetched();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{ArchiveLocation, BundleKey};
    use evidence_model::Sha256Digest;

    fn bundle(location: &ArchiveLocation, slug: &str, seq: u64, content: &[u8]) -> RemoteBundle {
        let key = BundleKey {
            origin_slug: slug.to_owned(),
            seq,
            sha256: Sha256Digest::of(content),
        };
        RemoteBundle {
            key: key.to_key(location),
            bundle: key,
            size: content.len() as u64,
            sidecars: Vec::new(),
        }
    }

    #[test]
    fn each_origin_folder_is_a_source_and_a_run_stored_twice_is_reported_once() {
        let location: ArchiveLocation = "s3://bucket/iso42001".parse().unwrap();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let archive = RemoteArchive::with_sdk_config(location.clone(), Default::default(), &sdk);
        let mut listing = RemoteListing {
            bundles: vec![
                bundle(&location, "example.org_2fa", 1, b"a1"),
                bundle(&location, "example.org_2fa", 2, b"a2"),
                bundle(&location, "example.org_2fa", 2, b"a2 forked"),
                bundle(&location, "example.org_2fb", 1, b"b1"),
            ],
            foreign_keys: vec!["iso42001/notes.txt".into()],
        };
        listing.bundles.sort_by(|a, b| a.bundle.cmp(&b.bundle));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let scratch = std::env::temp_dir();
        let mut origins = listing.origins(&archive, runtime.handle().clone(), &scratch);
        assert_eq!(origins.len(), 2);
        assert_eq!(origins[0].origin(), Some("example.org/a"));
        assert_eq!(origins[0].label(), "s3://bucket/iso42001/example.org_2fa/");
        let a = origins[0].list().unwrap();
        assert_eq!(
            a.bundles.iter().map(|b| b.seq).collect::<Vec<_>>(),
            vec![1, 2],
            "one bundle per run"
        );
        assert_eq!(a.origin.as_deref(), Some("example.org/a"));
        assert_eq!(a.problems.len(), 1, "{:?}", a.problems);
        let fork = &a.problems[0];
        assert!(fork.is_error() && fork.category == Category::Chain);
        assert!(fork.message.contains("run 2 is stored more than once"));
        assert!(origins[1].list().unwrap().problems.is_empty());
        let foreign = listing.foreign_key_problems("s3://bucket/iso42001");
        assert_eq!(foreign.len(), 1);
        assert_eq!(foreign[0].entry.as_deref(), Some("iso42001/notes.txt"));
        assert!(!foreign[0].is_error());
    }
}
