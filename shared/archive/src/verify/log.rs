//! The log pass: where this run's leaves start (the previous checkpoint and frontier), the
//! leaves recomputed from the bundle (payload files in manifest order, then the run leaf), and
//! the run's checkpoint and consistency proof against them. A checkpoint is checked against a
//! frontier the same way for the previous and the new one ([`check_against`]).

use evidence_model::Sha256Digest;

use super::bag::Bag;
use super::layout::{Opened, Tags};
use super::manifests::PayloadManifest;
use super::records::Payload;
use super::report::{Category, Ctx};
use crate::layout;
use crate::log::{Checkpoint, ConsistencyProofDoc, payload_leaf, run_leaf};
use crate::merkle::{self, Frontier, Hash};

/// Where this run's leaves start.
pub(super) struct LogStart {
    /// The previous checkpoint's exact text, as the run leaf binds it.
    pub(super) previous_text: Option<String>,
    /// The previous checkpoint, parsed (`None` for the first run, or when malformed).
    pub(super) previous: Option<Checkpoint>,
    /// The frontier the run continues from.
    pub(super) frontier: Frontier,
}

/// What the run's log segment yields.
pub(super) struct LogEnd {
    /// The leaves this run appends, in order.
    pub(super) leaves: Vec<Hash>,
    /// The frontier after them.
    pub(super) frontier: Frontier,
    /// The run's checkpoint, when present and well-formed.
    pub(super) checkpoint: Option<Checkpoint>,
}

/// Check a checkpoint's origin against the bag's (a finding on `entry`); true when its size
/// and root are those of `frontier`.
fn check_against(
    cp: &Checkpoint,
    origin: &str,
    frontier: &Frontier,
    entry: &str,
    ctx: &mut Ctx,
) -> bool {
    if cp.origin != origin {
        ctx.error(
            Some(entry),
            Category::Log,
            format!("origin {:?} differs from the bag's {origin:?}", cp.origin),
        );
    }
    cp.size == frontier.size() && cp.root == frontier.root()
}

/// Read the previous checkpoint and frontier and check that they agree.
pub(super) fn start(seq: u64, tags: &Tags, bag: &Bag, ctx: &mut Ctx) -> LogStart {
    let previous_text = tags.text(layout::PREVIOUS_CHECKPOINT, ctx);
    let previous_frontier = tags.bytes.get(layout::PREVIOUS_FRONTIER).and_then(|b| {
        serde_json::from_slice::<Frontier>(b)
            .map_err(|e| {
                ctx.error(
                    Some(layout::PREVIOUS_FRONTIER),
                    Category::Log,
                    format!("unreadable: {e}"),
                )
            })
            .ok()
    });
    match (seq, &previous_text) {
        (1, Some(_)) => ctx.error(
            Some(layout::PREVIOUS_CHECKPOINT),
            Category::Log,
            "the first run cannot have a previous checkpoint",
        ),
        (s, None) if s > 1 => ctx.error(
            Some(layout::PREVIOUS_CHECKPOINT),
            Category::Log,
            "missing: a later run must name the checkpoint it continues",
        ),
        _ => {}
    }
    let frontier = previous_frontier.unwrap_or_else(Frontier::empty);
    let mut previous = None;
    if let Some(text) = &previous_text {
        match Checkpoint::parse(text) {
            Ok(cp) => {
                let entry = layout::PREVIOUS_CHECKPOINT;
                if !check_against(&cp, &bag.info.origin, &frontier, entry, ctx) {
                    ctx.error(
                        Some(layout::PREVIOUS_FRONTIER),
                        Category::Log,
                        "the previous frontier does not reproduce the previous checkpoint",
                    );
                }
                previous = Some(cp);
            }
            Err(e) => ctx.error(
                Some(layout::PREVIOUS_CHECKPOINT),
                Category::Log,
                e.to_string(),
            ),
        }
    } else if frontier.size() != 0 {
        ctx.error(
            Some(layout::PREVIOUS_FRONTIER),
            Category::Log,
            "the first run's previous frontier must be empty",
        );
    }
    LogStart {
        previous_text,
        previous,
        frontier,
    }
}

/// Recompute the run's leaves and check its checkpoint and consistency proof against them.
pub(super) fn end(
    opened: &Opened,
    tags: &Tags,
    bag: &Bag,
    manifest: &PayloadManifest,
    payload: &Payload,
    start: &LogStart,
    ctx: &mut Ctx,
) -> LogEnd {
    let mut leaves: Vec<Hash> = manifest
        .manifest
        .iter()
        .map(|(p, d)| {
            let size = payload.computed.get(p).map_or(0, |(_, s)| *s);
            payload_leaf(&format!("{}/{p}", opened.top), d, size)
        })
        .collect();
    leaves.push(run_leaf(
        &bag.info.origin,
        opened.seq,
        &Sha256Digest::of(bag.info_text.as_bytes()),
        &Sha256Digest::of(manifest.text.as_bytes()),
        start.previous_text.as_deref(),
    ));
    let mut frontier = start.frontier.clone();
    if let Err(e) = frontier.extend(&leaves) {
        ctx.error(
            Some(layout::PREVIOUS_FRONTIER),
            Category::Log,
            e.to_string(),
        );
    }
    let checkpoint = match tags
        .text(layout::CHECKPOINT, ctx)
        .map(|t| Checkpoint::parse(&t))
    {
        None => {
            ctx.error(
                Some(layout::CHECKPOINT),
                Category::Log,
                "log/checkpoint is missing",
            );
            None
        }
        Some(Err(e)) => {
            ctx.error(Some(layout::CHECKPOINT), Category::Log, e.to_string());
            None
        }
        Some(Ok(cp)) => {
            if !check_against(&cp, &bag.info.origin, &frontier, layout::CHECKPOINT, ctx) {
                ctx.error(
                    Some(layout::CHECKPOINT),
                    Category::Log,
                    format!(
                        "the checkpoint (size {}) does not match the log recomputed from the bundle (size {}): content was changed after sealing",
                        cp.size,
                        frontier.size()
                    ),
                );
            }
            check_consistency(tags, &start.frontier, &cp, ctx);
            Some(cp)
        }
    };
    LogEnd {
        leaves,
        frontier,
        checkpoint,
    }
}

/// The consistency proof shows that the run only appended to the previous tree.
fn check_consistency(tags: &Tags, old: &Frontier, cp: &Checkpoint, ctx: &mut Ctx) {
    let entry = Some(layout::CONSISTENCY_PROOF);
    let doc = match tags
        .bytes
        .get(layout::CONSISTENCY_PROOF)
        .map(|b| serde_json::from_slice::<ConsistencyProofDoc>(b))
    {
        None => return ctx.error(entry, Category::Log, "missing"),
        Some(Err(e)) => return ctx.error(entry, Category::Log, format!("unreadable: {e}")),
        Some(Ok(doc)) => doc,
    };
    let ok = doc.decoded_hashes().is_some_and(|hashes| {
        doc.old_size == old.size()
            && doc.new_size == cp.size
            && merkle::verify_consistency(
                doc.old_size,
                doc.new_size,
                &old.root(),
                &cp.root,
                &hashes,
            )
            .is_ok()
    });
    if !ok {
        ctx.error(
            entry,
            Category::Log,
            "the consistency proof does not prove this run only appended to the previous tree",
        );
    }
}
