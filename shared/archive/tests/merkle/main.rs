//! The Merkle log through its public API: published and oracle vectors, every tree up to 64
//! leaves, and random larger trees grown run by run as the archive grows them.
#![allow(
    clippy::unwrap_used,
    reason = "all of this crate is test code, which clippy.toml already lets unwrap"
)]

mod exhaustive;
mod properties;
mod vectors;

use evidence_archive::merkle::{
    Frontier, Hash, ProofError, empty_root, leaf_hash, verify_consistency, verify_inclusion,
};

/// `n` distinct leaf hashes; `salt` gives another set.
fn leaves(n: usize, salt: u64) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| leaf_hash(&[salt.to_be_bytes(), i.to_be_bytes()].concat()))
        .collect()
}

/// The frontier a writer holds after appending `leaves` to an empty tree.
fn frontier_of(leaves: &[Hash]) -> Frontier {
    let mut frontier = Frontier::empty();
    frontier.extend(leaves).unwrap();
    frontier
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut flipped = *hash;
    flipped[bit / 8] ^= 1 << (bit % 8);
    flipped
}

/// A proof claim that the tests verify as given and then tamper with.
trait Claim: Clone + std::fmt::Debug {
    fn verify(&self) -> Result<(), ProofError>;

    /// The claim altered in the ways of the Certificate Transparency verifier tests, flipping
    /// `bits` in each proof hash and in the hashes the proof is checked against.
    fn tampered(&self, bits: &[usize]) -> Vec<(String, Self)>;

    fn with(&self, change: impl FnOnce(&mut Self)) -> Self {
        let mut changed = self.clone();
        change(&mut changed);
        changed
    }

    fn assert_holds_and_tampering_fails(&self, bits: &[usize]) {
        assert_eq!(self.verify(), Ok(()), "{self:?}");
        let accepted: Vec<String> = self
            .tampered(bits)
            .into_iter()
            .filter(|(_, claim)| claim.verify().is_ok())
            .map(|(what, _)| what)
            .collect();
        assert!(
            accepted.is_empty(),
            "{self:?} also verified with {accepted:?}"
        );
    }
}

/// A described change to a claim.
type Change<C> = (&'static str, fn(&mut C));

/// `changes` applied one at a time, each with its description.
fn variants<C: Claim>(claim: &C, changes: Vec<Change<C>>) -> Vec<(String, C)> {
    changes
        .into_iter()
        .map(|(what, change)| (what.to_owned(), claim.with(change)))
        .collect()
}

/// A claim that `leaf` is at `index` in the tree of `size` leaves with root `root`.
#[derive(Clone, Debug)]
struct InclusionClaim {
    leaf: Hash,
    index: u64,
    size: u64,
    proof: Vec<Hash>,
    root: Hash,
}

impl Claim for InclusionClaim {
    fn verify(&self) -> Result<(), ProofError> {
        verify_inclusion(&self.leaf, self.index, self.size, &self.proof, &self.root)
    }

    fn tampered(&self, bits: &[usize]) -> Vec<(String, Self)> {
        let mut changes: Vec<Change<Self>> = vec![
            ("index - 1", |c| c.index = c.index.wrapping_sub(1)),
            ("index + 1", |c| c.index += 1),
            ("index ^ 2", |c| c.index ^= 2),
            ("size * 2", |c| c.size *= 2),
            ("size / 2", |c| c.size /= 2),
            ("empty root", |c| c.root = empty_root()),
            ("trailing root", |c| c.proof.push(c.root)),
            ("trailing zero hash", |c| c.proof.push([0; 32])),
            ("preceding root", |c| c.proof.insert(0, c.root)),
            ("preceding zero hash", |c| c.proof.insert(0, [0; 32])),
        ];
        if !self.proof.is_empty() {
            changes.push(("last hash removed", |c| _ = c.proof.pop()));
            changes.push(("first hash removed", |c| _ = c.proof.remove(0)));
        }
        let mut all = variants(self, changes);
        for &bit in bits {
            all.push((
                format!("leaf bit {bit}"),
                self.with(|c| c.leaf = flip(&c.leaf, bit)),
            ));
            all.push((
                format!("root bit {bit}"),
                self.with(|c| c.root = flip(&c.root, bit)),
            ));
            for i in 0..self.proof.len() {
                let claim = self.with(|c| c.proof[i] = flip(&c.proof[i], bit));
                all.push((format!("proof[{i}] bit {bit}"), claim));
            }
        }
        all
    }
}

/// A claim that the tree of `new_size` leaves with `new_root` extends the one of `old_size`.
#[derive(Clone, Debug)]
struct ConsistencyClaim {
    old_size: u64,
    new_size: u64,
    old_root: Hash,
    new_root: Hash,
    proof: Vec<Hash>,
}

impl Claim for ConsistencyClaim {
    fn verify(&self) -> Result<(), ProofError> {
        verify_consistency(
            self.old_size,
            self.new_size,
            &self.old_root,
            &self.new_root,
            &self.proof,
        )
    }

    /// As in the Certificate Transparency tests, only claims with a non-empty proof are
    /// tampered with: an empty proof is valid for any roots from size 0.
    fn tampered(&self, bits: &[usize]) -> Vec<(String, Self)> {
        if self.proof.is_empty() {
            return Vec::new();
        }
        let mut all = variants(
            self,
            vec![
                ("old size - 1", |c| c.old_size -= 1),
                ("old size + 1", |c| c.old_size += 1),
                ("old size ^ 2", |c| c.old_size ^= 2),
                ("new size * 2", |c| c.new_size *= 2),
                ("new size / 2", |c| c.new_size /= 2),
                ("swapped roots", |c| {
                    std::mem::swap(&mut c.old_root, &mut c.new_root)
                }),
                ("empty proof", |c| c.proof.clear()),
                ("last hash removed", |c| _ = c.proof.pop()),
                ("trailing zero hash", |c| c.proof.push([0; 32])),
                ("trailing old root", |c| c.proof.push(c.old_root)),
                ("trailing new root", |c| c.proof.push(c.new_root)),
                ("preceding zero hash", |c| c.proof.insert(0, [0; 32])),
                ("preceding old root", |c| c.proof.insert(0, c.old_root)),
                ("preceding new root", |c| c.proof.insert(0, c.new_root)),
                ("preceding proof[0]", |c| c.proof.insert(0, c.proof[0])),
            ],
        );
        for &bit in bits {
            let old_root = self.with(|c| c.old_root = flip(&c.old_root, bit));
            all.push((format!("old root bit {bit}"), old_root));
            let new_root = self.with(|c| c.new_root = flip(&c.new_root, bit));
            all.push((format!("new root bit {bit}"), new_root));
            for i in 0..self.proof.len() {
                let claim = self.with(|c| c.proof[i] = flip(&c.proof[i], bit));
                all.push((format!("proof[{i}] bit {bit}"), claim));
            }
        }
        all
    }
}
