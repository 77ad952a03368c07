//! Independent clients against the real server: the Python FHIR client fhirpy
//! (installed by `.ci/run`; the test says plainly that it skipped when
//! Python or fhirpy is missing on a developer's machine).

use crate::harness::start;
use std::process::Command;

#[test]
fn fhirpy_creates_reads_updates_and_deletes() {
    let probe = Command::new("python3")
        .args(["-c", "import fhirpy"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have fhirpy (.ci/run installs it)"
        );
        eprintln!("skipped: python3 with fhirpy is not installed (pip install fhirpy==2.3.1)");
        return;
    }
    let s = start(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/fhirpy_client.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(&s.base)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
