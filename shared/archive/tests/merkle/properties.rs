//! Random larger trees, grown run by run as the archive grows them: the writer keeps only the
//! frontier, the verifier checks each run alone, the auditor rebuilds all leaves.

use evidence_archive::merkle::{
    Frontier, consistency_proof, consistency_proof_from_frontier, inclusion_proof, root,
    verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

use super::{flip, frontier_of, leaves};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_frontier_proves_consistency_in_large_trees_as_the_full_tree_does(
        (new_size, old_size) in (1usize..3000).prop_flat_map(|n| (Just(n), 0..=n)),
        salt: u64,
        bit in 0usize..256,
    ) {
        let tree = leaves(new_size, salt);
        let old = frontier_of(&tree[..old_size]);
        let proof = consistency_proof_from_frontier(&old, &tree[old_size..]).unwrap();
        prop_assert_eq!(&proof, &consistency_proof(&tree, old_size as u64).unwrap());
        let (old_root, new_root) = (old.root(), root(&tree));
        let (m, n) = (old_size as u64, new_size as u64);
        prop_assert_eq!(verify_consistency(m, n, &old_root, &new_root, &proof), Ok(()));
        for i in 0..proof.len() {
            let mut tampered = proof.clone();
            tampered[i] = flip(&tampered[i], bit);
            prop_assert!(verify_consistency(m, n, &old_root, &new_root, &tampered).is_err());
        }
        if !proof.is_empty() {
            prop_assert!(verify_consistency(m, n, &flip(&old_root, bit), &new_root, &proof).is_err());
            prop_assert!(verify_consistency(m, n, &old_root, &flip(&new_root, bit), &proof).is_err());
        }
    }

    #[test]
    fn inclusion_proofs_in_large_trees_verify_and_tampered_ones_do_not(
        (size, index) in (1usize..3000).prop_flat_map(|n| (Just(n), 0..n)),
        salt: u64,
        bit in 0usize..256,
    ) {
        let tree = leaves(size, salt);
        let tree_root = root(&tree);
        let proof = inclusion_proof(&tree, index as u64).unwrap();
        let (i, n) = (index as u64, size as u64);
        prop_assert_eq!(verify_inclusion(&tree[index], i, n, &proof, &tree_root), Ok(()));
        prop_assert!(verify_inclusion(&tree[index], i, n, &proof, &flip(&tree_root, bit)).is_err());
        prop_assert!(verify_inclusion(&flip(&tree[index], bit), i, n, &proof, &tree_root).is_err());
        for k in 0..proof.len() {
            let mut tampered = proof.clone();
            tampered[k] = flip(&tampered[k], bit);
            prop_assert!(verify_inclusion(&tree[index], i, n, &tampered, &tree_root).is_err());
        }
    }

    #[test]
    fn runs_that_append_to_the_log_each_prove_they_only_appended(
        run_sizes in prop::collection::vec(0usize..300, 1..12),
        salt: u64,
    ) {
        let all = leaves(run_sizes.iter().sum(), salt);
        // Writer: per run, only the previous frontier and the new leaves.
        let mut frontier = Frontier::empty();
        let mut checkpoints = vec![(0u64, root(&[]))];
        let mut start = 0;
        for &count in &run_sizes {
            let new_leaves = &all[start..start + count];
            let previous = frontier.clone();
            let proof = consistency_proof_from_frontier(&previous, new_leaves).unwrap();
            frontier.extend(new_leaves).unwrap();
            // Verifier: this run's bundle alone.
            let mut recomputed = previous.clone();
            recomputed.extend(new_leaves).unwrap();
            prop_assert_eq!(recomputed.root(), frontier.root());
            let (old_size, old_root) = *checkpoints.last().unwrap();
            prop_assert_eq!(previous.root(), old_root);
            prop_assert_eq!(
                verify_consistency(old_size, frontier.size(), &old_root, &frontier.root(), &proof),
                Ok(())
            );
            checkpoints.push((frontier.size(), frontier.root()));
            start += count;
        }
        // Auditor: all leaves; every checkpoint is consistent with every later one.
        for (i, &(old_size, old_root)) in checkpoints.iter().enumerate() {
            prop_assert_eq!(root(&all[..old_size as usize]), old_root);
            for &(new_size, new_root) in &checkpoints[i..] {
                let proof = consistency_proof(&all[..new_size as usize], old_size).unwrap();
                prop_assert_eq!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof), Ok(()));
            }
        }
    }
}
