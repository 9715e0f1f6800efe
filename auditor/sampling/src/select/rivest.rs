//! Rivest's SHA-256 sampler (`sampler.py`, version of 14 November 2011), byte for byte:
//! `SHA-256(UTF-8(seed ‖ "," ‖ decimal(counter)))` as a big-endian integer, reduced with a plain
//! `mod (b − a + 1)` (no rejection sampling, so every published vector reproduces).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Result, SamplingError};

/// The algorithm identifier recorded with every draw.
pub const RIVEST_ALGORITHM: &str = "rivest-sampler-sha256/2011-11-14";

/// Largest number of picks one draw may produce (a guard against runaway requests).
const MAX_PICKS: u64 = 10_000_000;

/// Parameters of a draw over the integers `min..=max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RivestDraw {
    /// The seed, used verbatim (`"0"` and `"00"` differ; non-ASCII is UTF-8 encoded).
    pub seed: String,
    /// Smallest value (`a`), e.g. 1 for 1-based positions.
    pub min: u64,
    /// Largest value (`b`), e.g. `N`.
    pub max: u64,
    /// Number of new picks wanted.
    pub count: u64,
    /// Sample with replacement (duplicates kept) or without (duplicates rejected and logged).
    pub with_replacement: bool,
    /// Number of earlier picks to reproduce first and leave out of `picks` (to extend a sample).
    pub skip: u64,
}

impl RivestDraw {
    /// A draw of `count` positions from `1..=population` without replacement.
    pub fn positions(seed: &str, population: u64, count: u64) -> Self {
        RivestDraw {
            seed: seed.to_string(),
            min: 1,
            max: population,
            count,
            with_replacement: false,
            skip: 0,
        }
    }
}

/// One value produced by the generator and the counter that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pick {
    /// The value (a 1-based position when `min = 1`).
    pub value: u64,
    /// The counter whose hash produced it (starts at 1).
    pub counter: u64,
}

/// The full record of a draw: what was picked, what was skipped, what was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RivestSample {
    /// Algorithm identifier.
    pub algorithm: &'static str,
    /// The seed as given.
    pub seed: String,
    /// `a`.
    pub min: u64,
    /// `b`.
    pub max: u64,
    /// Whether duplicates were allowed.
    pub with_replacement: bool,
    /// The earlier picks reproduced first (the `skip` of an extension).
    pub skipped: Vec<Pick>,
    /// The new picks in draw order.
    pub picks: Vec<Pick>,
    /// Duplicates rejected (without replacement), with their counters, for the audit trail.
    pub rejected: Vec<Pick>,
    /// The new picks' values, sorted ascending.
    pub sorted: Vec<u64>,
    /// The last counter used.
    pub last_counter: u64,
}

/// `a + (SHA-256(seed,counter) mod (b − a + 1))` for one counter.
pub fn rivest_value(seed: &str, counter: u64, min: u64, max: u64) -> Result<u64> {
    if min > max {
        return Err(SamplingError::Inconsistent(format!(
            "min {min} exceeds max {max}"
        )));
    }
    Ok(value_unchecked(seed, counter, min, max))
}

fn value_unchecked(seed: &str, counter: u64, min: u64, max: u64) -> u64 {
    let digest = Sha256::digest(format!("{seed},{counter}").as_bytes());
    let modulus = u128::from(max - min) + 1;
    // Horner's rule over the big-endian digest; every intermediate stays below 2^72.
    let rem = digest.iter().fold(0u128, |acc, &byte| {
        ((acc << 8) | u128::from(byte)) % modulus
    });
    // rem < modulus = max − min + 1, so min + rem <= max fits in u64.
    min + u64::try_from(rem).expect("remainder is below max - min + 1 <= 2^64")
}

/// The hex SHA-256 of `seed ‖ "," ‖ counter` (for audit trails and tests).
pub fn rivest_hash_hex(seed: &str, counter: u64) -> String {
    hex::encode(Sha256::digest(format!("{seed},{counter}").as_bytes()))
}

/// Runs the sampler.
pub fn rivest_draw(draw: &RivestDraw) -> Result<RivestSample> {
    if draw.seed.is_empty() {
        return Err(SamplingError::Missing("seed"));
    }
    if draw.min > draw.max {
        return Err(SamplingError::Inconsistent(format!(
            "min {} exceeds max {}",
            draw.min, draw.max
        )));
    }
    let wanted = draw
        .count
        .checked_add(draw.skip)
        .filter(|w| *w <= MAX_PICKS)
        .ok_or_else(|| {
            SamplingError::Inconsistent(format!("count + skip must not exceed {MAX_PICKS}"))
        })?;
    let range = u128::from(draw.max - draw.min) + 1;
    if !draw.with_replacement && u128::from(wanted) > range {
        return Err(SamplingError::Inconsistent(format!(
            "cannot draw {wanted} distinct values from {}..={}",
            draw.min, draw.max
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut skipped = Vec::new();
    let mut picks = Vec::new();
    let mut rejected = Vec::new();
    let mut counter = 0u64;
    while ((skipped.len() + picks.len()) as u64) < wanted {
        counter += 1;
        let value = value_unchecked(&draw.seed, counter, draw.min, draw.max);
        let pick = Pick { value, counter };
        if !draw.with_replacement && !seen.insert(value) {
            rejected.push(pick);
            continue;
        }
        if (skipped.len() as u64) < draw.skip {
            skipped.push(pick);
        } else {
            picks.push(pick);
        }
    }
    let mut sorted: Vec<u64> = picks.iter().map(|p| p.value).collect();
    sorted.sort_unstable();
    Ok(RivestSample {
        algorithm: RIVEST_ALGORITHM,
        seed: draw.seed.clone(),
        min: draw.min,
        max: draw.max,
        with_replacement: draw.with_replacement,
        skipped,
        picks,
        rejected,
        sorted,
        last_counter: counter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_replacement(seed: &str, total: u64, n: u64) -> Vec<u64> {
        let d = RivestDraw {
            seed: seed.into(),
            min: 1,
            max: total,
            count: n,
            with_replacement: true,
            skip: 0,
        };
        rivest_draw(&d)
            .unwrap()
            .picks
            .iter()
            .map(|p| p.value)
            .collect()
    }

    #[test]
    fn seed_one_over_a_thousand_gives_97_89_163() {
        assert_eq!(with_replacement("1", 1000, 3), [97, 89, 163]);
    }

    #[test]
    fn the_raw_hash_matches_the_cryptorandom_docstring() {
        assert!(rivest_hash_hex("12345678901234567890", 1).starts_with("4da594a8"));
        assert!(rivest_hash_hex("12345678901234567890", 1).ends_with("1fd1"));
        assert!(rivest_hash_hex("12345678901234567890", 2).starts_with("ae230ec1"));
    }

    #[test]
    fn extending_with_skip_reproduces_the_earlier_picks_first() {
        let first = rivest_draw(&RivestDraw::positions("20240101123456789012", 500, 10)).unwrap();
        let mut d = RivestDraw::positions("20240101123456789012", 500, 5);
        d.skip = 10;
        let more = rivest_draw(&d).unwrap();
        assert_eq!(more.skipped, first.picks);
        assert_eq!(more.picks.len(), 5);
        assert!(more.picks.iter().all(|p| !first.sorted.contains(&p.value)));
    }

    #[test]
    fn a_full_range_of_u64_does_not_overflow() {
        // The full range is 2^64 values: the modulus itself does not fit in u64.
        let v = rivest_value("x", 1, 0, u64::MAX).unwrap();
        let digest = Sha256::digest(b"x,1");
        let low = u64::from_be_bytes(digest[24..].try_into().unwrap());
        assert_eq!(v, low);
        assert_eq!(rivest_value("x", 1, 5, 5).unwrap(), 5);
    }

    #[test]
    fn impossible_draws_are_errors() {
        assert!(rivest_draw(&RivestDraw::positions("1", 3, 4)).is_err());
        assert!(rivest_draw(&RivestDraw::positions("", 3, 1)).is_err());
        let mut d = RivestDraw::positions("1", 3, 1);
        d.min = 4;
        assert!(rivest_draw(&d).is_err());
        assert!(rivest_value("1", 1, 2, 1).is_err());
    }

    #[test]
    fn a_zero_count_draw_is_empty() {
        let s = rivest_draw(&RivestDraw::positions("1", 3, 0)).unwrap();
        assert!(s.picks.is_empty());
        assert_eq!(s.last_counter, 0);
    }
}
