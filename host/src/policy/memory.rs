//! Linear memory for policy calls, backed by transparent huge pages where the
//! kernel offers them.
//!
//! A `plan` call on a large diff fills hundreds of MiB of fresh linear memory
//! (the lowered entries, the policy's own copy of them, its actions). With
//! 4 KiB pages every first touch is a page fault, and on a 1M-entry diff those
//! faults were a fifth of the whole call (BENCHMARKS.md). Asking for huge
//! pages (`MADV_HUGEPAGE`, honoured when
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`)
//! turns 512 faults into one. Everything else is what wasmtime's own memory
//! does: one reservation that never moves, grown in place, with the guard
//! region after it left inaccessible so that compiled code may skip bounds
//! checks.

use std::io;
use std::ptr::NonNull;

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

/// Huge pages are 2 MiB on the machines Conduit runs on; the reservation is
/// aligned to that so the kernel can use them from the first byte.
const HUGE_PAGE: usize = 2 << 20;

/// Creates [`HugePageMemory`]s; installed with `Config::with_host_memory`.
pub(super) struct HugePages;

// SAFETY: every memory it returns is zero-filled, reserves `reserved + guard`
// bytes up front, never moves, and keeps the guard inaccessible.
unsafe impl MemoryCreator for HugePages {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        // wasmtime passes a reservation for 32-bit memories on 64-bit hosts;
        // without one, reserve the whole 32-bit space so growth never moves.
        let reserved = reserved_size_in_bytes.unwrap_or(4 << 30);
        if maximum.is_some_and(|max| max > reserved) || minimum > reserved {
            return Err(format!(
                "a policy memory of {minimum}..{maximum:?} bytes does not fit the {reserved}-byte \
                 reservation"
            ));
        }
        HugePageMemory::new(minimum, reserved, guard_size_in_bytes)
            .map(|m| Box::new(m) as Box<dyn LinearMemory>)
            .map_err(|e| format!("cannot reserve memory for a policy: {e}"))
    }
}

/// One linear memory: `mapping` holds the alignment slack, the reservation and
/// the guard; `base` is the 2 MiB-aligned start of the reservation.
struct HugePageMemory {
    mapping: NonNull<u8>,
    mapping_len: usize,
    base: NonNull<u8>,
    size: usize,
    reserved: usize,
}

// SAFETY: the mapping is owned by this value alone; wasmtime serialises
// access to a store's memories.
unsafe impl Send for HugePageMemory {}
// SAFETY: as above; `&self` methods only read fields.
unsafe impl Sync for HugePageMemory {}

impl HugePageMemory {
    fn new(minimum: usize, reserved: usize, guard: usize) -> io::Result<HugePageMemory> {
        let mapping_len = reserved
            .checked_add(guard)
            .and_then(|n| n.checked_add(HUGE_PAGE))
            .ok_or_else(|| io::Error::other("reservation overflows the address space"))?;
        // SAFETY: a fresh private anonymous mapping, inaccessible until grown.
        let mapping = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapping_len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if mapping == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mapping = NonNull::new(mapping.cast::<u8>()).expect("mmap succeeded");
        let slack = mapping.as_ptr().align_offset(HUGE_PAGE);
        // SAFETY: `slack < HUGE_PAGE`, which the mapping has room for.
        let base = unsafe { mapping.add(slack) };
        let mut memory = HugePageMemory {
            mapping,
            mapping_len,
            base,
            size: 0,
            reserved,
        };
        // A hint: where huge pages are off or unsupported this fails and the
        // memory works with ordinary pages.
        // SAFETY: the range lies inside the mapping.
        unsafe { libc::madvise(base.as_ptr().cast(), reserved, libc::MADV_HUGEPAGE) };
        memory.grow_to(minimum).map_err(io::Error::other)?;
        Ok(memory)
    }
}

impl Drop for HugePageMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing
        // references once wasmtime drops the memory.
        unsafe { libc::munmap(self.mapping.as_ptr().cast(), self.mapping_len) };
    }
}

// SAFETY: the reported capacity is reserved and never moves; grown bytes are
// zero because the mapping is fresh and never shrinks.
unsafe impl LinearMemory for HugePageMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.reserved
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.reserved {
            wasmtime::bail!(
                "cannot grow a policy memory past its {}-byte reservation",
                self.reserved
            );
        }
        let page = page_size();
        let old_end = self.size.next_multiple_of(page);
        let new_end = new_size.next_multiple_of(page);
        if new_end > old_end {
            // SAFETY: `old_end..new_end` lies inside the reservation.
            let status = unsafe {
                libc::mprotect(
                    self.base.as_ptr().add(old_end).cast(),
                    new_end - old_end,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if status != 0 {
                return Err(wasmtime::Error::new(io::Error::last_os_error()));
            }
        }
        self.size = new_size;
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}
