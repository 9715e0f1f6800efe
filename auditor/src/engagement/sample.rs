//! Reproducible selection over a frozen population: the Rivest 2011 SHA-256 sampler over
//! positions `1..=N` of the manifest (without replacement), or, for a stratified population, over
//! each stratum's own positions with the stream `seed ‖ "|" ‖ stratum` after a proportional
//! allocation. Every pick keeps its counter; duplicates rejected along the way are kept too.
//! Pure: anyone holding the manifest and the seed re-derives the same picks, with the `draw`
//! command or any implementation of Rivest's sampler.

use evidence_sampling::{
    Allocation, RIVEST_ALGORITHM, RivestDraw, Stratum, allocate, rivest_draw, stratified_draw,
};
use serde::{Deserialize, Serialize};

use super::population::StratumInfo;

/// One selected item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplePick {
    /// 1-based, in draw order (stratum by stratum, in stratum name order, when stratified).
    pub pick: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratum: Option<String>,
    /// The position the sampler produced: into the whole manifest, or into the stratum.
    pub stratum_position: u64,
    /// The 1-based position in the population manifest.
    pub position: u64,
    /// The sampler counter that produced it.
    pub counter: u64,
}

/// A duplicate the sampler produced and rejected (sampling without replacement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratum: Option<String>,
    pub stratum_position: u64,
    pub counter: u64,
}

/// How the sample size was split across strata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StratumAllocation {
    pub name: String,
    pub size: u64,
    pub allocated: u64,
    /// The seed of this stratum's stream: `seed|name`.
    pub seed: String,
}

/// A drawn sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drawn {
    pub algorithm: String,
    pub with_replacement: bool,
    /// `simple_random` or `stratified_proportional`.
    pub method: String,
    pub picks: Vec<SamplePick>,
    pub rejected: Vec<Rejected>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allocation: Vec<StratumAllocation>,
}

/// Draw `n` items. `strata` (sorted by name) and `stratum_of` (for each manifest position, in
/// order, its stratum index) describe a stratified population; pass empty slices otherwise.
pub fn draw(
    seed: &str,
    population: u64,
    n: u64,
    strata: &[StratumInfo],
    stratum_of: &[u32],
) -> Result<Drawn, evidence_sampling::SamplingError> {
    if strata.is_empty() {
        let s = rivest_draw(&RivestDraw::positions(seed, population, n))?;
        let picks = s
            .picks
            .iter()
            .enumerate()
            .map(|(i, p)| SamplePick {
                pick: i as u64 + 1,
                stratum: None,
                stratum_position: p.value,
                position: p.value,
                counter: p.counter,
            })
            .collect();
        let rejected = s
            .rejected
            .iter()
            .map(|p| Rejected {
                stratum: None,
                stratum_position: p.value,
                counter: p.counter,
            })
            .collect();
        return Ok(Drawn {
            algorithm: RIVEST_ALGORITHM.to_owned(),
            with_replacement: false,
            method: "simple_random".to_owned(),
            picks,
            rejected,
            allocation: Vec::new(),
        });
    }
    // Manifest positions of each stratum's members, in manifest order.
    let mut positions: Vec<Vec<u64>> = vec![Vec::new(); strata.len()];
    for (i, s) in stratum_of.iter().enumerate() {
        if let Some(list) = positions.get_mut(*s as usize) {
            list.push(i as u64 + 1);
        }
    }
    let spec: Vec<Stratum> = strata
        .iter()
        .map(|s| Stratum {
            name: s.name.clone(),
            size: s.size,
        })
        .collect();
    let samples = stratified_draw(seed, &spec, n, Allocation::Proportional)?;
    let mut picks = Vec::new();
    let mut rejected = Vec::new();
    let mut allocation = Vec::new();
    for (h, s) in samples.iter().enumerate() {
        allocation.push(StratumAllocation {
            name: s.name.clone(),
            size: s.size,
            allocated: s.allocated,
            seed: s.seed.clone(),
        });
        for p in &s.picks {
            let position = positions
                .get(h)
                .and_then(|list| list.get(usize::try_from(p.value).ok()?.checked_sub(1)?))
                .copied()
                .ok_or_else(|| {
                    evidence_sampling::SamplingError::InvalidPopulation(format!(
                        "stratum {} has no position {}",
                        s.name, p.value
                    ))
                })?;
            picks.push(SamplePick {
                pick: picks.len() as u64 + 1,
                stratum: Some(s.name.clone()),
                stratum_position: p.value,
                position,
                counter: p.counter,
            });
        }
        rejected.extend(s.rejected.iter().map(|p| Rejected {
            stratum: Some(s.name.clone()),
            stratum_position: p.value,
            counter: p.counter,
        }));
    }
    Ok(Drawn {
        algorithm: RIVEST_ALGORITHM.to_owned(),
        with_replacement: false,
        method: "stratified_proportional".to_owned(),
        picks,
        rejected,
        allocation,
    })
}

/// The proportional allocation of `n` over the strata (for showing a plan before the draw).
pub fn allocation(
    strata: &[StratumInfo],
    n: u64,
) -> Result<Vec<u64>, evidence_sampling::SamplingError> {
    let sizes: Vec<u64> = strata.iter().map(|s| s.size).collect();
    allocate(&sizes, n, Allocation::Proportional)
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_sampling::rivest_value;

    #[test]
    fn a_simple_draw_is_the_rivest_stream_over_manifest_positions() {
        let d = draw("12345678901234567890|ab|00", 1000, 5, &[], &[]).unwrap();
        assert_eq!(d.picks.len(), 5);
        for p in &d.picks {
            assert_eq!(
                rivest_value("12345678901234567890|ab|00", p.counter, 1, 1000).unwrap(),
                p.position
            );
        }
        let counters: Vec<u64> = d.picks.iter().map(|p| p.counter).collect();
        assert_eq!(counters[0], 1);
    }

    #[test]
    fn the_published_rivest_vector_reproduces_through_a_population_draw() {
        let d = draw("3546311556112163624615351222", 876, 5, &[], &[]).unwrap();
        let values: Vec<u64> = d.picks.iter().map(|p| p.position).collect();
        assert_eq!(values, [740, 180, 264, 789, 238]);
    }

    #[test]
    fn duplicates_are_rejected_with_their_counters() {
        // Three of three positions: the stream must reject repeats until every position is hit.
        let d = draw("seed-with-duplicates-0000", 3, 3, &[], &[]).unwrap();
        let mut positions: Vec<u64> = d.picks.iter().map(|p| p.position).collect();
        positions.sort();
        assert_eq!(positions, [1, 2, 3]);
        let last = d.picks.iter().map(|p| p.counter).max().unwrap();
        assert_eq!(last as usize, 3 + d.rejected.len());
    }

    #[test]
    fn a_stratified_draw_maps_stratum_positions_back_to_manifest_positions() {
        let strata = vec![
            StratumInfo {
                name: "a".into(),
                size: 6,
            },
            StratumInfo {
                name: "b".into(),
                size: 4,
            },
        ];
        // Manifest order: a b a b a b a b a a
        let of: Vec<u32> = vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 0];
        let d = draw("stratified-seed-000000", 10, 5, &strata, &of).unwrap();
        assert_eq!(d.allocation[0].allocated + d.allocation[1].allocated, 5);
        assert_eq!(d.allocation[1].seed, "stratified-seed-000000|b");
        for p in &d.picks {
            let h = usize::from(p.stratum.as_deref() == Some("b"));
            let members: Vec<u64> = (1..=10u64)
                .filter(|i| of[*i as usize - 1] as usize == h)
                .collect();
            assert_eq!(members[p.stratum_position as usize - 1], p.position);
            let stream = format!("stratified-seed-000000|{}", strata[h].name);
            assert_eq!(
                rivest_value(&stream, p.counter, 1, strata[h].size).unwrap(),
                p.stratum_position
            );
        }
    }
}
