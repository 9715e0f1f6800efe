//! Which repositories a run collects: the organisation's listing (`/orgs/{org}/repos`, page by
//! page with ETags) and the configured list (`/repos/{owner}/{repo}`), filtered by the include
//! and exclude globs. A configured repository that cannot be read becomes a gap.

use evidence_model::PopulationRecord;

use super::Run;
use super::cursor::{CachedPage, GithubCursor, RepoRef};
use crate::connector::ConnectorError;

/// Most listing pages walked for one organisation (100 000 repositories at 100 a page).
const MAX_ORG_PAGES: usize = 1000;

/// Read a repository object of the listing.
fn repo_ref(v: &serde_json::Value) -> Option<RepoRef> {
    Some(RepoRef {
        full_name: super::text(v, "full_name")?.to_owned(),
        default_branch: super::text(v, "default_branch")
            .unwrap_or("main")
            .to_owned(),
        archived: v
            .get("archived")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
    })
}

/// The repositories to collect this run, sorted by name. Fails only when the organisation's
/// listing cannot be read (the source as a whole failed).
pub(crate) async fn list(
    run: &mut Run<'_>,
    state: &mut GithubCursor,
) -> Result<Vec<RepoRef>, ConnectorError> {
    let mut found: Vec<RepoRef> = Vec::new();
    if let Some(org) = run.settings.org.clone() {
        let first = run.client.url(
            &["orgs", &org, "repos"],
            &[
                ("type", "all".into()),
                ("per_page", run.settings.per_page.to_string()),
            ],
        );
        let mut url = Some(first.clone());
        let mut pages = Vec::new();
        let mut all_not_modified = true;
        while let Some(u) = url.take() {
            if pages.len() >= MAX_ORG_PAGES {
                return Err(ConnectorError::InvalidResponse {
                    resource: format!("organisation {org}"),
                    detail: format!("more than {MAX_ORG_PAGES} pages of repositories"),
                });
            }
            let cached = state
                .org_pages
                .get(pages.len())
                .filter(|p| p.url == u)
                .cloned();
            let page = run
                .client
                .get_json(&u, cached.as_ref().map(|c| c.etag.as_str()), run.ctx)
                .await?;
            if page.not_modified()
                && let Some(c) = cached
            {
                url = page
                    .next
                    .clone()
                    .or_else(|| state.org_pages.get(pages.len() + 1).map(|p| p.url.clone()));
                pages.push(c);
                continue;
            }
            all_not_modified = false;
            let items = page
                .json
                .as_array()
                .ok_or_else(|| ConnectorError::InvalidResponse {
                    resource: format!("organisation {org}"),
                    detail: "the repository listing is not a JSON array".into(),
                })?;
            let derived: Vec<RepoRef> = items.iter().filter_map(repo_ref).collect();
            url = page.next.clone();
            pages.push(CachedPage {
                url: u,
                etag: page.etag.clone().unwrap_or_default(),
                derived,
            });
        }
        let mut record = PopulationRecord::new(
            "github",
            run.source.clone(),
            &format!("org {org}"),
            &format!("GET /orgs/{org}/repos?type=all (all pages)"),
        );
        record.pages_walked = pages.len() as u64;
        let listed: Vec<RepoRef> = pages.iter().flat_map(|p| p.derived.clone()).collect();
        record.items_seen = listed.len() as u64;
        let mut skipped_archived = 0u64;
        let mut filtered = 0u64;
        for r in listed {
            if r.archived && !run.settings.include_archived {
                skipped_archived += 1;
            } else if !run.settings.wants(&r.full_name) {
                filtered += 1;
            } else {
                found.push(r);
            }
        }
        record.items_unchanged = 0;
        record
            .attributes
            .insert("repositories_collected".into(), (found.len() as u64).into());
        record
            .attributes
            .insert("skipped_archived".into(), skipped_archived.into());
        record
            .attributes
            .insert("excluded_by_globs".into(), filtered.into());
        record
            .attributes
            .insert("not_modified".into(), all_not_modified.into());
        run.sink.population(record).await?;
        state.org_pages = pages.into_iter().filter(|p| !p.etag.is_empty()).collect();
    }
    for full_name in run.settings.repos.clone() {
        if found
            .iter()
            .any(|r| r.full_name.eq_ignore_ascii_case(&full_name))
        {
            continue;
        }
        let (owner, name) = super::split_full_name(&full_name);
        let url = run.client.url(&["repos", owner, name], &[]);
        let repo_state = state.repos.entry(full_name.clone()).or_default();
        let cached = repo_state.repo_page.clone().filter(|c| c.url == url);
        let answer = run
            .client
            .get_json(&url, cached.as_ref().map(|c| c.etag.as_str()), run.ctx)
            .await;
        match answer {
            Ok(page) if page.not_modified() && cached.is_some() => {
                if let Some(c) = cached {
                    found.push(c.derived);
                }
            }
            Ok(page) => match repo_ref(&page.json) {
                Some(r) => {
                    if let Some(etag) = page.etag.clone() {
                        repo_state.repo_page = Some(CachedPage {
                            url,
                            etag,
                            derived: r.clone(),
                        });
                    }
                    found.push(r);
                }
                None => {
                    let e = ConnectorError::InvalidResponse {
                        resource: format!("repository {full_name}"),
                        detail: "the answer has no full_name".into(),
                    };
                    run.gap(&full_name, &e).await?;
                }
            },
            Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
            Err(e) => run.gap(&full_name, &e).await?,
        }
    }
    found.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    found.dedup_by(|a, b| a.full_name == b.full_name);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_repository_keeps_its_name_default_branch_and_archived_flag() {
        let r = repo_ref(&serde_json::json!({
            "full_name": "acme/model", "default_branch": "trunk", "archived": true
        }))
        .unwrap();
        assert_eq!(
            r,
            RepoRef {
                full_name: "acme/model".into(),
                default_branch: "trunk".into(),
                archived: true
            }
        );
        assert!(repo_ref(&serde_json::json!({"name": "x"})).is_none());
    }
}
