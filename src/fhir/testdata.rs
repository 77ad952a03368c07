//! Where the unit tests find the shared, openly licensed R4 test data: the
//! folder named by `HEMOLINK_TESTDATA`, else `../shared/data` beside the
//! checkout (as CI lays it out). Tests that need it skip, and say so, when it
//! is absent; nothing of it is copied into the repository.

use std::path::PathBuf;

/// The test-data folder.
pub fn root() -> PathBuf {
    std::env::var_os("HEMOLINK_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// The `fhir-r4` folder of the test data.
pub fn fhir_r4() -> PathBuf {
    root().join("fhir-r4")
}
