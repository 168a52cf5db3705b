//! Cost of one policy evaluation with a fresh instance, on a realistic 3.4 KB Secret CREATE review
//! (tests/data/secret-create-request.json) with the real secret-write-guard, against two baselines
//! measured in the same run so results read as ratios:
//!
//! - `instantiate_only`: a fresh Store plus instantiation of the same component, no call: the
//!   floor of per-request isolation;
//! - `reused_instance`: the same call on one long-lived instance: the cost without isolation.
//!
//! The baselines use their own Engine configured like `PolicyRuntime` (pooling, epoch
//! interruption, keep-resident + PAGEMAP_SCAN); keep the two in step.
//!
//! Large reviews are measured the same way beside the typical one: a 1 MiB Secret UPDATE (object
//! and oldObject with 512 KiB of data each) and a Secret of 20,000 keys, each against the cost of
//! decoding the same request (`Review::decode_request`, the transport's share) in the same run.
//!
//! Criterion reports means and medians; p50/p99 (and load-time and allocator comparisons) come
//! from a plain loop printed first. `cargo bench -p secretkms-core --bench evaluate`; pass
//! `-- --quick` or a filter as usual; `EVALUATE_SAMPLES=n` sets the loop's sample count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::hint::black_box;

use criterion::Criterion;
use secretkms_core::policy::{
    CacheDir, NoKeyLookup, PolicyConfig, PolicyRuntime, PolicySet, RuntimeConfig,
};
use secretkms_core::review::Review;
use secretkms_model::{
    ApiserverFacts, Declared, EncryptionState, KeyFacts, KeyState, SourceStatus,
};
use wasmtime::{Engine, Store};

use baseline::{Host, PolicyPre, instantiate_only};

const REQUEST: &str = include_str!("../tests/data/secret-create-request.json");

/// The request decoded once, as the webhook does before evaluating.
fn request() -> Review<'static> {
    Review::decode_request(REQUEST).expect("tests/data/secret-create-request.json")
}

fn state() -> EncryptionState {
    EncryptionState {
        declared: Some(Declared {
            key: "alias/k8s-secrets".into(),
            ..Default::default()
        }),
        key: Some(KeyFacts {
            key_id: "key-hzz6c1b9e6d1wyd3b5kzi".into(),
            state: KeyState::Enabled,
            state_name: "Enabled".into(),
            spec: "Aliyun_AES_256".into(),
            usage: "ENCRYPT/DECRYPT".into(),
            deletion_protection: Some(true),
            automatic_rotation: Some(true),
            ..Default::default()
        }),
        apiserver: Some(ApiserverFacts {
            kms_configured: true,
            kms_healthy: true,
            detail: "ok".into(),
            ..Default::default()
        }),
        sources: ["declared", "kms", "apiserver"]
            .iter()
            .map(|n| SourceStatus {
                name: (*n).into(),
                age_seconds: Some(5),
                last_error: None,
            })
            .collect(),
        now: 1_770_000_000,
        ..Default::default()
    }
}

fn policy_set(keep_resident: usize) -> PolicySet {
    let runtime = PolicyRuntime::new(RuntimeConfig {
        cache: CacheDir::Disabled,
        memory_keep_resident_bytes: keep_resident,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let config = PolicyConfig {
        policies: vec![PolicyConfig::builtin().policies.remove(0)],
    };
    let set = runtime.load(&config, Arc::new(NoKeyLookup)).expect("load");
    assert!(
        set.evaluate(&request(), &state()).allowed(),
        "the benchmark state must be healthy"
    );
    set
}

/// The baselines: the same component driven directly through wasmtime.
mod baseline {
    use std::hint::black_box;

    use wasmtime::component::{Component, HasSelf, Linker};
    use wasmtime::{
        Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    };

    use secretkms_core::policy::Builtin;

    wasmtime::component::bindgen!({ world: "policy", path: "../policies/wit" });

    pub use secretkms::policy::types as wit;

    pub fn wit_state() -> wit::EncryptionState {
        wit::EncryptionState {
            declared: Some(wit::Declared {
                provider: "alibaba-kms".into(),
                key: "alias/k8s-secrets".into(),
                region: None,
                required_key_spec: "Aliyun_AES_256".into(),
                enforce: true,
                exempt_namespaces: vec![],
                max_state_age_seconds: 300,
            }),
            key: Some(wit::KeyFacts {
                requested: String::new(),
                key_id: "key-hzz6c1b9e6d1wyd3b5kzi".into(),
                arn: None,
                region: None,
                state: wit::KeyState::Enabled,
                state_name: "Enabled".into(),
                spec: "Aliyun_AES_256".into(),
                usage: "ENCRYPT/DECRYPT".into(),
                primary_key_version: None,
                delete_date: None,
                deletion_protection: Some(true),
                automatic_rotation: Some(true),
                rotation_interval: None,
                last_rotation_date: None,
                next_rotation_date: None,
            }),
            apiserver: Some(wit::ApiserverFacts {
                kms_configured: true,
                kms_healthy: true,
                detail: "ok".into(),
                checks: vec![],
                secret_writers: vec![],
            }),
            plugin: None,
            rewrite: None,
            sources: ["declared", "kms", "apiserver"]
                .iter()
                .map(|n| wit::SourceStatus {
                    name: (*n).into(),
                    age_seconds: Some(5),
                    last_error: None,
                })
                .collect(),
            now: 1_770_000_000,
        }
    }

    /// The baselines' host: nothing but the import the world requires.
    pub struct Host;

    impl secretkms::policy::host::Host for Host {
        fn describe_key(&mut self, _key: String) -> Result<wit::KeyFacts, String> {
            Err("no key lookup configured".into())
        }
    }

    impl wit::Host for Host {}

    pub fn baseline_pre() -> (Engine, PolicyPre<Host>) {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(64)
            .total_core_instances(256)
            .total_memories(64)
            .total_tables(128)
            .max_memory_size(256 << 20)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(1 << 20)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).unwrap();
        let component = Component::new(&engine, Builtin::SecretWriteGuard.component()).unwrap();
        let mut linker = Linker::new(&engine);
        Policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |h: &mut Host| h).unwrap();
        let pre = PolicyPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        (engine, pre)
    }

    pub fn instantiate_only(engine: &Engine, pre: &PolicyPre<Host>) {
        let mut store = Store::new(engine, Host);
        store.set_epoch_deadline(50);
        black_box(pre.instantiate(&mut store).unwrap());
    }
}

fn samples() -> usize {
    std::env::var("EVALUATE_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

/// Runs `f` `samples()` times after a warm-up and returns (p50, p99, mean).
fn percentiles(f: impl FnMut()) -> (Duration, Duration, Duration) {
    percentiles_of(f, 1_000, samples())
}

/// Calls for the large reviews, which take milliseconds each (`EVALUATE_LARGE_SAMPLES`).
fn large_samples() -> usize {
    std::env::var("EVALUATE_LARGE_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

/// `f` `n` times after `warmup` calls: (p50, p99, mean).
fn percentiles_of(mut f: impl FnMut(), warmup: usize, n: usize) -> (Duration, Duration, Duration) {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / n as u32;
    (times[n / 2], times[n * 99 / 100], mean)
}

fn report(name: &str, (p50, p99, mean): (Duration, Duration, Duration), base: Option<Duration>) {
    let ratio = base
        .map(|b| {
            format!(
                "  p50 = {:.2}x instantiate-only",
                p50.as_secs_f64() / b.as_secs_f64()
            )
        })
        .unwrap_or_default();
    println!(
        "{name:<44} p50 {:>7.1} µs   p99 {:>7.1} µs   mean {:>7.1} µs{ratio}",
        us(p50),
        us(p99),
        us(mean)
    );
}

/// The typical request reshaped: a Secret UPDATE whose object and oldObject each hold one
/// `value_bytes`-long value, or a CREATE of a Secret with `keys` small keys.
fn large_request(shape: Large) -> String {
    let mut request: serde_json::Value = serde_json::from_str(REQUEST).expect("request JSON");
    let object = request["object"].clone();
    let with_data = |data: serde_json::Map<String, serde_json::Value>| {
        let mut o = object.clone();
        o["data"] = serde_json::Value::Object(data);
        o
    };
    match shape {
        Large::Update { value_bytes } => {
            let value = |fill: char| -> serde_json::Map<String, serde_json::Value> {
                [(
                    "blob".to_string(),
                    fill.to_string().repeat(value_bytes).into(),
                )]
                .into_iter()
                .collect()
            };
            request["operation"] = "UPDATE".into();
            request["object"] = with_data(value('A'));
            request["oldObject"] = with_data(value('B'));
        }
        Large::Keys { keys } => {
            let data = (0..keys)
                .map(|i| (format!("key-{i:05}"), "dmFsdWU=".into()))
                .collect();
            request["object"] = with_data(data);
        }
    }
    serde_json::to_string(&request).expect("request serializes")
}

#[derive(Debug, Clone, Copy)]
enum Large {
    Update { value_bytes: usize },
    Keys { keys: usize },
}

/// p50/p99 of one evaluation of each large review, beside decoding it alone.
fn large_reviews(set: &PolicySet, state: &EncryptionState) {
    let n = large_samples();
    println!("== large reviews: p50/p99 over {n} calls after 20 warm-up, one thread ==");
    for (label, shape) in [
        (
            "1 MiB Secret UPDATE",
            Large::Update {
                value_bytes: 512 << 10,
            },
        ),
        ("20,000-key Secret CREATE", Large::Keys { keys: 20_000 }),
    ] {
        let text = large_request(shape);
        let decode = percentiles_of(
            || {
                black_box(Review::decode_request(&text).expect("large request decodes"));
            },
            20,
            n,
        );
        report(
            &format!("{label} ({} B): decode only", text.len()),
            decode,
            None,
        );
        let review = Review::decode_request(&text).expect("large request decodes");
        assert!(
            set.evaluate(&review, state).allowed(),
            "{label}: the healthy state allows it"
        );
        let evaluate = percentiles_of(
            || {
                black_box(set.evaluate(&review, state));
            },
            20,
            n,
        );
        report(&format!("{label}: PolicySet::evaluate"), evaluate, None);
        println!(
            "{label}: evaluate / decode p50 {:.2}x, p99 {:.2}x",
            evaluate.0.as_secs_f64() / decode.0.as_secs_f64(),
            evaluate.1.as_secs_f64() / decode.1.as_secs_f64()
        );
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Load time of the two defaults: Cranelift compile (no cache) vs a cache hit (deserialize).
fn load_times() {
    let dir = std::env::temp_dir().join(format!("secretkms-bench-cache-{}", std::process::id()));
    let load = |cache: CacheDir| {
        let runtime = PolicyRuntime::new(RuntimeConfig {
            cache,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let started = Instant::now();
        let set = runtime
            .load(&PolicyConfig::builtin(), Arc::new(NoKeyLookup))
            .unwrap();
        let per_policy: Vec<String> = set
            .policies()
            .map(|p| {
                format!(
                    "{} {:?} {:.2} ms",
                    p.name,
                    p.cache,
                    p.load_time.as_secs_f64() * 1e3
                )
            })
            .collect();
        (started.elapsed(), per_policy)
    };
    for (label, cache) in [
        ("no cache (compile)", CacheDir::Disabled),
        ("empty cache (compile + store)", CacheDir::At(dir.clone())),
        ("warm cache (deserialize)", CacheDir::At(dir.clone())),
    ] {
        let (total, each) = load(cache);
        println!(
            "load both defaults, {label:<30} {:>8.2} ms  [{}]",
            total.as_secs_f64() * 1e3,
            each.join(", ")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let state = state();
    let request = request();
    let wstate = baseline::wit_state();
    let (engine, pre): (Engine, PolicyPre<Host>) = baseline::baseline_pre();
    let set = policy_set(1 << 20);

    println!(
        "== p50/p99 over {} calls after 1000 warm-up, one thread, {}-byte review ==",
        samples(),
        REQUEST.len()
    );
    let base = percentiles(|| instantiate_only(&engine, &pre));
    report("instantiate only (fresh Store, no call)", base, None);
    let mut store = Store::new(&engine, Host);
    let instance = pre.instantiate(&mut store).unwrap();
    let reused = percentiles(|| {
        store.set_epoch_deadline(50);
        black_box(
            instance
                .call_validate(&mut store, REQUEST, &wstate, "{}")
                .unwrap(),
        );
    });
    report("reused instance, call only", reused, Some(base.0));
    let fresh = percentiles(|| {
        black_box(set.evaluate(&request, &state));
    });
    report("PolicySet::evaluate, fresh instance", fresh, Some(base.0));
    println!(
        "evaluate / reused-instance call: p50 {:.2}x, p99 {:.2}x",
        fresh.0.as_secs_f64() / reused.0.as_secs_f64(),
        fresh.1.as_secs_f64() / reused.1.as_secs_f64()
    );
    let plain = policy_set(0);
    report(
        "PolicySet::evaluate, keep_resident = 0",
        percentiles(|| {
            black_box(plain.evaluate(&request, &state));
        }),
        Some(base.0),
    );
    drop(plain);
    large_reviews(&set, &state);
    load_times();
    println!();

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("evaluate");
    g.bench_function("instantiate_only", |b| {
        b.iter(|| instantiate_only(&engine, &pre))
    });
    g.bench_function("reused_instance", |b| {
        b.iter(|| {
            store.set_epoch_deadline(50);
            black_box(
                instance
                    .call_validate(&mut store, REQUEST, &wstate, "{}")
                    .unwrap(),
            )
        })
    });
    g.bench_function("fresh_instance/secret-write-guard", |b| {
        b.iter(|| black_box(set.evaluate(&request, &state)))
    });
    g.finish();
    c.final_summary();
}
