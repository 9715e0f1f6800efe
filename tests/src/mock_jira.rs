//! A mock Jira Cloud whose tickets change between runs, for the reliability and daemon tests.
//! It answers the enhanced JQL search the way Jira does: `updated >= "yyyy-MM-dd HH:mm"` (read
//! in UTC, the account's zone here) bounds the results, newest first, in pages linked by
//! `nextPageToken`; changelogs are empty and remote links none. It can be slowed down (every
//! search page waits) or taken down (503 on every search) for a while.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::DateTime;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One ticket as the mock currently holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub summary: String,
    pub updated: Timestamp,
    /// Plain text, served as a one-paragraph Atlassian document; none by default.
    pub description: Option<String>,
    /// Comment bodies, served in the `comment` field the same way.
    pub comments: Vec<String>,
}

/// Text as a one-paragraph Atlassian Document Format value.
fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    ]})
}

#[derive(Debug, Default)]
struct Shared {
    tickets: BTreeMap<String, Ticket>,
    delay: Duration,
    down: bool,
    searches: u64,
}

/// The mock server and its tickets.
pub struct MockJira {
    pub server: MockServer,
    shared: Arc<Mutex<Shared>>,
}

struct Search(Arc<Mutex<Shared>>);

/// Jira's time format: `2026-01-20T16:00:00.000+0000`.
fn jira_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.000+0000").to_string()
}

/// The lower bound of `updated >= "yyyy-MM-dd HH:mm"` in a JQL text, read in UTC.
fn lower_bound(jql: &str) -> Option<Timestamp> {
    let rest = jql.split("updated >= \"").nth(1)?;
    let literal = rest.split('"').next()?;
    let civil: DateTime = DateTime::strptime("%Y-%m-%d %H:%M", literal).ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

fn issue(key: &str, t: &Ticket) -> Value {
    let number: u64 = key
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    json!({
        "id": format!("{}", 10_000 + number),
        "self": format!("https://example.atlassian.net/rest/api/3/issue/{}", 10_000 + number),
        "key": key,
        "fields": {
            "summary": t.summary,
            "issuetype": {"id": "10100", "name": "Incident", "subtask": false},
            "project": {"id": "10000", "key": "AIOPS", "name": "AI Operations"},
            "status": {"name": "In Progress", "id": "3", "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"}},
            "priority": {"id": "2", "name": "High"},
            "created": "2026-01-01T09:00:00.000+0000",
            "updated": jira_time(t.updated),
            "reporter": {"accountId": "557058:ana", "displayName": "Ana Reporter", "active": true},
            "assignee": {"accountId": "557058:eve", "displayName": "Eve Engineer", "active": true},
            "labels": [],
            "components": [],
            "description": t.description.as_deref().map(adf),
            "comment": {
                "comments": t.comments.iter().enumerate().map(|(i, c)| json!({
                    "id": format!("{}", 20_000 + i),
                    "author": {"accountId": "557058:eve", "displayName": "Eve Engineer", "active": true},
                    "body": adf(c),
                    "created": "2026-01-02T09:00:00.000+0000"
                })).collect::<Vec<_>>(),
                "maxResults": t.comments.len(), "total": t.comments.len(), "startAt": 0
            },
            "issuelinks": []
        }
    })
}

impl Respond for Search {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut shared = self.0.lock().expect("the mock is not poisoned");
        shared.searches += 1;
        if shared.down {
            return ResponseTemplate::new(503)
                .insert_header("Retry-After", "0")
                .set_body_string("Service Unavailable");
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let jql = body["jql"].as_str().unwrap_or_default();
        let page_size = body["maxResults"].as_u64().unwrap_or(50).max(1) as usize;
        let start: usize = body["nextPageToken"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let from = lower_bound(jql);
        let mut matching: Vec<(&String, &Ticket)> = shared
            .tickets
            .iter()
            .filter(|(_, t)| from.is_none_or(|f| t.updated >= f))
            .collect();
        // ORDER BY updated DESC, key DESC
        matching.sort_by(|a, b| b.1.updated.cmp(&a.1.updated).then(b.0.cmp(a.0)));
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(page_size)
            .map(|(k, t)| issue(k, t))
            .collect();
        let end = start + page.len();
        let mut answer = json!({"issues": page, "isLast": end >= matching.len()});
        if end < matching.len() {
            answer["nextPageToken"] = json!(end.to_string());
        }
        ResponseTemplate::new(200)
            .set_body_raw(
                serde_json::to_vec(&answer).expect("JSON serialises"),
                "application/json",
            )
            .set_delay(shared.delay)
    }
}

impl MockJira {
    /// Start a server with no tickets.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let shared = Arc::new(Mutex::new(Shared::default()));
        Mock::given(method("GET"))
            .and(path("/rest/api/3/myself"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "accountId": "5b10ac8d82e05b22cc7d4ef5",
                "displayName": "Evidence Bot",
                "active": true,
                "timeZone": "UTC"
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/rest/api/3/search/jql"))
            .respond_with(Search(Arc::clone(&shared)))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/rest/api/3/issue/[A-Z]+-[0-9]+/changelog$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "maxResults": 100, "startAt": 0, "total": 0, "isLast": true, "values": []
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/rest/api/3/issue/[A-Z]+-[0-9]+/remotelink$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&server)
            .await;
        Self { server, shared }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        f(&mut self.shared.lock().expect("the mock is not poisoned"))
    }

    /// Create or update a ticket.
    pub fn upsert(&self, key: &str, summary: &str, updated: Timestamp) {
        self.with(|s| {
            s.tickets.insert(
                key.to_owned(),
                Ticket {
                    summary: summary.to_owned(),
                    updated,
                    description: None,
                    comments: Vec::new(),
                },
            )
        });
    }

    /// Set a ticket's description and comments (the ticket must exist).
    pub fn set_text(&self, key: &str, description: &str, comments: &[&str]) {
        self.with(|s| {
            let t = s.tickets.get_mut(key).expect("upsert the ticket first");
            t.description = Some(description.to_owned());
            t.comments = comments.iter().map(|c| (*c).to_owned()).collect();
        });
    }

    /// Every ticket as it is now.
    pub fn tickets(&self) -> BTreeMap<String, Ticket> {
        self.with(|s| s.tickets.clone())
    }

    /// Make every search page wait `delay` before it answers.
    pub fn set_delay(&self, delay: Duration) {
        self.with(|s| s.delay = delay);
    }

    /// Answer every search with 503 (`down`) or normally.
    pub fn set_down(&self, down: bool) {
        self.with(|s| s.down = down);
    }

    /// Search requests received so far.
    pub fn searches(&self) -> u64 {
        self.with(|s| s.searches)
    }

    /// The `[[source]]` table of a Jira source reading this mock, with the credentials in the
    /// environment variables the tests set (`EVIDENCE_E2E_JIRA_EMAIL`, `..._TOKEN`).
    pub fn source_toml(&self, name: &str) -> String {
        format!(
            r#"
[[source]]
type = "jira"
name = "{name}"
site = "{}"
email_env = "EVIDENCE_E2E_JIRA_EMAIL"
api_token_env = "EVIDENCE_E2E_JIRA_TOKEN"
jql_timezone = "UTC"
page_size = 2

[[source.query]]
name = "incidents"
jql = "project = AIOPS AND type = Incident"
kind = "incident_ticket"
"#,
            self.server.uri()
        )
    }
}

/// Set the mock's credentials on a command.
pub fn credentials(c: &mut std::process::Command) -> &mut std::process::Command {
    c.env("EVIDENCE_E2E_JIRA_EMAIL", "evidence-bot@example.org")
        .env("EVIDENCE_E2E_JIRA_TOKEN", "ATATT3xFfGF0-reliability-token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_bound_is_read_from_the_jql_in_utc() {
        assert_eq!(
            lower_bound("(project = A) AND updated >= \"2026-01-16 10:50\" ORDER BY updated DESC"),
            Some("2026-01-16T10:50:00Z".parse().unwrap())
        );
        assert_eq!(lower_bound("project = A ORDER BY updated DESC"), None);
    }
}
