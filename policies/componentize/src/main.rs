//! `secretkms-componentize encode CORE.wasm OUT.wasm` turns a core module into a component;
//! `secretkms-componentize world COMPONENT.wasm` prints its imports and exports. Used by
//! `policies/build.sh`. Exit code 1 on any error.

use std::fs;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["encode", input, output] => {
            let core = fs::read(input).with_context(|| format!("reading {input}"))?;
            let component = secretkms_componentize::componentize(&core)
                .with_context(|| format!("componentizing {input}"))?;
            fs::write(output, component).with_context(|| format!("writing {output}"))
        }
        ["world", input] => {
            let bytes = fs::read(input).with_context(|| format!("reading {input}"))?;
            let world = secretkms_componentize::world_summary(&bytes)
                .with_context(|| format!("describing {input}"))?;
            for i in world.imports {
                println!("import {i}");
            }
            for e in world.exports {
                println!("export {e}");
            }
            Ok(())
        }
        _ => {
            bail!("usage: secretkms-componentize encode CORE.wasm OUT.wasm | world COMPONENT.wasm")
        }
    }
}
