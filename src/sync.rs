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

/// Asks for the cache line at `p` in a writable state ahead of the stores
/// that will need it (`prefetchw`: a hint that never faults; nothing under
/// loom or on other targets). A writer claiming a slot issues it for the
/// slot's first two lines, so that taking them from a polling reader's cache
/// overlaps instead of happening one line after the other.
#[inline(always)]
pub(crate) fn prefetch_write(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    // SAFETY: `prefetchw` is a hint: it architecturally reads and writes no
    // memory, does not fault on any address and changes no register or flag.
    unsafe {
        std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = p;
}

/// Asks for the cache line at `p` for reading (`prefetcht0`: a hint that
/// never faults; nothing under loom or on other targets).
#[inline(always)]
pub(crate) fn prefetch_read(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    // SAFETY: `prefetcht0` is a hint: it architecturally reads and writes no
    // memory, does not fault on any address and changes no register or flag.
    unsafe {
        std::arch::asm!("prefetcht0 [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = p;
}

/// Payload words moved by a vector loop from this many bytes on (shorter
/// payloads word by word, cheaper than any loop set-up) ...
#[cfg(all(target_arch = "x86_64", not(loom)))]
const VECTOR_COPY_MIN: usize = 128;
/// ... and by `rep movsb` from this many on (its start-up pays off; measured
/// on this project's CI machines, AMD EPYC: at 1 KiB the vector loop was
/// faster in one process and across processes, at 8 KiB `rep movsb`).
#[cfg(all(target_arch = "x86_64", not(loom)))]
const REP_MOVSB_MIN: usize = 4096;

/// Whether `rep movsb` from `src` to `dst` would run at a fraction of its
/// speed: on AMD Zen 3 (this project's CI machines, EPYC family 25) it does
/// when the destination lies 1 to 31 bytes past the source modulo 4 KiB
/// (measured, one process, caches warm, distances in steps of 8: an
/// 8160-byte copy in 3.0-5.0 us instead of 96-180 ns, 2 KiB in 1.3 us;
/// `orbit-peers --rep-movsb-scan`; glibc's `memcpy`, which switches to `rep
/// movsb` at these sizes, has the same trap, its bug 30994). A ring slot's
/// copy meets it whenever the caller's buffer sits at such an offset from
/// the slot, and with slot strides that are not multiples of 4 KiB one slot
/// in 64 of an 8 KiB ring did: that frame took microseconds on each side
/// (the 8 KiB p99 of `make bench-peers` on that CPU). Such copies take the
/// vector loop instead. Distances 32-63 were measured fast and are included
/// as a margin; copies there take the vector loop too (in one process as
/// fast as `rep movsb` or faster; across processes an 8 KiB `rep movsb` was
/// measured faster, see `AVX_COPY_MIN`).
#[cfg(all(target_arch = "x86_64", not(loom)))]
#[inline(always)]
fn rep_movsb_short_distance(dst: *mut u8, src: *const u8) -> bool {
    let d = (dst as usize).wrapping_sub(src as usize) & 4095;
    (1..64).contains(&d)
}

/// Copies from this many bytes up to `REP_MOVSB_MIN` use 32-byte AVX moves
/// where the CPU has them. Measured (`orbit-peers --profile`, AMD EPYC): one
/// send + receive of 1 KiB in one process 41-44 -> 31-36 ns; across
/// processes the 1 KiB one-way p50 stayed within the harness's noise. At
/// 8 KiB the AVX loop was faster in one process (210 -> 158 ns) but 100 ns
/// slower across processes than `rep movsb`, which writes whole lines
/// without first fetching them from the reader's cache: long copies stay
/// with `rep movsb`.
#[cfg(all(target_arch = "x86_64", not(loom)))]
const AVX_COPY_MIN: usize = 256;

/// [`racy_copy`] with 32-byte moves, 128 bytes per iteration; the rest (under
/// 128 bytes) by the SSE2 path.
///
/// # Safety
/// As [`racy_copy`], and the CPU supports AVX.
#[cfg(all(target_arch = "x86_64", not(loom)))]
#[target_feature(enable = "avx")]
unsafe fn racy_copy_avx(dst: *mut u8, src: *const u8, n: usize) {
    let blocks = n / 128;
    // SAFETY: the first `blocks * 128 <= n` bytes of both ranges are valid
    // (the contract); unaligned 32-byte loads and stores of exactly those
    // bytes. `clobber_abi("C")` declares every vector register and the flags
    // clobbered: ymm0-3 are written, and `vzeroupper` (which leaves the upper
    // halves clean for SSE code after us) zeroes the upper half of all of
    // them.
    unsafe {
        std::arch::asm!(
            "2:",
            "vmovdqu ymm0, [rsi]",
            "vmovdqu ymm1, [rsi + 32]",
            "vmovdqu ymm2, [rsi + 64]",
            "vmovdqu ymm3, [rsi + 96]",
            "vmovdqu [rdi], ymm0",
            "vmovdqu [rdi + 32], ymm1",
            "vmovdqu [rdi + 64], ymm2",
            "vmovdqu [rdi + 96], ymm3",
            "add rsi, 128",
            "add rdi, 128",
            "dec rcx",
            "jnz 2b",
            "vzeroupper",
            inout("rcx") blocks => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            clobber_abi("C"),
            options(nostack)
        );
    }
    let done = blocks * 128;
    if done < n {
        // SAFETY: the remaining `n - done` bytes of both ranges, under 128
        // (< AVX_COPY_MIN), so the SSE2 / word path of `racy_copy`.
        unsafe { racy_copy(dst.add(done), src.add(done), n - done) };
    }
}

/// Copies `n` bytes (a multiple of 8) between private memory and a slot's
/// shared words, in a way that may race a concurrent copy of the same words
/// (see [`store_bytes`]): one opaque `asm!` block, so the compiler neither
/// assumes the shared bytes stable nor splits, merges or elides the accesses.
///
/// # Safety
/// `src` is readable and `dst` writable for `n` bytes, and the two ranges do
/// not overlap.
#[cfg(all(target_arch = "x86_64", not(loom)))]
#[inline]
unsafe fn racy_copy(dst: *mut u8, src: *const u8, n: usize) {
    let rep = n >= REP_MOVSB_MIN && !rep_movsb_short_distance(dst, src);
    if !rep && n >= AVX_COPY_MIN && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: per the contract; AVX is present (checked just above).
        unsafe { racy_copy_avx(dst, src, n) };
        return;
    }
    if rep {
        // SAFETY: per the contract; `rep movsb` with DF clear (the ABI
        // guarantees it in asm) copies exactly rcx bytes from rsi to rdi.
        unsafe {
            std::arch::asm!(
                "rep movsb",
                inout("rcx") n => _,
                inout("rdi") dst => _,
                inout("rsi") src => _,
                options(nostack, preserves_flags)
            );
        }
        return;
    }
    let blocks = n / 64;
    if blocks > 0 {
        // SAFETY: per the contract, the first `blocks * 64 <= n` bytes of
        // both ranges are valid; unaligned 16-byte loads and stores (SSE2,
        // part of x86-64's baseline) of exactly those bytes; xmm0-3 and the
        // flags are declared clobbered.
        unsafe {
            std::arch::asm!(
                "2:",
                "movdqu xmm0, [rsi]",
                "movdqu xmm1, [rsi + 16]",
                "movdqu xmm2, [rsi + 32]",
                "movdqu xmm3, [rsi + 48]",
                "movdqu [rdi], xmm0",
                "movdqu [rdi + 16], xmm1",
                "movdqu [rdi + 32], xmm2",
                "movdqu [rdi + 48], xmm3",
                "add rsi, 64",
                "add rdi, 64",
                "dec rcx",
                "jnz 2b",
                inout("rcx") blocks => _,
                inout("rdi") dst => _,
                inout("rsi") src => _,
                out("xmm0") _,
                out("xmm1") _,
                out("xmm2") _,
                out("xmm3") _,
                options(nostack)
            );
        }
    }
    let mut i = blocks * 64;
    while i < n {
        // SAFETY: i + 8 <= n (n is a multiple of 8); one 8-byte move in
        // asm, like the loop above (a plain Rust copy of racing bytes would
        // be a data race in Rust's model).
        unsafe {
            std::arch::asm!(
                "mov {t}, [{s}]",
                "mov [{d}], {t}",
                s = in(reg) src.add(i),
                d = in(reg) dst.add(i),
                t = out(reg) _,
                options(nostack, preserves_flags)
            );
        }
        i += 8;
    }
}

/// Stores `src` into the shared words `words` (little-endian), the last word
/// zero-padded, so that the memory image is the same whichever path copied
/// it. `words` must hold at least `src.len().div_ceil(8)` words; extra bytes
/// of `src` beyond them are not stored.
///
/// This is the seqlock side of a racy copy: a reader may copy the same words
/// while they are stored, and learns from the seqlock's words that it must
/// throw its copy away. Word-wise Relaxed atomic stores make that race
/// defined behaviour; for longer payloads on x86-64 an opaque `asm!` copy
/// (a vector loop, or `rep movsb` for long ones) does the same job at memcpy
/// speed: the compiler treats it as an unknown access, as in the
/// atomic-memcpy technique, and the hardware orders its accesses with the
/// `seq` accesses around it (the Intel SDM's "Memory Ordering for String
/// Operations" lets the stores *within* one string operation complete out of
/// order, but not pass other stores; Linux's seqcount readers `memcpy`
/// between `read_seqcount_begin` and `read_seqcount_retry` the same way).
///
/// Always inlined (as [`load_bytes`]): a ring frame is copied in two parts
/// (its first line's, the rest); left to the compiler, the two copies each
/// way became calls, and a 64 B send + receive took 546 instructions
/// instead of 460 (callgrind, `benches/peers/profile.sh`).
#[inline(always)]
pub(crate) fn store_bytes(words: &[AtomicU64], src: &[u8]) {
    let full = (src.len() / 8).min(words.len());
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    if full * 8 >= VECTOR_COPY_MIN {
        // SAFETY: `words[..full]` is `full * 8` bytes of the caller's slot
        // that we may write, `src` holds at least `full * 8` bytes and is
        // private memory, so the ranges do not overlap.
        unsafe { racy_copy(words.as_ptr() as *mut u8, src.as_ptr(), full * 8) };
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
#[inline(always)]
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
/// discards a torn copy.
#[inline(always)]
pub(crate) fn load_bytes(words: &[AtomicU64], out: &mut [u8]) {
    let full = (out.len() / 8).min(words.len());
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    if full * 8 >= VECTOR_COPY_MIN {
        // SAFETY: `words[..full]` is `full * 8` readable bytes of shared
        // memory, `out` holds at least `full * 8` writable bytes and is
        // private, so the ranges do not overlap.
        unsafe { racy_copy(out.as_mut_ptr(), words.as_ptr() as *const u8, full * 8) };
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
#[inline(always)]
fn load_tail(words: &[AtomicU64], out: &mut [u8], full: usize) {
    let rest = out.len() - full * 8;
    if let (true, Some(w)) = (rest > 0 && rest < 8, words.get(full)) {
        let b = w.load(Ordering::Relaxed).to_le_bytes();
        out[full * 8..].copy_from_slice(&b[..rest]);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// `store_bytes` then `load_bytes` give back every byte, whichever copy
    /// path the length and the two buffers' distance pick (word loop, SSE2,
    /// AVX, `rep movsb`, and the vector loop that `rep movsb` gives way to
    /// at a short distance modulo 4 KiB), and store exactly the words asked.
    #[test]
    fn copies_round_trip_at_every_distance_and_length() {
        for n in [
            1usize, 8, 31, 64, 127, 128, 200, 256, 1000, 4095, 4096, 8160,
        ] {
            let count = n.div_ceil(8);
            let words: Vec<AtomicU64> = (0..count + 1).map(|_| AtomicU64::new(!0)).collect();
            let w = words.as_ptr() as usize;
            let mut private = vec![0u8; n + 8192];
            let p = private.as_ptr() as usize;
            for d in (0..200).chain(3900..4096) {
                // The source at distance d below the words, the destination
                // at distance d above them (modulo 4 KiB).
                let from = w.wrapping_sub(d).wrapping_sub(p) & 4095;
                let to = w.wrapping_add(d).wrapping_sub(p) & 4095;
                let msg: Vec<u8> = (0..n).map(|i| (i * 7 + d) as u8).collect();
                private[from..from + n].copy_from_slice(&msg);
                store_bytes(&words[..count], &private[from..from + n]);
                assert_eq!(words[count].load(Ordering::Relaxed), !0, "n {n} d {d}");
                let mut last = [0u8; 8];
                last[..n - (count - 1) * 8].copy_from_slice(&msg[(count - 1) * 8..]);
                assert_eq!(
                    words[count - 1].load(Ordering::Relaxed),
                    u64::from_le_bytes(last),
                    "n {n} d {d}: the last word is zero-padded"
                );
                private[to..to + n].fill(0);
                load_bytes(&words[..count], &mut private[to..to + n]);
                assert_eq!(&private[to..to + n], &msg[..], "n {n} d {d}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn short_distance_is_1_to_63_bytes_modulo_4k() {
        let base = 0x7f00_0000_1000usize;
        let far = |d: usize| rep_movsb_short_distance((base + d) as *mut u8, base as *const u8);
        assert!(!far(0) && !far(4096) && !far(64) && !far(4096 + 64));
        assert!(far(1) && far(8) && far(63) && far(4096 + 16) && far(8192 + 31));
        assert!(!rep_movsb_short_distance(
            base as *mut u8,
            (base + 16) as *const u8
        ));
    }
}
