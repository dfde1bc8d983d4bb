//! DataHub tests: the signed producer against the project's DataHub emulator, TUPLE layouts, and
//! the emulator's protocol checked by hand and by the official SDK (pydatahub).
//!
//! One test binary for these modules (one link instead of one per file); each module's own
//! header says what it covers.

mod emulator_protocol;
mod emulator_pydatahub;
mod producer;
mod tuple;
