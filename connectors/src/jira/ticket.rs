//! Pure extraction of what an auditor tests from a ticket as Jira returned it: who reported,
//! was assigned and resolved it, when it moved through which status, its priority, and the
//! post-incident reviews linked to it. No IO; every field may be missing or null.

use std::collections::BTreeMap;

use evidence_model::{Actor, Period};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

/// A Jira user as embedded in issues and changelogs. Jira Cloud identifies users by
/// `accountId`; Jira Server and Data Center (and Cloud before 2018) by `key` and `name`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct User {
    #[serde(deserialize_with = "lenient")]
    pub account_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub display_name: Option<String>,
    /// Server and Data Center: the user's stable key (`JIRAUSER10000`, or the first name).
    #[serde(deserialize_with = "lenient")]
    pub key: Option<String>,
    /// Server and Data Center: the user name (`admin`).
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
}

impl User {
    /// The most stable identifier the user object carries: `accountId`, else `key`, else
    /// `name` (empty strings, which Cloud sends for the last two, do not count).
    pub(super) fn id(&self) -> Option<String> {
        [&self.account_id, &self.key, &self.name]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty())
            .cloned()
    }
}

/// A value of the expected type, or `None` (never an error) when Jira sent another type.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// Anything Jira names: status, priority, issue type, resolution.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Named {
    pub name: Option<String>,
    pub status_category: Option<StatusCategory>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub(super) struct StatusCategory {
    pub key: Option<String>,
}

/// The fields the connector reads; the artefact keeps everything Jira sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Fields {
    pub summary: Option<String>,
    pub status: Option<Named>,
    pub issuetype: Option<Named>,
    pub priority: Option<Named>,
    pub resolution: Option<Named>,
    pub reporter: Option<User>,
    pub assignee: Option<User>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub resolutiondate: Option<String>,
    pub issuelinks: Option<Vec<IssueLink>>,
    pub labels: Option<Vec<String>>,
}

/// One issue of a search page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct Issue {
    pub id: Option<String>,
    pub key: Option<String>,
    pub fields: Fields,
}

/// An issue read leniently: what parsed, and the fields that did not (by JSON path).
#[derive(Debug, Clone, Default)]
pub(super) struct LenientIssue {
    pub issue: Issue,
    /// `fields.updated`, `key`, … whose value had a type this version does not read.
    pub unparsed: Vec<String>,
}

/// A search result that is not an issue at all (not JSON, or not an object).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(super) struct NotAnIssue(String);

/// Read one search result field by field: a field of an unexpected type (Atlassian's own
/// example has `"updated": 1`) is left out and named, and the rest is kept. `Err` only when
/// the result is not a JSON object at all. A numeric `id` is read as text.
pub(super) fn parse_issue(raw: &str) -> Result<LenientIssue, NotAnIssue> {
    let value: Value =
        serde_json::from_str(raw).map_err(|e| NotAnIssue(format!("not JSON: {e}")))?;
    let Value::Object(top) = value else {
        return Err(NotAnIssue("not a JSON object".into()));
    };
    let mut unparsed = Vec::new();
    let id = match top.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            unparsed.push("id".to_owned());
            None
        }
    };
    let key = match top.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            unparsed.push("key".to_owned());
            None
        }
    };
    let fields = match top.get("fields") {
        None | Some(Value::Null) => Fields::default(),
        Some(Value::Object(map)) => {
            let mut kept = serde_json::Map::new();
            for (name, v) in map {
                let one = Value::Object(serde_json::Map::from_iter([(name.clone(), v.clone())]));
                if serde_json::from_value::<Fields>(one).is_ok() {
                    kept.insert(name.clone(), v.clone());
                } else {
                    unparsed.push(format!("fields.{name}"));
                }
            }
            serde_json::from_value(Value::Object(kept)).unwrap_or_default()
        }
        Some(_) => {
            unparsed.push("fields".to_owned());
            Fields::default()
        }
    };
    if fields
        .updated
        .as_deref()
        .is_some_and(|u| parse_time(u).is_none())
    {
        unparsed.push("fields.updated".to_owned());
    }
    unparsed.sort();
    unparsed.dedup();
    Ok(LenientIssue {
        issue: Issue { id, key, fields },
        unparsed,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct LinkType {
    pub name: Option<String>,
    pub inward: Option<String>,
    pub outward: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct LinkedFields {
    pub summary: Option<String>,
    pub status: Option<Named>,
    pub issuetype: Option<Named>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct LinkedIssue {
    pub key: Option<String>,
    pub fields: LinkedFields,
}

/// An entry of `fields.issuelinks`: exactly one of the two sides is present.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct IssueLink {
    #[serde(rename = "type")]
    pub link_type: LinkType,
    pub inward_issue: Option<LinkedIssue>,
    pub outward_issue: Option<LinkedIssue>,
}

/// One changelog entry: who changed what when.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct History {
    pub author: Option<User>,
    pub created: Option<String>,
    pub items: Vec<HistoryItem>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct HistoryItem {
    pub field: Option<String>,
    pub to: Option<String>,
    pub from_string: Option<String>,
    pub to_string: Option<String>,
}

/// An entry of `/issue/{key}/remotelink`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct RemoteLink {
    pub relationship: Option<String>,
    pub object: RemoteObject,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct RemoteObject {
    pub url: Option<String>,
    pub title: Option<String>,
}

/// How post-incident reviews and resolutions are recognised.
#[derive(Debug, Clone, Default)]
pub(super) struct Recognition<'a> {
    pub done_statuses: &'a [String],
    pub review_issue_types: &'a [String],
    pub review_keywords: &'a [String],
}

/// A status change from the changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Transition {
    pub at: Timestamp,
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: Option<User>,
}

/// Who resolved the ticket and when, as the changelog tells it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Resolution {
    pub at: Timestamp,
    pub by: Option<User>,
}

/// What the item's metadata record says about one ticket version.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TicketFacts {
    pub actors: Vec<Actor>,
    pub period: Period,
    pub attributes: BTreeMap<String, Value>,
}

/// Parse a Jira time: `2026-01-15T10:30:00.000+0100` (offset without a colon) or RFC 3339.
pub(super) fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", s)
        .ok()?
        .to_timestamp()
        .ok()
}

/// True for a Jira issue key such as `AIOPS-42`: a project key (a letter, then letters,
/// digits or `_`) and a number. Keys go into request paths, so nothing else is accepted.
pub(super) fn is_issue_key(key: &str) -> bool {
    let Some((project, number)) = key.rsplit_once('-') else {
        return false;
    };
    let mut chars = project.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !number.is_empty()
        && number.len() <= 18
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn eq_ignore_case(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v.eq_ignore_ascii_case(value))
}

/// True when `phrase` occurs in `text` as whole words, ignoring case: `PIR` matches
/// "PIR for AIOPS-12" but not "inspiring".
pub(super) fn mentions(text: &str, phrase: &str) -> bool {
    let text = text.to_lowercase();
    let phrase = phrase.to_lowercase();
    if phrase.is_empty() {
        return false;
    }
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    text.match_indices(&phrase).any(|(i, m)| {
        boundary(text[..i].chars().next_back()) && boundary(text[i + m.len()..].chars().next())
    })
}

/// The changelog in time order (Jira returns it oldest first; entries without a readable time
/// keep their place at the start).
fn ordered(histories: &[History]) -> Vec<(Timestamp, &History)> {
    let mut list: Vec<(Timestamp, &History)> = histories
        .iter()
        .map(|h| {
            let at = h
                .created
                .as_deref()
                .and_then(parse_time)
                .unwrap_or(Timestamp::MIN);
            (at, h)
        })
        .collect();
    list.sort_by_key(|(at, _)| *at);
    list
}

/// Every status change, oldest first.
pub(super) fn transitions(histories: &[History]) -> Vec<Transition> {
    ordered(histories)
        .into_iter()
        .flat_map(|(at, h)| {
            h.items
                .iter()
                .filter(|i| {
                    i.field
                        .as_deref()
                        .is_some_and(|f| f.eq_ignore_ascii_case("status"))
                })
                .map(move |i| Transition {
                    at,
                    from: i.from_string.clone(),
                    to: i.to_string.clone(),
                    by: h.author.clone(),
                })
        })
        .collect()
}

/// Who resolved the ticket, from the changelog: the author of the change that set the
/// resolution field, or, for workflows without resolutions, that moved it to a done status.
/// Clearing the resolution (or leaving a done status without one) reopens the ticket; a later
/// resolution counts. `None` when the ticket is not resolved at the end of the changelog.
pub(super) fn resolution(histories: &[History], done_statuses: &[String]) -> Option<Resolution> {
    let mut state: Option<(Resolution, bool)> = None;
    for (at, h) in ordered(histories) {
        for item in &h.items {
            let field = item.field.as_deref().unwrap_or_default();
            let value = item
                .to_string
                .as_deref()
                .or(item.to.as_deref())
                .filter(|v| !v.trim().is_empty());
            if field.eq_ignore_ascii_case("resolution") {
                match value {
                    Some(_) => {
                        if !matches!(state, Some((_, true))) {
                            let by = h.author.clone();
                            state = Some((Resolution { at, by }, true));
                        }
                    }
                    None => state = None,
                }
            } else if field.eq_ignore_ascii_case("status") {
                let done = item
                    .to_string
                    .as_deref()
                    .is_some_and(|s| eq_ignore_case(done_statuses, s));
                if done {
                    if state.is_none() {
                        let by = h.author.clone();
                        state = Some((Resolution { at, by }, false));
                    }
                } else if matches!(state, Some((_, false))) {
                    state = None;
                }
            }
        }
    }
    state.map(|(r, _)| r)
}

fn actor(role: &str, user: &User) -> Option<Actor> {
    let name = user
        .display_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| user.id())?;
    Some(Actor {
        role: role.to_owned(),
        name,
        id: user.id(),
    })
}

fn user_json(user: Option<&User>) -> Value {
    match user {
        Some(u) if u.account_id.is_none() && u.id().is_some() => json!({
            "name": u.display_name,
            "account_id": u.account_id,
            "id": u.id(),
        }),
        Some(u) => json!({
            "name": u.display_name,
            "account_id": u.account_id,
        }),
        None => Value::Null,
    }
}

fn name_of(named: Option<&Named>) -> Value {
    named
        .and_then(|n| n.name.clone())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

fn time_json(t: Option<Timestamp>) -> Value {
    t.map(|t| Value::from(t.to_string())).unwrap_or(Value::Null)
}

/// Describe one ticket version for its metadata record.
pub(super) fn facts(
    issue: &Issue,
    histories: &[History],
    remote_links: &[RemoteLink],
    recognise: &Recognition<'_>,
) -> TicketFacts {
    let f = &issue.fields;
    let created = f.created.as_deref().and_then(parse_time);
    let updated = f.updated.as_deref().and_then(parse_time);
    let changelog_resolution = resolution(histories, recognise.done_statuses);
    let resolved = f
        .resolutiondate
        .as_deref()
        .and_then(parse_time)
        .or(changelog_resolution.as_ref().map(|r| r.at));

    let mut actors = Vec::new();
    if let Some(a) = f.reporter.as_ref().and_then(|u| actor("reporter", u)) {
        actors.push(a);
    }
    if let Some(a) = f.assignee.as_ref().and_then(|u| actor("assignee", u)) {
        actors.push(a);
    }
    if let Some(a) = changelog_resolution
        .as_ref()
        .and_then(|r| r.by.as_ref())
        .and_then(|u| actor("resolver", u))
    {
        actors.push(a);
    }

    let transitions = transitions(histories);
    let (links, mut reviews) = issue_links(f.issuelinks.as_deref().unwrap_or_default(), recognise);
    let mut remote = Vec::new();
    for link in remote_links {
        let title = link.object.title.clone().unwrap_or_default();
        let entry = json!({
            "title": link.object.title,
            "url": link.object.url,
            "relationship": link.relationship,
        });
        let is_review = recognise.review_keywords.iter().any(|k| {
            mentions(&title, k) || link.relationship.as_deref().is_some_and(|r| mentions(r, k))
        });
        if is_review {
            reviews.push(json!({
                "via": "remote_link",
                "title": link.object.title,
                "url": link.object.url,
            }));
        }
        remote.push(entry);
    }

    let mut attributes = BTreeMap::new();
    attributes.insert("issue_key".into(), json!(issue.key));
    attributes.insert("issue_id".into(), json!(issue.id));
    attributes.insert("issue_type".into(), name_of(f.issuetype.as_ref()));
    attributes.insert("status".into(), name_of(f.status.as_ref()));
    attributes.insert(
        "status_category".into(),
        json!(
            f.status
                .as_ref()
                .and_then(|s| s.status_category.as_ref())
                .and_then(|c| c.key.clone())
        ),
    );
    attributes.insert("priority".into(), name_of(f.priority.as_ref()));
    attributes.insert("resolution".into(), name_of(f.resolution.as_ref()));
    attributes.insert("created".into(), time_json(created));
    attributes.insert("updated".into(), time_json(updated));
    attributes.insert("resolved".into(), time_json(resolved));
    attributes.insert("reporter".into(), user_json(f.reporter.as_ref()));
    attributes.insert("assignee".into(), user_json(f.assignee.as_ref()));
    attributes.insert(
        "resolver".into(),
        user_json(changelog_resolution.as_ref().and_then(|r| r.by.as_ref())),
    );
    attributes.insert(
        "transitions".into(),
        Value::Array(
            transitions
                .iter()
                .map(|t| {
                    json!({
                        "at": t.at.to_string(),
                        "from": t.from,
                        "to": t.to,
                        "by": user_json(t.by.as_ref()),
                    })
                })
                .collect(),
        ),
    );
    attributes.insert("changelog_entries".into(), json!(histories.len()));
    attributes.insert("labels".into(), json!(f.labels.clone().unwrap_or_default()));
    attributes.insert("issue_links".into(), Value::Array(links));
    attributes.insert("remote_links".into(), Value::Array(remote));
    attributes.insert("post_incident_reviews".into(), Value::Array(reviews));

    TicketFacts {
        actors,
        period: Period {
            start: created,
            end: resolved,
        },
        attributes,
    }
}

/// Every issue link as `{type, relation, key, summary, issue_type, status}`, and those that
/// point at a post-incident review.
fn issue_links(links: &[IssueLink], recognise: &Recognition<'_>) -> (Vec<Value>, Vec<Value>) {
    let mut all = Vec::new();
    let mut reviews = Vec::new();
    for link in links {
        let (other, relation) = match (&link.outward_issue, &link.inward_issue) {
            (Some(o), _) => (o, link.link_type.outward.clone()),
            (None, Some(i)) => (i, link.link_type.inward.clone()),
            (None, None) => continue,
        };
        let issue_type = other.fields.issuetype.as_ref().and_then(|t| t.name.clone());
        let summary = other.fields.summary.clone().unwrap_or_default();
        let entry = json!({
            "type": link.link_type.name,
            "relation": relation,
            "key": other.key,
            "summary": other.fields.summary,
            "issue_type": issue_type,
            "status": name_of(other.fields.status.as_ref()),
        });
        let is_review = issue_type
            .as_deref()
            .is_some_and(|t| eq_ignore_case(recognise.review_issue_types, t))
            || recognise
                .review_keywords
                .iter()
                .any(|k| mentions(&summary, k));
        if is_review {
            reviews.push(json!({
                "via": "issue_link",
                "key": other.key,
                "title": other.fields.summary,
                "relation": relation,
            }));
        }
        all.push(entry);
    }
    (all, reviews)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histories(v: Value) -> Vec<History> {
        serde_json::from_value(v).unwrap()
    }

    fn done() -> Vec<String> {
        vec!["Done".into(), "Resolved".into(), "Closed".into()]
    }

    fn change(at: &str, who: &str, items: Value) -> Value {
        json!({"author": {"accountId": format!("id-{who}"), "displayName": who}, "created": at, "items": items})
    }

    fn status(from: &str, to: &str) -> Value {
        json!({"field": "status", "fieldtype": "jira", "fromString": from, "toString": to})
    }

    fn resolution_item(to: Option<&str>) -> Value {
        json!({"field": "resolution", "fieldtype": "jira", "from": null, "fromString": null, "to": to.map(|_| "10000"), "toString": to})
    }

    #[test]
    fn jira_times_with_an_offset_without_colon_parse() {
        assert_eq!(
            parse_time("2026-01-15T10:30:00.000+0100"),
            Some("2026-01-15T09:30:00Z".parse().unwrap())
        );
        assert_eq!(
            parse_time("2026-01-15T10:30:00Z"),
            Some("2026-01-15T10:30:00Z".parse().unwrap())
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn the_resolver_is_who_set_the_resolution() {
        let h = histories(json!([
            change(
                "2026-01-15T10:00:00.000+0000",
                "ana",
                json!([status("Open", "In Progress")])
            ),
            change(
                "2026-01-16T10:00:00.000+0000",
                "ben",
                json!([
                    status("In Progress", "Done"),
                    resolution_item(Some("Fixed"))
                ])
            ),
        ]));
        let r = resolution(&h, &done()).unwrap();
        assert_eq!(r.by.unwrap().display_name.as_deref(), Some("ben"));
        assert_eq!(r.at, "2026-01-16T10:00:00Z".parse().unwrap());
    }

    #[test]
    fn a_reopened_ticket_has_no_resolver_until_resolved_again() {
        let resolved = change(
            "2026-01-16T10:00:00.000+0000",
            "ben",
            json!([
                status("In Progress", "Done"),
                resolution_item(Some("Fixed"))
            ]),
        );
        let reopened = change(
            "2026-01-17T10:00:00.000+0000",
            "cy",
            json!([status("Done", "Reopened"), resolution_item(None)]),
        );
        let again = change(
            "2026-01-18T10:00:00.000+0000",
            "dee",
            json!([
                status("Reopened", "Resolved"),
                resolution_item(Some("Fixed"))
            ]),
        );
        assert_eq!(
            resolution(
                &histories(json!([resolved.clone(), reopened.clone()])),
                &done()
            ),
            None
        );
        let r = resolution(&histories(json!([resolved, reopened, again])), &done()).unwrap();
        assert_eq!(r.by.unwrap().display_name.as_deref(), Some("dee"));
    }

    #[test]
    fn without_a_resolution_field_a_move_to_a_done_status_resolves() {
        let h = histories(json!([
            change(
                "2026-01-16T10:00:00.000+0000",
                "ben",
                json!([status("Open", "Closed")])
            ),
            change(
                "2026-01-17T10:00:00.000+0000",
                "cy",
                json!([status("Closed", "Closed")])
            ),
        ]));
        let r = resolution(&h, &done()).unwrap();
        assert_eq!(r.by.unwrap().display_name.as_deref(), Some("ben"));
        let reopened = histories(json!([
            change(
                "2026-01-16T10:00:00.000+0000",
                "ben",
                json!([status("Open", "closed")])
            ),
            change(
                "2026-01-17T10:00:00.000+0000",
                "cy",
                json!([status("closed", "Open")])
            ),
        ]));
        assert_eq!(resolution(&reopened, &done()), None);
    }

    #[test]
    fn changelog_entries_out_of_order_are_read_in_time_order() {
        let h = histories(json!([
            change(
                "2026-01-17T10:00:00.000+0000",
                "cy",
                json!([status("Done", "Open"), resolution_item(None)])
            ),
            change(
                "2026-01-16T10:00:00.000+0000",
                "ben",
                json!([status("Open", "Done"), resolution_item(Some("Fixed"))])
            ),
        ]));
        assert_eq!(resolution(&h, &done()), None);
        let t = transitions(&h);
        assert_eq!(t[0].to.as_deref(), Some("Done"));
        assert_eq!(t[1].to.as_deref(), Some("Open"));
    }

    #[test]
    fn only_real_issue_keys_are_accepted_for_request_paths() {
        assert!(is_issue_key("AIOPS-42"));
        assert!(is_issue_key("A_B2-1"));
        for bad in [
            "", "AIOPS", "AIOPS-", "-1", "1A-2", "A-1/../x", "A-1?x=1", "A B-1", "A-١",
        ] {
            assert!(!is_issue_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn keywords_match_whole_words_only() {
        assert!(mentions("PIR for AIOPS-12", "pir"));
        assert!(mentions(
            "Post-incident review: outage",
            "post-incident review"
        ));
        assert!(!mentions("An inspiring retro", "PIR"));
        assert!(!mentions("anything", ""));
    }

    #[test]
    fn facts_name_reporter_assignee_and_resolver_and_find_linked_reviews() {
        let issue: Issue = serde_json::from_value(json!({
            "id": "10042", "key": "AIOPS-42",
            "fields": {
                "summary": "Model drift alert ignored",
                "status": {"name": "Done", "statusCategory": {"key": "done"}},
                "priority": {"name": "High"},
                "issuetype": {"name": "Incident"},
                "reporter": {"accountId": "id-ana", "displayName": "ana"},
                "assignee": {"accountId": "id-ben", "displayName": "ben"},
                "created": "2026-01-15T09:00:00.000+0000",
                "updated": "2026-01-16T10:05:00.000+0000",
                "resolutiondate": "2026-01-16T10:00:00.000+0000",
                "issuelinks": [
                    {"type": {"name": "Relates", "inward": "relates to", "outward": "relates to"},
                     "outwardIssue": {"key": "AIOPS-50", "fields": {"summary": "PIR: drift alert", "issuetype": {"name": "Task"}, "status": {"name": "Done"}}}},
                    {"type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
                     "inwardIssue": {"key": "AIOPS-7", "fields": {"summary": "Upgrade", "issuetype": {"name": "Task"}}}}
                ]
            }
        }))
        .unwrap();
        let h = histories(json!([change(
            "2026-01-16T10:00:00.000+0000",
            "cy",
            json!([
                status("In Progress", "Done"),
                resolution_item(Some("Fixed"))
            ])
        ),]));
        let remote: Vec<RemoteLink> = serde_json::from_value(json!([
            {"relationship": "mentioned in", "object": {"url": "https://wiki.example.org/pm-42", "title": "Postmortem AIOPS-42"}},
            {"object": {"url": "https://dash.example.org", "title": "Dashboard"}}
        ]))
        .unwrap();
        let rules = (
            done(),
            vec!["Post-incident review".to_owned()],
            vec!["PIR".to_owned(), "postmortem".to_owned()],
        );
        let f = facts(
            &issue,
            &h,
            &remote,
            &Recognition {
                done_statuses: &rules.0,
                review_issue_types: &rules.1,
                review_keywords: &rules.2,
            },
        );
        let roles: Vec<(&str, &str)> = f
            .actors
            .iter()
            .map(|a| (a.role.as_str(), a.name.as_str()))
            .collect();
        assert_eq!(
            roles,
            [("reporter", "ana"), ("assignee", "ben"), ("resolver", "cy")]
        );
        assert_eq!(
            f.period.start,
            Some("2026-01-15T09:00:00Z".parse().unwrap())
        );
        assert_eq!(f.period.end, Some("2026-01-16T10:00:00Z".parse().unwrap()));
        assert_eq!(f.attributes["priority"], json!("High"));
        let reviews = f.attributes["post_incident_reviews"].as_array().unwrap();
        assert_eq!(reviews.len(), 2, "{reviews:?}");
        assert_eq!(reviews[0]["key"], json!("AIOPS-50"));
        assert_eq!(reviews[1]["url"], json!("https://wiki.example.org/pm-42"));
        assert_eq!(f.attributes["issue_links"].as_array().unwrap().len(), 2);
        assert_eq!(f.attributes["transitions"][0]["by"]["name"], json!("cy"));
    }

    #[test]
    fn server_and_old_cloud_users_are_identified_by_key_or_name() {
        let server: User = serde_json::from_value(
            json!({"name": "admin", "key": "JIRAUSER10000", "displayName": "Ada Admin"}),
        )
        .unwrap();
        let a = actor("reporter", &server).unwrap();
        assert_eq!(a.name, "Ada Admin");
        assert_eq!(a.id.as_deref(), Some("JIRAUSER10000"));
        let bare: User = serde_json::from_value(json!({"name": "admin"})).unwrap();
        assert_eq!(
            actor("assignee", &bare).unwrap().id.as_deref(),
            Some("admin")
        );
        // Cloud sends empty `key` and `name` beside the account id.
        let cloud: User = serde_json::from_value(
            json!({"accountId": "5b10a2844c20165700ede21g", "key": "", "name": "", "displayName": "Mia"}),
        )
        .unwrap();
        assert_eq!(cloud.id().as_deref(), Some("5b10a2844c20165700ede21g"));
        assert_eq!(user_json(Some(&bare))["id"], "admin");
    }

    #[test]
    fn a_field_of_an_unexpected_type_is_named_and_the_rest_is_kept() {
        let raw = r#"{"id": 10002, "key": "ED-1", "fields": {"summary": "Main order flow broken", "updated": 1, "labels": "not-a-list", "reporter": {"name": "admin", "key": "admin"}, "status": {"name": "Open"}}}"#;
        let parsed = parse_issue(raw).unwrap();
        assert_eq!(parsed.issue.key.as_deref(), Some("ED-1"));
        assert_eq!(parsed.issue.id.as_deref(), Some("10002"));
        assert_eq!(
            parsed.issue.fields.summary.as_deref(),
            Some("Main order flow broken")
        );
        assert_eq!(parsed.issue.fields.updated, None);
        assert_eq!(parsed.unparsed, ["fields.labels", "fields.updated"]);
        assert_eq!(
            parsed
                .issue
                .fields
                .reporter
                .as_ref()
                .and_then(User::id)
                .as_deref(),
            Some("admin")
        );
        assert!(parse_issue("[1]").is_err());
        let unreadable_time =
            parse_issue(r#"{"key": "ED-2", "fields": {"updated": "yesterday"}}"#).unwrap();
        assert_eq!(unreadable_time.unparsed, ["fields.updated"]);
    }

    #[test]
    fn a_ticket_with_nothing_but_nulls_still_describes() {
        let issue: Issue = serde_json::from_value(json!({
            "key": "X-1",
            "fields": {"reporter": null, "assignee": null, "issuelinks": null, "priority": null}
        }))
        .unwrap();
        let f = facts(&issue, &[], &[], &Recognition::default());
        assert!(f.actors.is_empty());
        assert_eq!(
            f.period,
            Period {
                start: None,
                end: None
            }
        );
    }
}
