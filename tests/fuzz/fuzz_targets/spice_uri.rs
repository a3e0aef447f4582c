#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sumac_fuzz::config_parsers::fuzz_spice_uri(data);
});
