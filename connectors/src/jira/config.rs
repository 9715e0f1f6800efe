//! The Jira source's configuration as written in the agent's TOML, and its pure check into the
//! settings the connector runs with (site, credentials' variable names, queries, time zone).

use crate::config_error::ConfigError;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::rules::{Tagging, TaggingConfig};

/// `[[source]] type = "jira"`: a Jira Cloud site and the JQL queries whose tickets are evidence.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// The site's base URL, e.g. `https://example.atlassian.net`. `https://` is required except
    /// for loopback addresses; credentials in the URL are refused.
    pub site: String,
    /// Basic authentication: the variable holding the account's e-mail address…
    #[serde(default)]
    pub email_env: Option<String>,
    /// …and the variable holding its API token.
    #[serde(default)]
    pub api_token_env: Option<String>,
    /// Bearer authentication (OAuth 2.0 access token): the variable holding the token. Give this
    /// or `email_env` with `api_token_env`, not both.
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// The IANA time zone Jira interprets JQL dates in: the profile time zone of the account the
    /// connector runs as (default `UTC`). The connector compares it with the account's profile.
    #[serde(default = "default_time_zone")]
    pub jql_timezone: String,
    /// How far before the last watermark each run searches again, because search results lag
    /// behind updates (default 900 seconds). Tickets seen again are not sealed twice.
    #[serde(default = "default_overlap_secs")]
    pub overlap_secs: u64,
    /// Issues per search page (`maxResults`, 1–100; default 100).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Changelog entries per page (`maxResults`, 1–100; default 100).
    #[serde(default = "default_page_size")]
    pub changelog_page_size: u32,
    /// Fields requested in addition to those the connector needs (e.g. `customfield_10042`).
    #[serde(default)]
    pub extra_fields: Vec<String>,
    /// Fetch each ticket's remote links (`/issue/{key}/remotelink`) to find post-incident reviews
    /// kept outside Jira (default: yes; one more request per ticket).
    #[serde(default = "default_true")]
    pub remote_links: bool,
    /// Status names that mean the ticket was resolved, for finding the resolver when a workflow
    /// sets no resolution (case-insensitive; default Done, Resolved, Closed).
    #[serde(default = "default_done_statuses")]
    pub done_statuses: Vec<String>,
    /// A linked issue whose type is one of these, or a link whose title contains one of
    /// `review_keywords`, is recorded as the ticket's post-incident review.
    #[serde(default = "default_review_issue_types")]
    pub review_issue_types: Vec<String>,
    /// Case-insensitive words marking a linked issue's summary or a remote link's title as a
    /// post-incident review.
    #[serde(default = "default_review_keywords")]
    pub review_keywords: Vec<String>,
    /// The queries, each a JQL and the evidence kind of what it finds.
    #[serde(rename = "query", default)]
    pub queries: Vec<QueryConfig>,
}

/// `[[source.query]]`: one JQL and the evidence kind of its tickets.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// Names the query in population and gap records and in the cursor; defaults to `kind`.
    #[serde(default)]
    pub name: Option<String>,
    /// The JQL, without `ORDER BY` (the connector orders by `updated`), e.g.
    /// `project = AIOPS AND type = Incident`. It must be bounded (name a project or similar).
    pub jql: String,
    /// Evidence kind (required), e.g. `incident_ticket`, `corrective_action_ticket`; controls,
    /// clauses and phase default to the catalogue's mapping for it.
    #[serde(flatten)]
    pub tagging: TaggingConfig,
}

fn default_time_zone() -> String {
    "UTC".to_owned()
}

fn default_overlap_secs() -> u64 {
    900
}

fn default_page_size() -> u32 {
    100
}

fn default_true() -> bool {
    true
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn default_done_statuses() -> Vec<String> {
    strings(&["Done", "Resolved", "Closed"])
}

fn default_review_issue_types() -> Vec<String> {
    strings(&["Post-incident review", "Postmortem"])
}

fn default_review_keywords() -> Vec<String> {
    strings(&["post-incident review", "postmortem", "post-mortem", "PIR"])
}

/// Where the credentials come from: names of environment variables, never their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    Basic {
        email_env: String,
        token_env: String,
    },
    Bearer {
        token_env: String,
    },
}

/// One checked query.
#[derive(Debug, Clone)]
pub struct Query {
    /// Unique within the source.
    pub name: String,
    pub jql: String,
    pub tagging: Tagging,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL without a trailing `/`.
    pub site: String,
    pub auth: AuthConfig,
    pub time_zone_name: String,
    pub time_zone: TimeZone,
    pub overlap_secs: u64,
    pub page_size: u32,
    pub changelog_page_size: u32,
    pub fields: Vec<String>,
    pub remote_links: bool,
    pub done_statuses: Vec<String>,
    pub review_issue_types: Vec<String>,
    pub review_keywords: Vec<String>,
    pub queries: Vec<Query>,
}

/// Fields every search asks for: what the metadata record is built from.
pub const REQUIRED_FIELDS: [&str; 16] = [
    "summary",
    "status",
    "issuetype",
    "priority",
    "reporter",
    "assignee",
    "creator",
    "created",
    "updated",
    "resolution",
    "resolutiondate",
    "issuelinks",
    "labels",
    "components",
    "project",
    "description",
];

/// Longest overlap accepted: a week. Longer windows re-read too much on every run.
const MAX_OVERLAP_SECS: u64 = 7 * 24 * 3600;

impl JiraConfig {
    /// Check the configuration. `at` names the source in messages. Pure: reads no variable.
    pub fn check(&self, at: &str) -> Result<Settings, ConfigError> {
        let site = check_site(&self.site, at)?;
        let auth = match (&self.email_env, &self.api_token_env, &self.bearer_token_env) {
            (Some(e), Some(t), None) => AuthConfig::Basic {
                email_env: e.clone(),
                token_env: t.clone(),
            },
            (None, None, Some(t)) => AuthConfig::Bearer {
                token_env: t.clone(),
            },
            _ => {
                return Err(ConfigError::new(
                    at,
                    "give either `email_env` and `api_token_env` (basic authentication with an API token) or `bearer_token_env`".to_string(),
                ));
            }
        };
        for var in [&self.email_env, &self.api_token_env, &self.bearer_token_env]
            .into_iter()
            .flatten()
        {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                return Err(ConfigError::new(
                    at,
                    format!("{var:?} is not an environment variable name"),
                ));
            }
        }
        let time_zone = TimeZone::get(&self.jql_timezone).map_err(|e| {
            ConfigError::new(
                format!("{at} jql_timezone"),
                format!(
                    "{:?} is not an IANA time zone (e.g. \"Europe/Berlin\"): {e}",
                    self.jql_timezone
                ),
            )
            .key("jql_timezone")
        })?;
        if self.overlap_secs > MAX_OVERLAP_SECS {
            return Err(ConfigError::new(
                format!("{at} overlap_secs"),
                format!("{} is more than a week", self.overlap_secs),
            )
            .key("overlap_secs"));
        }
        for (key, value) in [
            ("page_size", self.page_size),
            ("changelog_page_size", self.changelog_page_size),
        ] {
            if !(1..=100).contains(&value) {
                return Err(ConfigError::new(
                    format!("{at} {key}"),
                    format!("{value} is not between 1 and 100"),
                )
                .key(key));
            }
        }
        let mut fields: Vec<String> = REQUIRED_FIELDS.iter().map(|f| (*f).to_owned()).collect();
        for f in &self.extra_fields {
            if f.is_empty() || f.contains(',') {
                return Err(ConfigError::new(
                    format!("{at} extra_fields"),
                    format!("{f:?} is not a field id"),
                )
                .key("extra_fields"));
            }
            if !fields.contains(f) {
                fields.push(f.clone());
            }
        }
        if self.queries.is_empty() {
            return Err(ConfigError::new(
                at,
                "no `[[source.query]]`; add at least one JQL with its kind".to_string(),
            ));
        }
        let mut queries: Vec<Query> = Vec::with_capacity(self.queries.len());
        for (i, q) in self.queries.iter().enumerate() {
            let Some(kind) = q.tagging.kind.as_deref() else {
                return Err(ConfigError::new(
                    format!("{at} query {}", i + 1),
                    "missing field `kind`; name the evidence kind of its tickets",
                )
                .key("kind"));
            };
            let name = q.name.clone().unwrap_or_else(|| kind.to_owned());
            let qat = format!("{at} query {} ({name:?})", i + 1);
            if name.is_empty() || name.chars().any(char::is_control) {
                return Err(
                    ConfigError::new(&qat, "the name must be printable and not empty").key("name"),
                );
            }
            if queries.iter().any(|other| other.name == name) {
                return Err(ConfigError::new(
                    &qat,
                    "another query has this name; give each query of the same kind a `name`",
                )
                .key("name"));
            }
            let jql = q.jql.trim();
            if jql.is_empty() {
                return Err(ConfigError::new(&qat, "the JQL is empty").key("jql"));
            }
            if super::jql::has_order_by(jql) {
                return Err(ConfigError::new(
                    &qat,
                    "leave out ORDER BY; the connector orders by `updated` itself",
                )
                .key("jql"));
            }
            let tagging = q.tagging.resolve(None, &qat)?;
            queries.push(Query {
                name,
                jql: jql.to_owned(),
                tagging,
            });
        }
        Ok(Settings {
            site,
            auth,
            time_zone_name: self.jql_timezone.clone(),
            time_zone,
            overlap_secs: self.overlap_secs,
            page_size: self.page_size,
            changelog_page_size: self.changelog_page_size,
            fields,
            remote_links: self.remote_links,
            done_statuses: self.done_statuses.clone(),
            review_issue_types: self.review_issue_types.clone(),
            review_keywords: self.review_keywords.clone(),
            queries,
        })
    }
}

/// Check a site URL: `https://` (or `http://` to a loopback host), no credentials, query or
/// fragment. Returns it without a trailing `/`.
fn check_site(site: &str, at: &str) -> Result<String, ConfigError> {
    let bad = |reason: String| ConfigError::new(format!("{at} site"), reason).key("site");
    let url =
        reqwest::Url::parse(site.trim()).map_err(|e| bad(format!("{site:?} is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "the URL must not contain credentials; use the `*_env` settings".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!("{site:?} must not have a query or fragment")));
    }
    let host = url
        .host_str()
        .ok_or_else(|| bad(format!("{site:?} has no host")))?;
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        other => {
            return Err(bad(format!(
                "{site:?}: scheme {other:?} is not allowed; use https://"
            )));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> JiraConfig {
        toml::from_str(toml_text).unwrap()
    }

    const MINIMAL: &str = r#"
site = "https://example.atlassian.net/"
email_env = "JIRA_EMAIL"
api_token_env = "JIRA_API_TOKEN"
[[query]]
jql = "project = AIOPS AND type = Incident"
kind = "incident_ticket"
"#;

    #[test]
    fn a_minimal_config_gets_the_documented_defaults() {
        let s = config(MINIMAL).check("source \"jira\"").unwrap();
        assert_eq!(s.site, "https://example.atlassian.net");
        assert_eq!(s.time_zone_name, "UTC");
        assert_eq!(s.overlap_secs, 900);
        assert_eq!(s.page_size, 100);
        assert!(s.remote_links);
        assert_eq!(s.queries[0].name, "incident_ticket");
        assert!(
            s.queries[0]
                .tagging
                .controls
                .iter()
                .any(|c| c.as_str() == "A.8.4")
        );
        assert!(s.fields.iter().any(|f| f == "updated"));
    }

    #[test]
    fn credentials_must_be_one_complete_mode() {
        let both = MINIMAL.replace("[[query]]", "bearer_token_env = \"JIRA_BEARER\"\n[[query]]");
        let err = config(&both).check("s").unwrap_err();
        assert!(err.to_string().contains("either"), "{err}");
        let half = MINIMAL.replace("api_token_env = \"JIRA_API_TOKEN\"\n", "");
        assert!(config(&half).check("s").is_err());
        let bearer = MINIMAL.replace(
            "email_env = \"JIRA_EMAIL\"\napi_token_env = \"JIRA_API_TOKEN\"",
            "bearer_token_env = \"JIRA_BEARER\"",
        );
        assert_eq!(
            config(&bearer).check("s").unwrap().auth,
            AuthConfig::Bearer {
                token_env: "JIRA_BEARER".into()
            }
        );
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback_and_credentials_in_the_url_always() {
        assert!(check_site("http://example.atlassian.net", "s").is_err());
        assert!(check_site("http://127.0.0.1:8080", "s").is_ok());
        assert!(check_site("http://localhost:8080/", "s").is_ok());
        let err = check_site("https://me:secret@example.atlassian.net", "s").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(check_site("ftp://example.org", "s").is_err());
    }

    #[test]
    fn an_unknown_time_zone_is_a_configuration_error_naming_it() {
        let text = MINIMAL.replace("[[query]]", "jql_timezone = \"Mars/Olympus\"\n[[query]]");
        let err = config(&text).check("s").unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn queries_need_unique_names_a_known_control_and_no_order_by() {
        let twice =
            format!("{MINIMAL}\n[[query]]\njql = \"project = X\"\nkind = \"incident_ticket\"\n");
        assert!(
            config(&twice)
                .check("s")
                .unwrap_err()
                .to_string()
                .contains("name")
        );
        let ordered = MINIMAL.replace("type = Incident", "type = Incident ORDER BY created");
        assert!(
            config(&ordered)
                .check("s")
                .unwrap_err()
                .to_string()
                .contains("ORDER BY")
        );
        let invented = format!("{MINIMAL}controls = [\"A.6.6\"]\n");
        assert!(
            config(&invented)
                .check("s")
                .unwrap_err()
                .to_string()
                .contains("A.6.6")
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = MINIMAL.replace("[[query]]", "pasword_env = \"X\"\n[[query]]");
        assert!(toml::from_str::<JiraConfig>(&text).is_err());
    }

    #[test]
    fn page_sizes_and_overlap_are_bounded() {
        let big = MINIMAL.replace("[[query]]", "page_size = 5000\n[[query]]");
        assert!(config(&big).check("s").is_err());
        let long = MINIMAL.replace("[[query]]", "overlap_secs = 99999999\n[[query]]");
        assert!(config(&long).check("s").is_err());
    }
}
