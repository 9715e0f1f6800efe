//! IAF MD 1 multi-site sampling: the minimum number of sites to visit, in integer arithmetic only.
//!
//! `x` is the number of sites **excluding** the central function, which is audited every time.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SamplingError};

/// The audit in the certification cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditType {
    /// Initial certification audit: `⌈√x⌉`.
    Initial,
    /// Surveillance audit: `⌈0.6·√x⌉`.
    Surveillance,
    /// Recertification audit: `⌈0.8·√x⌉`.
    Recertification,
}

impl std::str::FromStr for AuditType {
    type Err = SamplingError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "initial" => Ok(AuditType::Initial),
            "surveillance" => Ok(AuditType::Surveillance),
            "recertification" => Ok(AuditType::Recertification),
            _ => Err(SamplingError::InvalidChoice {
                what: "audit type",
                input: s.to_string(),
                choices: "initial, surveillance or recertification",
            }),
        }
    }
}

/// The number of sites to visit and the rule used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteSample {
    /// `x`, sites excluding the central function.
    pub sites: u64,
    /// The audit.
    pub audit: AuditType,
    /// Whether the §6.1 sampling rule or the §6.2 no-sampling rule applied.
    pub sampling: bool,
    /// `y`, the minimum number of sites to visit (plus the central function).
    pub sites_to_visit: u64,
    /// The rule as an integer inequality.
    pub rule: String,
    /// One sentence.
    pub rationale: String,
}

/// The smallest `y >= 0` with `y² >= m`.
fn ceil_sqrt(m: u128) -> u128 {
    let r = m.isqrt();
    if r * r < m { r + 1 } else { r }
}

/// IAF MD 1 §6.1 (sampling appropriate): smallest `y` with `y² >= x` (initial), `25y² >= 9x`
/// (surveillance) or `25y² >= 16x` (recertification).
pub fn sites_to_sample(sites: u64, audit: AuditType) -> SiteSample {
    let x = u128::from(sites);
    let (y, rule) = match audit {
        AuditType::Initial => (ceil_sqrt(x), "smallest y with y² >= x"),
        AuditType::Surveillance => (
            ceil_sqrt((9 * x).div_ceil(25)),
            "smallest y with 25·y² >= 9·x",
        ),
        AuditType::Recertification => (
            ceil_sqrt((16 * x).div_ceil(25)),
            "smallest y with 25·y² >= 16·x",
        ),
    };
    let y = u64::try_from(y).expect("y <= x fits in u64");
    SiteSample {
        sites,
        audit,
        sampling: true,
        sites_to_visit: y,
        rule: rule.into(),
        rationale: format!(
            "IAF MD 1 §6.1, {audit:?} audit of {sites} site(s) excluding the central function: \
             visit at least {y} site(s) ({rule}) plus the central function; at least 25% of them \
             chosen at random."
        ),
    }
}

/// IAF MD 1 §6.2 (sampling not appropriate): all sites at initial and recertification audits;
/// 30% per surveillance year, rounded up (`⌈3x/10⌉`).
pub fn sites_without_sampling(sites: u64, audit: AuditType) -> SiteSample {
    let (y, rule) = match audit {
        AuditType::Surveillance => (
            u64::try_from((3 * u128::from(sites)).div_ceil(10)).expect("30% of x fits in u64"),
            "⌈3·x/10⌉ per year",
        ),
        _ => (sites, "all sites"),
    };
    SiteSample {
        sites,
        audit,
        sampling: false,
        sites_to_visit: y,
        rule: rule.into(),
        rationale: format!(
            "IAF MD 1 §6.2 (no sampling), {audit:?} audit of {sites} site(s): visit {y} ({rule})."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_audit_type_names_the_choices_not_a_number() {
        let e = "stage2".parse::<AuditType>().unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid audit type \"stage2\": choose initial, surveillance or recertification"
        );
        assert_eq!(" Initial ".parse::<AuditType>(), Ok(AuditType::Initial));
    }

    fn y(x: u64, a: AuditType) -> u64 {
        sites_to_sample(x, a).sites_to_visit
    }

    #[test]
    fn two_sites_give_two_one_two() {
        assert_eq!(
            (
                y(2, AuditType::Initial),
                y(2, AuditType::Surveillance),
                y(2, AuditType::Recertification)
            ),
            (2, 1, 2)
        );
    }

    #[test]
    fn twenty_six_sites_need_six_and_twenty_four_need_five() {
        assert_eq!(y(26, AuditType::Initial), 6);
        assert_eq!(y(24, AuditType::Initial), 5);
        assert_eq!(y(25, AuditType::Initial), 5);
    }

    #[test]
    fn the_integer_rule_agrees_with_the_float_formula_up_to_20000() {
        for x in 0..=20_000u64 {
            let r = (x as f64).sqrt();
            assert_eq!(y(x, AuditType::Initial), r.ceil() as u64, "x={x}");
            assert_eq!(
                y(x, AuditType::Surveillance),
                (0.6 * r - 1e-12).ceil() as u64,
                "x={x}"
            );
            assert_eq!(
                y(x, AuditType::Recertification),
                (0.8 * r - 1e-12).ceil() as u64,
                "x={x}"
            );
        }
    }

    #[test]
    fn huge_site_counts_do_not_overflow() {
        assert_eq!(y(u64::MAX, AuditType::Initial), 1u64 << 32);
        assert!(y(u64::MAX, AuditType::Recertification) < 1u64 << 32);
    }

    #[test]
    fn without_sampling_surveillance_covers_thirty_percent_rounded_up() {
        assert_eq!(
            sites_without_sampling(10, AuditType::Surveillance).sites_to_visit,
            3
        );
        assert_eq!(
            sites_without_sampling(11, AuditType::Surveillance).sites_to_visit,
            4
        );
        assert_eq!(
            sites_without_sampling(11, AuditType::Initial).sites_to_visit,
            11
        );
        assert_eq!(
            sites_without_sampling(2, AuditType::Surveillance).sites_to_visit,
            1
        );
    }
}
