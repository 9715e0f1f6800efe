//! Reproducible sample selection: every method is a pure function of the seed and a
//! caller-frozen population (1-based positions or explicit ids).

pub(crate) mod consistent;
pub(crate) mod pps;
pub(crate) mod rivest;
pub(crate) mod stratified;
pub(crate) mod systematic;
