//! Data-driven checks against the Certificate Transparency reference vectors and against vectors
//! for larger trees from an independent Python oracle (both under `tests/data/`).

use evidence_archive::merkle::{
    Hash, consistency_proof, consistency_proof_from_frontier, empty_root, inclusion_proof,
    leaf_hash, root,
};
use serde::Deserialize;

use super::{Claim, ConsistencyClaim, InclusionClaim, frontier_of};

const PUBLISHED: &str = include_str!("../data/merkle_rfc6962_vectors.json");
const ORACLE: &str = include_str!("../data/merkle_oracle_vectors.json");

#[derive(Deserialize)]
struct Published {
    empty_root: String,
    leaf_inputs: Vec<String>,
    roots: Vec<String>,
    inclusion: Vec<InclusionCase>,
    consistency: Vec<ConsistencyCase>,
}

#[derive(Deserialize)]
struct Oracle {
    leaf_count: u64,
    roots: Vec<RootCase>,
    inclusion: Vec<InclusionCase>,
    consistency: Vec<ConsistencyCase>,
}

#[derive(Deserialize)]
struct RootCase {
    size: u64,
    root: String,
}

#[derive(Deserialize)]
struct InclusionCase {
    index: u64,
    size: u64,
    path: Vec<String>,
}

#[derive(Deserialize)]
struct ConsistencyCase {
    old_size: u64,
    new_size: u64,
    proof: Vec<String>,
}

fn hash(text: &str) -> Hash {
    hex::decode(text).unwrap().try_into().unwrap()
}

fn hashes(texts: &[String]) -> Vec<Hash> {
    texts.iter().map(|text| hash(text)).collect()
}

fn published() -> (Published, Vec<Hash>) {
    let vectors: Published = serde_json::from_str(PUBLISHED).unwrap();
    let leaves = vectors
        .leaf_inputs
        .iter()
        .map(|input| leaf_hash(&hex::decode(input).unwrap()))
        .collect();
    (vectors, leaves)
}

fn oracle() -> (Oracle, Vec<Hash>) {
    let vectors: Oracle = serde_json::from_str(ORACLE).unwrap();
    let leaves = (0..vectors.leaf_count)
        .map(|i| leaf_hash(i.to_string().as_bytes()))
        .collect();
    (vectors, leaves)
}

/// The path matches the vector, and verifies while no tampered variant does.
fn check_inclusion(leaves: &[Hash], case: &InclusionCase, bits: &[usize]) {
    let tree = &leaves[..case.size as usize];
    let path = inclusion_proof(tree, case.index).unwrap();
    assert_eq!(
        path,
        hashes(&case.path),
        "path of {} in {}",
        case.index,
        case.size
    );
    InclusionClaim {
        leaf: tree[case.index as usize],
        index: case.index,
        size: case.size,
        proof: path,
        root: root(tree),
    }
    .assert_holds_and_tampering_fails(bits);
}

/// The proof from the full tree and from the frontier both match the vector, and it verifies
/// while no tampered variant does.
fn check_consistency(leaves: &[Hash], case: &ConsistencyCase, bits: &[usize]) {
    let (old, new) = (case.old_size as usize, case.new_size as usize);
    let expected = hashes(&case.proof);
    let what = format!("proof from {old} to {new}");
    assert_eq!(
        consistency_proof(&leaves[..new], case.old_size).unwrap(),
        expected,
        "{what}"
    );
    let from_frontier =
        consistency_proof_from_frontier(&frontier_of(&leaves[..old]), &leaves[old..new]);
    assert_eq!(from_frontier.unwrap(), expected, "{what} from the frontier");
    ConsistencyClaim {
        old_size: case.old_size,
        new_size: case.new_size,
        old_root: root(&leaves[..old]),
        new_root: root(&leaves[..new]),
        proof: expected,
    }
    .assert_holds_and_tampering_fails(bits);
}

const EVERY_BIT: std::ops::Range<usize> = 0..256;

#[test]
fn the_empty_tree_root_matches_the_published_value() {
    let (vectors, _) = published();
    assert_eq!(empty_root(), hash(&vectors.empty_root));
}

#[test]
fn roots_of_the_first_one_to_eight_test_leaves_match_the_published_values() {
    let (vectors, leaves) = published();
    assert_eq!(vectors.roots.len(), 8);
    for (i, expected) in vectors.roots.iter().enumerate() {
        let tree = &leaves[..=i];
        assert_eq!(root(tree), hash(expected), "root of {} leaves", i + 1);
        assert_eq!(
            frontier_of(tree).root(),
            hash(expected),
            "frontier root of {}",
            i + 1
        );
    }
}

#[test]
fn inclusion_paths_match_the_published_values_and_no_tampered_path_verifies() {
    let (vectors, leaves) = published();
    let bits: Vec<usize> = EVERY_BIT.collect();
    for case in &vectors.inclusion {
        check_inclusion(&leaves, case, &bits);
    }
}

#[test]
fn consistency_proofs_match_the_published_values_and_no_tampered_proof_verifies() {
    let (vectors, leaves) = published();
    let bits: Vec<usize> = EVERY_BIT.collect();
    for case in &vectors.consistency {
        check_consistency(&leaves, case, &bits);
    }
}

#[test]
fn roots_of_larger_trees_match_the_oracle() {
    let (vectors, leaves) = oracle();
    for case in &vectors.roots {
        let tree = &leaves[..case.size as usize];
        assert_eq!(root(tree), hash(&case.root), "root of {}", case.size);
        assert_eq!(
            frontier_of(tree).root(),
            hash(&case.root),
            "frontier root of {}",
            case.size
        );
    }
}

#[test]
fn inclusion_paths_in_larger_trees_match_the_oracle() {
    let (vectors, leaves) = oracle();
    for case in &vectors.inclusion {
        check_inclusion(&leaves, case, &[0, 131, 255]);
    }
}

#[test]
fn consistency_proofs_between_larger_trees_match_the_oracle() {
    let (vectors, leaves) = oracle();
    for case in &vectors.consistency {
        check_consistency(&leaves, case, &[0, 131, 255]);
    }
}
