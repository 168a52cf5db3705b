//! Compile once: policy components are precompiled by Cranelift (~100 ms each) and the artefact is
//! kept on disk, keyed by the component's sha256 and the engine's compatibility hash, so the next
//! start loads it in well under a millisecond. See docs/decisions/0001-precompiled-policies.md.
//!
//! This is the only module of the workspace allowed to use `unsafe`: loading an artefact
//! (`Component::deserialize`) is unsafe because wasmtime trusts it to be machine code it produced.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Leads every cached file, followed by the sha256 of the artefact and the artefact itself.
const MAGIC: &[u8; 8] = b"SKMSCW01";

/// How a component reached memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Loaded from a cached artefact.
    Hit,
    /// Compiled and stored for the next start.
    Stored,
    /// Compiled in memory: no usable cache folder, or storing failed (the reason is logged in
    /// [`super::PolicyInfo::cache_note`]).
    Compiled,
}

/// The on-disk cache of precompiled components.
#[derive(Debug)]
pub(crate) struct ArtifactCache {
    dir: Option<PathBuf>,
    /// Why there is no folder, for diagnostics.
    disabled_because: Option<String>,
}

impl ArtifactCache {
    /// Uses `dir` (created with mode 0700) when it is private to this user; otherwise compiles in
    /// memory.
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        let Some(dir) = dir else {
            return Self {
                dir: None,
                disabled_because: Some("the artefact cache is disabled".into()),
            };
        };
        match prepare_dir(&dir) {
            Ok(()) => Self {
                dir: Some(dir),
                disabled_because: None,
            },
            Err(why) => Self {
                dir: None,
                disabled_because: Some(format!("cache folder {}: {why}", dir.display())),
            },
        }
    }

    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Returns the compiled component and how it was obtained, with a note when the cache could
    /// not be used.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        component: &[u8],
    ) -> wasmtime::Result<(Component, CacheStatus, Option<String>)> {
        let Some(dir) = &self.dir else {
            return Ok((
                Component::new(engine, component)?,
                CacheStatus::Compiled,
                self.disabled_because.clone(),
            ));
        };
        let path = dir.join(format!("{}.cwasm", cache_key(engine, component)));
        let mut note = None;
        match read_artifact(&path) {
            Ok(Some(artifact)) => match deserialize(engine, &artifact) {
                Ok(c) => return Ok((c, CacheStatus::Hit, None)),
                Err(e) => {
                    note = Some(format!(
                        "cached artefact {} refused, recompiled: {e}",
                        path.display()
                    ))
                }
            },
            Ok(None) => {}
            Err(why) => {
                note = Some(format!(
                    "cached artefact {} ignored, recompiled: {why}",
                    path.display()
                ))
            }
        }
        let artifact = engine.precompile_component(component)?;
        let compiled = deserialize(engine, &artifact)?;
        match write_artifact(&path, &artifact) {
            Ok(()) => Ok((compiled, CacheStatus::Stored, note)),
            Err(e) => Ok((
                compiled,
                CacheStatus::Compiled,
                Some(format!("cannot store {}: {e}", path.display())),
            )),
        }
    }
}

/// `sha256(component)-sha256(engine compatibility hash)[..16]`, hex.
fn cache_key(engine: &Engine, component: &[u8]) -> String {
    let mut h = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    let engine_hash = h.0.finalize();
    format!(
        "{}-{}",
        hex::encode(Sha256::digest(component)),
        &hex::encode(engine_hash)[..16]
    )
}

/// Feeds `Hash` into sha256, so the key is stable across processes (unlike `DefaultHasher`'s
/// unspecified algorithm).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0 // never called: the digest is taken from the inner state
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(unix)]
fn prepare_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create: {e}"))?;
    let meta = fs::metadata(dir).map_err(|e| format!("cannot inspect: {e}"))?;
    check_private(&meta)?;
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    fs::write(&probe, b"").map_err(|e| format!("not writable: {e}"))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

#[cfg(not(unix))]
fn prepare_dir(dir: &Path) -> Result<(), String> {
    let _ = dir;
    Err("the artefact cache needs a Unix file system (ownership checks)".into())
}

/// A cached artefact becomes machine code in this process, so only files that nobody else can
/// write are trusted: owned by our user, not writable by group or others.
#[cfg(unix)]
fn check_private(meta: &fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "writable by group or others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    // The owner of /proc/self is this process's (effective) user; without /proc, skip the check
    // rather than refuse a cache that the mode check already found private.
    if let Ok(me) = fs::metadata("/proc/self")
        && me.uid() != meta.uid()
    {
        return Err(format!(
            "owned by uid {}, not by this process's uid {}",
            meta.uid(),
            me.uid()
        ));
    }
    Ok(())
}

/// Ok(None) when there is no cached file.
#[cfg(unix)]
fn read_artifact(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    check_private(&fs::metadata(path).map_err(|e| e.to_string())?)?;
    let header = MAGIC.len() + 32;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a secretkms artefact".into());
    }
    let (sum, artifact) = bytes[MAGIC.len()..].split_at(32);
    if Sha256::digest(artifact).as_slice() != sum {
        return Err("checksum mismatch (truncated or modified)".into());
    }
    Ok(Some(artifact.to_vec()))
}

#[cfg(not(unix))]
fn read_artifact(_path: &Path) -> Result<Option<Vec<u8>>, String> {
    Ok(None)
}

/// Writes through a temporary file and a rename, so a concurrent reader never sees half a file.
fn write_artifact(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&Sha256::digest(artifact))?;
        f.write_all(artifact)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` is either the output of `engine.precompile_component` in this very call,
    // or a file from our private cache folder (owned by this user, not writable by group or
    // others, checked above) whose sha256 matched the one we wrote next to it, i.e. an artefact
    // this code produced. wasmtime itself refuses artefacts from another wasmtime version or
    // engine configuration (and the file name carries the engine's compatibility hash).
    unsafe { Component::deserialize(engine, artifact) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &str = "(component (core module (func (export \"f\"))))";

    fn engine() -> Engine {
        Engine::default()
    }

    #[test]
    fn second_load_hits_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(Some(dir.path().join("c")));
        let bytes = wat::parse_str(COMPONENT).unwrap();
        let e = engine();
        assert_eq!(cache.load(&e, &bytes).unwrap().1, CacheStatus::Stored);
        assert_eq!(cache.load(&e, &bytes).unwrap().1, CacheStatus::Hit);
    }

    #[test]
    fn a_modified_artefact_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(Some(dir.path().to_owned()));
        let bytes = wat::parse_str(COMPONENT).unwrap();
        let e = engine();
        cache.load(&e, &bytes).unwrap();
        let file = fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut content = fs::read(&file).unwrap();
        let last = content.len() - 1;
        content[last] ^= 0xff;
        fs::write(&file, content).unwrap();
        let (_, status, note) = cache.load(&e, &bytes).unwrap();
        assert_eq!(status, CacheStatus::Stored);
        assert!(note.unwrap().contains("checksum mismatch"));
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_others_can_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let cache = ArtifactCache::new(Some(dir.path().to_owned()));
        assert!(cache.dir().is_none());
        let bytes = wat::parse_str(COMPONENT).unwrap();
        let (_, status, note) = cache.load(&engine(), &bytes).unwrap();
        assert_eq!(status, CacheStatus::Compiled);
        assert!(note.unwrap().contains("writable by group or others"));
    }

    #[test]
    fn keys_differ_by_content() {
        let e = engine();
        assert_ne!(cache_key(&e, b"a"), cache_key(&e, b"b"));
        assert_eq!(cache_key(&e, b"a"), cache_key(&e, b"a"));
    }
}
