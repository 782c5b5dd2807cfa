//! Wall-clock time as Conduit records it: nanoseconds since the Unix epoch
//! (what the index stores, policies receive and the trash is aged by).

/// Now, in ns since the epoch (0 if the clock is before it).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
