//! Every tree up to 64 leaves: every inclusion proof and every consistency proof, from the full
//! tree and from the frontier, with tampered variants; frontiers up to 200 leaves.

use evidence_archive::merkle::{
    Frontier, consistency_proof, consistency_proof_from_frontier, inclusion_proof, root,
    verify_inclusion,
};

use super::{Claim, ConsistencyClaim, InclusionClaim, frontier_of, leaves};

const MAX_SIZE: usize = 64;

/// One bit per case, varied so that the sweep as a whole flips every bit position.
fn a_bit(a: usize, b: usize) -> [usize; 1] {
    [(a * 67 + b * 13) % 256]
}

#[test]
fn every_inclusion_proof_verifies_and_no_tampered_one_does() {
    let all = leaves(MAX_SIZE, 0);
    for size in 1..=MAX_SIZE {
        let tree = &all[..size];
        let tree_root = root(tree);
        for index in 0..size {
            let proof = inclusion_proof(tree, index as u64).unwrap();
            let claim = InclusionClaim {
                leaf: tree[index],
                index: index as u64,
                size: size as u64,
                proof,
                root: tree_root,
            };
            claim.assert_holds_and_tampering_fails(&a_bit(size, index));
            for other in (0..size).filter(|&other| other != index) {
                let moved = claim.with(|c| c.index = other as u64);
                assert!(
                    moved.verify().is_err(),
                    "{claim:?} also verified at {other}"
                );
                let swapped = claim.with(|c| c.leaf = tree[other]);
                assert!(
                    swapped.verify().is_err(),
                    "{claim:?} also verified leaf {other}"
                );
            }
        }
    }
}

#[test]
fn every_consistency_proof_from_the_frontier_equals_the_full_tree_proof_and_verifies() {
    let all = leaves(MAX_SIZE, 1);
    for new_size in 1..=MAX_SIZE {
        let tree = &all[..new_size];
        let new_root = root(tree);
        for old_size in 0..=new_size {
            let old = frontier_of(&tree[..old_size]);
            let from_leaves = consistency_proof(tree, old_size as u64).unwrap();
            let from_frontier = consistency_proof_from_frontier(&old, &tree[old_size..]).unwrap();
            assert_eq!(
                from_frontier, from_leaves,
                "proof from {old_size} to {new_size}"
            );
            ConsistencyClaim {
                old_size: old_size as u64,
                new_size: new_size as u64,
                old_root: old.root(),
                new_root,
                proof: from_frontier,
            }
            .assert_holds_and_tampering_fails(&a_bit(new_size, old_size));
        }
    }
}

#[test]
fn a_frontier_grown_by_new_leaves_is_the_frontier_of_the_whole_tree() {
    let all = leaves(MAX_SIZE, 2);
    for new_size in 0..=MAX_SIZE {
        let whole = frontier_of(&all[..new_size]);
        for old_size in 0..=new_size {
            let mut grown = frontier_of(&all[..old_size]);
            assert_eq!(grown.root(), root(&all[..old_size]));
            grown.extend(&all[old_size..new_size]).unwrap();
            assert_eq!(grown, whole, "{old_size} grown to {new_size}");
        }
    }
}

#[test]
fn pushing_leaves_one_by_one_keeps_the_frontier_and_root_of_every_size_up_to_200() {
    let all = leaves(200, 3);
    let mut frontier = Frontier::empty();
    for size in 0..=all.len() {
        if size > 0 {
            frontier.push(all[size - 1]).unwrap();
        }
        let tree = &all[..size];
        assert_eq!(frontier.size(), size as u64);
        assert_eq!(frontier.root(), root(tree), "root of {size}");
        // The maximal perfect subtrees, left to right, computed from the leaves.
        let mut first = 0;
        let mut expected = Vec::new();
        for bit in (0..usize::BITS).rev().filter(|bit| size & (1 << bit) != 0) {
            expected.push(root(&tree[first..first + (1 << bit)]));
            first += 1 << bit;
        }
        assert_eq!(frontier.hashes(), expected, "frontier of {size}");
        let json = serde_json::to_string(&frontier).unwrap();
        assert_eq!(serde_json::from_str::<Frontier>(&json).unwrap(), frontier);
    }
}

#[test]
fn an_inclusion_proof_from_one_tree_does_not_verify_against_another_trees_root() {
    let ours = leaves(MAX_SIZE, 4);
    let theirs = leaves(MAX_SIZE, 5);
    for size in 1..=MAX_SIZE {
        let their_root = root(&theirs[..size]);
        for index in 0..size {
            let proof = inclusion_proof(&ours[..size], index as u64).unwrap();
            let result =
                verify_inclusion(&ours[index], index as u64, size as u64, &proof, &their_root);
            assert!(result.is_err(), "leaf {index} of {size}");
        }
    }
}
