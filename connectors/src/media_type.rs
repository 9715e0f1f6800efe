//! Media types for artefacts, from the file name, with the types auditors meet most pinned down.

/// The media type for a file name: a few evidence formats explicitly, the rest by extension.
pub fn for_file_name(name: &str) -> String {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let pinned = match ext.as_deref() {
        Some("md" | "markdown") => Some("text/markdown"),
        Some("log" | "txt") => Some("text/plain"),
        Some("json") => Some("application/json"),
        Some("jsonl" | "ndjson") => Some("application/x-ndjson"),
        Some("yaml" | "yml") => Some("application/yaml"),
        Some("csv") => Some("text/csv"),
        Some("toml") => Some("application/toml"),
        _ => None,
    };
    match pinned {
        Some(t) => t.to_owned(),
        None => mime_guess::from_path(name)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_evidence_formats_have_stable_media_types() {
        assert_eq!(for_file_name("MODEL_CARD.md"), "text/markdown");
        assert_eq!(for_file_name("train.log"), "text/plain");
        assert_eq!(for_file_name("risks.CSV"), "text/csv");
        assert_eq!(for_file_name("minutes.pdf"), "application/pdf");
        assert_eq!(for_file_name("blob"), "application/octet-stream");
    }
}
