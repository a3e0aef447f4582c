#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sumac_fuzz::agent_machine::fuzz(data);
});
