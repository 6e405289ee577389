//! GCRA in Redis: the Lua script that admits or refuses one call of one limit in a single atomic round trip
//! (sent as `EVALSHA`; redis-rs loads it on the first `NOSCRIPT`, and the supervisor loads it on every connection),
//! and the reading of its reply into a [`Verdict`].
//!
//! The state of a limit is one key holding its theoretical arrival time (TAT) in microseconds of the Redis server's
//! clock (`TIME`), so replicas' clocks never matter. With emission interval `T = 1 s / per_second` and tolerance
//! `τ = T × (burst − 1)`, a call conforms when `now ≥ TAT − τ`, and then moves TAT to `max(TAT, now) + T`: the same
//! arithmetic as `governor`, so a limit behaves the same in Redis and in the local fallback. The key expires when
//! TAT passes, when a missing key means the same thing (a full burst); so keys never outlive their burst window.
//! Times are doubles (exact to about 0.25 µs at today's epoch), so `per_second` is at most 1,000,000 with
//! `[cluster]` (`T` ≥ 1 µs; validated in config).

use std::time::Duration;

use super::Verdict;

/// `KEYS[1]`: the limit's key. `ARGV[1]`: `T` in microseconds (may be fractional). `ARGV[2]`: the burst.
/// Returns `{1, remaining, 0}` or `{0, 0, retry_after_µs}`.
pub const SCRIPT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local stored = redis.call('GET', KEYS[1])
local tat = stored and tonumber(stored) or now
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, 0, math.ceil(allow_at - now)}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.17g', next_tat), 'PX', math.max(1, math.ceil((next_tat - now) / 1000)))
return {1, math.floor((tolerance + interval - (next_tat - now)) / interval + 0.001), 0}
";

/// `T` for `per_second`, in microseconds.
pub fn interval_micros(per_second: u32) -> f64 {
    1_000_000.0 / f64::from(per_second.max(1))
}

/// The script's reply as a verdict (negative numbers, which it never returns, read as zero).
pub fn verdict((allowed, remaining, retry_after_micros): (i64, i64, i64)) -> Verdict {
    Verdict {
        allowed: allowed == 1,
        remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
        retry_after: Duration::from_micros(u64::try_from(retry_after_micros).unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_as_verdicts() {
        assert_eq!(
            verdict((1, 4, 0)),
            Verdict {
                allowed: true,
                remaining: 4,
                retry_after: Duration::ZERO
            }
        );
        let refused = verdict((0, 0, 12_345));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_micros(12_345));
        assert_eq!(verdict((0, -1, -5)).retry_after, Duration::ZERO);
        assert_eq!(interval_micros(20), 50_000.0);
    }
}
