//! CI smoke run of every fuzz target (the same bodies cargo-fuzz runs, from
//! `elv::fuzzing`): the seed corpus from testdata/, every regression file in
//! testdata/regress/, and some thousands of deterministic random and mutated inputs.

#[path = "vectors/mod.rs"]
mod vectors;

use elv::fuzzing::{run, TARGETS};
use std::path::PathBuf;
use vectors::Rng;

fn testdata() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata"))
}

fn seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for sub in ["valid", "invalid", "regress"] {
        let Ok(rd) = std::fs::read_dir(testdata().join(sub)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "elv" || e == "bin"))
            .collect();
        paths.sort();
        v.extend(paths.iter().map(|p| std::fs::read(p).unwrap()));
    }
    v
}

fn mutate(r: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + r.below(4) {
        match r.below(4) {
            0 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] ^= 1 << r.below(8);
            }
            1 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] = r.next() as u8;
            }
            2 => v.truncate(r.below(v.len() + 1)),
            _ => {
                let i = r.below(v.len() + 1);
                v.insert(i, r.next() as u8);
            }
        }
    }
    v
}

#[test]
fn every_target_survives_seeds_regressions_and_random_inputs() {
    let seeds = seeds();
    assert!(seeds.len() > 50, "seed corpus from testdata/");
    let sample = std::fs::read(testdata().join("sample/minilm_sample.safetensors")).unwrap();
    for (t, target) in TARGETS.iter().enumerate() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15 ^ t as u64);
        for s in &seeds {
            run(target, s);
        }
        for _ in 0..4000 {
            let len = r.below(300);
            let input: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
            run(target, &input);
        }
        for _ in 0..4000 {
            let s = &seeds[r.below(seeds.len())];
            run(target, &mutate(&mut r, s));
        }
        if *target == "pytorch" {
            let pt = std::fs::read(testdata().join("pytorch/train.pt")).unwrap();
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&pt[..])).unwrap();
            let mut pickle = Vec::new();
            std::io::Read::read_to_end(&mut zip.by_name("train/data.pkl").unwrap(), &mut pickle)
                .unwrap();
            for seed in [&pt, &pickle] {
                run(target, seed);
                for _ in 0..300 {
                    run(target, &mutate(&mut r, seed));
                }
            }
        }
        if *target == "safetensors" {
            run(target, &sample);
            for _ in 0..40 {
                run(target, &mutate(&mut r, &sample[..4096.min(sample.len())]));
            }
        }
    }
}

#[test]
fn regression_files_replay_through_their_target() {
    let rd = std::fs::read_dir(testdata().join("regress")).expect("testdata/regress exists");
    let mut replayed = 0;
    for e in rd {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "bin") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let target = name.split('-').next().unwrap();
            assert!(TARGETS.contains(&target), "{name}: no target {target:?}");
            run(target, &std::fs::read(&p).unwrap());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression file was replayed");
}
