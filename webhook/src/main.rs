//! `secretkms-webhook`: the admission webhook binary.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("secretkms-webhook is not built yet (see issue 3)")
}
