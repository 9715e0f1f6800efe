//! Systematic selection with a seeded random start: over items (`I = N/n`) and over monetary
//! units in integer cents (systematic MUS, `I = B/n`, with hit multiplicity).

use num_bigint::BigUint;
use num_integer::Integer;
use serde::Serialize;

use crate::error::{Result, SamplingError};
use crate::select::rivest::{RIVEST_ALGORITHM, rivest_value};

/// The resolution of the random start: `s = I·u` with `u = pick/START_GRID`, `pick` the Rivest
/// sampler's value for counter 1 over `1..=START_GRID`, so `s ∈ (0, I]`.
pub const START_GRID: u64 = 1_000_000_000_000;

/// Largest number of selection points (a guard against runaway requests).
const MAX_POINTS: u64 = 10_000_000;

/// A systematic sample of item positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystematicSample {
    /// How the start was derived.
    pub start_algorithm: &'static str,
    /// The seed.
    pub seed: String,
    /// `N`.
    pub population: u64,
    /// `n`.
    pub sample_size: u64,
    /// The interval `I = N/n` as a reduced fraction.
    pub interval: String,
    /// The Rivest value (counter 1) over `1..=START_GRID`.
    pub start_pick: u64,
    /// The start `s = I·start_pick/START_GRID`, as an exact fraction.
    pub start: String,
    /// Selected 1-based positions `⌈s + i·I⌉`, `i = 0..n−1`, ascending.
    pub positions: Vec<u64>,
}

fn fraction(num: &BigUint, den: &BigUint) -> String {
    let g = num.gcd(den);
    format!("{}/{}", num / &g, den / &g)
}

fn start_pick(seed: &str) -> Result<u64> {
    if seed.is_empty() {
        return Err(SamplingError::Missing("seed"));
    }
    rivest_value(seed, 1, 1, START_GRID)
}

/// Systematic selection of `n` of `N` items with a random start derived from the seed.
///
/// Every item has inclusion probability `n/N` (up to the `1/START_GRID` resolution of the start);
/// the start is never 1 by default.
pub fn systematic_items(seed: &str, population: u64, sample_size: u64) -> Result<SystematicSample> {
    if sample_size == 0 || sample_size > population || sample_size > MAX_POINTS {
        return Err(SamplingError::Inconsistent(format!(
            "sample size {sample_size} must be between 1 and the population size {population} \
             (and at most {MAX_POINTS})"
        )));
    }
    let pick = start_pick(seed)?;
    let big_n = BigUint::from(population);
    let n = BigUint::from(sample_size);
    let grid = BigUint::from(START_GRID);
    // s + i·I = N·(pick + i·G) / (n·G); take the ceiling.
    let den = &n * &grid;
    let positions = (0..sample_size)
        .map(|i| {
            let num = &big_n * (BigUint::from(pick) + BigUint::from(i) * &grid);
            let q = num.div_ceil(&den);
            u64::try_from(q).expect("a position is at most N, which fits in u64")
        })
        .collect();
    Ok(SystematicSample {
        start_algorithm: RIVEST_ALGORITHM,
        seed: seed.to_string(),
        population,
        sample_size,
        interval: fraction(&big_n, &n),
        start_pick: pick,
        start: fraction(&(&big_n * BigUint::from(pick)), &den),
        positions,
    })
}

/// One item hit by a systematic MUS selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MusHit {
    /// 1-based position of the item in the caller's ordering.
    pub position: u64,
    /// Its book value in cents.
    pub value_cents: i64,
    /// How many selection points fell in it (items of value `>= I` can be hit more than once).
    pub times: u64,
    /// True when the value is at least the interval: the item is selected with certainty.
    pub certain: bool,
}

/// A systematic monetary-unit sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MusSample {
    /// How the start was derived.
    pub start_algorithm: &'static str,
    /// The seed.
    pub seed: String,
    /// `B`: the total of the positive book values, in cents.
    pub total_cents: u128,
    /// `n`: the number of selection points.
    pub sample_size: u64,
    /// `I = B/n` cents, as a reduced fraction.
    pub interval: String,
    /// The Rivest value (counter 1) over `1..=START_GRID`.
    pub start_pick: u64,
    /// The first selection point `s` in cents, exact fraction.
    pub start: String,
    /// Items with zero or negative values: outside the MUS frame, to be tested separately.
    pub excluded_positions: Vec<u64>,
    /// Hit items in position order, with multiplicity.
    pub hits: Vec<MusHit>,
}

/// Systematic MUS over book values in integer cents: points `u_i = s + i·I`, `I = B/n`; item `j`
/// is hit by `u_i` when `C_{j−1} < u_i <= C_j` (cumulative positive values).
pub fn systematic_mus(seed: &str, values_cents: &[i64], sample_size: u64) -> Result<MusSample> {
    if sample_size == 0 || sample_size > MAX_POINTS {
        return Err(SamplingError::OutOfRange {
            name: "sample_size",
            value: sample_size.to_string(),
            reason: format!("between 1 and {MAX_POINTS} selection points"),
        });
    }
    let total: u128 = values_cents
        .iter()
        .filter(|v| **v > 0)
        .map(|v| v.unsigned_abs() as u128)
        .sum();
    if total == 0 {
        return Err(SamplingError::InvalidPopulation(
            "no item has a positive book value".into(),
        ));
    }
    let pick = start_pick(seed)?;
    let n = BigUint::from(sample_size);
    let grid = BigUint::from(START_GRID);
    let b = BigUint::from(total);
    // u_i ≤ C  ⇔  B·(pick + i·G) ≤ C·n·G
    let point = |i: u64| &b * (BigUint::from(pick) + BigUint::from(i) * &grid);
    let scale = &n * &grid;
    let mut hits = Vec::new();
    let mut excluded = Vec::new();
    let mut cumulative = 0u128;
    let mut next = 0u64;
    for (idx, &v) in values_cents.iter().enumerate() {
        let position = idx as u64 + 1;
        if v <= 0 {
            excluded.push(position);
            continue;
        }
        cumulative += v.unsigned_abs() as u128;
        let limit = BigUint::from(cumulative) * &scale;
        let mut times = 0;
        while next < sample_size && point(next) <= limit {
            times += 1;
            next += 1;
        }
        if times > 0 {
            let certain = BigUint::from(v.unsigned_abs()) * &n >= b;
            hits.push(MusHit {
                position,
                value_cents: v,
                times,
                certain,
            });
        }
    }
    Ok(MusSample {
        start_algorithm: RIVEST_ALGORITHM,
        seed: seed.to_string(),
        total_cents: total,
        sample_size,
        interval: fraction(&b, &n),
        start_pick: pick,
        start: fraction(&(&b * BigUint::from(pick)), &scale),
        excluded_positions: excluded,
        hits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systematic_items_are_spaced_by_the_interval_and_start_at_random() {
        let s = systematic_items("31415926535897932384", 1000, 50).unwrap();
        assert_eq!(s.positions.len(), 50);
        assert_eq!(s.interval, "20/1");
        assert!(s.positions.windows(2).all(|w| w[1] - w[0] == 20));
        assert!((1..=20).contains(&s.positions[0]));
        let again = systematic_items("31415926535897932384", 1000, 50).unwrap();
        assert_eq!(s, again);
    }

    #[test]
    fn a_fractional_interval_keeps_positions_distinct_and_in_range() {
        let s = systematic_items("7", 10, 4).unwrap();
        assert_eq!(s.interval, "5/2");
        assert!(s.positions.windows(2).all(|w| w[0] < w[1]));
        assert!(s.positions.iter().all(|p| (1..=10).contains(p)));
        let all = systematic_items("7", 5, 5).unwrap();
        assert_eq!(all.positions, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn mus_hits_large_items_with_certainty_and_counts_multiplicity() {
        // B = 10_000 cents, n = 4, I = 2_500: the 6_000 item takes two or three points.
        let values = [1_000, 6_000, 0, -500, 3_000];
        let s = systematic_mus("42", &values, 4).unwrap();
        assert_eq!(s.total_cents, 10_000);
        assert_eq!(s.excluded_positions, [3, 4]);
        let big = s.hits.iter().find(|h| h.position == 2).unwrap();
        assert!(big.certain && big.times >= 2);
        assert_eq!(s.hits.iter().map(|h| h.times).sum::<u64>(), 4);
    }

    #[test]
    fn impossible_systematic_requests_are_errors() {
        assert!(systematic_items("1", 10, 0).is_err());
        assert!(systematic_items("1", 10, 11).is_err());
        assert!(systematic_items("", 10, 2).is_err());
        assert!(systematic_mus("1", &[0, -1], 1).is_err());
        assert!(systematic_mus("1", &[5], 0).is_err());
    }
}
