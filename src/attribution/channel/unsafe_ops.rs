//! Every `unsafe` block of the crate, each beside its safety argument.
//!
//! The channel readers use four operations safe Rust cannot express, all
//! hints or pure computations with a safe path elsewhere (no result depends
//! on them):
//!
//! - [`stops64`]: the SSE2 scan that marks a 64-byte chunk's stop bytes
//!   (x86_64; the bytewise reference is in the reader and the tests compare
//!   the two).
//! - [`zeroed_vec`]: a large table of [`Zeroable`] values from
//!   `alloc_zeroed`, so its memory is paid for where values land.
//! - [`advise_huge_pages`]: `madvise(MADV_HUGEPAGE)` over untouched
//!   capacity (Linux).
//! - [`prefetch_read`]: a cache prefetch (x86_64).
//!
//! Nothing outside this module may write `unsafe` (denied on the channel
//! module and checked for the whole crate by `tests/layering.rs`): its
//! functions are safe to call with any argument.

use std::alloc::Layout;
use std::mem::MaybeUninit;

/// Starts loading the cache line holding `*value`. Only a hint: results
/// never depend on it.
#[inline(always)]
pub(crate) fn prefetch_read<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` reads nothing and cannot fault (a hint, valid
    // for any address); the pointer comes from a live reference, and SSE
    // is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Asks the OS to back the whole 2 MiB pages inside `spare` (memory not yet
/// touched, so it faults in huge) with huge pages (Linux, from 4 MiB). Only
/// a hint: contents and results never depend on it.
#[inline]
pub(crate) fn advise_huge_pages<T>(spare: &mut [MaybeUninit<T>]) {
    let bytes = size_of_val(spare);
    advise_huge_range(spare.as_mut_ptr().cast::<u8>(), bytes);
}

/// [`advise_huge_pages`] over `[ptr, ptr + bytes)`, which must lie inside
/// one allocation of ours (private: both callers pass one).
#[cfg(target_os = "linux")]
fn advise_huge_range(ptr: *mut u8, bytes: usize) {
    const HUGE: usize = 2 << 20;
    if bytes < 2 * HUGE {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize).saturating_add(bytes) / HUGE * HUGE;
    if end > start {
        // SAFETY: `madvise(MADV_HUGEPAGE)` changes no contents and no
        // mapping, only how the kernel backs the pages; `[start, end)` lies
        // inside our own allocation of `bytes` bytes at `ptr` (a live
        // `&mut` slice or a fresh allocation) and is page aligned. The
        // result is ignored: a refusal means ordinary pages.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_range(_ptr: *mut u8, _bytes: usize) {}

/// Types whose all-zero bit pattern is a valid value.
///
/// # Safety
///
/// Every field (and every field's field) must be valid when all its bytes
/// are zero: integers and `bool` are; references, `NonZero*`, `char`
/// ranges, enums without a zero discriminant and most `Option`s of them
/// are not. Implement it only here, beside a compile-time check of the
/// fields (see `PackedSlot`'s below).
pub(crate) unsafe trait Zeroable: Copy {}

// SAFETY: zero is a valid value of every integer and `false` of `bool`.
unsafe impl Zeroable for u32 {}
// SAFETY: as above.
unsafe impl Zeroable for u128 {}
// SAFETY: as above.
unsafe impl Zeroable for bool {}

// SAFETY: every field of a `PackedSlot` is `Zeroable` (checked by the
// exhaustive pattern below: a new field, or a field of another type that
// is not `Zeroable`, fails to compile), and padding may hold anything. The
// all-zero slot is also the *empty* slot the reader's table relies on
// (`PackedSlot::default()`, tested below).
unsafe impl Zeroable for super::read::PackedSlot {}

const _: fn(super::read::PackedSlot) = |slot| {
    fn zeroable<T: Zeroable>(_: &T) {}
    let super::read::PackedSlot {
        key,
        path,
        conversions,
        nulls,
        spilled,
    } = slot;
    zeroable(&key);
    zeroable(&path);
    zeroable(&conversions);
    zeroable(&nulls);
    zeroable(&spilled);
};

/// `n` all-zero values from `alloc_zeroed`, advised to huge pages (see
/// [`advise_huge_pages`]): a large table comes as fresh pages the OS zeroes
/// when first touched, so memory follows the entries in use, not the
/// table's size. `None` for a zero-sized table or one too large for a
/// `Layout` (the caller takes its safe path).
pub(crate) fn zeroed_vec<T: Zeroable>(n: usize) -> Option<Vec<T>> {
    let layout = Layout::array::<T>(n).ok().filter(|l| l.size() > 0)?;
    // SAFETY: `layout` has a non-zero size. The pointer is checked for
    // null, comes from the global allocator with the layout `Vec<T>` uses
    // for capacity `n` (`Layout::array::<T>(n)`), and all `n` elements are
    // initialised: all-zero bytes are a valid `T` (`T: Zeroable`).
    // `advise_huge_range` is given exactly that allocation.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<T>();
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        advise_huge_range(ptr.cast::<u8>(), layout.size());
        Some(Vec::from_raw_parts(ptr, n, n))
    }
}

/// A 64-byte chunk's stop bits, 16 bytes at a time with SSE2: bit `j` of
/// `all` is set if `chunk[j]` is `>`, `sep`, a quote or a line end, of
/// `fields` the same without `>` (the reader's `Stops`; its bytewise
/// `stops_bytewise` is the reference).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn stops64(chunk: &[u8; 64], sep: u8) -> (u64, u64) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let (mut all, mut fields) = (0u64, 0u64);
    // SAFETY: SSE2 is part of the x86_64 baseline, so the intrinsics are
    // available; each unaligned load reads 16 bytes at offset 0, 16, 32 or
    // 48 of `chunk`, which holds 64 (its type says so).
    unsafe {
        let gt = _mm_set1_epi8(b'>' as i8);
        let sep = _mm_set1_epi8(sep as i8);
        let quote = _mm_set1_epi8(b'"' as i8);
        let newline = _mm_set1_epi8(b'\n' as i8);
        for k in 0..4 {
            let v = _mm_loadu_si128(chunk.as_ptr().add(16 * k).cast::<__m128i>());
            let field = _mm_or_si128(
                _mm_cmpeq_epi8(v, sep),
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, newline)),
            );
            let any = _mm_or_si128(field, _mm_cmpeq_epi8(v, gt));
            fields |= u64::from(_mm_movemask_epi8(field) as u16) << (16 * k);
            all |= u64::from(_mm_movemask_epi8(any) as u16) << (16 * k);
        }
    }
    (all, fields)
}

/// Lowers this process's address-space limit to `bytes` (tests of how
/// models report memory they cannot get, run in a child process).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn limit_address_space(bytes: u64) -> bool {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct we pass; it only lowers this
    // process's own address-space limit.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 }
}

#[cfg(test)]
mod tests {
    use super::super::read::PackedSlot;
    use super::*;

    /// `zeroed_vec`'s safety argument and the reader's table both rely on
    /// an all-zero `PackedSlot` being the empty slot: if a field change
    /// broke that, this fails (and the `const` check above stops fields
    /// that could not be zero at all).
    #[test]
    fn an_all_zero_slot_is_the_empty_slot() {
        // From 32 MiB the reader takes its table from `zeroed_vec`.
        let n = (32 << 20) / size_of::<PackedSlot>();
        let slots = zeroed_vec::<PackedSlot>(n).unwrap();
        assert_eq!(slots.len(), n);
        assert!(slots.iter().all(|s| *s == PackedSlot::default()));
        let small = zeroed_vec::<PackedSlot>(3).unwrap();
        assert_eq!(small, vec![PackedSlot::default(); 3]);
    }

    #[test]
    fn zeroed_vec_refuses_empty_and_impossible_tables() {
        assert!(zeroed_vec::<PackedSlot>(0).is_none());
        assert!(zeroed_vec::<u128>(usize::MAX).is_none());
        assert_eq!(zeroed_vec::<u32>(5), Some(vec![0; 5]));
    }

    #[test]
    fn advice_on_spare_capacity_changes_nothing() {
        let mut v: Vec<u64> = Vec::with_capacity(1 << 20);
        advise_huge_pages(v.spare_capacity_mut());
        v.extend(0..1 << 20);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
        prefetch_read(&v[12345]);
    }
}
