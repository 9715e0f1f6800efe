//! The seed protocol that neither side can bias (sampling.md §4.3), as pure functions.
//!
//! 1. Before the population is frozen the auditor commits to a secret: the commitment is
//!    `SHA-256(UTF-8(secret))` in lowercase hex, printed and stored; the secret stays with the
//!    auditor.
//! 2. The population is frozen: its manifest digest is fixed.
//! 3. After the freeze the auditor reveals the secret (checked against the commitment) and may add
//!    a public beacon value published after the freeze (e.g. a drand round).
//! 4. The seed is `secret ‖ "|" ‖ beacon value (lowercase hex, empty without a beacon) ‖ "|" ‖
//!    population digest (64 lowercase hex)`, used verbatim by the Rivest sampler.
//!
//! The auditee cannot predict the seed (the secret is unknown to them until after the freeze);
//! the auditor cannot steer it (the secret was fixed before the population, the beacon after).

use std::fmt;

use evidence_model::{Sha256Digest, Timestamp};
use serde::{Deserialize, Serialize};

/// Shortest secret accepted (Colorado's RLA rule asks for at least 20 random digits).
pub const SECRET_MIN_LEN: usize = 20;
/// Longest secret accepted.
pub const SECRET_MAX_LEN: usize = 200;
/// Digits in a generated secret.
pub const GENERATED_DIGITS: usize = 40;

/// The auditor's secret: 20 to 200 printable ASCII characters without spaces or `|`. Its
/// `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SeedSecret(String);

/// Why a secret, beacon or commitment is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    #[error(
        "the secret must be {SECRET_MIN_LEN} to {SECRET_MAX_LEN} printable ASCII characters without spaces or '|' (it has {len} characters{detail})"
    )]
    BadSecret { len: usize, detail: &'static str },
    #[error("the secret does not match the commitment {commitment} made before the freeze")]
    CommitmentMismatch { commitment: String },
    #[error("the beacon value must be 1 to 256 hex digits, got {0:?}")]
    BadBeaconValue(String),
    #[error("unknown beacon chain {0:?}: use drand-quicknet, drand-default, or other:NAME")]
    BadChain(String),
    #[error("{chain} has no round {round}; rounds start at 1")]
    BadRound { chain: String, round: u64 },
    #[error(
        "{chain} round {round} was published at {published}, not after the freeze at {frozen}: use a round published after the population was frozen"
    )]
    BeaconBeforeFreeze {
        chain: String,
        round: u64,
        published: Timestamp,
        frozen: Timestamp,
    },
    #[error(
        "{chain} round {round} will only be published at {published}; its value cannot be known now ({now})"
    )]
    BeaconInFuture {
        chain: String,
        round: u64,
        published: Timestamp,
        now: Timestamp,
    },
}

impl SeedSecret {
    /// Check a secret read from a file (one trailing newline is dropped).
    pub fn parse(text: &str) -> Result<Self, SeedError> {
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        let len = text.chars().count();
        if !(SECRET_MIN_LEN..=SECRET_MAX_LEN).contains(&len) {
            return Err(SeedError::BadSecret { len, detail: "" });
        }
        if !text.bytes().all(|b| b.is_ascii_graphic() && b != b'|') {
            return Err(SeedError::BadSecret {
                len,
                detail: ", some not allowed",
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// A secret of [`GENERATED_DIGITS`] decimal digits from `entropy` (e.g. 64 bytes of the
    /// operating system's generator). Bytes of 250 and above are skipped so that every digit is
    /// uniform; returns `None` if `entropy` runs out first.
    pub fn from_entropy(entropy: &[u8]) -> Option<Self> {
        let digits: String = entropy
            .iter()
            .filter(|b| **b < 250)
            .take(GENERATED_DIGITS)
            .map(|b| char::from(b'0' + b % 10))
            .collect();
        (digits.len() == GENERATED_DIGITS).then_some(Self(digits))
    }

    /// The commitment: `SHA-256(UTF-8(secret))`, lowercase hex.
    pub fn commitment(&self) -> String {
        Sha256Digest::of(self.0.as_bytes()).to_hex()
    }

    /// Check the secret against a stored commitment.
    pub fn check(&self, commitment: &str) -> Result<(), SeedError> {
        if self.commitment() == commitment {
            Ok(())
        } else {
            Err(SeedError::CommitmentMismatch {
                commitment: commitment.to_owned(),
            })
        }
    }

    /// The secret itself, for the seed and for the record once revealed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SeedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeedSecret(***)")
    }
}

impl fmt::Display for SeedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A public randomness beacon with a known publication schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    name: &'static str,
    /// Unix seconds of round 1.
    genesis: i64,
    period_secs: i64,
}

/// drand chains whose round times are checked: round `r` is published at
/// `genesis + (r − 1) · period`.
const SCHEDULES: &[Schedule] = &[
    Schedule {
        name: "drand-quicknet",
        genesis: 1_692_803_367,
        period_secs: 3,
    },
    Schedule {
        name: "drand-default",
        genesis: 1_595_431_050,
        period_secs: 30,
    },
];

/// A beacon value the seed includes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beacon {
    /// `drand-quicknet`, `drand-default` or `other:<name>`.
    pub chain: String,
    pub round: u64,
    /// Lowercase hex.
    pub value: String,
    /// When the round was published, for chains with a known schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Timestamp>,
}

impl Beacon {
    /// Check a beacon: the chain is known (or `other:NAME`), the value is hex (lowercased), and
    /// for a chain with a known schedule the round was published after `frozen_at` and before
    /// `now`.
    pub fn new(
        chain: &str,
        round: u64,
        value: &str,
        frozen_at: Timestamp,
        now: Timestamp,
    ) -> Result<Self, SeedError> {
        let value = value.trim().to_ascii_lowercase();
        if value.is_empty() || value.len() > 256 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SeedError::BadBeaconValue(value));
        }
        let published_at = match SCHEDULES.iter().find(|s| s.name == chain) {
            Some(s) => {
                let at = round_time(s, round).ok_or_else(|| SeedError::BadRound {
                    chain: chain.into(),
                    round,
                })?;
                if at <= frozen_at {
                    return Err(SeedError::BeaconBeforeFreeze {
                        chain: chain.into(),
                        round,
                        published: at,
                        frozen: frozen_at,
                    });
                }
                if at > now {
                    return Err(SeedError::BeaconInFuture {
                        chain: chain.into(),
                        round,
                        published: at,
                        now,
                    });
                }
                Some(at)
            }
            None if chain
                .strip_prefix("other:")
                .is_some_and(|n| !n.is_empty() && !n.contains('|')) =>
            {
                None
            }
            None => return Err(SeedError::BadChain(chain.into())),
        };
        Ok(Self {
            chain: chain.to_owned(),
            round,
            value,
            published_at,
        })
    }
}

fn round_time(s: &Schedule, round: u64) -> Option<Timestamp> {
    let r = i64::try_from(round.checked_sub(1)?).ok()?;
    let secs = s.genesis.checked_add(r.checked_mul(s.period_secs)?)?;
    Timestamp::from_second(secs).ok()
}

/// The first round of `chain` published after `at` (to tell the auditor which round to use).
pub fn first_round_after(chain: &str, at: Timestamp) -> Option<u64> {
    let s = SCHEDULES.iter().find(|s| s.name == chain)?;
    let elapsed = at.as_second().checked_sub(s.genesis)?;
    u64::try_from(elapsed / s.period_secs + 2).ok()
}

/// The seed: `secret|beacon value|population digest`.
pub fn derive_seed(secret: &SeedSecret, beacon: Option<&Beacon>, digest: &Sha256Digest) -> String {
    format!(
        "{}|{}|{}",
        secret.expose(),
        beacon.map_or("", |b| b.value.as_str()),
        digest.to_hex()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_commitment_is_the_sha256_of_the_secret() {
        let s = SeedSecret::parse("12345678901234567890\n").unwrap();
        assert_eq!(
            s.commitment(),
            Sha256Digest::of(b"12345678901234567890").to_hex()
        );
        assert!(s.check(&s.commitment()).is_ok());
        assert!(matches!(
            s.check(&"0".repeat(64)),
            Err(SeedError::CommitmentMismatch { .. })
        ));
    }

    #[test]
    fn short_secrets_and_secrets_with_separators_are_refused() {
        assert!(SeedSecret::parse("1234").is_err());
        assert!(SeedSecret::parse("1234567890|1234567890").is_err());
        assert!(SeedSecret::parse("1234567890 1234567890").is_err());
    }

    #[test]
    fn a_secret_never_prints() {
        let s = SeedSecret::parse("98765432109876543210").unwrap();
        assert_eq!(format!("{s} {s:?}"), "*** SeedSecret(***)");
    }

    #[test]
    fn generated_secrets_are_forty_uniform_digits() {
        let entropy: Vec<u8> = (0..=255).collect();
        let s = SeedSecret::from_entropy(&entropy).unwrap();
        assert_eq!(s.expose(), "0123456789".repeat(4));
        assert!(SeedSecret::from_entropy(&[251; 64]).is_none());
    }

    #[test]
    fn the_seed_joins_secret_beacon_and_digest_with_bars() {
        let secret = SeedSecret::parse("11111111112222222222").unwrap();
        let digest = Sha256Digest::of(b"manifest");
        let frozen = ts("2026-01-01T00:00:00Z");
        let beacon = Beacon::new(
            "drand-quicknet",
            first_round_after("drand-quicknet", frozen).unwrap(),
            "ABCDEF",
            frozen,
            ts("2026-06-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            derive_seed(&secret, Some(&beacon), &digest),
            format!("11111111112222222222|abcdef|{digest}")
        );
        assert_eq!(
            derive_seed(&secret, None, &digest),
            format!("11111111112222222222||{digest}")
        );
    }

    #[test]
    fn a_drand_round_published_before_the_freeze_or_in_the_future_is_refused() {
        let frozen = ts("2026-01-01T00:00:00Z");
        let now = ts("2026-01-02T00:00:00Z");
        let next = first_round_after("drand-quicknet", frozen).unwrap();
        assert!(Beacon::new("drand-quicknet", next, "ab", frozen, now).is_ok());
        assert!(matches!(
            Beacon::new("drand-quicknet", next - 1, "ab", frozen, now),
            Err(SeedError::BeaconBeforeFreeze { .. })
        ));
        assert!(matches!(
            Beacon::new("drand-quicknet", next + 1_000_000, "ab", frozen, now),
            Err(SeedError::BeaconInFuture { .. })
        ));
        assert!(Beacon::new("other:nist", 7, "ab", frozen, now).is_ok());
        assert!(Beacon::new("nist", 7, "ab", frozen, now).is_err());
        assert!(Beacon::new("other:nist", 7, "xyz", frozen, now).is_err());
    }

    #[test]
    fn drand_round_times_follow_the_published_schedules() {
        let s = SCHEDULES[0];
        assert_eq!(round_time(&s, 1).unwrap().as_second(), 1_692_803_367);
        assert_eq!(round_time(&s, 11).unwrap().as_second(), 1_692_803_397);
        assert!(round_time(&s, 0).is_none());
    }
}
