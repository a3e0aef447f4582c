#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sumac_fuzz::channel_framing::fuzz(data);
});
