//! The process-wide policy runtime: one wasmtime Engine (pooling allocator, epoch interruption),
//! the epoch ticker thread, the artefact cache, and the per-policy metrics. Policy sets are loaded
//! from it and share it; reloading a configuration reuses the engine and keeps the counters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::artifact_cache::ArtifactCache;
use super::bindings::Policy;
use super::error::{LoadError, Result};
use super::host::HostState;
use super::metrics::{PolicyMetrics, PolicyMetricsSnapshot};
use super::ticker::EpochTicker;
use super::{KeyLookup, PolicyConfig, PolicySet};

/// Where precompiled policies are cached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CacheDir {
    /// `${XDG_CACHE_HOME:-~/.cache}/secretkms/policies`; in-memory compilation when neither
    /// variable is set.
    #[default]
    Default,
    At(PathBuf),
    /// Always compile in memory (~100 ms per policy at every start).
    Disabled,
}

impl CacheDir {
    fn resolve(&self) -> Option<PathBuf> {
        match self {
            CacheDir::Default => {
                let base = std::env::var_os("XDG_CACHE_HOME")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME")
                            .filter(|v| !v.is_empty())
                            .map(|h| PathBuf::from(h).join(".cache"))
                    })?;
                Some(base.join("secretkms").join("policies"))
            }
            CacheDir::At(p) => Some(p.clone()),
            CacheDir::Disabled => None,
        }
    }
}

/// Sizing of the runtime, fixed for the life of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Instances that can exist at once, i.e. the most concurrent evaluations. An evaluation
    /// beyond it fails with [`super::ErrorKind::Instantiate`]: bound concurrency below this (a
    /// semaphore around `spawn_blocking`).
    pub max_instances: u32,
    /// Largest `memoryLimitBytes` a policy may configure; each pool slot reserves address space
    /// (not memory) for it.
    pub max_memory_bytes: u64,
    pub cache: CacheDir,
    /// How often the guest's deadline is checked; a policy overruns its `timeoutMs` by at most
    /// about one tick (plus scheduling delay of the epoch thread).
    pub epoch_tick: Duration,
    /// Linear memory kept mapped (and cleared, not unmapped) when an instance slot is reused.
    /// With PAGEMAP_SCAN (Linux 6.7+) clearing touches only dirtied pages, which makes reuse
    /// cheaper than fresh faults; see benches/evaluate.rs.
    pub memory_keep_resident_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_instances: 64,
            max_memory_bytes: 256 << 20,
            cache: CacheDir::Default,
            epoch_tick: Duration::from_millis(1),
            memory_keep_resident_bytes: 1 << 20,
        }
    }
}

/// The policy runtime. Cheap to clone (shared); the epoch thread stops when the last clone, and
/// every [`PolicySet`] loaded from it, is dropped.
#[derive(Clone)]
pub struct PolicyRuntime {
    pub(crate) inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for PolicyRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyRuntime")
            .field("max_memory_bytes", &self.inner.max_memory_bytes)
            .field("cache_dir", &self.inner.cache.dir())
            .finish_non_exhaustive()
    }
}

pub(crate) struct RuntimeInner {
    pub engine: Engine,
    pub linker: Linker<HostState>,
    pub cache: ArtifactCache,
    pub max_memory_bytes: u64,
    metrics: Mutex<BTreeMap<String, Arc<PolicyMetrics>>>,
    _ticker: EpochTicker,
}

impl PolicyRuntime {
    /// Creates the engine and starts the epoch thread.
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        let runtime_err = |message: String| LoadError::Runtime { message };
        let max_memory = usize::try_from(config.max_memory_bytes).map_err(|_| {
            runtime_err(format!(
                "maxMemoryBytes {} does not fit this platform",
                config.max_memory_bytes
            ))
        })?;
        let n = config.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        // A policy component is one module plus wit-component's shim/fixup modules (no memory of
        // their own, one small table), hence the per-instance multipliers.
        pool.total_component_instances(n)
            .total_core_instances(n * 4)
            .total_memories(n)
            // One fiber stack per evaluation in flight (instantiation and the call take turns).
            .total_stacks(n)
            .total_tables(n * 2)
            .max_memory_size(max_memory)
            .linear_memory_keep_resident(config.memory_keep_resident_bytes)
            .table_keep_resident(config.memory_keep_resident_bytes)
            .pagemap_scan(Enabled::Auto);
        let mut wasm = Config::new();
        wasm.epoch_interruption(true)
            // Guard pages and signals-based traps (wasmtime's defaults), not bounds checks in
            // the code: bounds checks doubled the machine code and the cold start's compile
            // time. The `mprotect` per evaluation that guard pages cost when a guest grows its
            // memory is avoided by the guests instead: the kit's arena allocator serves a
            // typical evaluation from the initial memory, so a slot keeps its size from one
            // instance to the next.
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| runtime_err(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        Policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |s: &mut HostState| s)
            .map_err(|e| runtime_err(format!("{e:#}")))?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)
            .map_err(|e| runtime_err(format!("cannot start the epoch thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                cache: ArtifactCache::new(config.cache.resolve()),
                max_memory_bytes: config.max_memory_bytes,
                metrics: Mutex::new(BTreeMap::new()),
                _ticker: ticker,
            }),
        })
    }

    /// Compiles (or loads from cache) every policy of `config`, checks it against the contract
    /// and runs its `validate-settings`. `keys` answers the policies' `describe-key` calls.
    pub fn load(&self, config: &PolicyConfig, keys: Arc<dyn KeyLookup>) -> Result<PolicySet> {
        PolicySet::load(self, config, keys)
    }

    /// The folder precompiled policies are cached in, if one is in use.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.dir()
    }

    /// Counters of every policy name ever loaded by this runtime.
    pub fn metrics(&self) -> Vec<PolicyMetricsSnapshot> {
        self.inner
            .lock_metrics()
            .iter()
            .map(|(name, m)| m.snapshot(name))
            .collect()
    }
}

impl RuntimeInner {
    fn lock_metrics(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<PolicyMetrics>>> {
        // Only inserts happen under this lock; a poisoned map is still consistent.
        self.metrics.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn metrics_for(&self, policy: &str) -> Arc<PolicyMetrics> {
        Arc::clone(self.lock_metrics().entry(policy.to_owned()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_disabled_resolves_to_none() {
        assert_eq!(CacheDir::Disabled.resolve(), None);
        assert_eq!(
            CacheDir::At("/x".into()).resolve(),
            Some(PathBuf::from("/x"))
        );
    }
}
