//! A run's artifacts: the bounded listing of its artifact root and the download path of one
//! artifact (through the server's proxy or the generic endpoint).

use std::collections::VecDeque;

use serde_json::Value;

use super::client::Failure;
use super::{MlflowConnector, str_field};
use crate::connector::CollectContext;

/// Deepest artifact folder walked.
const MAX_ARTIFACT_DEPTH: usize = 32;

/// Percent-encode a path segment list for an URL path, keeping `/`.
pub(super) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The download path for an artifact: through the server's artifact proxy when the run's
/// artifacts live there (`mlflow-artifacts:`), else the generic `get-artifact` endpoint.
pub(super) fn artifact_download_path(artifact_uri: &str, run_id: &str, path: &str) -> String {
    match artifact_uri.strip_prefix("mlflow-artifacts:") {
        Some(rest) => {
            let rest = rest.trim_start_matches('/');
            // `mlflow-artifacts://host/…` names another server; the path follows the host.
            let rest = if artifact_uri.starts_with("mlflow-artifacts://") {
                rest.split_once('/').map_or("", |(_, p)| p)
            } else {
                rest
            };
            format!(
                "api/2.0/mlflow-artifacts/artifacts/{}/{}",
                encode_path(rest.trim_end_matches('/')),
                encode_path(path)
            )
        }
        None => format!(
            "get-artifact?run_uuid={}&path={}",
            encode_path(run_id),
            encode_path(path).replace('/', "%2F")
        ),
    }
}

impl MlflowConnector {
    /// Every file under the run's artifact root (breadth first, bounded), and whether the walk
    /// finished within the limits.
    pub(super) async fn list_artifacts(
        &self,
        run_id: &str,
        ctx: &CollectContext<'_>,
    ) -> Result<(Vec<Value>, bool), Failure> {
        let url = self.url("api/2.0/mlflow/artifacts/list");
        let mut files = Vec::new();
        let mut queue: VecDeque<(String, usize)> = VecDeque::from([(String::new(), 0)]);
        let mut complete = true;
        while let Some((dir, depth)) = queue.pop_front() {
            let mut token: Option<String> = None;
            loop {
                let mut params = vec![("run_id", run_id.to_owned())];
                if !dir.is_empty() {
                    params.push(("path", dir.clone()));
                }
                if let Some(t) = &token {
                    params.push(("page_token", t.clone()));
                }
                let build = || self.client.get(&url).query(&params);
                let page = self
                    .json(
                        &build,
                        &format!("artifacts/list {dir:?} of run {run_id}"),
                        ctx,
                    )
                    .await?;
                for f in page
                    .get("files")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if files.len() >= self.max_artifacts {
                        complete = false;
                        break;
                    }
                    if f.get("is_dir").and_then(Value::as_bool) == Some(true) {
                        match str_field(f, "path") {
                            Some(p) if depth < MAX_ARTIFACT_DEPTH => {
                                queue.push_back((p.to_owned(), depth + 1))
                            }
                            _ => complete = false,
                        }
                    }
                    files.push(f.clone());
                }
                match str_field(&page, "next_page_token") {
                    Some(t) if files.len() < self.max_artifacts && Some(t) != token.as_deref() => {
                        token = Some(t.to_owned())
                    }
                    _ => break,
                }
            }
        }
        Ok((files, complete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_artifacts_download_through_the_artifact_api() {
        assert_eq!(
            artifact_download_path(
                "mlflow-artifacts:/1/abc/artifacts",
                "abc",
                "eval/report v1.json"
            ),
            "api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/eval/report%20v1.json"
        );
        assert_eq!(
            artifact_download_path(
                "mlflow-artifacts://host:5000/1/abc/artifacts",
                "abc",
                "a.md"
            ),
            "api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/a.md"
        );
        assert_eq!(
            artifact_download_path("s3://bucket/1/abc/artifacts", "abc", "logs/train.log"),
            "get-artifact?run_uuid=abc&path=logs%2Ftrain.log"
        );
    }
}
