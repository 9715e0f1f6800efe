//! TEMPORARY stand-in until the RFC 6962 module lands; replaced wholesale.
#![allow(dead_code, missing_docs)]
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
pub type Hash = [u8; 32];
#[derive(Debug, thiserror::Error)]
#[error("merkle error")]
pub struct MerkleError;
#[derive(Debug, thiserror::Error)]
#[error("proof error")]
pub struct ProofError;
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}
pub fn node_hash(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}
impl Frontier {
    pub fn empty() -> Self {
        Self::default()
    }
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, MerkleError> {
        Ok(Self { size, hashes })
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }
    pub fn push(&mut self, leaf: Hash) {
        self.hashes.push(leaf);
        self.size += 1;
    }
    pub fn root(&self) -> Hash {
        root(&self.hashes)
    }
}
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = leaves.len().next_power_of_two() / 2;
    node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
}
pub fn consistency_proof_from_frontier(
    _old: &Frontier,
    _new: &[Hash],
) -> Result<Vec<Hash>, MerkleError> {
    Ok(vec![])
}
pub fn verify_consistency(
    _a: u64,
    _b: u64,
    _ra: &Hash,
    _rb: &Hash,
    _p: &[Hash],
) -> Result<(), ProofError> {
    Ok(())
}
