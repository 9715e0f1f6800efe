//! Model and dataset cards (`model_card`, `dataset_datasheet`): configured repository files,
//! sealed whenever their blob changes, with Hugging Face style YAML front matter parsed into
//! metadata. A card a repository does not have is noted, not a gap.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use super::Run;
use super::client::RAW_MEDIA_TYPE;
use super::config::Card;
use super::cursor::{CardState, Etag, RepoRef};
use super::population::Tally;
use crate::connector::ConnectorError;
use crate::front_matter;
use crate::media_type;
use crate::sink::ItemDraft;

/// Decode the `content` of a `/contents/{path}` answer (base64 with line breaks).
pub(crate) fn decode_content(content: &str) -> Option<Vec<u8>> {
    let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

fn apply_front_matter(bytes: &[u8], draft: &mut ItemDraft) {
    let head = &bytes[..bytes.len().min(front_matter::MAX_FRONT_MATTER_BYTES + 16)];
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
                .insert("front_matter".into(), Value::Object(fm.fields));
        }
        Ok(None) => {}
        Err(reason) => {
            draft
                .attributes
                .insert("front_matter_error".into(), reason.into());
        }
    }
}

/// Collect card `card` of `repo`.
pub(crate) async fn collect(
    run: &mut Run<'_>,
    repo: &RepoRef,
    states: &mut BTreeMap<String, CardState>,
    card: &Card,
) -> Result<(), ConnectorError> {
    let full = repo.full_name.as_str();
    let (owner, name) = super::split_full_name(full);
    let mut segments = vec!["repos", owner, name, "contents"];
    segments.extend(card.path.split('/'));
    let url = run.client.url(&segments, &[]);
    let query = format!("GET /repos/{owner}/{name}/contents/{}", card.path);
    let scope = format!("{full}:{}", card.path);
    let kind = &card.tags.kind;
    let mut tally = Tally::new();
    tally.pages_walked = 1;
    let previous = states.get(&card.path).cloned();
    let etag = Etag::for_url(previous.as_ref().and_then(|p| p.etag.as_ref()), &url);
    let page = match run.client.get_json_or_404(&url, etag, run.ctx).await {
        Ok(p) => p,
        Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
        Err(e) => {
            run.gap(&format!("{scope} ({kind})"), &e).await?;
            tally.incomplete(format!("the file could not be read: {e}"));
            run.sink
                .population(tally.record(run.source.clone(), &scope, kind, &query))
                .await?;
            return Ok(());
        }
    };
    if page.status == 404 {
        tally.skip("absent");
        tally
            .notes
            .push(format!("{full} has no {} on its default branch", card.path));
        run.sink
            .population(tally.record(run.source.clone(), &scope, kind, &query))
            .await?;
        return Ok(());
    }
    tally.seen = 1;
    if page.not_modified() {
        tally.not_modified = true;
        tally.unchanged = 1;
        run.sink
            .population(tally.record(run.source.clone(), &scope, kind, &query))
            .await?;
        return Ok(());
    }
    let json = &page.json;
    let (Some("file"), Some(sha)) = (super::text(json, "type"), super::text(json, "sha")) else {
        let e = ConnectorError::InvalidResponse {
            resource: scope.clone(),
            detail: "the path is not a file".into(),
        };
        run.gap(&format!("{scope} ({kind})"), &e).await?;
        tally.failed = 1;
        run.sink
            .population(tally.record(run.source.clone(), &scope, kind, &query))
            .await?;
        return Ok(());
    };
    let sha = sha.to_owned();
    let next_state = CardState {
        blob_sha: sha.clone(),
        etag: page.etag.clone().map(|etag| Etag {
            url: url.clone(),
            etag,
        }),
    };
    if previous.as_ref().is_some_and(|p| p.blob_sha == sha) {
        tally.unchanged = 1;
        states.insert(card.path.clone(), next_state);
        run.sink
            .population(tally.record(run.source.clone(), &scope, kind, &query))
            .await?;
        return Ok(());
    }
    let size = json.get("size").and_then(Value::as_u64);
    let file_name = card
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&card.path)
        .to_owned();
    let media = media_type::for_file_name(&file_name);
    let mut draft = ItemDraft::builder(&card.tags, scope.clone(), file_name, media.clone())
        .url(super::text(json, "html_url").map(str::to_owned))
        .endpoint(run.endpoint())
        .query(query.clone())
        .attributes(BTreeMap::from([
            ("repository".to_owned(), Value::from(full)),
            ("path".to_owned(), Value::from(card.path.as_str())),
            ("blob_sha".to_owned(), Value::from(sha.as_str())),
            ("ref".to_owned(), Value::from(repo.default_branch.as_str())),
        ]))
        .expected_size(size)
        .build();
    let inline = match (super::text(json, "encoding"), super::text(json, "content")) {
        (Some("base64"), Some(c)) => decode_content(c),
        _ => None,
    };
    let staged = match inline {
        Some(bytes) => {
            if media == "text/markdown" {
                apply_front_matter(&bytes, &mut draft);
            }
            run.put(draft, &mut bytes.as_slice()).await?
        }
        None => {
            // Files over 1 MB come without inline content: stream the raw bytes instead.
            match run
                .client
                .download(&url, Some(RAW_MEDIA_TYPE), run.ctx)
                .await
            {
                Ok(mut d) => run.put(draft, &mut d.reader).await?,
                Err(e @ ConnectorError::Interrupted { .. }) => return Err(e),
                Err(e) => {
                    run.gap(&format!("{scope} ({kind})"), &e).await?;
                    None
                }
            }
        }
    };
    if staged.is_some() {
        tally.sealed = 1;
        states.insert(card.path.clone(), next_state);
    } else {
        tally.failed = 1;
    }
    run.sink
        .population(tally.record(run.source.clone(), &scope, kind, &query))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_content_with_line_breaks_decodes() {
        assert_eq!(decode_content("LS0t\nCmxp\n").unwrap(), b"---\nli");
        assert!(decode_content("%%%").is_none());
    }
}
