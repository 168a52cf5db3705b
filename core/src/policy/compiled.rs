//! A policy component made ready to run: compiled (or loaded from the artefact cache), checked
//! against the contract it was built for, and pre-linked into a `PolicyPre` so that each
//! evaluation only instantiates.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Linker;

use super::artifact_cache::{ArtifactCache, CacheStatus};
use super::bindings::{CONTRACT_PACKAGE, CONTRACT_VERSION, PolicyPre};
use super::error::LoadError;
use super::host::HostState;

pub(crate) struct CompiledPolicy {
    pub pre: PolicyPre<HostState>,
    pub sha256: String,
    pub cache: CacheStatus,
    pub cache_note: Option<String>,
    pub load_time: Duration,
}

impl CompiledPolicy {
    pub(crate) fn load(
        engine: &Engine,
        linker: &Linker<HostState>,
        cache: &ArtifactCache,
        policy: &str,
        bytes: &[u8],
    ) -> Result<Self, LoadError> {
        let started = Instant::now();
        let sha256 = hex::encode(Sha256::digest(bytes));
        let (component, status, note) =
            cache.load(engine, bytes).map_err(|e| LoadError::Compile {
                policy: policy.to_owned(),
                message: format!("{e:#}"),
            })?;
        let contract = |message: String| LoadError::Contract {
            policy: policy.to_owned(),
            message,
        };
        for (name, _) in component.component_type().imports(engine) {
            if let Some(rest) = name
                .strip_prefix(CONTRACT_PACKAGE)
                .and_then(|r| r.strip_prefix('/'))
            {
                let version = rest
                    .split_once('@')
                    .map(|(_, v)| v)
                    .unwrap_or("(unversioned)");
                if version != CONTRACT_VERSION {
                    return Err(contract(format!(
                        "built for {name} (version {version}), but this host implements \
                         {CONTRACT_PACKAGE}@{CONTRACT_VERSION}: rebuild the policy against that WIT"
                    )));
                }
            }
        }
        let not_the_world = |e: wasmtime::Error| {
            contract(format!(
                "does not fit the world {CONTRACT_PACKAGE}/policy@{CONTRACT_VERSION}: {}",
                format!("{e:#}").replace('\n', " ")
            ))
        };
        let instance_pre = linker.instantiate_pre(&component).map_err(not_the_world)?;
        let pre = PolicyPre::new(instance_pre).map_err(not_the_world)?;
        Ok(Self {
            pre,
            sha256,
            cache: status,
            cache_note: note,
            load_time: started.elapsed(),
        })
    }
}
