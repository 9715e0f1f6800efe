//! Trust without trusting the organisation: the report types of the checks `verify_*_with`
//! adds to the structural ones (signatures, time stamp, co-signatures, pinned checkpoint) and
//! the options that ask for them. The checks themselves are the verifier's trust pass
//! (`verify::trust`); this module re-exports what callers name, and depends on `verify`, never
//! the other way round.

pub use crate::verify::{PinReport, SignatureReport, TimeStampReport, TrustReport, VerifyOptions};
