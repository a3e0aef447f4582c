#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sumac_fuzz::ports::fuzz_console_text(data);
});
