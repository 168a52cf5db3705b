//! CPU time of a process from `/proc/<pid>/stat`: the load generator reports its own, so readers
//! see how much of the 2 shared cores it took from the server.

use std::time::Duration;

/// User plus system CPU time of `pid` ("self" for this process), if /proc is readable.
pub fn time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse(&stat)
}

fn parse(stat: &str) -> Option<Duration> {
    // The command name (field 2) may contain spaces and parentheses; fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 overall, 12th and 13th after the name; in USER_HZ
    // ticks, which Linux fixes at 100 for /proc.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse(stat), Some(Duration::from_millis(2_800)));
        assert_eq!(parse("garbage"), None);
        assert!(time("self").is_some());
    }
}
