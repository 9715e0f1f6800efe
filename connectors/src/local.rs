//! The local-folder connector: walks a directory, tags files by the first matching rule, and
//! stages new or changed files. Unchanged files (same size and modification time, or same
//! content) are not sealed again; files no rule matches are reported in the population record.

use crate::config_error::ConfigError;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use evidence_model::{GapCategory, GapRecord, ItemId, PopulationRecord, Sha256Digest, SourceName};
use globset::GlobMatcher;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::connector::{
    CollectContext, Connector, ConnectorError, Cursor, CursorState, Health, VersionedCursor,
};
use crate::read_ahead::ReadAheadFile;
use crate::rules::{RuleConfig, RuleSet, compile_globs};
use crate::sink::{ItemDraft, ItemSink, end_scope};
use crate::{front_matter, media_type};

/// How many unmatched or skipped paths a population record lists by name.
const MAX_LISTED_PATHS: usize = 1000;

/// `[[source]] type = "local"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// The folder to collect, relative to the config file's directory unless absolute.
    pub path: PathBuf,
    /// Rules, first match wins.
    #[serde(rename = "rule", default)]
    pub rules: Vec<RuleConfig>,
    /// Globs of paths to leave out silently (e.g. `drafts/**`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Also walk files and folders whose names start with `.` (default: no).
    #[serde(default)]
    pub include_hidden: bool,
}

/// How a local source's rules cover its folder, in rule order (first match wins).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleCoverage {
    /// Each rule's glob and how many files it takes; a rule shadowed by earlier ones takes none.
    pub rules: Vec<(String, u64)>,
    /// Files no rule matches (neither excluded nor hidden), relative to the folder.
    pub unmatched: Vec<String>,
    /// Paths skipped, with the reason.
    pub skipped: Vec<String>,
}

/// A configured local folder.
#[derive(Debug, Clone)]
pub struct LocalConnector {
    name: SourceName,
    root: PathBuf,
    /// The path as configured, recorded in provenance (never the absolute path of this machine).
    display_root: String,
    rules: RuleSet,
    exclude: Vec<GlobMatcher>,
    include_hidden: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LocalCursor {
    files: BTreeMap<String, FileState>,
}

/// Layout 1; cursors stored before versioning have the same layout.
impl CursorState for LocalCursor {
    const VERSION: u32 = 1;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileState {
    sha256: Sha256Digest,
    size: u64,
    mtime_ns: i128,
    item: ItemId,
}

struct Walk {
    matched: Vec<(String, PathBuf, usize)>,
    unmatched: Vec<String>,
    skipped: Vec<String>,
    /// Files among `skipped` that could not be collected because their names are not UTF-8.
    not_utf8: u64,
    failures: Vec<(String, std::io::Error)>,
    dirs: u64,
}

impl LocalConnector {
    /// Look at the next files of `matched` (at most [`LOOK_AHEAD`]) in one blocking call.
    async fn look_ahead(
        &self,
        matched: &[(String, PathBuf, usize)],
        state: &LocalCursor,
    ) -> Result<VecDeque<Looked>, ConnectorError> {
        let batch: Vec<(PathBuf, Option<(u64, i128)>)> = matched
            .iter()
            .take(LOOK_AHEAD)
            .map(|(rel, path, _)| {
                let known = state.files.get(rel).map(|f| (f.size, f.mtime_ns));
                (path.clone(), known)
            })
            .collect();
        tokio::task::spawn_blocking(move || batch.iter().map(|(p, k)| look(p, *k)).collect())
            .await
            .map_err(|e| ConnectorError::Io {
                resource: format!("folder {}", self.display_root),
                source: std::io::Error::other(e),
            })
    }

    /// Check the config; `base` is the directory relative paths are resolved against.
    pub fn new(name: SourceName, config: &LocalConfig, base: &Path) -> Result<Self, ConfigError> {
        let at = format!("source {:?}", name.as_str());
        let rules = RuleSet::from_configs(&config.rules, &at)?;
        let exclude = compile_globs(&config.exclude, &at, "exclude")?;
        let root = if config.path.is_absolute() {
            config.path.clone()
        } else {
            base.join(&config.path)
        };
        Ok(Self {
            name,
            root,
            display_root: config.path.display().to_string(),
            rules,
            exclude,
            include_hidden: config.include_hidden,
        })
    }

    fn walk(&self) -> Walk {
        let mut walk = Walk {
            matched: Vec::new(),
            unmatched: Vec::new(),
            skipped: Vec::new(),
            not_utf8: 0,
            failures: Vec::new(),
            dirs: 0,
        };
        let include_hidden = self.include_hidden;
        let entries = walkdir::WalkDir::new(&self.root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || include_hidden
                    || !e.file_name().to_string_lossy().starts_with('.')
            });
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let at = e
                        .path()
                        .and_then(|p| p.strip_prefix(&self.root).ok())
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| ".".into());
                    let io = e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("filesystem loop"));
                    walk.failures.push((at, io));
                    continue;
                }
            };
            let Ok(rel) = entry.path().strip_prefix(&self.root) else {
                continue;
            };
            let Some(rel) = rel_string(rel) else {
                walk.skipped
                    .push(format!("{} (name is not UTF-8)", rel.display()));
                if !entry.file_type().is_dir() {
                    walk.not_utf8 += 1;
                }
                continue;
            };
            if entry.file_type().is_dir() {
                walk.dirs += 1;
                continue;
            }
            if self.exclude.iter().any(|g| g.is_match(&rel)) {
                continue;
            }
            if !entry.file_type().is_file() {
                walk.skipped.push(format!("{rel} (not a regular file)"));
                continue;
            }
            match self.rules.rules().iter().position(|r| r.matches(&rel)) {
                Some(i) => walk.matched.push((rel, entry.into_path(), i)),
                None => walk.unmatched.push(rel),
            }
        }
        walk
    }

    /// How the rules cover the folder now (a walk, reading no file), for
    /// `evidence-agent check`: what each rule takes and which files no rule matches.
    pub fn rule_coverage(&self) -> RuleCoverage {
        let walk = self.walk();
        let mut rules: Vec<(String, u64)> = self
            .rules
            .rules()
            .iter()
            .map(|r| (r.glob.clone(), 0))
            .collect();
        for (_, _, i) in &walk.matched {
            if let Some((_, n)) = rules.get_mut(*i) {
                *n += 1;
            }
        }
        RuleCoverage {
            rules,
            unmatched: walk.unmatched,
            skipped: walk.skipped,
        }
    }

    fn gap(
        &self,
        scope: &str,
        category: GapCategory,
        message: String,
        sink: &dyn ItemSink,
    ) -> GapRecord {
        GapRecord::new(
            "local",
            self.name.clone(),
            scope,
            category,
            message,
            sink.collected_at(),
        )
    }
}

fn rel_string(rel: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    parts.map(|p| p.join("/"))
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

fn io_category(e: &std::io::Error) -> GapCategory {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => GapCategory::Denied,
        std::io::ErrorKind::NotFound => GapCategory::NotFound,
        _ => GapCategory::Io,
    }
}

fn listed(paths: &[String]) -> serde_json::Value {
    serde_json::Value::from(
        paths
            .iter()
            .take(MAX_LISTED_PATHS)
            .cloned()
            .collect::<Vec<_>>(),
    )
}

#[async_trait]
impl Connector for LocalConnector {
    fn connector_type(&self) -> &'static str {
        "local"
    }

    fn name(&self) -> &SourceName {
        &self.name
    }

    async fn healthcheck(&self) -> Result<Health, ConnectorError> {
        let meta = tokio::fs::metadata(&self.root)
            .await
            .map_err(|e| ConnectorError::Io {
                resource: format!("folder {}", self.root.display()),
                source: e,
            })?;
        if !meta.is_dir() {
            return Err(ConnectorError::NotFound {
                resource: format!("folder {} (it is not a directory)", self.root.display()),
            });
        }
        Ok(Health {
            detail: format!("folder {} is readable", self.root.display()),
        })
    }

    async fn collect(
        &self,
        cursor: &mut Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError> {
        let mut state: LocalCursor = VersionedCursor::load(cursor)?;
        // As configured: this message goes into the bundle's gap record, which never holds an
        // absolute path of the agent's machine.
        let resource = format!("folder {}", self.display_root);
        match tokio::fs::metadata(&self.root).await {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ConnectorError::NotFound {
                    resource: format!("{resource} (not a directory)"),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConnectorError::NotFound { resource });
            }
            Err(e) => {
                return Err(ConnectorError::Io {
                    resource,
                    source: e,
                });
            }
        }

        ctx.progress
            .status(&format!("walking {}", self.display_root));
        let walk = {
            let this = self.clone();
            tokio::task::spawn_blocking(move || this.walk())
                .await
                .map_err(|e| ConnectorError::Io {
                    resource: resource.clone(),
                    source: std::io::Error::other(e),
                })?
        };
        let rules_text: Vec<String> = self
            .rules
            .rules()
            .iter()
            .map(|r| format!("{} => {}", r.glob, r.kind))
            .collect();
        let mut population = PopulationRecord::new(
            "local",
            self.name.clone(),
            ".",
            &format!(
                "walk {} (first matching rule wins: {})",
                self.display_root,
                rules_text.join("; ")
            ),
        );
        population.pages_walked = walk.dirs;
        population.items_seen = walk.matched.len() as u64;

        for (scope, err) in &walk.failures {
            let g = self.gap(
                scope,
                io_category(err),
                format!("cannot read {scope}: {err}"),
                &*sink,
            );
            sink.gap(g).await?;
            population.complete = false;
        }

        let bytes_total: u64 = walk
            .matched
            .iter()
            .filter_map(|(_, p, _)| std::fs::metadata(p).ok().map(|m| m.len()))
            .sum();
        ctx.progress
            .set_items_total(Some(walk.matched.len() as u64));
        ctx.progress.set_bytes_total(Some(bytes_total));

        let mut seen = BTreeSet::new();
        let mut interrupted = false;
        let mut looked: VecDeque<Looked> = VecDeque::new();
        for (n, (rel, path, rule_index)) in walk.matched.iter().enumerate() {
            if ctx.shutdown.is_cancelled() {
                interrupted = true;
                break;
            }
            if looked.is_empty() {
                looked = self.look_ahead(&walk.matched[n..], &state).await?;
            }
            let Some(Looked { meta, bytes }) = looked.pop_front() else {
                break;
            };
            seen.insert(rel.clone());
            let rule = &self.rules.rules()[*rule_index];
            let meta = match meta {
                Ok(m) => m,
                Err(e) => {
                    let g = self.gap(
                        rel,
                        io_category(&e),
                        format!("cannot read {rel}: {e}"),
                        &*sink,
                    );
                    sink.gap(g).await?;
                    population.complete = false;
                    continue;
                }
            };
            let mtime = mtime_ns(&meta);
            if let Some(prev) = state.files.get(rel)
                && prev.size == meta.len()
                && prev.mtime_ns == mtime
            {
                population.items_unchanged += 1;
                ctx.progress.add_items(1);
                ctx.progress.add_bytes(meta.len());
                continue;
            }
            ctx.progress.status(rel);
            let file_name = rel.rsplit('/').next().unwrap_or(rel).to_owned();
            let media = media_type::for_file_name(&file_name);
            let mut draft =
                ItemDraft::builder(&rule.tagging(), rel.clone(), file_name, media.clone())
                    .source_time(
                        meta.modified()
                            .ok()
                            .and_then(|t| evidence_model::Timestamp::try_from(t).ok()),
                    )
                    .endpoint(self.display_root.clone())
                    .query(format!("rule {}", rule.glob))
                    .attributes(BTreeMap::from([
                        ("path".to_owned(), rel.clone().into()),
                        ("rule".to_owned(), rule.glob.clone().into()),
                    ]))
                    .build();
            let whole = match bytes {
                None => None,
                Some(Ok(bytes)) => Some(bytes),
                Some(Err(e)) => {
                    let g = self.gap(
                        rel,
                        io_category(&e),
                        format!("cannot read {rel}: {e}"),
                        &*sink,
                    );
                    sink.gap(g).await?;
                    population.complete = false;
                    continue;
                }
            };
            if media == "text/markdown" {
                match &whole {
                    Some(bytes) => apply_front_matter_of(bytes, &mut draft),
                    None => apply_front_matter(path, &mut draft).await,
                }
            }
            let put = match whole {
                Some(bytes) => sink.put(draft, &mut bytes.as_slice()).await,
                None => match tokio::fs::File::open(path).await {
                    Ok(file) => {
                        let mut file = ReadAheadFile::new(file.into_std().await);
                        sink.put(draft, &mut file).await
                    }
                    Err(e) => {
                        let g = self.gap(
                            rel,
                            io_category(&e),
                            format!("cannot open {rel}: {e}"),
                            &*sink,
                        );
                        sink.gap(g).await?;
                        population.complete = false;
                        continue;
                    }
                },
            };
            let staged = match put {
                Ok(s) => s,
                Err(e) if e.is_item_level() => {
                    let g = self.gap(rel, GapCategory::Io, e.to_string(), &*sink);
                    sink.gap(g).await?;
                    population.complete = false;
                    continue;
                }
                Err(e) => {
                    VersionedCursor::store(cursor, &state)?;
                    return Err(e.into());
                }
            };
            ctx.progress.add_items(1);
            ctx.progress.add_bytes(staged.size);
            let unchanged = state
                .files
                .get(rel)
                .is_some_and(|p| p.sha256 == staged.sha256);
            if unchanged {
                sink.discard(&staged.id).await?;
                population.items_unchanged += 1;
                if let Some(prev) = state.files.get_mut(rel) {
                    prev.mtime_ns = mtime;
                }
            } else {
                population.items_sealed += 1;
                state.files.insert(
                    rel.clone(),
                    FileState {
                        sha256: staged.sha256,
                        size: staged.size,
                        mtime_ns: mtime,
                        item: staged.id,
                    },
                );
            }
        }

        let mut removed = Vec::new();
        if !interrupted {
            let excluded = |p: &str| self.exclude.iter().any(|g| g.is_match(p));
            removed = state
                .files
                .keys()
                .filter(|k| !seen.contains(*k) && !excluded(k))
                .cloned()
                .collect();
            for k in &removed {
                state.files.remove(k);
            }
        }
        if !walk.unmatched.is_empty() {
            population.notes.push(format!(
                "{} file(s) matched no rule and were not collected",
                walk.unmatched.len()
            ));
            population
                .attributes
                .insert("unmatched".into(), listed(&walk.unmatched));
        }
        if !walk.skipped.is_empty() {
            population
                .notes
                .push(format!("{} path(s) skipped", walk.skipped.len()));
            population
                .attributes
                .insert("skipped".into(), listed(&walk.skipped));
            population
                .attributes
                .insert("skipped_count".into(), walk.skipped.len().into());
        }
        if walk.not_utf8 > 0 {
            // Files that exist but cannot be named in the archive: the walk did not see the
            // whole population.
            population.complete = false;
            population.notes.push(format!(
                "{} file(s) were not collected because their names are not UTF-8; rename them",
                walk.not_utf8
            ));
        }
        if !removed.is_empty() {
            population.notes.push(format!(
                "{} file(s) sealed earlier are no longer present",
                removed.len()
            ));
            population
                .attributes
                .insert("removed".into(), listed(&removed));
        }
        population
            .attributes
            .insert("unmatched_count".into(), walk.unmatched.len().into());
        if interrupted {
            population.complete = false;
            population
                .notes
                .push("the run was interrupted before the walk finished".into());
        }
        VersionedCursor::store(cursor, &state)?;
        let stop = interrupted.then(|| ConnectorError::Interrupted {
            resource: format!("folder {}", self.display_root),
        });
        end_scope(sink, None, population, stop).await
    }
}

/// Files up to this size are read whole, many in one blocking call: tens of thousands of
/// small files are common, and a blocking call per file operation would cost more than the
/// reading.
const SMALL_FILE: u64 = 64 * 1024;
/// Files looked at (metadata, and the content of small ones) per blocking call.
const LOOK_AHEAD: usize = 256;

/// What one look at a file found: its metadata and, when it is small and not known to be
/// unchanged, its content.
struct Looked {
    meta: std::io::Result<std::fs::Metadata>,
    bytes: Option<std::io::Result<Vec<u8>>>,
}

/// Look at `path`, whose size and modification time were `known` at the last run.
fn look(path: &Path, known: Option<(u64, i128)>) -> Looked {
    let meta = std::fs::metadata(path);
    let bytes = match &meta {
        Ok(m) if m.len() <= SMALL_FILE && known != Some((m.len(), mtime_ns(m))) => {
            Some(std::fs::read(path))
        }
        _ => None,
    };
    Looked { meta, bytes }
}

/// The most of a Markdown file's head read for its front matter.
const FRONT_MATTER_HEAD: usize = front_matter::MAX_FRONT_MATTER_BYTES + 16;

/// Read the head of a Markdown file and take title, people and period from its front matter.
async fn apply_front_matter(path: &Path, draft: &mut ItemDraft) {
    let Ok(file) = tokio::fs::File::open(path).await else {
        return;
    };
    let mut head = Vec::with_capacity(4096);
    if file
        .take(FRONT_MATTER_HEAD as u64)
        .read_to_end(&mut head)
        .await
        .is_err()
    {
        return;
    }
    apply_front_matter_of(&head, draft);
}

/// Take title, people and period from the front matter at the start of `head`.
fn apply_front_matter_of(head: &[u8], draft: &mut ItemDraft) {
    let head = &head[..head.len().min(FRONT_MATTER_HEAD)];
    let text = String::from_utf8_lossy(head);
    match front_matter::parse(&text) {
        Ok(Some(fm)) => {
            if let Some(title) = fm.title {
                draft.title = title;
            }
            draft.actors = fm.actors;
            draft.period = fm.period;
            draft
                .attributes
                .insert("front_matter".into(), serde_json::Value::Object(fm.fields));
        }
        Ok(None) => {}
        Err(reason) => {
            draft
                .attributes
                .insert("front_matter_error".into(), reason.into());
        }
    }
}
