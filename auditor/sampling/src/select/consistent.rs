//! Rivest's consistent sampler (ron-rivest/consistent_sampler): every id gets a pseudorandom
//! decimal "ticket" in (0, 1) from the seed and the id alone, and ids are drawn in ticket order,
//! so the order of any subset is its own sample order (stable when evidence is added or removed).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use num_bigint::BigUint;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Result, SamplingError};

/// The algorithm identifier recorded with every draw.
pub const CONSISTENT_ALGORITHM: &str = "rivest-consistent-sampler/2019";

/// Largest stream length with replacement (the stream is otherwise unbounded).
const MAX_DRAWS: usize = 10_000_000;

/// One drawn ticket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Ticket {
    /// The full ticket number, a decimal string `"0.ddd…"`; ordering is by string comparison.
    pub number: String,
    /// The id it belongs to.
    pub id: String,
    /// 1 for the first ticket of an id; increases each time the id is drawn with replacement.
    pub generation: u64,
}

impl Ticket {
    /// The ticket number trimmed as the reference `trim` does: `digits` significant digits after
    /// the initial run of 9s, truncated (the reference sampler prints 9 by default).
    pub fn trimmed(&self, digits: usize) -> String {
        trim(&self.number, digits)
    }
}

fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

/// `"0." ‖ reverse(zero-pad-64(decimal(SHA-256(input))))`: a uniform decimal in (0, 1).
pub fn sha256_uniform(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    let decimal = BigUint::from_bytes_be(&digest).to_str_radix(10);
    let padded = format!("{decimal:0>64}");
    let reversed: String = padded.chars().rev().collect();
    format!("0.{reversed}")
}

/// The generation-1 ticket number of `id` under `seed`: `U(hex(SHA-256(seed)) ‖ id)`.
pub fn first_ticket_number(id: &str, seed: &str) -> String {
    sha256_uniform(&format!("{}{id}", sha256_hex(seed)))
}

fn first_non_nine(x0: &str) -> usize {
    x0.bytes()
        .enumerate()
        .skip(2)
        .find(|(_, b)| *b < b'9')
        .map_or(x0.len(), |(i, _)| i)
}

/// The next ticket number after `x` (a ticket `"0.ddd…"`): a pseudorandom decimal in `(x, 1)`.
pub fn next_ticket_number(x: &str) -> String {
    let x0 = format!("{x}0");
    let p = first_non_nine(&x0);
    let prefix = &x0[..p];
    let mut i = 0u64;
    loop {
        i += 1;
        let u = sha256_uniform(&format!("{x}:{i}"));
        let y = format!("{prefix}{}", &u[2..]);
        if y > x0 {
            return y;
        }
    }
}

fn trim(x: &str, digits: usize) -> String {
    let x0 = format!("{x}0");
    let p = first_non_nine(&x0);
    x.chars().take(p + digits).collect()
}

/// Draws from `ids` in ticket order: drops the first `drop` tickets and returns the next `take`.
/// With replacement, a drawn id gets its next ticket and stays in the draw (so the stream is
/// unbounded and `take` limits it). Ids are hashed exactly as given (pass strings, never numbers).
pub fn consistent_sample<S: AsRef<str>>(
    ids: &[S],
    seed: &str,
    with_replacement: bool,
    drop: usize,
    take: usize,
) -> Result<Vec<Ticket>> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id.as_ref()) {
            return Err(SamplingError::InvalidPopulation(format!(
                "duplicate id {:?}",
                id.as_ref()
            )));
        }
    }
    if take == 0 {
        return Ok(Vec::new());
    }
    if with_replacement && drop.saturating_add(take) > MAX_DRAWS {
        return Err(SamplingError::Inconsistent(format!(
            "drop + take must not exceed {MAX_DRAWS} when sampling with replacement"
        )));
    }
    let seed_hex = sha256_hex(seed);
    let mut heap: BinaryHeap<Reverse<Ticket>> = ids
        .iter()
        .map(|id| {
            Reverse(Ticket {
                number: sha256_uniform(&format!("{seed_hex}{}", id.as_ref())),
                id: id.as_ref().to_string(),
                generation: 1,
            })
        })
        .collect();
    let mut out = Vec::new();
    let mut count = 0usize;
    while let Some(Reverse(ticket)) = heap.pop() {
        if with_replacement {
            heap.push(Reverse(Ticket {
                number: next_ticket_number(&ticket.number),
                id: ticket.id.clone(),
                generation: ticket.generation + 1,
            }));
        }
        count += 1;
        if count > drop {
            out.push(ticket);
        }
        if out.len() >= take {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_uniform_matches_the_reference_docstring() {
        assert_eq!(
            sha256_uniform("abc"),
            "0.56998071861792858926477341561059638840106636224182943832566300809078486324348"
        );
    }

    #[test]
    fn next_ticket_matches_the_reference_docstring() {
        assert_eq!(
            next_ticket_number("0.25471"),
            "0.642853261655004694691182528114375607701032283189922170593838029306715548381901"
        );
    }

    #[test]
    fn trimming_keeps_digits_after_the_leading_nines() {
        assert_eq!(trim("0.9991234567890", 4), "0.9991234");
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        assert!(consistent_sample(&["a", "a"], "1", false, 0, 2).is_err());
    }

    #[test]
    fn without_replacement_the_stream_ends_with_the_population() {
        let s = consistent_sample(&["a", "b"], "1", false, 0, 10).unwrap();
        assert_eq!(s.len(), 2);
        assert!(
            consistent_sample(&["a", "b"], "1", false, 0, 0)
                .unwrap()
                .is_empty()
        );
    }
}
