//! Replays the committed fuzz regression set, `tests/fuzz/regression/<target>/*`, through the
//! oracles the cargo-fuzz targets use (`tests/fuzz/src/lib.rs`, included without libfuzzer).
//!
//! A file fails when its oracle panics, or when its name promises a verdict (`seed-*`
//! accepted, `hostile-*` rejected) that the oracle does not give. An empty or missing target
//! directory fails too.

#[path = "../fuzz/src/lib.rs"]
mod oracles;

use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use oracles::seeds::{self, Seed};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fuzz")
}

/// Runs `oracle` on `data`; `Err` describes a panic or a verdict contradicting the name.
fn replay(target: &str, name: &str, oracle: oracles::Oracle, data: &[u8]) -> Result<(), String> {
    match catch_unwind(|| oracle(data)) {
        Err(_) => Err(format!("{target}/{name}: oracle panicked (message above)")),
        Ok(accepted) => match Seed::expect_accepted(name) {
            Some(expected) if expected != accepted => Err(format!(
                "{target}/{name}: expected {}, the oracle {}",
                if expected { "accepted" } else { "rejected" },
                if accepted { "accepted it" } else { "rejected it" }
            )),
            _ => Ok(()),
        },
    }
}

#[test]
fn regression_files_replay() {
    let root = fuzz_dir().join("regression");
    let mut failures = Vec::new();
    let mut total = 0;
    for &(target, oracle) in oracles::TARGETS
        .iter()
        .chain(oracles::DECODER_TARGETS)
        .chain(oracles::TEXT_TARGETS)
    {
        let dir = root.join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} holds no regression input", dir.display());
        for path in &files {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if let Err(e) = replay(target, name, oracle, &data) {
                failures.push(e);
            }
        }
        total += files.len();
    }
    assert!(
        failures.is_empty(),
        "{} of {total} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn regression_dirs_are_known_targets() {
    for entry in std::fs::read_dir(fuzz_dir().join("regression")).expect("tests/fuzz/regression") {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        assert!(
            path.is_dir()
                && oracles::TARGETS
                    .iter()
                    .chain(oracles::DECODER_TARGETS)
                    .chain(oracles::TEXT_TARGETS)
                    .any(|(t, _)| *t == name),
            "{}: not the directory of a fuzz target",
            path.display()
        );
    }
}

#[test]
fn generated_seeds_get_the_verdict_their_names_promise() {
    let all = seeds::all();
    let mut failures = Vec::new();
    for (target, oracle) in oracles::TARGETS {
        let of_target: Vec<&Seed> = all.iter().filter(|s| s.target == *target).collect();
        assert!(!of_target.is_empty(), "no seed for {target}");
        for s in of_target {
            if let Err(e) = replay(target, &s.name, *oracle, &s.bytes) {
                failures.push(e);
            }
        }
    }
    assert!(
        all.iter().all(|s| oracles::TARGETS.iter().any(|(t, _)| *t == s.target)),
        "a seed names an unknown target"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Regenerates the (gitignored) seed corpus: `cargo test --test e2e write_seed_corpus -- --ignored`.
#[test]
#[ignore = "writes tests/fuzz/corpus/<target>/; run on demand before fuzzing"]
fn write_seed_corpus() {
    let dir = fuzz_dir().join("corpus");
    let n = seeds::write_corpus(&dir).expect("write the seed corpus");
    println!("wrote {n} seeds under {}", dir.display());
}
