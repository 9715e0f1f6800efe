//! Stratified selection: allocate `n` across strata (proportional by largest remainder, or
//! equal), then draw each stratum with its own Rivest stream `seed ‖ "|" ‖ name`, so every stratum
//! can be reproduced alone.

use num_bigint::BigUint;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SamplingError};
use crate::select::rivest::{Pick, RivestDraw, rivest_draw};

/// How the sample size is split across strata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allocation {
    /// `n·N_h/N`, rounded by largest remainder (ties to the earlier stratum), then at least one
    /// per non-empty stratum when `n` allows (moved from the stratum furthest above its quota).
    Proportional,
    /// `n/H` per stratum, the remainder to the earlier strata, capped at the stratum size.
    Equal,
}

/// A stratum: a name (unique) and its size; positions are `1..=size` within the stratum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stratum {
    /// Unique name, also part of the stratum's seed.
    pub name: String,
    /// Number of items.
    pub size: u64,
}

/// The sample of one stratum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StratumSample {
    /// The stratum name.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Items allocated to it.
    pub allocated: u64,
    /// The seed of its stream: `seed ‖ "|" ‖ name`.
    pub seed: String,
    /// Picks (1-based positions within the stratum) in draw order, with counters.
    pub picks: Vec<Pick>,
    /// Rejected duplicates with their counters.
    pub rejected: Vec<Pick>,
}

/// Splits `n` across strata of the given sizes.
pub fn allocate(sizes: &[u64], n: u64, allocation: Allocation) -> Result<Vec<u64>> {
    let total: u128 = sizes.iter().map(|s| u128::from(*s)).sum();
    if u128::from(n) > total {
        return Err(SamplingError::Inconsistent(format!(
            "sample size {n} exceeds the {total} items in all strata"
        )));
    }
    if n == 0 {
        return Ok(vec![0; sizes.len()]);
    }
    match allocation {
        Allocation::Proportional => Ok(proportional(sizes, n, total)),
        Allocation::Equal => Ok(equal(sizes, n)),
    }
}

fn proportional(sizes: &[u64], n: u64, total: u128) -> Vec<u64> {
    // quota_h = n·N_h/N; compare remainders exactly as integers (n·N_h mod N).
    let total_big = BigUint::from(total);
    let mut alloc: Vec<u64> = Vec::with_capacity(sizes.len());
    let mut rems: Vec<(BigUint, usize)> = Vec::with_capacity(sizes.len());
    for (h, s) in sizes.iter().enumerate() {
        let prod = BigUint::from(n) * BigUint::from(*s);
        let q = &prod / &total_big;
        alloc.push(u64::try_from(q).expect("a quota is at most n"));
        rems.push((prod % &total_big, h));
    }
    let given: u64 = alloc.iter().sum();
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, h) in rems.iter().take((n - given) as usize) {
        alloc[*h] += 1;
    }
    // At least one per non-empty stratum when n allows it.
    let non_empty = sizes.iter().filter(|s| **s > 0).count() as u64;
    if n >= non_empty {
        while let Some(h) = (0..sizes.len()).find(|h| sizes[*h] > 0 && alloc[*h] == 0) {
            // Donor: largest excess alloc·N − n·N_h over its quota among strata with 2 or more.
            let donor = (0..sizes.len()).filter(|d| alloc[*d] >= 2).max_by(|a, b| {
                let ex = |d: usize| {
                    let total = i128::try_from(total).unwrap_or(i128::MAX);
                    i128::from(alloc[d])
                        .saturating_mul(total)
                        .saturating_sub(i128::from(n).saturating_mul(i128::from(sizes[d])))
                };
                ex(*a).cmp(&ex(*b)).then(b.cmp(a))
            });
            match donor {
                Some(d) => {
                    alloc[d] -= 1;
                    alloc[h] += 1;
                }
                None => break,
            }
        }
    }
    alloc
}

fn equal(sizes: &[u64], n: u64) -> Vec<u64> {
    let mut alloc = vec![0u64; sizes.len()];
    let mut left = n;
    // Round-robin one at a time over strata with room: equal shares, remainder to earlier strata.
    while left > 0 {
        let mut progressed = false;
        for (h, s) in sizes.iter().enumerate() {
            if left == 0 {
                break;
            }
            if alloc[h] < *s {
                alloc[h] += 1;
                left -= 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    alloc
}

/// Allocates and draws a stratified sample (without replacement within each stratum).
pub fn stratified_draw(
    seed: &str,
    strata: &[Stratum],
    n: u64,
    allocation: Allocation,
) -> Result<Vec<StratumSample>> {
    if seed.is_empty() {
        return Err(SamplingError::Missing("seed"));
    }
    let mut names = std::collections::HashSet::new();
    for s in strata {
        if !names.insert(s.name.as_str()) {
            return Err(SamplingError::InvalidPopulation(format!(
                "duplicate stratum name {:?}",
                s.name
            )));
        }
    }
    let sizes: Vec<u64> = strata.iter().map(|s| s.size).collect();
    let alloc = allocate(&sizes, n, allocation)?;
    strata
        .iter()
        .zip(alloc)
        .map(|(s, a)| {
            let stream = format!("{seed}|{}", s.name);
            let (picks, rejected) = if a == 0 {
                (Vec::new(), Vec::new())
            } else {
                let sample = rivest_draw(&RivestDraw::positions(&stream, s.size, a))?;
                (sample.picks, sample.rejected)
            };
            Ok(StratumSample {
                name: s.name.clone(),
                size: s.size,
                allocated: a,
                seed: stream,
                picks,
                rejected,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportional_allocation_uses_largest_remainders() {
        // Quotas 10·(50,30,20)/100 = 5, 3, 2.
        assert_eq!(
            allocate(&[50, 30, 20], 10, Allocation::Proportional).unwrap(),
            [5, 3, 2]
        );
        // Quotas 7·(5,3,2)/10 = 3.5, 2.1, 1.4 → 3, 2, 1 plus one to the largest remainder (3.5).
        assert_eq!(
            allocate(&[5, 3, 2], 7, Allocation::Proportional).unwrap(),
            [4, 2, 1]
        );
    }

    #[test]
    fn every_non_empty_stratum_gets_one_when_possible() {
        // Quotas 3·(1000,1,1)/1002 ≈ 2.99, 0.003, 0.003 → 3, 0, 0 → 1, 1, 1.
        assert_eq!(
            allocate(&[1000, 1, 1], 3, Allocation::Proportional).unwrap(),
            [1, 1, 1]
        );
        assert_eq!(
            allocate(&[1000, 0, 1], 2, Allocation::Proportional).unwrap(),
            [1, 0, 1]
        );
    }

    #[test]
    fn equal_allocation_is_capped_by_stratum_size() {
        assert_eq!(
            allocate(&[10, 2, 10], 9, Allocation::Equal).unwrap(),
            [4, 2, 3]
        );
        assert!(allocate(&[1, 1], 3, Allocation::Equal).is_err());
    }

    #[test]
    fn each_stratum_is_reproducible_alone() {
        let strata = [
            Stratum {
                name: "prs".into(),
                size: 400,
            },
            Stratum {
                name: "incidents".into(),
                size: 100,
            },
        ];
        let all = stratified_draw(
            "12345678901234567890",
            &strata,
            25,
            Allocation::Proportional,
        )
        .unwrap();
        assert_eq!(all[0].allocated + all[1].allocated, 25);
        let alone = rivest_draw(&RivestDraw::positions(
            "12345678901234567890|incidents",
            100,
            5,
        ))
        .unwrap();
        assert_eq!(all[1].picks, alone.picks);
        assert!(
            stratified_draw(
                "1",
                &[strata[0].clone(), strata[0].clone()],
                2,
                Allocation::Equal
            )
            .is_err()
        );
    }
}
