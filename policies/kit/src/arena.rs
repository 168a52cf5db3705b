//! The policies' allocator: a bump arena in the module's zero-initialised memory, then the
//! system allocator once the arena is spent.
//!
//! Why: Rust's wasm allocator (dlmalloc) takes every byte it hands out from `memory.grow`, so
//! every evaluation grew its fresh instance's memory at least once. Under wasmtime's pooling
//! allocator that growth is paid twice per evaluation: the slot's pages are opened with
//! `mprotect` when the guest grows, and closed again when the slot is reused (a TLB shootdown on
//! every core the process runs on). An arena that lives in the initial memory (a zeroed static,
//! so `.bss`: no bytes in the component, no data segment to copy) lets a typical evaluation
//! allocate without growing, so the slot keeps its size from one instance to the next.
//!
//! Each evaluation gets a fresh instance, so memory is never reused across calls and a bump
//! arena loses nothing by freeing only its most recent allocation. A review too large for the
//! arena continues on the system allocator, exactly as before.
//!
//! `unsafe` is allowed here and only here in the policies: a global allocator cannot be written
//! without it. It runs inside the WebAssembly sandbox, so a mistake could corrupt only the
//! guest's own one-shot memory, never the host (docs/decisions/0005-policy-arena-allocator.md).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// The arena's size: a typical review's evaluation (the default policies, a 3 KB Secret write)
/// allocates under 64 KiB; four times that leaves room for larger objects.
#[cfg(all(target_arch = "wasm32", feature = "arena"))]
const ARENA_BYTES: usize = 256 << 10;

#[repr(C, align(16))]
struct Region<const N: usize>(UnsafeCell<[u8; N]>);

/// A bump allocator over `N` bytes of its own, falling back to [`System`].
pub struct Arena<const N: usize> {
    region: Region<N>,
    /// Offset of the first free byte in `region`.
    next: UnsafeCell<usize>,
}

impl<const N: usize> std::fmt::Debug for Arena<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("bytes", &N)
            .finish_non_exhaustive()
    }
}

// SAFETY: the global instance exists only on wasm32-unknown-unknown, which runs one thread (no
// `atomics` target feature); native tests use an arena from one thread at a time.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    pub const fn new() -> Self {
        Self {
            region: Region(UnsafeCell::new([0; N])),
            next: UnsafeCell::new(0),
        }
    }

    fn base(&self) -> usize {
        self.region.0.get() as usize
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        (self.base()..self.base() + N).contains(&(ptr as usize))
    }

    /// Bytes handed out so far (including alignment padding).
    pub fn used(&self) -> usize {
        // SAFETY: single-threaded (see `Sync`); no reference to `next` outlives a method.
        unsafe { *self.next.get() }
    }

    fn set_used(&self, used: usize) {
        // SAFETY: as in `used`.
        unsafe { *self.next.get() = used }
    }

    /// The arena's part of `alloc`: None when `layout` does not fit in what is left.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let start = (self.base() + self.used()).checked_next_multiple_of(layout.align())?;
        let end = start.checked_add(layout.size())?;
        if end > self.base() + N {
            return None;
        }
        self.set_used(end - self.base());
        Some(start as *mut u8)
    }

    /// True when `ptr..ptr+size` is the arena's most recent allocation.
    fn is_last(&self, ptr: *mut u8, size: usize) -> bool {
        ptr as usize + size == self.base() + self.used()
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block handed out lies inside `region` (checked by `bump`) or comes from
// `System`; the arena's blocks never overlap because `next` only moves back to the start of the
// most recent block when that block is freed or shrunk.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(ptr) => ptr,
            // SAFETY: `layout` is the caller's, passed on unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            // SAFETY: a pointer the arena does not own came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) };
        } else if self.is_last(ptr, layout.size()) {
            self.set_used(ptr as usize - self.base());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: as in `dealloc`; `new_size` is the caller's.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let offset = ptr as usize - self.base();
        if self.is_last(ptr, layout.size()) && offset.checked_add(new_size).is_some_and(|e| e <= N)
        {
            self.set_used(offset + new_size);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `GlobalAlloc::realloc`'s contract makes this a valid layout.
        let grown = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as in `alloc`.
        let moved = unsafe { self.alloc(grown) };
        if !moved.is_null() {
            // SAFETY: both blocks are valid for `layout.size()` bytes and distinct (`ptr` is
            // still allocated while `moved` is handed out).
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

#[cfg(all(target_arch = "wasm32", feature = "arena"))]
#[global_allocator]
static ALLOCATOR: Arena<ARENA_BYTES> = Arena::new();

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn allocations_are_aligned_disjoint_and_inside_the_arena_until_it_is_spent() {
        let arena = Box::new(Arena::<1024>::new());
        let a = unsafe { arena.alloc(layout(3, 1)) };
        let b = unsafe { arena.alloc(layout(8, 8)) };
        assert!(arena.owns(a) && arena.owns(b));
        assert_eq!(b as usize % 8, 0);
        assert!(b as usize >= a as usize + 3, "no overlap");
        unsafe { std::ptr::write_bytes(b, 0xAB, 8) };
        assert_eq!(unsafe { *a }, 0, "writing b left a alone");

        let spill = unsafe { arena.alloc(layout(2048, 8)) };
        assert!(
            !spill.is_null() && !arena.owns(spill),
            "too large: the system allocator"
        );
        unsafe { std::ptr::write_bytes(spill, 1, 2048) };
        unsafe { arena.dealloc(spill, layout(2048, 8)) };
        assert_eq!(arena.used(), 16, "a spill leaves the arena as it was");
    }

    #[test]
    fn freeing_the_most_recent_block_gives_it_back_and_older_ones_are_kept() {
        let arena = Box::new(Arena::<1024>::new());
        let a = unsafe { arena.alloc(layout(100, 4)) };
        let b = unsafe { arena.alloc(layout(100, 4)) };
        unsafe { arena.dealloc(a, layout(100, 4)) };
        assert_eq!(arena.used(), 200, "an older block stays allocated");
        unsafe { arena.dealloc(b, layout(100, 4)) };
        assert_eq!(arena.used(), 100, "the most recent block comes back");
        let c = unsafe { arena.alloc(layout(50, 4)) };
        assert_eq!(c, b, "and is handed out again");
    }

    #[test]
    fn realloc_grows_the_last_block_in_place_and_moves_others_with_their_bytes() {
        let arena = Box::new(Arena::<1024>::new());
        let a = unsafe { arena.alloc(layout(16, 1)) };
        unsafe { std::ptr::copy_nonoverlapping(b"0123456789abcdef".as_ptr(), a, 16) };
        let grown = unsafe { arena.realloc(a, layout(16, 1), 64) };
        assert_eq!(grown, a, "the last block grows in place");
        assert_eq!(arena.used(), 64);

        let b = unsafe { arena.alloc(layout(8, 1)) };
        let moved = unsafe { arena.realloc(a, layout(64, 1), 128) };
        assert!(
            moved != a && moved as usize > b as usize,
            "not the last block: it moves"
        );
        let bytes = unsafe { std::slice::from_raw_parts(moved, 16) };
        assert_eq!(bytes, b"0123456789abcdef", "with its contents");

        let spilled = unsafe { arena.realloc(moved, layout(128, 1), 4096) };
        assert!(
            !arena.owns(spilled),
            "beyond the arena: the system allocator"
        );
        let bytes = unsafe { std::slice::from_raw_parts(spilled, 16) };
        assert_eq!(bytes, b"0123456789abcdef");
        unsafe { arena.dealloc(spilled, layout(4096, 1)) };
    }

    #[test]
    fn shrinking_keeps_the_block() {
        let arena = Box::new(Arena::<1024>::new());
        let a = unsafe { arena.alloc(layout(64, 1)) };
        let _b = unsafe { arena.alloc(layout(8, 1)) };
        assert_eq!(unsafe { arena.realloc(a, layout(64, 1), 10) }, a);
        assert_eq!(arena.used(), 72);
    }
}
