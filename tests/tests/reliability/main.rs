//! Reliability tests: DataHub faults, every row-metadata mode (FULL, MINIMAL, NO_LOG) and every
//! type family, each ended by the verifier (nothing missing, extra, different or reordered per
//! key).
//!
//! One test binary for these modules (one link instead of one per file); each module's own
//! header says what it covers.

mod faults;
mod row_metadata;
mod types;
