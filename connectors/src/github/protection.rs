//! Branch protection and rulesets of a repository's default branch (`branch_protection`): one
//! item holding both answers as fetched, sealed when they change. The derived facts (required
//! checks and reviews, stale-review dismissal) also feed the pull request items.

use std::collections::BTreeMap;

use evidence_model::Sha256Digest;
use serde_json::Value;

use super::client::Client;
use super::config::Tags;
use super::cursor::{Etag, ProtectionState, ProtectionSummary, RepoRef, RepoState};
use super::population::Tally;
use super::{Run, raw_object};
use crate::connector::{CollectContext, ConnectorError};
use crate::sink::ItemDraft;

/// Derive the facts pull requests are checked against from the classic protection (when the
/// branch has one) and the rules that apply to the branch.
pub(crate) fn summarise(protection: Option<&Value>, rules: &Value) -> ProtectionSummary {
    let mut s = ProtectionSummary::default();
    let mut checks = Vec::new();
    if let Some(p) = protection {
        s.protected = true;
        if let Some(rsc) = p.get("required_status_checks") {
            for c in rsc
                .get("contexts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(c) = c.as_str() {
                    checks.push(c.to_owned());
                }
            }
            for c in rsc
                .get("checks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(c) = super::text(c, "context") {
                    checks.push(c.to_owned());
                }
            }
        }
        if let Some(r) = p.get("required_pull_request_reviews") {
            s.required_approving_review_count = r
                .get("required_approving_review_count")
                .and_then(Value::as_u64);
            s.dismiss_stale_reviews = r
                .get("dismiss_stale_reviews")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        }
    }
    for rule in rules.as_array().into_iter().flatten() {
        s.protected = true;
        let params = rule.get("parameters");
        match super::text(rule, "type") {
            Some("required_status_checks") => {
                for c in params
                    .and_then(|p| p.get("required_status_checks"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(c) = super::text(c, "context") {
                        checks.push(c.to_owned());
                    }
                }
            }
            Some("pull_request") => {
                let count = params
                    .and_then(|p| p.get("required_approving_review_count"))
                    .and_then(Value::as_u64);
                s.required_approving_review_count = s.required_approving_review_count.max(count);
                s.dismiss_stale_reviews |= params
                    .and_then(|p| p.get("dismiss_stale_reviews_on_push"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            }
            _ => {}
        }
    }
    checks.sort();
    checks.dedup();
    s.required_checks = checks;
    s
}

/// The two answers for one branch. A 404 is an answer for both: no classic protection, or a
/// server without rulesets (GitHub Enterprise Server before 3.9).
struct Fetched {
    protection: super::client::Page,
    rules: super::client::Page,
    /// Both answers are the same as last run's: 304, or 404 again after a 404.
    unchanged: bool,
}

/// True when `page` says the same as last run's answer with status `before`: a 304, or a 404
/// (which carries no ETag) after a 404.
fn same_as_before(page: &super::client::Page, before: Option<u16>) -> bool {
    page.not_modified() || (page.status == 404 && before == Some(404))
}

async fn fetch(
    client: &Client,
    ctx: &CollectContext<'_>,
    repo: &str,
    branch: &str,
    etags: (Option<&str>, Option<&str>),
    before: (Option<u16>, Option<u16>),
) -> Result<Fetched, ConnectorError> {
    let (owner, name) = super::split_full_name(repo);
    let prot_url = client.url(
        &["repos", owner, name, "branches", branch, "protection"],
        &[],
    );
    let rules_url = client.url(&["repos", owner, name, "rules", "branches", branch], &[]);
    let mut protection = client.get_json_or_404(&prot_url, etags.0, ctx).await?;
    let mut rules = client.get_json_or_404(&rules_url, etags.1, ctx).await?;
    let unchanged = same_as_before(&protection, before.0) && same_as_before(&rules, before.1);
    // A conditional answer has no body: when only one of the two changed, fetch the other whole.
    if !unchanged {
        if protection.not_modified() {
            protection = client.get_json_or_404(&prot_url, None, ctx).await?;
        }
        if rules.not_modified() {
            rules = client.get_json_or_404(&rules_url, None, ctx).await?;
        }
    }
    Ok(Fetched {
        protection,
        rules,
        unchanged,
    })
}

/// The protection facts of `branch`, for pull requests into it: from this run, the cursor, or
/// fetched now. `None` when they cannot be read (e.g. the token may not read protection).
pub(crate) async fn summary_for(
    run: &mut Run<'_>,
    repo: &str,
    branch: &str,
) -> Option<ProtectionSummary> {
    let key = (repo.to_owned(), branch.to_owned());
    if let Some(s) = run.protections.get(&key) {
        return s.clone();
    }
    let ctx = run.ctx;
    let summary = match fetch(run.client, ctx, repo, branch, (None, None), (None, None)).await {
        Ok(f) => Some(summarise(
            (f.protection.status == 200).then_some(&f.protection.json),
            &f.rules.json,
        )),
        Err(_) => None,
    };
    run.protections.insert(key, summary.clone());
    summary
}

/// Collect the default branch's protection of `repo`.
pub(crate) async fn collect(
    run: &mut Run<'_>,
    repo: &RepoRef,
    state: &mut RepoState,
    tags: &Tags,
) -> Result<(), ConnectorError> {
    let branch = repo.default_branch.clone();
    let scope = repo.full_name.clone();
    let previous = state.protection.clone().filter(|p| p.branch == branch);
    let mut tally = Tally::new();
    let (owner, name) = super::split_full_name(&repo.full_name);
    let query = format!(
        "GET /repos/{owner}/{name}/branches/{branch}/protection; GET /repos/{owner}/{name}/rules/branches/{branch}"
    );
    let prot_url = run.client.url(
        &["repos", owner, name, "branches", &branch, "protection"],
        &[],
    );
    let rules_url = run
        .client
        .url(&["repos", owner, name, "rules", "branches", &branch], &[]);
    let etags = previous.as_ref().map_or((None, None), |p| {
        (
            Etag::for_url(p.protection_etag.as_ref(), &prot_url),
            Etag::for_url(p.rules_etag.as_ref(), &rules_url),
        )
    });
    let ctx = run.ctx;
    let before = previous
        .as_ref()
        .map_or((None, None), |p| (p.protection_status, p.rules_status));
    let fetched = fetch(run.client, ctx, &repo.full_name, &branch, etags, before).await;
    let fetched = match fetched {
        Ok(f) => f,
        Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
        Err(e) => {
            run.gap(&format!("{scope} ({})", tags.kind), &e).await?;
            tally.incomplete(format!("the protection could not be read: {e}"));
            let record = tally.record(run.source.clone(), &scope, &tags.kind, &query);
            run.sink.population(record).await?;
            return Ok(());
        }
    };
    tally.pages_walked = 2;
    tally.seen = 1;
    if let Some(prev) = previous.as_ref().filter(|_| fetched.unchanged) {
        tally.unchanged = 1;
        tally.not_modified = true;
        run.protections.insert(
            (repo.full_name.clone(), branch.clone()),
            Some(prev.summary.clone()),
        );
        let record = tally.record(run.source.clone(), &scope, &tags.kind, &query);
        run.sink.population(record).await?;
        return Ok(());
    }
    let protected = fetched.protection.status == 200;
    let summary = summarise(
        protected.then_some(&fetched.protection.json),
        &fetched.rules.json,
    );
    run.protections.insert(
        (repo.full_name.clone(), branch.clone()),
        Some(summary.clone()),
    );
    let branch_json = Value::from(branch.as_str()).to_string();
    let status = fetched.protection.status.to_string();
    let rules_status = fetched.rules.status.to_string();
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("branch", branch_json.as_bytes()),
        ("protection_status", status.as_bytes()),
        ("protection", &fetched.protection.body),
    ];
    // A 404 from the rules endpoint (no rulesets on this server) is kept with its status.
    if fetched.rules.status == 404 {
        parts.push(("rules_status", rules_status.as_bytes()));
    }
    parts.push(("rules", &fetched.rules.body));
    let body = raw_object(&parts);
    let sha256 = Sha256Digest::of(&body);
    let etag = |page: &super::client::Page, url: &str| {
        page.etag.clone().map(|etag| Etag {
            url: url.to_owned(),
            etag,
        })
    };
    let mut next = ProtectionState {
        branch: branch.clone(),
        protection_etag: etag(&fetched.protection, &prot_url),
        rules_etag: etag(&fetched.rules, &rules_url),
        sha256: previous.as_ref().and_then(|p| p.sha256),
        summary: summary.clone(),
        protection_status: Some(fetched.protection.status),
        rules_status: Some(fetched.rules.status),
    };
    if previous.as_ref().and_then(|p| p.sha256) == Some(sha256) {
        tally.unchanged = 1;
        state.protection = Some(next);
        let record = tally.record(run.source.clone(), &scope, &tags.kind, &query);
        run.sink.population(record).await?;
        return Ok(());
    }
    let p = &fetched.protection.json;
    let flag = |path: &[&str]| {
        let mut v = Some(p);
        for k in path {
            v = v.and_then(|x| x.get(*k));
        }
        v.and_then(Value::as_bool).unwrap_or(false)
    };
    let rulesets: Vec<u64> = fetched
        .rules
        .json
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("ruleset_id").and_then(Value::as_u64))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let attributes = BTreeMap::from([
        (
            "repository".to_owned(),
            Value::from(repo.full_name.as_str()),
        ),
        ("branch".to_owned(), Value::from(branch.as_str())),
        ("protected".to_owned(), Value::from(summary.protected)),
        ("classic_protection".to_owned(), Value::from(protected)),
        (
            "required_checks".to_owned(),
            Value::from(summary.required_checks.clone()),
        ),
        (
            "required_approving_review_count".to_owned(),
            summary
                .required_approving_review_count
                .map_or(Value::Null, Value::from),
        ),
        (
            "dismiss_stale_reviews".to_owned(),
            Value::from(summary.dismiss_stale_reviews),
        ),
        (
            "require_code_owner_reviews".to_owned(),
            Value::from(flag(&[
                "required_pull_request_reviews",
                "require_code_owner_reviews",
            ])),
        ),
        (
            "enforce_admins".to_owned(),
            Value::from(flag(&["enforce_admins", "enabled"])),
        ),
        ("ruleset_ids".to_owned(), Value::from(rulesets)),
    ]);
    let reference = format!("{}@{branch}", repo.full_name);
    let draft = ItemDraft::builder(
        tags,
        format!("{reference}:protection"),
        "branch-protection.json",
        "application/json",
    )
    .title(format!("Branch protection of {reference}"))
    .reference(reference.clone())
    .endpoint(run.endpoint())
    .query(query.clone())
    .attributes(attributes)
    .build();
    if run.put(draft, &mut body.as_slice()).await?.is_some() {
        tally.sealed = 1;
        next.sha256 = Some(sha256);
    } else {
        tally.failed = 1;
    }
    state.protection = Some(next);
    let record = tally.record(run.source.clone(), &scope, &tags.kind, &query);
    run.sink.population(record).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classic_protection_and_rules_both_contribute_required_checks_and_reviews() {
        let protection = json!({
            "required_status_checks": {"contexts": ["ci/test"], "checks": [{"context": "eval", "app_id": null}]},
            "required_pull_request_reviews": {"required_approving_review_count": 1, "dismiss_stale_reviews": false}
        });
        let rules = json!([
            {"type": "required_status_checks", "parameters": {"required_status_checks": [{"context": "ci/test"}, {"context": "lint"}]}},
            {"type": "pull_request", "parameters": {"required_approving_review_count": 2, "dismiss_stale_reviews_on_push": true}}
        ]);
        let s = summarise(Some(&protection), &rules);
        assert_eq!(s.required_checks, ["ci/test", "eval", "lint"]);
        assert_eq!(s.required_approving_review_count, Some(2));
        assert!(s.dismiss_stale_reviews && s.protected);
    }

    #[test]
    fn a_branch_without_protection_or_rules_is_unprotected() {
        let s = summarise(None, &json!([]));
        assert!(!s.protected && s.required_checks.is_empty());
        assert_eq!(s.required_approving_review_count, None);
    }
}
