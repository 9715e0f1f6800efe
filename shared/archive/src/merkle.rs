//! The per-origin append-only log: RFC 6962 Merkle tree hashes, the compact frontier a writer
//! keeps between runs, inclusion and consistency proofs, and their RFC 9162 verification.
//!
//! Everything here is a pure function over hashes. Leaves are passed already hashed
//! ([`leaf_hash`]); what a leaf commits to is the caller's business. Sizes and indices are `u64`
//! as in RFC 9162, and no input, however hostile, makes these functions panic.
//!
//! A writer that keeps only the previous [`Frontier`] (at most 64 hashes) can still produce the
//! consistency proof from the previous tree to the new one: the proof needs, below the previous
//! size, only the previous tree's maximal perfect subtrees, which are exactly the frontier.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 hash: of a leaf, an interior node or a whole tree.
pub type Hash = [u8; 32];

/// Building a tree or a proof failed because of its inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old_size} is larger than the tree's {size} leaves")]
    OldSizeTooLarge { old_size: u64, size: u64 },
    #[error("a frontier of {size} leaves has {expected} hashes, not {actual}")]
    FrontierShape {
        size: u64,
        expected: u32,
        actual: usize,
    },
    #[error("a tree of {size} leaves cannot grow by {added}: tree sizes are 64-bit")]
    TreeFull { size: u64, added: u64 },
    #[error("not a SHA-256 hash in standard base64: {0}")]
    HashEncoding(String),
}

/// A proof does not prove what it was checked against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeExceedsNewSize { old_size: u64, new_size: u64 },
    #[error("the proof has {actual} hashes where {expected} are needed")]
    WrongLength { expected: usize, actual: usize },
    #[error("two trees of {size} leaves have different roots")]
    SameSizeRootsDiffer { size: u64 },
    #[error("the inclusion proof does not lead to the root")]
    RootMismatch,
    #[error("the consistency proof does not lead to the old root")]
    OldRootMismatch,
    #[error("the consistency proof does not lead to the new root")]
    NewRootMismatch,
}

/// The hash of a leaf: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The Merkle tree hash MTH of RFC 6962 §2.1 over already-hashed leaves.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let (left, right) = leaves.split_at(split_point(leaves.len() as u64) as usize);
            node_hash(&root(left), &root(right))
        }
    }
}

/// The compact range `[0, size)` of a tree: the roots of its maximal perfect subtrees, left to
/// right and largest first, one for each set bit of `size`. It is all a writer needs to keep to
/// append leaves, compute the new root and prove consistency with the tree it had.
///
/// Serialises as `{"size": n, "hashes": ["<standard base64>", …]}`; deserialising checks the
/// shape as [`Frontier::from_parts`] does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FrontierParts", into = "FrontierParts")]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree (the same as `Frontier::default()`).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A frontier as stored: refused unless it has exactly one hash per set bit of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, MerkleError> {
        if hashes.len() != size.count_ones() as usize {
            return Err(MerkleError::FrontierShape {
                size,
                expected: size.count_ones(),
                actual: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// The number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the maximal perfect subtrees, left to right.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf: Hash) -> Result<(), MerkleError> {
        let size = self.size.checked_add(1).ok_or(MerkleError::TreeFull {
            size: self.size,
            added: 1,
        })?;
        // Like incrementing a binary counter: the leaf absorbs one subtree per trailing one bit.
        let absorbed = self.size.trailing_ones() as usize;
        let keep = self.hashes.len().saturating_sub(absorbed);
        let node = self
            .hashes
            .drain(keep..)
            .rev()
            .fold(leaf, |right, left| node_hash(&left, &right));
        self.hashes.push(node);
        self.size = size;
        Ok(())
    }

    /// Append leaf hashes in order; on error nothing is appended.
    pub fn extend(&mut self, leaves: &[Hash]) -> Result<(), MerkleError> {
        let added = leaves.len() as u64;
        if self.size.checked_add(added).is_none() {
            return Err(MerkleError::TreeFull {
                size: self.size,
                added,
            });
        }
        leaves.iter().try_for_each(|leaf| self.push(*leaf))
    }

    /// The root of the tree, equal to [`root`] over all its leaves.
    pub fn root(&self) -> Hash {
        self.hashes
            .iter()
            .rev()
            .copied()
            .reduce(|right, left| node_hash(&left, &right))
            .unwrap_or_else(empty_root)
    }

    /// The root of the leaves `[lo, hi)` if that range is one of the frontier's subtrees.
    fn subtree_root(&self, lo: u64, hi: u64) -> Option<Hash> {
        let widths = (0..u64::BITS)
            .rev()
            .map(|bit| 1u64 << bit)
            .filter(|width| self.size & width != 0);
        let mut first = 0u64;
        for (width, hash) in widths.zip(&self.hashes) {
            if first == lo && first + width == hi {
                return Some(*hash);
            }
            first += width;
        }
        None
    }
}

/// The audit path PATH of RFC 6962 §2.1.1 for the leaf at `index`, bottom-up.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (mut index, mut leaves) = (index as usize, leaves);
    let mut siblings = Vec::new();
    while leaves.len() > 1 {
        let (left, right) = leaves.split_at(split_point(leaves.len() as u64) as usize);
        if index < left.len() {
            siblings.push(right);
            leaves = left;
        } else {
            index -= left.len();
            siblings.push(left);
            leaves = right;
        }
    }
    Ok(siblings.iter().rev().map(|subtree| root(subtree)).collect())
}

/// Check that `leaf` is at `index` in the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2). The root does not commit to the size: take both from the same
/// checkpoint.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let wrong_length = || ProofError::WrongLength {
        expected: inclusion_proof_len(index, size),
        actual: proof.len(),
    };
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(wrong_length());
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(wrong_length());
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The consistency proof PROOF of RFC 6962 §2.1.2 from the first `old_size` leaves to all of
/// them. Empty when `old_size` is 0 or the whole tree.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    if old_size > size {
        return Err(MerkleError::OldSizeTooLarge { old_size, size });
    }
    let subtree = |lo: u64, hi: u64| root(&leaves[lo as usize..hi as usize]);
    Ok(prove_consistency(old_size, size, &subtree))
}

/// The same proof, byte for byte, as [`consistency_proof`] over the old tree's leaves followed by
/// `new_leaves`, computed from the old tree's frontier instead of its leaves.
pub fn consistency_proof_from_frontier(
    old: &Frontier,
    new_leaves: &[Hash],
) -> Result<Vec<Hash>, MerkleError> {
    let old_size = old.size();
    let added = new_leaves.len() as u64;
    let new_size = old_size.checked_add(added).ok_or(MerkleError::TreeFull {
        size: old_size,
        added,
    })?;
    let subtree = |lo: u64, hi: u64| {
        if lo >= old_size {
            root(&new_leaves[(lo - old_size) as usize..(hi - old_size) as usize])
        } else {
            old.subtree_root(lo, hi).expect(
                "below the old size, SUBPROOF asks only for the old tree's maximal perfect \
                 subtrees, which are the frontier",
            )
        }
    };
    Ok(prove_consistency(old_size, new_size, &subtree))
}

/// Check that the tree of `new_size` leaves with root `new_root` extends the tree of `old_size`
/// leaves with root `old_root` (RFC 9162 §2.1.4.2). From size 0 every tree is consistent and
/// the proof is empty; between equal sizes the proof is empty and the roots must be equal.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let wrong_length = || ProofError::WrongLength {
        expected: consistency_proof_len(old_size, new_size),
        actual: proof.len(),
    };
    if old_size > new_size {
        return Err(ProofError::OldSizeExceedsNewSize { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(wrong_length());
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::SameSizeRootsDiffer { size: new_size });
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(wrong_length());
    };
    // A power-of-two old tree is a subtree of the new one: the proof leaves its root out.
    let (seed, path) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*seed, *seed);
    for c in path {
        if s_n == 0 {
            return Err(wrong_length());
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(wrong_length());
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if s_r != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// A hash as standard base64 with padding, the form checkpoints and proofs use.
pub fn hash_to_base64(hash: &Hash) -> String {
    STANDARD.encode(hash)
}

/// A hash from canonical standard base64 of exactly 32 bytes.
pub fn hash_from_base64(text: &str) -> Result<Hash, MerkleError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| MerkleError::HashEncoding(e.to_string()))?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| MerkleError::HashEncoding(format!("{len} bytes, not 32")))
}

/// Serde helpers for a list of hashes (a proof, a frontier) as a JSON array of standard base64
/// strings: `#[serde(with = "evidence_archive::merkle::base64_hashes")]` on a `Vec<Hash>`.
pub mod base64_hashes {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Hash, hash_from_base64, hash_to_base64};

    pub fn serialize<S: Serializer>(hashes: &[Hash], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(hashes.iter().map(hash_to_base64))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| hash_from_base64(text).map_err(D::Error::custom))
            .collect()
    }
}

/// The stored shape of a [`Frontier`], checked on the way in.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontierParts {
    size: u64,
    #[serde(with = "base64_hashes")]
    hashes: Vec<Hash>,
}

impl TryFrom<FrontierParts> for Frontier {
    type Error = MerkleError;

    fn try_from(parts: FrontierParts) -> Result<Self, MerkleError> {
        Frontier::from_parts(parts.size, parts.hashes)
    }
}

impl From<Frontier> for FrontierParts {
    fn from(frontier: Frontier) -> Self {
        Self {
            size: frontier.size,
            hashes: frontier.hashes,
        }
    }
}

/// The largest power of two below `n`, where RFC 6962 splits a tree of `n >= 2` leaves.
fn split_point(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// PROOF(old_size, D[0:new_size]) of RFC 6962 §2.1.2, with `subtree(lo, hi)` giving
/// MTH(D[lo:hi]) for the ranges it needs.
fn prove_consistency(
    old_size: u64,
    new_size: u64,
    subtree: &dyn Fn(u64, u64) -> Hash,
) -> Vec<Hash> {
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(old_size, 0, new_size, true, subtree, &mut proof);
    }
    proof
}

/// SUBPROOF(m, D[lo:hi], whole) of RFC 6962 §2.1.2 with `m` counted from leaf 0, for
/// `lo < m <= hi`; appends to `proof`.
fn subproof(
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    subtree: &dyn Fn(u64, u64) -> Hash,
    proof: &mut Vec<Hash>,
) {
    if m == hi {
        if !whole {
            proof.push(subtree(lo, hi));
        }
        return;
    }
    let k = lo + split_point(hi - lo);
    if m <= k {
        subproof(m, lo, k, whole, subtree, proof);
        proof.push(subtree(k, hi));
    } else {
        subproof(m, k, hi, false, subtree, proof);
        proof.push(subtree(lo, k));
    }
}

/// The number of hashes in the audit path of leaf `index < size`: the levels below where its
/// path and the last leaf's part, plus the left siblings above.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (inner, border) = path_shape(index, size);
    (inner + border) as usize
}

/// The number of hashes in the consistency proof between `0 < old_size < new_size` (0 otherwise).
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    if old_size == 0 || old_size >= new_size {
        return 0;
    }
    // The audit path, in the new tree, of the old tree's last complete subtree, plus that
    // subtree's root unless it is the whole old tree.
    let shift = old_size.trailing_zeros();
    let (inner, border) = path_shape(old_size - 1, new_size);
    let seed = u32::from(!old_size.is_power_of_two());
    (seed + inner.saturating_sub(shift) + border) as usize
}

/// For leaf `index` of a tree of `size` leaves: how many levels up its path and the last
/// leaf's path meet, and how many left siblings the path has above that.
fn path_shape(index: u64, size: u64) -> (u32, u32) {
    let inner = u64::BITS - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn frontier_of(leaves: &[Hash]) -> Frontier {
        let mut frontier = Frontier::empty();
        frontier.extend(leaves).unwrap();
        frontier
    }

    #[test]
    fn the_empty_tree_root_is_the_hash_of_nothing() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(root(&[]), empty_root());
        assert_eq!(Frontier::empty().root(), empty_root());
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut concatenated = a.to_vec();
        concatenated.extend_from_slice(&b);
        assert_ne!(node_hash(&a, &b), leaf_hash(&concatenated));
        assert_ne!(leaf_hash(b""), empty_root());
    }

    #[test]
    fn a_one_leaf_tree_has_the_leaf_as_root_and_an_empty_audit_path() {
        let leaf = leaf_hash(b"data");
        assert_eq!(root(&[leaf]), leaf);
        assert_eq!(inclusion_proof(&[leaf], 0), Ok(vec![]));
        assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
        assert_eq!(
            verify_inclusion(&leaf, 0, 1, &[], &empty_root()),
            Err(ProofError::RootMismatch)
        );
    }

    #[test]
    fn a_frontier_needs_one_hash_per_set_bit_of_its_size() {
        assert!(Frontier::from_parts(0, vec![]).is_ok());
        assert!(Frontier::from_parts(5, vec![[1; 32], [2; 32]]).is_ok());
        assert_eq!(
            Frontier::from_parts(5, vec![[1; 32]]),
            Err(MerkleError::FrontierShape {
                size: 5,
                expected: 2,
                actual: 1
            })
        );
        assert!(Frontier::from_parts(0, vec![[0; 32]]).is_err());
    }

    #[test]
    fn a_frontier_holds_the_roots_of_the_maximal_perfect_subtrees() {
        let l = leaves(7);
        let frontier = frontier_of(&l);
        assert_eq!(
            frontier.hashes(),
            [root(&l[..4]), root(&l[4..6]), root(&l[6..])]
        );
        assert_eq!(frontier.subtree_root(4, 6), Some(root(&l[4..6])));
        assert_eq!(frontier.subtree_root(4, 5), None);
    }

    #[test]
    fn a_frontier_at_the_largest_size_refuses_to_grow_and_stays_unchanged() {
        let mut full = Frontier::from_parts(u64::MAX, vec![[7; 32]; 64]).unwrap();
        let before = full.clone();
        assert_eq!(
            full.push([0; 32]),
            Err(MerkleError::TreeFull {
                size: u64::MAX,
                added: 1
            })
        );
        let mut nearly = Frontier::from_parts(u64::MAX - 1, vec![[7; 32]; 63]).unwrap();
        assert!(nearly.extend(&[[0; 32], [1; 32]]).is_err());
        assert_eq!(nearly.size(), u64::MAX - 1);
        assert!(consistency_proof_from_frontier(&full, &[[0; 32]]).is_err());
        assert_eq!(full, before);
    }

    #[test]
    fn a_frontier_of_a_huge_tree_still_proves_consistency_without_its_leaves() {
        let old = Frontier::from_parts((1 << 62) + 3, vec![[1; 32], [2; 32], [3; 32]]).unwrap();
        let new = leaves(3);
        let proof = consistency_proof_from_frontier(&old, &new).unwrap();
        let mut grown = old.clone();
        grown.extend(&new).unwrap();
        assert_eq!(
            verify_consistency(old.size(), grown.size(), &old.root(), &grown.root(), &proof),
            Ok(())
        );
    }

    #[test]
    fn a_frontier_serialises_as_its_size_and_base64_hashes() {
        let frontier = Frontier::from_parts(3, vec![[0; 32], [255; 32]]).unwrap();
        let json = serde_json::to_string(&frontier).unwrap();
        assert_eq!(
            json,
            r#"{"size":3,"hashes":["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","//////////////////////////////////////////8="]}"#
        );
        assert_eq!(serde_json::from_str::<Frontier>(&json).unwrap(), frontier);
    }

    #[test]
    fn a_stored_frontier_of_the_wrong_shape_or_with_extra_fields_is_refused() {
        let h = hash_to_base64(&[0; 32]);
        for json in [
            format!(r#"{{"size":3,"hashes":["{h}"]}}"#),
            format!(r#"{{"size":1,"hashes":["{h}"],"root":"{h}"}}"#),
            r#"{"size":1,"hashes":["AAAA"]}"#.to_owned(),
            r#"{"hashes":[]}"#.to_owned(),
        ] {
            assert!(serde_json::from_str::<Frontier>(&json).is_err(), "{json}");
        }
    }

    #[test]
    fn hashes_must_be_canonical_standard_base64_of_32_bytes() {
        let hash = leaf_hash(b"x");
        let text = hash_to_base64(&hash);
        assert_eq!(hash_from_base64(&text), Ok(hash));
        let unpadded = text.trim_end_matches('=');
        let last_bits_set = format!("{}9=", &text[..42]);
        let url_safe_alphabet = format!("{}-=", &text[..42]);
        for bad in [unpadded, &last_bits_set, &url_safe_alphabet, "AAAA", ""] {
            assert!(hash_from_base64(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proof_lists_round_trip_through_base64_json() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Stored {
            #[serde(with = "base64_hashes")]
            proof: Vec<Hash>,
        }
        let stored = Stored { proof: leaves(3) };
        let json = serde_json::to_string(&stored).unwrap();
        assert!(json.contains(&hash_to_base64(&stored.proof[2])));
        assert_eq!(serde_json::from_str::<Stored>(&json).unwrap(), stored);
        assert!(serde_json::from_str::<Stored>(r#"{"proof":["AAAA"]}"#).is_err());
    }

    #[test]
    fn an_inclusion_proof_for_a_leaf_outside_the_tree_is_an_error() {
        assert_eq!(
            inclusion_proof(&[], 0),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            inclusion_proof(&leaves(7), 7),
            Err(MerkleError::IndexOutOfRange { index: 7, size: 7 })
        );
    }

    #[test]
    fn verifying_inclusion_of_a_leaf_outside_the_tree_is_an_error() {
        let leaf = leaf_hash(b"");
        for (index, size) in [(0, 0), (1, 0), (2, 1), (u64::MAX, u64::MAX)] {
            assert_eq!(
                verify_inclusion(&leaf, index, size, &[], &leaf),
                Err(ProofError::IndexOutOfRange { index, size })
            );
        }
    }

    #[test]
    fn an_inclusion_proof_of_the_wrong_length_says_how_long_it_should_be() {
        let l = leaves(5);
        let proof = inclusion_proof(&l, 1).unwrap();
        let r = root(&l);
        assert_eq!(
            verify_inclusion(&l[1], 1, 5, &proof[..2], &r),
            Err(ProofError::WrongLength {
                expected: 3,
                actual: 2
            })
        );
        let longer = [proof.as_slice(), &[r]].concat();
        assert_eq!(
            verify_inclusion(&l[1], 1, 5, &longer, &r),
            Err(ProofError::WrongLength {
                expected: 3,
                actual: 4
            })
        );
    }

    #[test]
    fn inclusion_in_the_largest_trees_is_checked_without_overflow() {
        let leaf = leaf_hash(b"");
        let result = verify_inclusion(&leaf, 0, u64::MAX, &[leaf; 64], &leaf);
        assert_eq!(result, Err(ProofError::RootMismatch));
        let result = verify_inclusion(&leaf, u64::MAX - 1, u64::MAX, &[], &leaf);
        assert!(matches!(result, Err(ProofError::WrongLength { .. })));
    }

    #[test]
    fn a_consistency_proof_from_beyond_the_tree_is_an_error() {
        assert_eq!(
            consistency_proof(&leaves(3), 4),
            Err(MerkleError::OldSizeTooLarge {
                old_size: 4,
                size: 3
            })
        );
    }

    #[test]
    fn consistency_proofs_from_nothing_or_to_the_same_size_are_empty() {
        let l = leaves(6);
        assert_eq!(consistency_proof(&l, 0), Ok(vec![]));
        assert_eq!(consistency_proof(&l, 6), Ok(vec![]));
        assert_eq!(
            consistency_proof_from_frontier(&Frontier::empty(), &l),
            Ok(vec![])
        );
        assert_eq!(
            consistency_proof_from_frontier(&frontier_of(&l), &[]),
            Ok(vec![])
        );
    }

    #[test]
    fn every_tree_is_consistent_with_the_empty_tree_given_an_empty_proof() {
        let (a, b) = ([1; 32], [2; 32]);
        assert_eq!(verify_consistency(0, 0, &a, &a, &[]), Ok(()));
        assert_eq!(verify_consistency(0, 1, &a, &b, &[]), Ok(()));
        assert_eq!(verify_consistency(0, u64::MAX, &a, &b, &[]), Ok(()));
        assert_eq!(
            verify_consistency(0, 1, &a, &b, &[a]),
            Err(ProofError::WrongLength {
                expected: 0,
                actual: 1
            })
        );
    }

    #[test]
    fn trees_of_the_same_size_are_consistent_only_with_equal_roots_and_an_empty_proof() {
        let (a, b) = ([1; 32], [2; 32]);
        assert_eq!(verify_consistency(1, 1, &a, &a, &[]), Ok(()));
        assert_eq!(
            verify_consistency(1, 1, &a, &b, &[]),
            Err(ProofError::SameSizeRootsDiffer { size: 1 })
        );
        assert_eq!(
            verify_consistency(0, 0, &a, &b, &[]),
            Err(ProofError::SameSizeRootsDiffer { size: 0 })
        );
        assert!(matches!(
            verify_consistency(1, 1, &a, &a, &[a]),
            Err(ProofError::WrongLength { .. })
        ));
    }

    #[test]
    fn a_tree_cannot_be_consistent_with_a_larger_earlier_tree() {
        let a = [1; 32];
        assert_eq!(
            verify_consistency(2, 1, &a, &a, &[]),
            Err(ProofError::OldSizeExceedsNewSize {
                old_size: 2,
                new_size: 1
            })
        );
    }

    #[test]
    fn an_empty_consistency_proof_between_different_sizes_is_too_short() {
        let a = [1; 32];
        assert_eq!(
            verify_consistency(1, 2, &a, &a, &[]),
            Err(ProofError::WrongLength {
                expected: 1,
                actual: 0
            })
        );
    }

    #[test]
    fn consistency_between_the_largest_trees_is_checked_without_overflow() {
        let a = [1; 32];
        for (old_size, new_size) in [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (1 << 63, u64::MAX)] {
            let result = verify_consistency(old_size, new_size, &a, &a, &[a; 3]);
            assert!(result.is_err(), "{old_size} {new_size}");
        }
    }

    #[test]
    fn proof_lengths_are_known_from_the_sizes_alone() {
        assert_eq!(inclusion_proof_len(0, 1), 0);
        assert_eq!(inclusion_proof_len(2, 3), 1);
        assert_eq!(inclusion_proof_len(1, 5), 3);
        assert_eq!(inclusion_proof_len(0, u64::MAX), 64);
        assert_eq!(consistency_proof_len(1, 8), 3);
        assert_eq!(consistency_proof_len(6, 8), 3);
        assert_eq!(consistency_proof_len(2, 5), 2);
        assert_eq!(consistency_proof_len(4, 8), 1);
    }
}
