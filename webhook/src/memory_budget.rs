//! What the webhook may hold in memory at once, so that its worst case fits the container:
//! evaluations in flight (each may grow a policy instance to its `memoryLimitBytes`) and review
//! bodies (read before their evaluation starts, up to `--max-body-bytes` each). With a cgroup
//! memory limit both are derived from it; without one, evaluations follow the CPUs and bodies
//! get a fixed multiple of the largest body.

use std::path::Path;

/// Kept free for the process itself: runtime, compiled policies, TLS sessions, the state and
/// the allocator's slack (an idle webhook's RSS is 20–30 MB).
pub const RESERVED_BYTES: u64 = 64 << 20;

/// Bodies allowed at once without a cgroup limit, in largest bodies.
const BODIES_WITHOUT_LIMIT: usize = 16;

/// What the budget is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    /// The container's memory limit, if it has one.
    pub limit_bytes: Option<u64>,
    /// `--max-concurrent-evaluations`, else the CPU count.
    pub evaluations: usize,
    /// The largest `memoryLimitBytes` among the loaded policies.
    pub guest_bytes: u64,
    /// `--max-body-bytes`.
    pub max_body_bytes: usize,
}

/// The budget in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub evaluations: usize,
    /// Bytes of review bodies held at once, waiting or being evaluated.
    pub body_bytes: usize,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "the memory limit of {limit} bytes cannot hold one evaluation: {RESERVED_BYTES} bytes for the \
     webhook itself, {guest} for a policy instance (memoryLimitBytes) and {body} for a review \
     body (--max-body-bytes); raise the limit or lower those"
)]
pub struct TooSmall {
    pub limit: u64,
    pub guest: u64,
    pub body: usize,
}

/// The budget for `inputs`. With a limit, evaluations are lowered until each can hold its body
/// and its instance; what the instances leave goes to bodies.
pub fn plan(inputs: Inputs) -> Result<Budget, TooSmall> {
    let wanted = inputs.evaluations.max(1);
    let body = inputs.max_body_bytes as u64;
    let Some(limit) = inputs.limit_bytes else {
        return Ok(Budget {
            evaluations: wanted,
            body_bytes: inputs
                .max_body_bytes
                .saturating_mul(BODIES_WITHOUT_LIMIT.max(2 * wanted)),
        });
    };
    let too_small = TooSmall {
        limit,
        guest: inputs.guest_bytes,
        body: inputs.max_body_bytes,
    };
    let available = limit.checked_sub(RESERVED_BYTES).ok_or(too_small.clone())?;
    let per_evaluation = inputs.guest_bytes + body;
    let fit = available / per_evaluation.max(1);
    if fit == 0 {
        return Err(too_small);
    }
    let evaluations = wanted.min(usize::try_from(fit).unwrap_or(usize::MAX));
    let body_bytes = available - evaluations as u64 * inputs.guest_bytes;
    Ok(Budget {
        evaluations,
        body_bytes: usize::try_from(body_bytes).unwrap_or(usize::MAX),
    })
}

/// The memory limit of the cgroup mounted at `root` (`/sys/fs/cgroup`): v2's `memory.max`, else
/// v1's `memory/memory.limit_in_bytes`. None when unlimited or unreadable.
pub fn cgroup_limit(root: &Path) -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    let value = read("memory.max").or_else(|| read("memory/memory.limit_in_bytes"))?;
    let value = value.trim();
    // v1 reports "no limit" as a huge page-aligned number.
    value.parse::<u64>().ok().filter(|&v| v < (1 << 62))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn inputs(limit_mib: Option<u64>, evaluations: usize) -> Inputs {
        Inputs {
            limit_bytes: limit_mib.map(|m| m * MIB),
            evaluations,
            guest_bytes: 64 * MIB,
            max_body_bytes: 8 << 20,
        }
    }

    #[test]
    fn the_charts_limit_holds_two_evaluations_and_the_rest_goes_to_bodies() {
        // 256 MiB - 64 reserved = 192; each evaluation needs 64 + 8, so 2 fit of the 4 wanted.
        let b = plan(inputs(Some(256), 4)).unwrap();
        assert_eq!(b.evaluations, 2);
        assert_eq!(b.body_bytes as u64, 192 * MIB - 2 * 64 * MIB);
        assert!(
            b.body_bytes >= b.evaluations * (8 << 20),
            "each evaluation's body fits"
        );
    }

    #[test]
    fn fewer_wanted_evaluations_leave_more_for_bodies() {
        let b = plan(inputs(Some(256), 1)).unwrap();
        assert_eq!((b.evaluations, b.body_bytes as u64), (1, 128 * MIB));
    }

    #[test]
    fn a_limit_too_small_for_one_evaluation_is_refused_naming_the_parts() {
        let err = plan(inputs(Some(128), 2)).unwrap_err();
        assert!(err.to_string().contains("memoryLimitBytes"), "{err}");
        assert!(plan(inputs(Some(32), 2)).is_err());
    }

    #[test]
    fn without_a_limit_evaluations_follow_the_request() {
        let b = plan(inputs(None, 4)).unwrap();
        assert_eq!((b.evaluations, b.body_bytes), (4, 16 * (8 << 20)));
    }

    #[test]
    fn cgroup_limits_are_read_from_v2_then_v1() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cgroup_limit(dir.path()), None);
        std::fs::create_dir(dir.path().join("memory")).unwrap();
        std::fs::write(
            dir.path().join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .unwrap();
        assert_eq!(cgroup_limit(dir.path()), None, "v1's unlimited");
        std::fs::write(
            dir.path().join("memory/memory.limit_in_bytes"),
            "268435456\n",
        )
        .unwrap();
        assert_eq!(cgroup_limit(dir.path()), Some(256 * MIB));
        std::fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_limit(dir.path()), None, "v2 first: unlimited");
        std::fs::write(dir.path().join("memory.max"), "134217728\n").unwrap();
        assert_eq!(cgroup_limit(dir.path()), Some(128 * MIB));
    }
}
