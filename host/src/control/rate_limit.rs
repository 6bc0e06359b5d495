//! [`InputRateLimiter`]: a token bucket bounding how many input events per
//! second a viewer may inject, so a flood cannot drown the instrument's UI.
//! Pure: the caller passes the time in.

use std::time::Instant;

/// Events per second a viewer may inject on average.
pub const DEFAULT_INPUT_RATE: u32 = 1000;
/// Events a viewer may inject at once after a quiet spell (a fast typist's
/// paste, a drag).
pub const DEFAULT_INPUT_BURST: u32 = 200;

/// One token, in the fixed-point units the bucket counts in; fine enough
/// that refill at any rate up to a million per second is exact per
/// nanosecond-granular step.
const UNITS_PER_TOKEN: u128 = 1_000_000_000;

/// What kind of event asks to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// Releases a key or button. Always admitted: dropping one would leave
    /// a key stuck, and a release of something not held injects nothing.
    Release,
    /// Anything else: moves, presses, wheel.
    Action,
}

/// Token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct InputRateLimiter {
    rate: u32,
    burst: u32,
    /// Tokens available, in `UNITS_PER_TOKEN` units.
    available: u128,
    last_refill: Option<Instant>,
    dropped: u64,
}

impl InputRateLimiter {
    /// A bucket that starts full. `rate` and `burst` of 0 are raised to 1.
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = burst.max(1);
        Self {
            rate: rate.max(1),
            burst,
            available: u128::from(burst) * UNITS_PER_TOKEN,
            last_refill: None,
            dropped: 0,
        }
    }

    /// Whether to inject this event (`true`) or drop it (`false`).
    #[must_use]
    pub fn admit(&mut self, now: Instant, kind: InputKind) -> bool {
        self.refill(now);
        if self.available >= UNITS_PER_TOKEN {
            self.available -= UNITS_PER_TOKEN;
            return true;
        }
        if kind == InputKind::Release {
            return true;
        }
        self.dropped += 1;
        false
    }

    /// Events dropped so far, for the session log.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn refill(&mut self, now: Instant) {
        // A clock that steps back (it should not) refills nothing.
        let elapsed = self
            .last_refill
            .map_or(0, |last| now.saturating_duration_since(last).as_nanos());
        if self.last_refill.is_none_or(|last| now > last) {
            self.last_refill = Some(now);
        }
        let full = u128::from(self.burst) * UNITS_PER_TOKEN;
        // rate tokens per 1e9 ns = rate units per ns (UNITS_PER_TOKEN = 1e9).
        let gained = elapsed.saturating_mul(u128::from(self.rate));
        self.available = self.available.saturating_add(gained).min(full);
    }
}

impl Default for InputRateLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_INPUT_RATE, DEFAULT_INPUT_BURST)
    }
}
