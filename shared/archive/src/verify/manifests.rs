//! The manifests pass: the tag manifest lists exactly the tag files present, with their
//! digests; the payload manifest lists exactly the payload files, and Payload-Oxum counts them.
//! Payload digests themselves are checked as the payload streams (the records pass).

use std::collections::BTreeSet;

use evidence_model::Sha256Digest;

use super::bag::Bag;
use super::layout::{Opened, Tags};
use super::report::{Category, Ctx};
use crate::bag::Manifest;
use crate::layout;

/// The payload manifest, parsed, with the exact text it was parsed from.
pub(super) struct PayloadManifest {
    pub(super) manifest: Manifest,
    pub(super) text: String,
}

/// Check the tag manifest against the tag files read.
pub(super) fn check_tag_manifest(tags: &Tags, ctx: &mut Ctx) {
    let tag_manifest = tags.text(layout::TAG_MANIFEST, ctx).and_then(|t| {
        Manifest::parse(&t, layout::TAG_MANIFEST)
            .map_err(|e| {
                ctx.error(
                    Some(layout::TAG_MANIFEST),
                    Category::Manifest,
                    e.to_string(),
                )
            })
            .ok()
    });
    let Some(tm) = tag_manifest else {
        ctx.error(
            Some(layout::TAG_MANIFEST),
            Category::Manifest,
            "tagmanifest-sha256.txt is missing or unreadable",
        );
        return;
    };
    let present: BTreeSet<&str> = tags
        .bytes
        .keys()
        .copied()
        .filter(|n| *n != layout::TAG_MANIFEST)
        .collect();
    let listed: BTreeSet<&str> = tm.iter().map(|(p, _)| p).collect();
    for missing in listed.difference(&present) {
        ctx.error(
            Some(missing),
            Category::Manifest,
            "listed in the tag manifest but missing",
        );
    }
    for unlisted in present.difference(&listed) {
        ctx.error(
            Some(unlisted),
            Category::Manifest,
            "tag file not listed in the tag manifest",
        );
    }
    for (name, bytes) in &tags.bytes {
        if let Some(expected) = tm.get(name) {
            let actual = Sha256Digest::of(bytes);
            if &actual != expected {
                ctx.error(
                    Some(name),
                    Category::Digest,
                    format!("SHA-256 is {actual}, the tag manifest says {expected}"),
                );
            }
        }
    }
}

/// Check the payload manifest against the payload entries and Payload-Oxum; `None` when it
/// cannot be read (nothing more can be checked then).
pub(super) fn check_payload_manifest(
    opened: &Opened,
    tags: &Tags,
    bag: &Bag,
    payload: &[(String, usize)],
    ctx: &mut Ctx,
) -> Option<PayloadManifest> {
    let text = tags.text(layout::MANIFEST, ctx);
    let manifest = text.as_deref().and_then(|t| {
        Manifest::parse(t, layout::MANIFEST)
            .map_err(|e| ctx.error(Some(layout::MANIFEST), Category::Manifest, e.to_string()))
            .ok()
    });
    let (Some(manifest), Some(text)) = (manifest, text) else {
        ctx.error(
            Some(layout::MANIFEST),
            Category::Manifest,
            "manifest-sha256.txt is missing or unreadable",
        );
        return None;
    };
    let payload_set: BTreeSet<&str> = payload.iter().map(|(p, _)| p.as_str()).collect();
    for (listed, _) in manifest.iter() {
        if !payload_set.contains(listed) {
            ctx.error(
                Some(listed),
                Category::Manifest,
                "listed in the manifest but missing from the bundle",
            );
        }
    }
    let payload_bytes: u64 = payload.iter().map(|(_, i)| opened.entries[*i].size).sum();
    let info = &bag.info;
    if info.payload_bytes != payload_bytes || info.payload_files != payload.len() as u64 {
        ctx.error(
            Some(layout::BAG_INFO),
            Category::Manifest,
            format!(
                "Payload-Oxum says {}.{} but the payload is {payload_bytes}.{}",
                info.payload_bytes,
                info.payload_files,
                payload.len()
            ),
        );
    }
    Some(PayloadManifest { manifest, text })
}
