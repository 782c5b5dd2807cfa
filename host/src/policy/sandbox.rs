//! The store a policy runs in: a deny-all WASI context, memory limits, and
//! captured output.
//!
//! Policies built with a standard toolchain import a few WASI interfaces
//! (stdio, clocks, random) even when they never use them, so those are linked,
//! but with nothing behind them: no preopened directories, no environment, no
//! arguments, clocks frozen at the run's "now", and seeded randomness.
//! Filesystem, sockets and everything else are refused at load time by
//! [`check_imports`].

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError};
use wasmtime_wasi::{
    Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView,
};

/// WASI interfaces a policy may import; they are linked with nothing behind
/// them. Anything else (filesystem, sockets, HTTP, …) is refused.
const ALLOWED_IMPORT_PREFIXES: &[&str] = &["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:random/"];

/// The bytes behind the policy's "random" numbers.
const SEED: [u8; 8] = [0x9e, 0x37, 0x79, 0xb9, 0x7f, 0x4a, 0x7c, 0x15];

/// The first of a component's imports that policies may not use.
pub(crate) fn forbidden_import<'a>(mut imports: impl Iterator<Item = &'a str>) -> Option<String> {
    imports
        .find(|name| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)))
        .map(str::to_string)
}

/// Per-call state of one policy invocation.
pub(crate) struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: MemoryLimit,
    pub(crate) output: CappedOutput,
}

impl Sandbox {
    pub(crate) fn new(now_ns: i64, max_memory: usize, max_output: usize) -> Sandbox {
        let output = CappedOutput::new(max_output);
        let frozen = FrozenClock(Duration::from_nanos(now_ns.max(0) as u64));
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .wall_clock(frozen)
            .monotonic_clock(frozen)
            // Deterministic "randomness": hash maps in a policy still work, and
            // two runs on the same input still plan the same.
            .secure_random(Deterministic::new(SEED.to_vec()))
            .insecure_random(Deterministic::new(SEED.to_vec()))
            .insecure_random_seed(0)
            .allow_blocking_current_thread(true)
            .build();
        Sandbox {
            wasi,
            table: ResourceTable::new(),
            limits: MemoryLimit {
                max: max_memory,
                denied: false,
            },
            output,
        }
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory and remembers whether the policy hit the cap, so a trap
/// that follows can be reported as "out of memory" rather than a crash.
pub(crate) struct MemoryLimit {
    pub(crate) max: usize,
    pub(crate) denied: bool,
}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max;
        self.denied |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The version of `wasi:clocks` the host links (wasmtime-wasi's).
const CLOCKS: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replace the monotonic clock wasmtime-wasi links with one that is frozen
/// through and through: its "now" never moves, and waiting on it (what
/// `sleep` does) is over at once. A real wait would block inside a host
/// call, where neither fuel nor the deadline can stop the policy.
pub(crate) fn link_frozen_clock(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(CLOCKS)?;
    clock.func_wrap("now", |_, (): ()| Ok((0u64,)))?;
    clock.func_wrap("resolution", |_, (): ()| Ok((1_000_000_000u64,)))?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<Sandbox>, (_,): (u64,)| Ok((ready(store.data_mut())?,)),
    )?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<Sandbox>, (_,): (u64,)| Ok((ready(store.data_mut())?,)),
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A pollable that is ready now.
fn ready(sandbox: &mut Sandbox) -> wasmtime::Result<Resource<DynPollable>> {
    let now = sandbox.table.push(Now)?;
    wasmtime_wasi::p2::subscribe(&mut sandbox.table, now)
}

struct Now;

#[async_trait::async_trait]
impl Pollable for Now {
    async fn ready(&mut self) {}
}

/// A clock that always reads the run's "now" (and 0 for the monotonic clock's
/// start), so a policy's decisions depend on its inputs only.
#[derive(Clone, Copy)]
struct FrozenClock(Duration);

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The policy's stdout and stderr, kept up to a cap; the rest is counted and
/// dropped, never an error (a chatty policy must not fail because of it).
#[derive(Clone)]
pub(crate) struct CappedOutput {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: usize,
    cap: usize,
}

impl CappedOutput {
    fn new(cap: usize) -> CappedOutput {
        CappedOutput {
            inner: Arc::new(Mutex::new(Captured {
                cap,
                ..Default::default()
            })),
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut c = self.inner.lock().unwrap();
        let room = c.cap.saturating_sub(c.kept.len());
        let take = room.min(bytes.len());
        c.kept.extend_from_slice(&bytes[..take]);
        c.dropped += bytes.len() - take;
    }

    /// What the policy printed, and how many bytes past the cap were dropped.
    pub(crate) fn take(&self) -> (String, usize) {
        let mut c = self.inner.lock().unwrap();
        let text = String::from_utf8_lossy(&std::mem::take(&mut c.kept)).into_owned();
        (text, std::mem::take(&mut c.dropped))
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
