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
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};

use crate::componentize;

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
}

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            memory_bytes: 128 << 20,
            request_timeout: Duration::from_secs(60),
            max_instances: 1000,
            body_idle_timeout: Duration::from_secs(10),
        }
    }
}

pub fn new_engine(limits: &InstanceLimits) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
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

/// How long a guest may compute without waiting for anything before it is throttled.
/// Ordinary requests stay under it: an argon2 password check is a few tens of milliseconds.
const CPU_BURST: Duration = Duration::from_millis(100);
/// A throttled guest sleeps this long after each tick it runs: at most a fifth of a core.
const THROTTLE_PAUSE: Duration = Duration::from_millis(40);

/// Arms a store's deadline: yield at every tick, trap once `timeout` has passed. A guest that
/// has computed for longer than [`CPU_BURST`] without a pause (epoch callbacks at most a few
/// ticks apart: no long wait on a host call in between) is throttled, so a runaway loop or a
/// memory bomb cannot take the cores from every other request while it waits for its deadline.
/// `bench/isolation.sh` measures the effect; the burst is wall-clock time, so on a saturated
/// machine a heavy request is throttled sooner.
pub fn arm_deadline<T>(store: &mut Store<T>, timeout: Duration) {
    let started = Instant::now();
    let mut burst_started = started;
    let mut last_callback = started;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        let now = Instant::now();
        if now.duration_since(started) >= timeout {
            return Ok(UpdateDeadline::Interrupt);
        }
        // Callbacks further apart than a few ticks mean the guest waited: a new burst.
        if now.duration_since(last_callback) > EPOCH_TICK * 3 {
            burst_started = now;
        }
        if now.duration_since(burst_started) < CPU_BURST {
            last_callback = now;
            return Ok(UpdateDeadline::Yield(1));
        }
        // The pause does not end the burst: the next callback is measured from its end.
        last_callback = now + THROTTLE_PAUSE;
        Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::time::sleep(THROTTLE_PAUSE))))
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
