//! Turns a policy's core WebAssembly module into a component with the `wit-component` crate, so
//! the build needs no `wasm-tools` install, and describes a component's world for checks.

use anyhow::{Context, Result, bail};
use wit_component::{ComponentEncoder, DecodedWasm};

/// Encodes `core` (a module carrying wit-bindgen's component-type section) as a validated
/// component. The output depends only on the input bytes and this crate's version.
pub fn componentize(core: &[u8]) -> Result<Vec<u8>> {
    ComponentEncoder::default()
        .module(core)
        .context("reading the core module's component-type metadata")?
        .validate(true)
        .encode()
        .context("encoding the component")
}

/// The imports and exports of a component's world, by name (`secretkms:policy/host@0.2.0`,
/// `validate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldSummary {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Decodes a component and lists its world's imports and exports.
pub fn world_summary(component: &[u8]) -> Result<WorldSummary> {
    let decoded = wit_component::decode(component).context("decoding the component")?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        bail!("not a component but a WIT package");
    };
    let w = &resolve.worlds[world];
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    Ok(WorldSummary {
        imports: sorted(
            w.imports
                .keys()
                .map(|k| resolve.name_world_key(k))
                .collect(),
        ),
        exports: sorted(
            w.exports
                .keys()
                .map(|k| resolve.name_world_key(k))
                .collect(),
        ),
    })
}
