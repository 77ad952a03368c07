//! Fuzz target: arbitrary bytes through MLLP framing and the HL7 v2 reader
//! (`hemolink::hl7::exercise::exercise`). Run with
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run hl7 -- -max_total_time=60`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hemolink::hl7::exercise::exercise(data);
});
