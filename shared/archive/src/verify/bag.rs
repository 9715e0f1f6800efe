//! The bag pass: `bag-info.txt` first (an unknown format version stops here with a clear
//! message), the signature tag files the format version allows, and the BagIt declaration.

use super::layout::{Opened, Tags};
use super::report::{Category, Ctx};
use crate::bag::{BagInfo, BagTextError};
use crate::layout;

/// The bag's metadata, parsed, with the exact text it was parsed from.
pub(super) struct Bag {
    pub(super) info: BagInfo,
    pub(super) info_text: String,
}

/// Check the bag's declaration and metadata; `None` when bag-info cannot be read.
pub(super) fn check(opened: &Opened, tags: &Tags, ctx: &mut Ctx) -> Option<Bag> {
    let Some(info_text) = tags.text(layout::BAG_INFO, ctx) else {
        ctx.error(
            Some(layout::BAG_INFO),
            Category::Layout,
            "bag-info.txt is missing",
        );
        return None;
    };
    let info = match BagInfo::parse(&info_text) {
        Ok(i) => i,
        Err(e @ BagTextError::UnknownVersion { .. }) => {
            ctx.error(Some(layout::BAG_INFO), Category::Version, e.to_string());
            return None;
        }
        Err(e) => {
            ctx.error(Some(layout::BAG_INFO), Category::Layout, e.to_string());
            return None;
        }
    };
    if info.run != opened.seq {
        ctx.error(
            Some(layout::BAG_INFO),
            Category::Layout,
            format!("Evidence-Run is {} but the bag is {}", info.run, opened.top),
        );
    }
    let signed = info.format_version == layout::FORMAT_VERSION_SIGNED;
    for name in layout::SIGNATURE_TAG_FILES {
        if !signed && opened.index.contains_key(*name) {
            ctx.error(
                Some(name),
                Category::Layout,
                format!(
                    "signature files belong to format {}; this bundle says {}",
                    layout::FORMAT_VERSION_SIGNED,
                    info.format_version
                ),
            );
        }
    }
    if signed && !opened.index.contains_key(layout::CHECKPOINT_SIG) {
        ctx.error(
            Some(layout::CHECKPOINT_SIG),
            Category::Signature,
            format!(
                "missing: a format {} bundle carries its checkpoint signature",
                layout::FORMAT_VERSION_SIGNED
            ),
        );
    }
    match tags.text(layout::BAGIT, ctx) {
        Some(t) if t == layout::BAGIT_TXT => {}
        Some(_) => ctx.error(
            Some(layout::BAGIT),
            Category::Layout,
            "bagit.txt is not the BagIt 1.0 declaration",
        ),
        None => ctx.error(
            Some(layout::BAGIT),
            Category::Layout,
            "bagit.txt is missing",
        ),
    }
    Some(Bag { info, info_text })
}
