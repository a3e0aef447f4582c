//! A folder to share with a guest: a text file, a binary file in a sub-folder, and symlinks
//! pointing out of it (the path-escape cases).

use std::path::Path;

/// Fills `dir` (and puts `secret` in `outside`); returns the binary file's bytes
/// (`sub/data.bin`, 300,000 bytes). `escape` links to `outside`, `secret-link` to the secret.
pub fn shared_tree(dir: &Path, outside: &Path) -> Vec<u8> {
    std::fs::write(outside.join("secret"), b"top secret").unwrap();
    std::fs::write(dir.join("hello.txt"), b"hello from the host\n").unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(dir.join("sub/data.bin"), &big).unwrap();
    std::os::unix::fs::symlink(outside, dir.join("escape")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), dir.join("secret-link")).unwrap();
    big
}
