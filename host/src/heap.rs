//! Gives freed heap memory back to the kernel after a burst.
//!
//! A burst of large requests (16 uploads of 10 MiB at once, say) leaves glibc's malloc arenas
//! holding the freed buffers: glibc returns memory only from the top of the main heap, so the
//! process stayed ~100 MiB above its idle size for good (measured: 157 → 299 MiB, bench
//! `files.sh`'s RSS check). `malloc_trim(0)` releases every arena's free pages (`madvise`), so
//! a pass every few seconds brings the RSS back near its idle size shortly after the burst,
//! while the pages stay mapped for the next one. A pass over idle arenas costs microseconds.

use std::time::Duration;

/// How often freed memory is handed back.
const TRIM_EVERY: Duration = Duration::from_secs(3);

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
