//! Frame pacing under a bandwidth budget (R17): when updates are large the
//! host captures less often, so the stream stays within the budget; it never
//! asks for lower fidelity (tiles stay lossless). Small updates run at the
//! full frame rate.
//!
//! A token bucket in bits: the budget accrues continuously, unused budget is
//! saved for at most [`PacingSettings::burst`], and a frame larger than the
//! saved credit is sent anyway and leaves a debt that delays the next
//! capture until it is paid. Over any interval T the stream therefore sends
//! at most `budget × T + burst credit + one frame`.
//!
//! Sans-IO: the caller passes `Instant`s in and sleeps until
//! [`FramePacer::next_capture_at`].

use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// Budget below which a session is not usable; lower settings are raised to it.
pub const MIN_BUDGET_BITS_PER_SEC: u64 = 8_000;
/// Frame rates a pacer accepts; settings outside are clamped into it.
pub const FPS_RANGE: std::ops::RangeInclusive<u32> = 1..=240;
/// Longest burst credit; longer settings are shortened to it.
pub const MAX_BURST: Duration = Duration::from_secs(10);
/// Longest wait the pacer asks for. Only a budget that is far too low for
/// the screen reaches it; capping keeps `Instant` arithmetic in range.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// How fast and how much the host may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacingSettings {
    /// Average bits per second the screen stream may use.
    pub budget_bits_per_sec: u64,
    /// Most captures per second, however small the updates.
    pub max_fps: u32,
    /// How much unused budget (in time at the budget rate) may be saved up,
    /// so one full-screen change after a quiet spell goes out at once.
    pub burst: Duration,
}

impl Default for PacingSettings {
    /// 6 Mbit/s (R17), 30 frames per second, half a second of burst credit.
    fn default() -> Self {
        Self {
            budget_bits_per_sec: 6_000_000,
            max_fps: 30,
            burst: Duration::from_millis(500),
        }
    }
}

/// A pacing setting out of range (for shells validating their config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacingError {
    #[error("screen bandwidth budget of {0} bit/s is below the minimum of {MIN_BUDGET_BITS_PER_SEC} bit/s")]
    BudgetTooLow(u64),
    #[error("screen frame rate of {0} per second is outside 1 to 240")]
    FpsOutOfRange(u32),
    #[error("screen burst credit of {0:?} exceeds the maximum of 10 s")]
    BurstTooLong(Duration),
}

impl PacingSettings {
    /// The settings if every value is in range, else what is wrong.
    pub fn validated(self) -> Result<Self, PacingError> {
        if self.budget_bits_per_sec < MIN_BUDGET_BITS_PER_SEC {
            return Err(PacingError::BudgetTooLow(self.budget_bits_per_sec));
        }
        if !FPS_RANGE.contains(&self.max_fps) {
            return Err(PacingError::FpsOutOfRange(self.max_fps));
        }
        if self.burst > MAX_BURST {
            return Err(PacingError::BurstTooLong(self.burst));
        }
        Ok(self)
    }

    fn clamped(self) -> Self {
        Self {
            budget_bits_per_sec: self.budget_bits_per_sec.max(MIN_BUDGET_BITS_PER_SEC),
            max_fps: self.max_fps.clamp(*FPS_RANGE.start(), *FPS_RANGE.end()),
            burst: self.burst.min(MAX_BURST),
        }
    }
}

/// Decides when the host captures the next frame.
#[derive(Debug, Clone)]
pub struct FramePacer {
    settings: PacingSettings,
    /// Budget credit in bits as of `credited_at`; negative is a debt left by
    /// a frame larger than the credit.
    credit_bits: i128,
    credited_at: Option<Instant>,
    last_frame_at: Option<Instant>,
}

impl FramePacer {
    /// A pacer with a full burst credit. Out-of-range settings are clamped
    /// (see [`PacingSettings::validated`] to refuse them instead).
    pub fn new(settings: PacingSettings) -> Self {
        let settings = settings.clamped();
        Self {
            settings,
            credit_bits: burst_capacity(&settings),
            credited_at: None,
            last_frame_at: None,
        }
    }

    /// The settings in force (after clamping).
    pub fn settings(&self) -> PacingSettings {
        self.settings
    }

    /// Records one capture and the bytes it put on the wire. Call it for
    /// every capture, with 0 bytes when nothing changed. `captured_at` is
    /// when the frame was captured (the instant the capture loop woke at),
    /// not when encoding or sending finished: the frame interval counts from
    /// it, so encode time does not lower the frame rate.
    pub fn on_frame_sent(&mut self, bytes: usize, captured_at: Instant) {
        let bits = bytes as i128 * 8;
        self.credit_bits = self.credit_at(captured_at).saturating_sub(bits);
        self.mark_credited(captured_at);
        self.last_frame_at = Some(
            self.last_frame_at
                .map_or(captured_at, |at| at.max(captured_at)),
        );
    }

    /// When to capture next: one frame interval after the last capture, and
    /// not before any debt is paid off. Never earlier than `now`.
    pub fn next_capture_at(&self, now: Instant) -> Instant {
        let by_rate = self
            .last_frame_at
            .map_or(now, |at| at + self.frame_interval());
        let debt = -self.credit_at(now);
        let by_budget = if debt > 0 {
            let nanos = (debt as u128)
                .saturating_mul(NANOS_PER_SEC)
                .div_ceil(u128::from(self.settings.budget_bits_per_sec));
            now + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)).min(MAX_WAIT)
        } else {
            now
        };
        now.max(by_rate).max(by_budget)
    }

    /// Changes the budget from `now` on (the link got slower or faster).
    /// Credit earned so far counts at the old rate; saved credit beyond the
    /// new burst capacity is dropped. Clamped like [`FramePacer::new`].
    pub fn set_budget(&mut self, budget_bits_per_sec: u64, now: Instant) {
        self.credit_bits = self.credit_at(now);
        self.mark_credited(now);
        self.settings = PacingSettings {
            budget_bits_per_sec,
            ..self.settings
        }
        .clamped();
        self.credit_bits = self.credit_bits.min(burst_capacity(&self.settings));
    }

    /// Shortest time between captures: 1 / max_fps, rounded up so the rate
    /// never exceeds max_fps.
    fn frame_interval(&self) -> Duration {
        let nanos = NANOS_PER_SEC.div_ceil(u128::from(self.settings.max_fps));
        Duration::from_nanos(nanos as u64)
    }

    /// Credit at `now`: what was there plus what the budget earned since,
    /// up to the burst capacity. An earlier `now` earns nothing.
    fn credit_at(&self, now: Instant) -> i128 {
        let Some(at) = self.credited_at else {
            return self.credit_bits;
        };
        let elapsed =
            u64::try_from(now.saturating_duration_since(at).as_nanos()).unwrap_or(u64::MAX);
        // u64 × u64 always fits u128.
        let earned =
            u128::from(self.settings.budget_bits_per_sec) * u128::from(elapsed) / NANOS_PER_SEC;
        let earned = i128::try_from(earned).unwrap_or(i128::MAX / 2);
        (self.credit_bits.saturating_add(earned)).min(burst_capacity(&self.settings))
    }

    fn mark_credited(&mut self, now: Instant) {
        self.credited_at = Some(self.credited_at.map_or(now, |at| at.max(now)));
    }
}

/// Bits of budget that may be saved up.
fn burst_capacity(settings: &PacingSettings) -> i128 {
    let bits = u128::from(settings.budget_bits_per_sec) * settings.burst.as_nanos() / NANOS_PER_SEC;
    i128::try_from(bits).unwrap_or(i128::MAX / 2)
}
