//! Gives freed heap memory back to the kernel after a burst.
//!
//! A burst of large requests (16 uploads of 10 MiB at once, say) leaves glibc's malloc arenas
//! holding the freed buffers: glibc returns memory only from the top of the main heap, so the
//! process stayed ~100 MiB above its idle size for good (measured: 157 → 299 MiB, bench
//! `files.sh`'s RSS check). `malloc_trim(0)` releases every arena's free pages (`madvise`), so
//! a pass every few seconds brings the RSS back near its idle size shortly after the burst,
//! while the pages stay mapped for the next one. A pass over idle arenas costs microseconds.
//!
//! Trimming cannot return a page that still holds a live allocation, and after a burst of
//! 10 MiB uploads the arenas were left fragmented: glibc's mmap threshold is dynamic, raised to
//! the size of each large block freed (up to 32 MiB), so after the first 10 MiB buffer every
//! later one was carved from an arena instead of mapped on its own. [`fix_mmap_threshold`]
//! pins it at 4 MiB: a block that large is mapped for itself and unmapped when freed, while the
//! ~1 MiB buffers of ordinary downloads stay in the arenas (a 256 KiB threshold cost 31 % of
//! 1 MiB download throughput in `bench/files.sh`; 4 MiB costs nothing measurable).
//!
//! mimalloc instead was measured (2026-12-07, same run, interleaved, `wrk -t2 -c32`): 9 % more
//! requests/s on the trivial route and 16 % on a product cache hit (glibc's malloc and free were
//! 11–18 % of galley's CPU there), but kept ~3× its idle RSS after the upload burst, because it
//! purges freed pages only when the freeing thread allocates again. Purging at once
//! (`purge_delay=0`, `arena_eager_commit=0`) brought that back to ~1.35×, and cost 31 % of 1 MiB
//! download throughput (324 → 224 req/s: each download's buffers faulted in afresh) and a 38 %
//! larger idle RSS. glibc with the two settings here stays until a configuration wins on all three.

use std::time::Duration;

/// How often freed memory is handed back.
const TRIM_EVERY: Duration = Duration::from_secs(3);

/// The size from which glibc maps a block on its own: fixed, which also turns off glibc's
/// dynamic raising of it (see the module header).
const MMAP_THRESHOLD: i32 = 4 << 20;

/// Pins glibc's mmap threshold at [`MMAP_THRESHOLD`] (glibc only), before the first request.
pub fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called once at start-up.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Starts the periodic trim (glibc only; other allocators hand memory back themselves).
pub fn start_trimming() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut every = tokio::time::interval(TRIM_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            // SAFETY: malloc_trim only walks the allocator's own free lists; it is thread-safe.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    });
}
