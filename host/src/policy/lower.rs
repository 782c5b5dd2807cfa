//! Copying the diff into a policy's linear memory.
//!
//! wasmtime lowers a `list<entry>` field by field and looks the guest's memory
//! up again for every field it writes, some forty times per entry; on a
//! 1M-entry diff that was about 40% of a `plan` call (host/benches/plan.rs).
//! [`Entries`] writes the same canonical-ABI bytes, but all fixed-size fields
//! of all entries through one borrow of the memory. Paths still go through
//! wasmtime's own string lowering (one allocation in the guest each, in the
//! guest's string encoding), because the guest owns and frees them one by one.
//!
//! wasmtime's `Lower` trait is public but its methods are `#[doc(hidden)]`
//! (its `bindgen!` output is the usual implementor), so this module leans on
//! wasmtime's internals on purpose. It keeps the risk small: the ABI and the
//! type check are wasmtime's own for `list<entry>`, the field offsets are
//! computed from wasmtime's ABI constants in the order the `.wit` declares
//! them, the records are destructured exhaustively (a new field does not
//! compile until it is written here), and tests/policy_boundary.rs checks
//! that a policy reads back every field of every kind of entry as sent.

use std::mem::MaybeUninit;

use wasmtime::ValRaw;
use wasmtime::component::__internal::{
    CanonicalAbiInfo, ComponentVariant, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{ComponentType, Lower};

use super::{Change, Digest, Entry, Kind, State};

/// `plan`'s `entries` argument: lowered exactly like `&[Entry]`, faster.
#[derive(Clone, Copy)]
pub(super) struct Entries<'a>(pub(super) &'a [Entry]);

// SAFETY: the flat representation, the ABI and the type check are those of
// `[Entry]`, i.e. of `list<entry>`.
unsafe impl ComponentType for Entries<'_> {
    type Lower = [ValRaw; 2];

    const ABI: CanonicalAbiInfo = <[Entry] as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <[Entry] as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: writes a list as the canonical ABI lays it out: a 32-bit pointer and
// length (as two 64-bit values when flat), pointing at records written by
// `EntryLayout::write` into memory the guest's `realloc` returned.
unsafe impl Lower for Entries<'_> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut MaybeUninit<[ValRaw; 2]>,
    ) -> wasmtime::Result<()> {
        debug_assert!(matches!(ty, InterfaceType::List(_)));
        let (ptr, len) = self.store(cx)?;
        // Flat pointers are always passed as 64-bit values, as wasmtime does.
        dst.write([ValRaw::i64(ptr as i64), ValRaw::i64(len as i64)]);
        Ok(())
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        debug_assert!(matches!(ty, InterfaceType::List(_)));
        let (ptr, len) = self.store(cx)?;
        let slot = cx.get::<8>(offset);
        slot[..4].copy_from_slice(&u32::try_from(ptr)?.to_le_bytes());
        slot[4..].copy_from_slice(&u32::try_from(len)?.to_le_bytes());
        Ok(())
    }
}

impl Entries<'_> {
    /// Allocate the records in the guest, lower the paths, then fill in every
    /// other field in one pass. Returns the list's pointer and length.
    fn store<T>(&self, cx: &mut LowerContext<'_, T>) -> wasmtime::Result<(usize, usize)> {
        let layout = EntryLayout::new();
        let size =
            self.0.len().checked_mul(layout.size).ok_or_else(|| {
                wasmtime::format_err!("the diff is too large to copy into a policy")
            })?;
        let base = cx.realloc(0, 0, Entry::ALIGN32, size)?;
        for (i, entry) in self.0.iter().enumerate() {
            let slot = base + i * layout.size + layout.path;
            entry
                .path
                .as_str()
                .linear_lower_to_memory(cx, InterfaceType::String, slot)?;
        }
        // `realloc` checked that `base..base + size` lies in memory.
        let records = &mut cx.as_slice_mut()[base..][..size];
        for (entry, record) in self.0.iter().zip(records.chunks_exact_mut(layout.size)) {
            layout.write(entry, record);
        }
        Ok((base, self.0.len()))
    }
}

/// Byte offsets of `entry`'s fields within its record.
struct EntryLayout {
    size: usize,
    path: usize,
    source: usize,
    source_change: usize,
    destination: usize,
    destination_change: usize,
    base: usize,
    accessed_ns: usize,
    pinned: usize,
    offloaded: usize,
    state: StateLayout,
}

/// Byte offsets within an `option<state>`, from the option's start.
struct StateLayout {
    kind: usize,
    size: usize,
    mtime_ns: usize,
    mode: usize,
    digest: usize,
    /// Within the digest's payload.
    words: [usize; 4],
}

/// Consecutive fields of a record starting at `start`: each call to `next`
/// returns the offset of the field after the previous one.
struct Fields {
    start: usize,
    end: usize,
}

impl Fields {
    fn at(start: usize) -> Fields {
        Fields { start, end: 0 }
    }

    fn next(&mut self, abi: CanonicalAbiInfo) -> usize {
        self.start + abi.next_field32_size(&mut self.end)
    }
}

impl EntryLayout {
    fn new() -> EntryLayout {
        type OptState = Option<State>;
        let mut entry = Fields::at(0);
        let mut state = Fields::at(OptState::PAYLOAD_OFFSET32);
        let mut words = Fields::at(0);
        // Struct fields are evaluated in the order written, which must be the
        // order wit/policy.wit declares them in.
        EntryLayout {
            size: Entry::SIZE32,
            path: entry.next(String::ABI),
            source: entry.next(OptState::ABI),
            source_change: entry.next(Change::ABI),
            destination: entry.next(OptState::ABI),
            destination_change: entry.next(Change::ABI),
            base: entry.next(OptState::ABI),
            accessed_ns: entry.next(i64::ABI),
            pinned: entry.next(bool::ABI),
            offloaded: entry.next(bool::ABI),
            state: StateLayout {
                kind: state.next(Kind::ABI),
                size: state.next(u64::ABI),
                mtime_ns: state.next(i64::ABI),
                mode: state.next(u32::ABI),
                digest: state.next(Option::<Digest>::ABI),
                words: [u64::ABI; 4].map(|abi| words.next(abi)),
            },
        }
    }

    fn write(&self, entry: &Entry, record: &mut [u8]) {
        // Exhaustive on purpose: a field added to the contract must be added
        // here before this compiles. `path` was lowered already.
        let Entry {
            path: _,
            source,
            source_change,
            destination,
            destination_change,
            base,
            accessed_ns,
            pinned,
            offloaded,
        } = entry;
        self.state.write(source, &mut record[self.source..]);
        record[self.source_change] = change_case(*source_change);
        self.state
            .write(destination, &mut record[self.destination..]);
        record[self.destination_change] = change_case(*destination_change);
        self.state.write(base, &mut record[self.base..]);
        put(record, self.accessed_ns, accessed_ns.to_le_bytes());
        record[self.pinned] = u8::from(*pinned);
        record[self.offloaded] = u8::from(*offloaded);
    }
}

impl StateLayout {
    /// Write an `option<state>` at the start of `out`.
    fn write(&self, state: &Option<State>, out: &mut [u8]) {
        let Some(State {
            kind,
            size,
            mtime_ns,
            mode,
            digest,
        }) = state
        else {
            out[0] = 0;
            return;
        };
        out[0] = 1;
        out[self.kind] = kind_case(*kind);
        put(out, self.size, size.to_le_bytes());
        put(out, self.mtime_ns, mtime_ns.to_le_bytes());
        put(out, self.mode, mode.to_le_bytes());
        match digest {
            None => out[self.digest] = 0,
            Some((a, b, c, d)) => {
                out[self.digest] = 1;
                let payload = self.digest + Option::<Digest>::PAYLOAD_OFFSET32;
                for (word, at) in [a, b, c, d].into_iter().zip(self.words) {
                    put(out, payload + at, word.to_le_bytes());
                }
            }
        }
    }
}

fn put<const N: usize>(out: &mut [u8], at: usize, bytes: [u8; N]) {
    out[at..at + N].copy_from_slice(&bytes);
}

/// Enum cases are numbered in the order wit/policy.wit declares them.
fn kind_case(kind: Kind) -> u8 {
    match kind {
        Kind::File => 0,
        Kind::Directory => 1,
        Kind::Symlink => 2,
    }
}

fn change_case(change: Change) -> u8 {
    match change {
        Change::Unchanged => 0,
        Change::Created => 1,
        Change::Modified => 2,
        Change::Deleted => 3,
        Change::TypeChanged => 4,
    }
}
