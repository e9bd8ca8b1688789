//! The wasmtime engine: configuration, per-instance limits, the epoch ticker and the on-disk
//! cache of compiled components (core-module sources are turned into components first, by
//! `componentize.rs`, and cached the same way).
//!
//! Instances come from the pooling allocator (fast to create, a fresh one per request). CPU
//! time is bounded with epoch interruption: one ticker thread for the whole host bumps the
//! epoch every [`EPOCH_TICK`]; each store yields to the executor at every tick (so a busy guest
//! cannot starve others) and traps once its request has run longer than the limit.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};

use crate::app::componentize;

/// How often the shared ticker advances the epoch.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits applied to every instance.
#[derive(Debug, Clone, Copy)]
pub struct InstanceLimits {
    /// Largest linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Longest one request (or Redis message) may run, guest CPU and waiting included.
    pub request_timeout: Duration,
    /// Instances that may exist at once across the host (pool size).
    pub max_instances: u32,
    /// Longest a component may wait for the next piece of a request body: a client that stops
    /// sending (a body shorter than its `content-length`) cannot hold an instance for long.
    pub body_idle_timeout: Duration,
    /// Bytes of each memory and table slot reset in place when its instance ends
    /// ([`DEFAULT_KEEP_RESIDENT_KB`]).
    pub keep_resident_bytes: usize,
    /// Write `/tmp/perf-<pid>.map` so `perf report` names the guests' functions (`--profile
    /// perfmap`, as `wasmtime serve --profile perfmap`); off, a sample in guest code is an address.
    pub perf_map: bool,
}

/// How much of a slot is reset in place, in KiB. wasmtime's default hands a used slot's pages
/// back with `madvise`, and on a multi-threaded host every such call, and every first write to
/// a page the image maps read-only, makes the kernel flush the TLB of every core running the
/// process (inter-processor interrupts): on the trivial route at 64 connections that was about
/// a third of galley's CPU. Slots reset in place keep their pages mapped and writable; with
/// the kernel's `PAGEMAP_SCAN` (Linux 6.7+) only the pages a request touched are reset.
///
/// 256 KiB, not more: every slot a burst used keeps up to this much resident for good, so at
/// 1 MiB, 16 concurrent uploads left ~23 MiB behind (`bench/files.sh`'s RSS check); at 256 KiB
/// the trivial route and a product cache hit ran as fast as at 1 MiB (same run, 32 and 64
/// connections), their requests touching less than that.
pub const DEFAULT_KEEP_RESIDENT_KB: usize = 256;

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            memory_bytes: 128 << 20,
            request_timeout: Duration::from_secs(60),
            max_instances: 1000,
            body_idle_timeout: Duration::from_secs(10),
            keep_resident_bytes: DEFAULT_KEEP_RESIDENT_KB << 10,
            perf_map: false,
        }
    }
}

pub fn new_engine(limits: &InstanceLimits) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if limits.perf_map {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(limits.max_instances);
    // A component holds a few core instances (the module, shims), each with tables; a Rust
    // wasm32-wasip2 component has one linear memory. Memory slots are the costly part (each
    // reserves several GiB of address space), so there is one per instance.
    pool.total_core_instances(limits.max_instances * 4);
    pool.total_memories(limits.max_instances);
    pool.total_tables(limits.max_instances * 4);
    pool.max_memories_per_module(2);
    pool.max_memory_size(limits.memory_bytes);
    pool.max_component_instance_size(1 << 20);
    pool.max_core_instance_size(1 << 20);
    pool.linear_memory_keep_resident(limits.keep_resident_bytes);
    pool.table_keep_resident(limits.keep_resident_bytes);
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(anyhow::Error::from).context("configuring wasmtime")
}

/// Starts the one thread that advances the epoch for every store of `engine`.
pub fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("galley-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// How many ticks a guest may compute without waiting for anything before it is throttled:
/// 100 ms of its own running. Ordinary requests stay under it: an argon2 password check is a
/// few tens of milliseconds. Counted in ticks the guest was running at, not in wall-clock
/// time, so a request that waits for a worker thread on a saturated machine, or makes many
/// short host calls, is not mistaken for a runaway.
const CPU_BURST_TICKS: u32 = 10;
/// How long one turn at the [`ThrottleGate`] holds a permit: the one tick the guest then runs
/// (at most [`EPOCH_TICK`], until the next epoch) plus a 40 ms pause. A permit so lets through
/// at most one tick per turn: a fifth of a core, however many throttled guests share it.
const THROTTLE_TURN: Duration = Duration::from_millis(50);

/// Throttled ticks a guest runs paced on its own (a 40 ms pause each, a fifth of a core)
/// before it queues at the shared gate: at most 50 ms of CPU per burst outside the gate.
const OWN_PACE_TICKS: u32 = 5;

/// A guest that went this long between getting its thread back and its next tick waited on a
/// host call (it cannot run longer than a tick without one): a pause of its own, and its next
/// computing is a new burst.
const OWN_PAUSE: Duration = Duration::from_millis(30);

/// The one gate every throttled guest of the process passes before each tick it runs, so
/// that throttled guests *together* take a bounded share of the machine: six runaway loops
/// get what one would, instead of a fifth of a core each (more than one of two cores), and
/// requests that are not throttled keep their cores. Guests queue in turn (tokio's semaphore
/// is first-come first-served), so none is starved. Nothing is held while a guest runs or
/// waits on a host call: a turn is only the pause before a tick.
pub struct ThrottleGate {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    turn: Duration,
}

impl ThrottleGate {
    pub fn new(permits: usize, turn: Duration) -> ThrottleGate {
        ThrottleGate { permits: std::sync::Arc::new(tokio::sync::Semaphore::new(permits.max(1))), turn }
    }

    /// The process's gate: one permit per two cores, so throttled guests together take at
    /// most a tenth of the machine (a fifth of a core on a 2-core machine).
    pub fn shared() -> &'static ThrottleGate {
        static GATE: OnceLock<ThrottleGate> = OnceLock::new();
        GATE.get_or_init(|| {
            let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
            ThrottleGate::new(cores / 2, THROTTLE_TURN)
        })
    }

    /// Waits for this guest's turn and sits it out; the guest may then run one tick.
    pub async fn pass(&self) {
        // The semaphore is never closed, so acquiring cannot fail; if it somehow did, the
        // guest would still have paused for its turn.
        let _permit = self.permits.acquire().await;
        tokio::time::sleep(self.turn).await;
    }
}

/// Arms a store's deadline: yield at every tick, trap once `timeout` has passed. A guest that
/// has run for [`CPU_BURST_TICKS`] ticks without a pause of its own (a wait on a host call) is
/// throttled: its next few ticks are paced, then before each further tick it passes the
/// process's [`ThrottleGate`], so a runaway loop or a memory bomb cannot take the cores from
/// every other request while it waits for its deadline, however many of them run.
/// `bench/isolation.sh` measures the effect.
///
/// Whether the guest paused is told by time since it last got its thread back after one of
/// these yields (the yield's future records the moment it is polled again): the time it then
/// waits for a worker thread, at the gate or in a pause is never its own pause, so a loop on a
/// busy machine stays throttled, while a request waiting on Postgres starts afresh.
pub fn arm_deadline<T>(store: &mut Store<T>, timeout: Duration) {
    let started = Instant::now();
    let mut ticks = 0u32;
    let mut paced_ticks = 0u32;
    // When the guest last got its thread back after a yield here (micros after `started`).
    let resumed = std::sync::Arc::new(AtomicU64::new(0));
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        let now = Instant::now();
        if now.duration_since(started) >= timeout {
            return Ok(UpdateDeadline::Interrupt);
        }
        let resumed_at = started + Duration::from_micros(resumed.load(Ordering::Acquire));
        if now.duration_since(resumed_at) > OWN_PAUSE {
            ticks = 0;
            paced_ticks = 0;
        }
        ticks += 1;
        let mark = resumed.clone();
        let mark_resumed = move || mark.store(started.elapsed().as_micros() as u64, Ordering::Release);
        let wait: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = if ticks <= CPU_BURST_TICKS {
            // One turn for the other tasks on this worker, as a plain yield would.
            Box::pin(async move {
                tokio::task::yield_now().await;
                mark_resumed();
            })
        } else if paced_ticks < OWN_PACE_TICKS {
            // The first few throttled ticks are paced on their own, not queued behind the
            // runaways at the gate: a heavy but finite request finishes without waiting for
            // every throttled guest's turn.
            paced_ticks += 1;
            Box::pin(async move {
                tokio::time::sleep(THROTTLE_TURN - EPOCH_TICK).await;
                mark_resumed();
            })
        } else {
            Box::pin(async move {
                ThrottleGate::shared().pass().await;
                mark_resumed();
            })
        };
        Ok(UpdateDeadline::YieldCustom(1, wait))
    });
}

/// Compiled components, in memory by the hash of their source bytes and on disk in
/// `.spin/compiled`. Successive versions of an app share one, so a reload compiles only the
/// components whose bytes changed and a restart reuses what an earlier run compiled.
pub struct CompiledCode {
    dir: PathBuf,
    in_memory: Mutex<HashMap<String, Component>>,
}

/// Where a loaded component's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOrigin {
    /// The same bytes were already loaded by this process (an unchanged component on reload).
    Memory,
    /// Compiled by an earlier run.
    Disk,
    Compiled,
}

impl CompiledCode {
    pub fn new(dir: PathBuf) -> CompiledCode {
        CompiledCode { dir, in_memory: Mutex::default() }
    }

    /// Loads a component, reusing machine code compiled earlier when the wasm bytes and the
    /// engine settings are the same. A stale or corrupt disk entry is recompiled, never fatal.
    /// A core module carrying its component type is made a component first; the cache entry is
    /// keyed by the module's own bytes, so a second start skips that step as well.
    /// Returns the component, its cache key and where its code came from.
    pub fn load(&self, engine: &Engine, wasm_path: &Path) -> Result<(Component, String, CodeOrigin)> {
        let bytes = std::fs::read(wasm_path)
            .with_context(|| format!("cannot read component {}", wasm_path.display()))?;
        let core_module = componentize::is_core_module(&bytes);
        let key = cache_key(engine, &bytes, core_module);
        if let Some(component) = self.in_memory().get(&key) {
            return Ok((component.clone(), key, CodeOrigin::Memory));
        }
        let (component, origin) = self.load_from_disk_or_compile(engine, wasm_path, &bytes, core_module, &key)?;
        self.in_memory().insert(key.clone(), component.clone());
        Ok((component, key, origin))
    }

    /// Forgets in-memory code no current version uses (the disk copies stay).
    pub fn retain(&self, keys: &HashSet<String>) {
        self.in_memory().retain(|key, _| keys.contains(key));
    }

    fn in_memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, Component>> {
        // A panic while holding the lock cannot leave the map half-updated: recover it.
        self.in_memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn load_from_disk_or_compile(
        &self,
        engine: &Engine,
        wasm_path: &Path,
        bytes: &[u8],
        core_module: bool,
        key: &str,
    ) -> Result<(Component, CodeOrigin)> {
        let cached = self.dir.join(format!("{key}.cwasm"));
        if cached.exists() {
            // SAFETY: the file was written by `Component::serialize` of this engine configuration
            // (its name carries the engine's compatibility hash) into galley's own state dir;
            // wasmtime still checks the header and refuses incompatible code.
            match unsafe { Component::deserialize_file(engine, &cached) } {
                Ok(component) => return Ok((component, CodeOrigin::Disk)),
                Err(error) => tracing::warn!(path = %cached.display(), %error, "ignoring unusable compiled-code cache entry"),
            }
        }
        let component = if core_module {
            let encoded = componentize::componentize(bytes)
                .with_context(|| format!("{} is a core WebAssembly module galley cannot make a component of", wasm_path.display()))?;
            tracing::info!(path = %wasm_path.display(), "made a component of a core module");
            Component::new(engine, &encoded)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("{}: the component made from this core module is not valid", wasm_path.display()))?
        } else {
            Component::new(engine, bytes)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("{} is not a valid WebAssembly component", wasm_path.display()))?
        };
        if let Err(error) = write_cache(&component, &cached) {
            tracing::warn!(path = %cached.display(), %error, "could not write compiled-code cache");
        }
        Ok((component, CodeOrigin::Compiled))
    }
}

fn cache_key(engine: &Engine, wasm: &[u8], core_module: bool) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let mut digest = Sha256::new();
    digest.update(wasm);
    digest.update(engine_hash.finish().to_le_bytes());
    if core_module {
        // What the module became depends on the adapter linked in, too.
        digest.update(componentize::conversion_identity());
    }
    hex::encode(digest.finalize())
}

fn write_cache(component: &Component, path: &PathBuf) -> Result<()> {
    let dir = path.parent().context("cache path has no folder")?;
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, component.serialize()?)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many guests queue at the gate, it lets through one per turn per permit: the
    /// throttled guests together get a bounded number of ticks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_lets_one_guest_through_per_turn_however_many_wait() {
        let turn = Duration::from_millis(20);
        let window = Duration::from_millis(400);
        for (permits, guests) in [(1, 6), (2, 6)] {
            let gate = std::sync::Arc::new(ThrottleGate::new(permits, turn));
            let passes = std::sync::Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let tasks: Vec<_> = (0..guests)
                .map(|_| {
                    let (gate, passes) = (gate.clone(), passes.clone());
                    tokio::spawn(async move {
                        while started.elapsed() < window {
                            gate.pass().await;
                            passes.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let elapsed = started.elapsed();
            let passes = passes.load(Ordering::Relaxed);
            let most = (elapsed.as_millis() / turn.as_millis()) as u64 * permits as u64 + permits as u64;
            // Without the shared gate each guest would pass once per turn: `guests` times as many.
            assert!(passes <= most, "{permits} permit(s), {guests} guests: {passes} passes in {elapsed:?}, at most {most}");
            assert!(passes * 2 >= most, "the gate is not starving everyone: {passes} of {most}");
        }
    }
}
