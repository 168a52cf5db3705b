//! `kubectl-secretkms`: the kubectl plugin binary.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("kubectl secretkms is not built yet (see issue 5)")
}
