#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sumac_fuzz::fuzz_opus_packet(data);
});
