//! Populations: what an auditor samples from. A definition filters the ingested items by kind,
//! control, clause, source, actor, origin and period (on the source time) and may split them into
//! strata. Freezing fixes the members as a canonical manifest and its digest, before any seed
//! exists. Pure: the database hands the candidate members in.
//!
//! The canonical manifest is one line per member, sorted by item id and then origin (comparing
//! UTF-8 bytes), each line the canonical JSON object
//! `{"item_id":…,"origin":…,"sha256":…}` (plus `"stratum":…` when the population is stratified)
//! followed by `\n`. The population digest is the SHA-256 of these lines, so
//! `sha256sum manifest.jsonl` reproduces it; positions are 1-based line numbers.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

use std::rc::Rc;

use evidence_model::{Sha256Digest, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Separates actor entries in the stored actor key.
pub const ACTOR_SEP: char = '\u{1f}';
/// Separates an actor's role from their name in the stored actor key.
pub const ROLE_SEP: char = '\u{1e}';

/// What a stratum key is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Kind,
    Control,
    Clause,
    Source,
    Actor,
    Origin,
    /// Calendar quarter of the source time (UTC), e.g. `2026-Q3`.
    Quarter,
    /// Calendar month of the source time (UTC), e.g. `2026-09`.
    Month,
}

impl Dimension {
    /// Every dimension, with its command-line name.
    pub const ALL: [(&'static str, Dimension); 8] = [
        ("kind", Dimension::Kind),
        ("control", Dimension::Control),
        ("clause", Dimension::Clause),
        ("source", Dimension::Source),
        ("actor", Dimension::Actor),
        ("origin", Dimension::Origin),
        ("quarter", Dimension::Quarter),
        ("month", Dimension::Month),
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, d)| *d == self)
            .map_or("?", |(n, _)| n)
    }
}

/// Why a part of a population definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefinitionError {
    #[error("unknown stratification {given:?}; expected one of {expected}")]
    UnknownDimension { given: String, expected: String },
    #[error("invalid actor {0:?}: expected NAME or ROLE:NAME")]
    BadActor(String),
}

impl std::str::FromStr for Dimension {
    type Err = DefinitionError;
    fn from_str(s: &str) -> Result<Self, DefinitionError> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, d)| *d)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                DefinitionError::UnknownDimension {
                    given: s.to_owned(),
                    expected: names.join(", "),
                }
            })
    }
}

/// An actor filter: a name in any role, or a name in one role (`role:name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub name: String,
}

impl ActorFilter {
    /// `name` or `role:name`.
    pub fn parse(text: &str) -> Result<Self, DefinitionError> {
        let (role, name) = match text.split_once(':') {
            Some((r, n)) if !r.is_empty() && !r.contains(' ') => (Some(r.to_owned()), n),
            _ => (None, text),
        };
        if name.is_empty() || name.contains([ACTOR_SEP, ROLE_SEP]) {
            return Err(DefinitionError::BadActor(text.to_owned()));
        }
        Ok(Self {
            role,
            name: name.to_owned(),
        })
    }

    /// The substring that the stored actor key contains exactly when the filter matches.
    pub fn needle(&self) -> String {
        match &self.role {
            Some(r) => format!("{ACTOR_SEP}{r}{ROLE_SEP}{}{ACTOR_SEP}", self.name),
            None => format!("{ROLE_SEP}{}{ACTOR_SEP}", self.name),
        }
    }
}

impl fmt::Display for ActorFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.role {
            Some(r) => write!(f, "{r}:{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A population definition. Values of one filter are alternatives (any of them); different
/// filters must all hold. An empty filter does not restrict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actors: Vec<ActorFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
    /// Source time at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// Source time strictly before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratify_by: Option<Dimension>,
}

impl Definition {
    /// True when a period bound is set (items without a source time are then left out).
    pub fn has_period(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// One line a person reads: "items of kind …, evidencing …, source time in [..)".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let list = |v: &[String]| v.join(" or ");
        if !self.kinds.is_empty() {
            parts.push(format!("of kind {}", list(&self.kinds)));
        }
        if !self.controls.is_empty() {
            parts.push(format!("evidencing control {}", list(&self.controls)));
        }
        if !self.clauses.is_empty() {
            parts.push(format!("evidencing clause {}", list(&self.clauses)));
        }
        if !self.sources.is_empty() {
            parts.push(format!("from source {}", list(&self.sources)));
        }
        if !self.actors.is_empty() {
            let a: Vec<String> = self.actors.iter().map(ToString::to_string).collect();
            parts.push(format!("with actor {}", a.join(" or ")));
        }
        if !self.origins.is_empty() {
            parts.push(format!("of origin {}", list(&self.origins)));
        }
        match (&self.from, &self.to) {
            (Some(f), Some(t)) => parts.push(format!("source time in [{f}, {t})")),
            (Some(f), None) => parts.push(format!("source time at or after {f}")),
            (None, Some(t)) => parts.push(format!("source time before {t}")),
            (None, None) => {}
        }
        let mut text = if parts.is_empty() {
            "all ingested items".to_owned()
        } else {
            format!("items {}", parts.join(", "))
        };
        if let Some(d) = self.stratify_by {
            text.push_str(&format!("; stratified by {}", d.name()));
        }
        text
    }
}

/// The facts of an item a stratum key is computed from, as stored.
#[derive(Debug, Clone, Copy)]
pub struct StratumFacts<'a> {
    pub kind: &'a str,
    /// Space-separated, sorted.
    pub controls: &'a str,
    /// Space-separated, sorted.
    pub clauses: &'a str,
    pub source: &'a str,
    /// The stored actor key (see [`actor_key`]).
    pub actors: &'a str,
    pub origin: &'a str,
    /// Source time in seconds since the epoch.
    pub source_time: Option<i64>,
}

/// The stored actor key: each `role ROLE_SEP name` followed by `ACTOR_SEP`, after a leading
/// `ACTOR_SEP`, sorted and deduplicated, so that a filter is a substring test.
pub fn actor_key<'a>(actors: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let clean = |s: &str| s.replace([ACTOR_SEP, ROLE_SEP], " ");
    let mut entries: Vec<String> = actors
        .map(|(role, name)| format!("{}{ROLE_SEP}{}", clean(role), clean(name)))
        .collect();
    entries.sort();
    entries.dedup();
    let mut key = String::from(ACTOR_SEP);
    for e in entries {
        key.push_str(&e);
        key.push(ACTOR_SEP);
    }
    key
}

/// The stratum an item falls in. Multi-valued facts (controls, clauses, actors) join their
/// values with `+`, so that strata partition the population.
pub fn stratum_key(dimension: Dimension, f: &StratumFacts<'_>) -> String {
    let joined = |s: &str| {
        let v: Vec<&str> = s.split_whitespace().collect();
        if v.is_empty() {
            "(none)".to_owned()
        } else {
            v.join("+")
        }
    };
    match dimension {
        Dimension::Kind => f.kind.to_owned(),
        Dimension::Control => joined(f.controls),
        Dimension::Clause => joined(f.clauses),
        Dimension::Source => f.source.to_owned(),
        Dimension::Origin => f.origin.to_owned(),
        Dimension::Actor => {
            let names: Vec<String> = f
                .actors
                .split(ACTOR_SEP)
                .filter(|e| !e.is_empty())
                .map(|e| e.replacen(ROLE_SEP, ":", 1))
                .collect();
            if names.is_empty() {
                "(none)".to_owned()
            } else {
                names.join("+")
            }
        }
        Dimension::Quarter | Dimension::Month => {
            match f.source_time.and_then(|s| Timestamp::from_second(s).ok()) {
                None => "(no source time)".to_owned(),
                Some(t) => {
                    let d = t.to_zoned(jiff::tz::TimeZone::UTC).date();
                    if dimension == Dimension::Month {
                        format!("{:04}-{:02}", d.year(), d.month())
                    } else {
                        format!("{:04}-Q{}", d.year(), (d.month() - 1) / 3 + 1)
                    }
                }
            }
        }
    }
}

/// A candidate member: the item's row in the engagement and its manifest fields. Origins and
/// strata repeat across members and are shared, not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The item's row id in the engagement file.
    pub row: i64,
    pub item_id: String,
    pub origin: Rc<str>,
    pub sha256: Sha256Digest,
    pub stratum: Option<Rc<str>>,
}

/// Hands out one shared copy of each distinct string (origins, stratum names).
#[derive(Debug, Default)]
pub struct Interner(Vec<Rc<str>>);

impl Interner {
    /// The shared copy of `s`.
    pub fn get(&mut self, s: &str) -> Rc<str> {
        if let Some(found) = self.0.iter().rev().find(|x| &***x == s) {
            return Rc::clone(found);
        }
        let new: Rc<str> = Rc::from(s);
        self.0.push(Rc::clone(&new));
        new
    }
}

/// A stratum of a frozen population.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StratumInfo {
    pub name: String,
    pub size: u64,
}

/// A frozen population: members in manifest order and the digest of the manifest.
#[derive(Debug, Clone)]
pub struct Frozen {
    pub digest: Sha256Digest,
    pub members: Vec<Member>,
    /// Strata sorted by name (empty when not stratified).
    pub strata: Vec<StratumInfo>,
}

impl Frozen {
    /// `N`.
    pub fn size(&self) -> u64 {
        self.members.len() as u64
    }
}

/// Why a population cannot be frozen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("the population is empty: no ingested item matches its definition")]
    Empty,
    #[error("item {item_id} of origin {origin} appears twice")]
    Duplicate { item_id: String, origin: String },
}

/// Sort the members into manifest order and compute the digest.
pub fn freeze(mut members: Vec<Member>) -> Result<Frozen, ManifestError> {
    if members.is_empty() {
        return Err(ManifestError::Empty);
    }
    members.sort_unstable_by(|a, b| {
        a.item_id
            .as_bytes()
            .cmp(b.item_id.as_bytes())
            .then_with(|| a.origin.as_bytes().cmp(b.origin.as_bytes()))
    });
    if let Some(w) = members
        .windows(2)
        .find(|w| w[0].item_id == w[1].item_id && w[0].origin == w[1].origin)
    {
        return Err(ManifestError::Duplicate {
            item_id: w[0].item_id.clone(),
            origin: w[0].origin.to_string(),
        });
    }
    let mut hasher = HashWriter(Sha256::new());
    let mut strata: BTreeMap<&str, u64> = BTreeMap::new();
    let mut line = Vec::with_capacity(256);
    for m in &members {
        line.clear();
        manifest_line(m, &mut line);
        hasher.0.update(&line);
        if let Some(s) = &m.stratum {
            *strata.entry(s).or_default() += 1;
        }
    }
    let strata = strata
        .into_iter()
        .map(|(name, size)| StratumInfo {
            name: name.to_owned(),
            size,
        })
        .collect();
    Ok(Frozen {
        digest: Sha256Digest(hasher.0.finalize().into()),
        members,
        strata,
    })
}

struct HashWriter(Sha256);

/// Append the canonical manifest line of `m` (with its newline) to `out`.
pub fn manifest_line(m: &Member, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"item_id\":");
    json_string(&m.item_id, out);
    out.extend_from_slice(b",\"origin\":");
    json_string(&m.origin, out);
    out.extend_from_slice(b",\"sha256\":\"");
    let mut hex = [0u8; 64];
    // 32 bytes always encode into 64 hex digits.
    let _ = hex::encode_to_slice(m.sha256.as_bytes(), &mut hex);
    out.extend_from_slice(&hex);
    out.push(b'"');
    if let Some(s) = &m.stratum {
        out.extend_from_slice(b",\"stratum\":");
        json_string(s, out);
    }
    out.extend_from_slice(b"}\n");
}

fn json_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is the canonical one (RFC 8785 for our character set).
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Write the canonical manifest of members already in manifest order.
pub fn write_manifest(members: &[Member], w: &mut dyn Write) -> io::Result<()> {
    let mut line = Vec::with_capacity(256);
    for m in members {
        line.clear();
        manifest_line(m, &mut line);
        w.write_all(&line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(row: i64, id: &str, origin: &str, stratum: Option<&str>) -> Member {
        Member {
            row,
            item_id: id.to_owned(),
            origin: Rc::from(origin),
            sha256: format!("{:064x}", row).parse().unwrap(),
            stratum: stratum.map(Rc::from),
        }
    }

    #[test]
    fn the_manifest_is_sorted_by_item_id_then_origin_and_hashed_as_json_lines() {
        let frozen = freeze(vec![
            member(2, "b", "o1", None),
            member(3, "a", "o2", None),
            member(1, "a", "o1", None),
        ])
        .unwrap();
        let rows: Vec<i64> = frozen.members.iter().map(|m| m.row).collect();
        assert_eq!(rows, [1, 3, 2]);
        let mut text = Vec::new();
        write_manifest(&frozen.members, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            format!(r#"{{"item_id":"a","origin":"o1","sha256":"{:064x}"}}"#, 1)
        );
        assert_eq!(frozen.digest, Sha256Digest::of(text.as_bytes()));
    }

    #[test]
    fn the_digest_is_a_known_value_for_a_fixed_manifest() {
        let frozen = freeze(vec![member(1, "x", "example.org/ai", None)]).unwrap();
        let line = format!(
            "{{\"item_id\":\"x\",\"origin\":\"example.org/ai\",\"sha256\":\"{:064x}\"}}\n",
            1
        );
        assert_eq!(frozen.digest, Sha256Digest::of(line.as_bytes()));
    }

    #[test]
    fn the_digest_changes_when_any_member_or_hash_changes() {
        let a = freeze(vec![member(1, "a", "o", None), member(2, "b", "o", None)]).unwrap();
        let mut changed = member(2, "b", "o", None);
        changed.sha256 = format!("{:064x}", 99).parse().unwrap();
        let b = freeze(vec![member(1, "a", "o", None), changed]).unwrap();
        let c = freeze(vec![member(1, "a", "o", None)]).unwrap();
        assert_ne!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn strata_are_counted_and_named_in_the_manifest() {
        let frozen = freeze(vec![
            member(1, "a", "o", Some("k1")),
            member(2, "b", "o", Some("k2")),
            member(3, "c", "o", Some("k1")),
        ])
        .unwrap();
        assert_eq!(
            frozen.strata,
            [
                StratumInfo {
                    name: "k1".into(),
                    size: 2
                },
                StratumInfo {
                    name: "k2".into(),
                    size: 1
                }
            ]
        );
        let mut line = Vec::new();
        manifest_line(&frozen.members[0], &mut line);
        assert!(
            String::from_utf8(line)
                .unwrap()
                .ends_with(",\"stratum\":\"k1\"}\n")
        );
    }

    #[test]
    fn an_empty_population_or_a_duplicate_member_cannot_be_frozen() {
        assert_eq!(freeze(vec![]).unwrap_err(), ManifestError::Empty);
        assert!(matches!(
            freeze(vec![member(1, "a", "o", None), member(2, "a", "o", None)]),
            Err(ManifestError::Duplicate { .. })
        ));
    }

    #[test]
    fn actor_filters_match_by_name_or_by_role_and_name() {
        let key = actor_key([("approver", "alice"), ("author", "bob")].into_iter());
        assert!(key.contains(&ActorFilter::parse("alice").unwrap().needle()));
        assert!(key.contains(&ActorFilter::parse("approver:alice").unwrap().needle()));
        assert!(!key.contains(&ActorFilter::parse("author:alice").unwrap().needle()));
        assert!(!key.contains(&ActorFilter::parse("ali").unwrap().needle()));
    }

    #[test]
    fn multi_valued_strata_join_their_values_and_periods_use_utc_calendar_units() {
        let facts = StratumFacts {
            kind: "model_card",
            controls: "A.6.2.4 A.6.2.6",
            clauses: "",
            source: "docs",
            actors: &actor_key([("owner", "carol")].into_iter()),
            origin: "o",
            source_time: Some(1_759_276_800), // 2025-10-01T00:00:00Z
        };
        assert_eq!(stratum_key(Dimension::Control, &facts), "A.6.2.4+A.6.2.6");
        assert_eq!(stratum_key(Dimension::Clause, &facts), "(none)");
        assert_eq!(stratum_key(Dimension::Actor, &facts), "owner:carol");
        assert_eq!(stratum_key(Dimension::Quarter, &facts), "2025-Q4");
        assert_eq!(stratum_key(Dimension::Month, &facts), "2025-10");
    }

    #[test]
    fn a_definition_describes_itself_in_one_line() {
        let d = Definition {
            kinds: vec!["pr_approval".into()],
            controls: vec!["A.6.2.4".into()],
            stratify_by: Some(Dimension::Source),
            ..Definition::default()
        };
        assert_eq!(
            d.describe(),
            "items of kind pr_approval, evidencing control A.6.2.4; stratified by source"
        );
        assert_eq!(Definition::default().describe(), "all ingested items");
    }
}
