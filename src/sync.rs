//! The atomics facade: every atomic used by a shared-memory protocol comes from
//! here, so that `RUSTFLAGS="--cfg loom"` swaps in loom's model-checked types.
//!
//! Under `cfg(loom)` the shared layouts are not mmap-compatible (loom atomics are
//! larger); loom models build them on the heap and exercise the same protocol
//! code. Layout assertions therefore only apply to the std build.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// One step of a spin-wait: a CPU pause hint normally, a scheduler yield under
/// loom (loom requires every spin loop to yield so it can explore other threads).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Payloads of at least this many bytes are moved with one bulk copy (where
/// the target has one, see [`store_bytes`]); shorter ones word by word, which
/// is cheaper than a string instruction's start-up.
#[cfg(all(target_arch = "x86_64", not(loom)))]
pub(crate) const BULK_COPY_MIN: usize = 128;

/// Stores `src` into the shared words `words` (little-endian), the last word
/// zero-padded, so that the memory image is the same whichever path copied
/// it. `words` must hold at least `src.len().div_ceil(8)` words; extra bytes
/// of `src` beyond them are not stored.
///
/// This is the seqlock side of a racy copy: a reader may copy the same words
/// while they are stored, and learns from the sequence word that it must
/// throw its copy away. Word-wise Relaxed atomic stores make that race
/// defined behaviour; for long payloads on x86-64 one `rep movsb` does the
/// same job at memcpy speed (an `asm!` block is opaque to the compiler, so
/// it is a racy-but-defined access like the atomic-memcpy technique, and the
/// hardware orders a string instruction's accesses with the `seq` accesses
/// around it: the Intel SDM's "Memory Ordering for String Operations" lets
/// the stores *within* one string operation complete out of order, but not
/// be reordered with other stores; readers copy out the same way, as Linux's
/// seqcount readers `memcpy` between `read_seqcount_begin` and
/// `read_seqcount_retry`).
#[inline]
pub(crate) fn store_bytes(words: &[AtomicU64], src: &[u8]) {
    let full = (src.len() / 8).min(words.len());
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    if full * 8 >= BULK_COPY_MIN {
        // SAFETY: `words[..full]` is `full * 8` bytes of shared memory we may
        // write (the caller's slot), `src` holds at least `full * 8` bytes,
        // the ranges do not overlap (`src` is private memory). `rep movsb`
        // with DF clear (the ABI guarantees it on entry to asm) copies rcx
        // bytes from rsi to rdi; it touches no other memory and no flags the
        // compiler relies on beyond the declared clobbers.
        unsafe {
            std::arch::asm!(
                "rep movsb",
                inout("rcx") full * 8 => _,
                inout("rdi") words.as_ptr() as *mut u8 => _,
                inout("rsi") src.as_ptr() => _,
                options(nostack, preserves_flags)
            );
        }
        store_tail(words, src, full);
        return;
    }
    for (i, w) in words[..full].iter().enumerate() {
        // SAFETY: i < src.len() / 8, so the 8 bytes at i*8 are inside `src`;
        // read_unaligned accepts any alignment.
        let v = unsafe { std::ptr::read_unaligned(src.as_ptr().add(i * 8).cast::<u64>()) };
        w.store(u64::from_le(v), Ordering::Relaxed);
    }
    store_tail(words, src, full);
}

/// The last, partial word of [`store_bytes`], zero-padded.
#[inline]
fn store_tail(words: &[AtomicU64], src: &[u8], full: usize) {
    let tail = &src[full * 8..];
    if let (false, Some(w)) = (tail.is_empty(), words.get(full)) {
        let mut b = [0u8; 8];
        let n = tail.len().min(8);
        b[..n].copy_from_slice(&tail[..n]);
        w.store(u64::from_le_bytes(b), Ordering::Relaxed);
    }
}

/// Loads `out.len()` bytes from the shared words `words` (the inverse of
/// [`store_bytes`]); bytes beyond `words` are left as they are. The copy may
/// race a writer: the caller re-checks its sequence word afterwards and
/// discards a torn copy (see [`store_bytes`] for the bulk path).
#[inline]
pub(crate) fn load_bytes(words: &[AtomicU64], out: &mut [u8]) {
    let full = (out.len() / 8).min(words.len());
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    if full * 8 >= BULK_COPY_MIN {
        // SAFETY: `words[..full]` is `full * 8` readable bytes of shared
        // memory, `out` holds at least `full * 8` writable bytes and is
        // private, so the ranges do not overlap; `rep movsb` with DF clear
        // copies exactly rcx bytes from rsi to rdi.
        unsafe {
            std::arch::asm!(
                "rep movsb",
                inout("rcx") full * 8 => _,
                inout("rdi") out.as_mut_ptr() => _,
                inout("rsi") words.as_ptr() as *const u8 => _,
                options(nostack, preserves_flags)
            );
        }
        load_tail(words, out, full);
        return;
    }
    for (i, w) in words[..full].iter().enumerate() {
        let v = w.load(Ordering::Relaxed).to_le();
        // SAFETY: i < out.len() / 8, so the 8 bytes at i*8 are inside `out`;
        // write_unaligned accepts any alignment.
        unsafe { std::ptr::write_unaligned(out.as_mut_ptr().add(i * 8).cast::<u64>(), v) };
    }
    load_tail(words, out, full);
}

/// The last, partial word of [`load_bytes`].
#[inline]
fn load_tail(words: &[AtomicU64], out: &mut [u8], full: usize) {
    let rest = out.len() - full * 8;
    if let (true, Some(w)) = (rest > 0 && rest < 8, words.get(full)) {
        let b = w.load(Ordering::Relaxed).to_le_bytes();
        out[full * 8..].copy_from_slice(&b[..rest]);
    }
}
