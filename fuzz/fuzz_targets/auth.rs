//! Fuzz target: arbitrary bytes through the readers of authorization
//! (`hemolink::auth::exercise::exercise`): scopes, query constraints,
//! launch contexts, an audit chain, URLs and JWS headers. Run with
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run auth -- -max_total_time=30`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hemolink::auth::exercise::exercise(data);
});
