//! The fuzz targets of `host/fuzz/`, run here bounded: a fixed number of
//! seeded random inputs each (`CONDUIT_FUZZ_RUNS`, default 300), plus inputs
//! shaped like the real thing (a real diff, a real component, a real index),
//! so CI replays what libFuzzer explores at length.

pub mod targets;

use crate::crash::Rng;
use crate::support::*;

fn runs() -> u64 {
    std::env::var("CONDUIT_FUZZ_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(300)
}

/// `runs()` random inputs of up to `max` bytes, each starting (sometimes)
/// with `seed_input`, given to `target`.
fn drive(name: &str, seed_input: &[u8], max: usize, target: impl Fn(&[u8])) {
    drive_n(name, runs(), seed_input, max, target)
}

fn drive_n(name: &str, runs: u64, seed_input: &[u8], max: usize, target: impl Fn(&[u8])) {
    let mut rng = Rng::new(name.bytes().map(u64::from).sum());
    for _ in 0..runs {
        let len = rng.below(max as u64 + 1) as usize;
        let mut input: Vec<u8> = if rng.below(2) == 0 {
            seed_input.to_vec()
        } else {
            Vec::new()
        };
        if !input.is_empty() {
            // Mutate the seed input in a few places.
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(input.len() as u64) as usize;
                input[at] = rng.next() as u8;
            }
        }
        input.extend((0..len).map(|_| rng.next() as u8));
        target(&input);
    }
}

#[test]
fn the_diff_json_reader() {
    let real = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/diff-json.md"))
        .map(|md| {
            let text = String::from_utf8_lossy(&md).into_owned();
            text.split("```json")
                .nth(1)
                .and_then(|b| b.split("```").next())
                .unwrap_or("{}")
                .as_bytes()
                .to_vec()
        })
        .unwrap_or_default();
    drive("diff_json", &real, 256, targets::diff_json);
}

#[test]
fn the_plan_validator() {
    drive("plan_validate", &[], 96, targets::plan_validate);
}

#[test]
fn the_component_loader() {
    drive(
        "component_load",
        b"\0asm\x0d\0\x01\0",
        64,
        targets::component_load,
    );
    let real = std::fs::read(env!("CONDUIT_FIXTURE_MIRROR_TYPES")).unwrap();
    // Each surviving mutation is compiled: fewer runs.
    drive_n("component_mutated", runs() / 10, &[], 32, |data| {
        targets::component_mutated(&real, data)
    });
}

#[test]
fn ignore_rules() {
    drive(
        "ignore_rules",
        b"*.tmp\n!keep\n/build/\n**/x[a-z]?",
        64,
        targets::ignore_rules,
    );
}

#[test]
fn option_values() {
    drive("option_values", b"\x01\x01", 24, targets::option_values);
}

#[test]
fn the_index_on_a_damaged_database() {
    let w = World::new();
    write(&w.a, "f.txt", "x");
    w.add("c", "replicate", &[]);
    w.sync("c", &[], 0);
    let healthy = std::fs::read(w.home.join("index.sqlite")).unwrap();
    drive("index_damaged", &[], 48, |data| {
        targets::index_damaged(&healthy, data)
    });
}

#[test]
fn names_of_every_byte() {
    drive("names", &[], 300, targets::names);
    // Every single byte a name may hold.
    for byte in 1..=255u8 {
        targets::names(&[b'n', byte, b'n']);
    }
}
