//! Links libcacard (Debian: libcacard-dev). pkg-config is not needed: the
//! library is `libcacard.so` in the default search path; `SUMAC_CACARD_LIB_DIR`
//! adds a directory to search.
fn main() {
    println!("cargo:rerun-if-env-changed=SUMAC_CACARD_LIB_DIR");
    if let Ok(dir) = std::env::var("SUMAC_CACARD_LIB_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
    }
    println!("cargo:rustc-link-lib=dylib=cacard");
}
