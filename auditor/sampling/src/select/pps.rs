//! Value-weighted selection without replacement (sieve / priority sampling): the `n` items with
//! the largest `v_j / U_j`, where `U_j` is the consistent-sampler ticket of id `j`. Deterministic
//! and portable: no R or numpy generator is involved.

use std::cmp::Ordering;

use num_bigint::BigUint;
use serde::Serialize;

use crate::error::{Result, SamplingError};
use crate::select::consistent::first_ticket_number;

/// An item offered to the PPS selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuedItem {
    /// The artefact id (hashed as given).
    pub id: String,
    /// Its value in cents; must be positive.
    pub value_cents: u64,
}

/// One selected item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PpsPick {
    /// Rank by priority (1 = highest).
    pub rank: u64,
    /// The id.
    pub id: String,
    /// The value in cents.
    pub value_cents: u64,
    /// The item's ticket `U_j` (consistent sampler, generation 1).
    pub ticket: String,
    /// `v_j / U_j` as `f64`, for display (the ordering is computed exactly).
    pub priority: f64,
}

struct Keyed {
    id: String,
    value: u64,
    ticket: String,
    mantissa: BigUint,
    places: usize,
}

fn cmp_priority(a: &Keyed, b: &Keyed) -> Ordering {
    // v_a / (m_a / 10^p_a) vs v_b / (m_b / 10^p_b)  ⇔  v_a·10^p_a·m_b vs v_b·10^p_b·m_a
    let ten = BigUint::from(10u32);
    let lhs = BigUint::from(a.value) * ten.pow(a.places as u32) * &b.mantissa;
    let rhs = BigUint::from(b.value) * ten.pow(b.places as u32) * &a.mantissa;
    lhs.cmp(&rhs)
}

/// Selects `n` items with probability proportional to size, without replacement.
pub fn pps_sieve(seed: &str, items: &[ValuedItem], n: usize) -> Result<Vec<PpsPick>> {
    if seed.is_empty() {
        return Err(SamplingError::Missing("seed"));
    }
    if n > items.len() {
        return Err(SamplingError::Inconsistent(format!(
            "cannot select {n} of {} items",
            items.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut keyed = Vec::with_capacity(items.len());
    for item in items {
        if !seen.insert(item.id.as_str()) {
            return Err(SamplingError::InvalidPopulation(format!(
                "duplicate id {:?}",
                item.id
            )));
        }
        if item.value_cents == 0 {
            return Err(SamplingError::InvalidPopulation(format!(
                "item {:?} has no positive value; test zero and negative items separately",
                item.id
            )));
        }
        let ticket = first_ticket_number(&item.id, seed);
        let digits = &ticket[2..];
        let mantissa = BigUint::parse_bytes(digits.as_bytes(), 10).unwrap_or_default();
        if mantissa == BigUint::default() {
            return Err(SamplingError::InvalidPopulation(format!(
                "item {:?} got a zero ticket",
                item.id
            )));
        }
        keyed.push(Keyed {
            id: item.id.clone(),
            value: item.value_cents,
            places: digits.len(),
            ticket,
            mantissa,
        });
    }
    keyed.sort_by(|a, b| cmp_priority(b, a).then_with(|| a.id.cmp(&b.id)));
    Ok(keyed
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, k)| {
            let u: f64 = k.ticket.parse().unwrap_or(f64::NAN);
            PpsPick {
                rank: i as u64 + 1,
                priority: k.value as f64 / u,
                id: k.id,
                value_cents: k.value,
                ticket: k.ticket,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, v: u64) -> ValuedItem {
        ValuedItem {
            id: id.into(),
            value_cents: v,
        }
    }

    #[test]
    fn pps_is_deterministic_and_prefers_large_values() {
        let items: Vec<ValuedItem> = (0..50).map(|i| item(&format!("pr-{i}"), 100)).collect();
        let mut with_big = items.clone();
        with_big.push(item("huge", 1_000_000_000));
        let a = pps_sieve("2718281828", &with_big, 5).unwrap();
        let b = pps_sieve("2718281828", &with_big, 5).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].id, "huge");
    }

    #[test]
    fn equal_values_follow_the_consistent_sampler_order() {
        let ids = ["ab-1", "ab-2", "cd-1", "ef-3"];
        let items: Vec<ValuedItem> = ids.iter().map(|i| item(i, 1)).collect();
        let picks = pps_sieve("314159", &items, 4).unwrap();
        let order: Vec<&str> = picks.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(order, ["cd-1", "ef-3", "ab-1", "ab-2"]);
    }

    #[test]
    fn invalid_pps_inputs_are_errors() {
        assert!(pps_sieve("1", &[item("a", 0)], 1).is_err());
        assert!(pps_sieve("1", &[item("a", 1), item("a", 2)], 1).is_err());
        assert!(pps_sieve("1", &[item("a", 1)], 2).is_err());
        assert!(pps_sieve("", &[item("a", 1)], 1).is_err());
    }
}
