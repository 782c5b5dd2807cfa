//! Plan a diff through the wasm component and through the same policy logic
//! compiled natively, at 1k, 100k and 1M entries; print a Markdown table of
//! times, peak memory and ratios (the target, docs/architecture.md: wasm
//! ≤ 2× native at 1M).
//!
//! `cargo bench -p conduit --bench plan`. Each case runs in child processes
//! so that peak RSS and first calls are their own.

use std::process::Command;
use std::time::Instant;

use conduit::policy::{self as host, Runtime};
use conduit_policy::{self as sdk, Policy};
use wasmtime::component::ComponentType;

const SIZES: &[usize] = &[1_000, 100_000, 1_000_000];
const POLICIES: &[&str] = &["replicate", "synchronize"];
/// Calls per process: the first, then the ones whose median is reported.
const RUNS: usize = 4;
/// Processes per wasm case, for the spread of first calls.
const PROCESSES: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let (mode, policy, n) = (&args[i + 1], &args[i + 2], args[i + 3].parse().unwrap());
        run_case(mode, policy, n);
        return;
    }
    println!(
        "| policy | entries | native | native incl. conversion | wasm | wasm first call (max) | floor | wasm ÷ native | wasm ÷ native incl. conversion | floor ÷ native | peak RSS native | peak RSS wasm |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for policy in POLICIES {
        for &n in SIZES {
            let native = child("native", policy, n);
            let (native_rss, with_conversion, native) = (native[2], native[1], native[0]);
            let wasm: Vec<Vec<f64>> = (0..PROCESSES).map(|_| child("wasm", policy, n)).collect();
            let first = median(wasm.iter().map(|w| w[0]).collect());
            let first_max = wasm.iter().map(|w| w[0]).fold(0.0, f64::max);
            let steady = median(wasm.iter().map(|w| w[1]).collect());
            let wasm_rss = wasm.iter().map(|w| w[2]).fold(0.0, f64::max);
            let floor = child("floor", policy, n)[0];
            println!(
                "| {policy} | {n} | {} | {} | {} | {} ({}) | {} | {:.2} | {:.2} | {:.2} | {} MiB | {} MiB |",
                ms(native),
                ms(with_conversion),
                ms(steady),
                ms(first),
                ms(first_max),
                ms(floor),
                steady / native,
                steady / with_conversion,
                floor / native,
                native_rss as u64 / 1024,
                wasm_rss as u64 / 1024,
            );
        }
    }
}

fn ms(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1e3)
}

/// Run one case in a child process and read the numbers it prints.
fn child(mode: &str, policy: &str, n: usize) -> Vec<f64> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--case", mode, policy, &n.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect()
}

/// Print, in seconds except the last (KiB):
/// - wasm: the first call, the median of the later calls, peak RSS. A call
///   covers everything a sync pays: a fresh instance, lowering the entries,
///   the policy, and lifting its actions. The first call is what a one-shot
///   `conduit sync` pays.
/// - native: the median of the policy logic alone, the median including the
///   conversion between host and SDK types, peak RSS.
/// - floor: the median time to write the lowered entries once into fresh
///   memory, the least a sandbox that is handed a copy of the diff pays.
fn run_case(mode: &str, policy: &str, n: usize) {
    let (context, entries) = diff(n);
    let mut times = Vec::new();
    match mode {
        "wasm" => {
            let runtime = Runtime::new(None).unwrap();
            let p = runtime.builtin(policy).unwrap();
            for _ in 0..RUNS {
                let t = Instant::now();
                let actions = p.plan(&context, &entries).unwrap();
                times.push(t.elapsed().as_secs_f64());
                assert!(!actions.is_empty());
            }
            let first = times.remove(0);
            println!("{first} {} {}", median(times), peak_rss_kib());
        }
        "native" => {
            let mut with_conversion = Vec::new();
            for _ in 0..RUNS {
                let t = Instant::now();
                let (ctx, sdk_entries) = to_sdk(&context, &entries);
                let converted = Instant::now();
                let actions = match policy {
                    "replicate" => conduit_policy_replicate::Replicate::plan(&ctx, &sdk_entries),
                    _ => conduit_policy_synchronize::Synchronize::plan(&ctx, &sdk_entries),
                }
                .unwrap();
                times.push(converted.elapsed().as_secs_f64());
                let back: Vec<host::Action> = actions.into_iter().map(Into::into).collect();
                with_conversion.push(t.elapsed().as_secs_f64());
                assert!(!back.is_empty());
            }
            println!(
                "{} {} {}",
                median(times),
                median(with_conversion),
                peak_rss_kib()
            );
        }
        "floor" => {
            let lowered_bytes = entries.len() * host::Entry::SIZE32
                + entries.iter().map(|e| e.path.len()).sum::<usize>();
            let lowered = vec![1u8; lowered_bytes];
            for _ in 0..RUNS {
                let t = Instant::now();
                let mut memory = FreshMemory::new(lowered_bytes);
                memory.bytes().copy_from_slice(&lowered);
                times.push(t.elapsed().as_secs_f64());
            }
            println!("{}", median(times));
        }
        other => panic!("unknown mode {other}"),
    }
}

/// Anonymous memory advised like a policy's linear memory (huge pages), so
/// that the floor gets every advantage the runtime has.
struct FreshMemory {
    ptr: *mut u8,
    len: usize,
}

impl FreshMemory {
    fn new(len: usize) -> FreshMemory {
        // SAFETY: a private anonymous mapping, unmapped in `drop`.
        let ptr = unsafe {
            let ptr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(ptr, libc::MAP_FAILED, "mmap failed");
            libc::madvise(ptr, len, libc::MADV_HUGEPAGE);
            ptr.cast::<u8>()
        };
        FreshMemory { ptr, len }
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `ptr..ptr + len` is mapped read-write for our lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for FreshMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A mixed diff: a third modified on the source, a fifth created on the
/// destination, deletes on either side, conflicts, and renames.
fn diff(n: usize) -> (host::Context, Vec<host::Entry>) {
    let state = |content: u64, mtime: i64| host::State {
        kind: host::Kind::File,
        size: 4096 + content % 1000,
        mtime_ns: mtime,
        mode: 0o644,
        digest: Some((content, content ^ 0x5555, 7, 9)),
    };
    let entries = (0..n as u64)
        .map(|i| {
            let path = format!("projects/p{}/src/module{}/file{i}.rs", i % 97, i % 13);
            let base = Some(state(i, 1));
            let (source, destination) = match i % 10 {
                0..=2 => (Some(state(i + n as u64, 2)), base),
                3 | 4 => (base, Some(state(i + 2 * n as u64, 3))),
                5 => (None, base),
                6 => (base, None),
                7 => (
                    Some(state(i + 3 * n as u64, 4)),
                    Some(state(i + 4 * n as u64, 5)),
                ),
                // a rename on the source: the old path is gone, content reappears at i+1
                8 => (None, base),
                _ => (Some(state(i - 1, 1)), None),
            };
            let base = if i % 10 == 9 { None } else { base };
            let (source_change, destination_change) =
                conduit::diff::changes(base.as_ref(), source.as_ref(), destination.as_ref(), false);
            host::Entry {
                source_change,
                destination_change,
                path,
                source,
                destination,
                base,
                accessed_ns: 0,
                pinned: false,
                offloaded: false,
            }
        })
        .collect();
    let context = host::Context {
        conduit: "bench".into(),
        now_ns: 1_700_000_000_000_000_000,
        first_run: false,
        settings: vec![],
        source_volume: None,
        local_bytes: 0,
    };
    (context, entries)
}

// The host's (contract) and the SDK's (wit-bindgen) types are two forms of
// the same WIT records; a native embedding of a policy converts like this
// (the SDK's one conversion, policies/sdk/src/convert.rs).

fn to_sdk(ctx: &host::Context, entries: &[host::Entry]) -> (sdk::Context, Vec<sdk::Entry>) {
    let entries = entries.iter().cloned().map(Into::into).collect();
    (ctx.clone().into(), entries)
}
