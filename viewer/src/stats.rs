//! Screen stream measurements for `--stats` (R17): frames, bytes, bitrate,
//! frame rate, the time between complete frames and how long a frame took
//! to arrive once its first update did. The host's clock is not ours, so
//! end-to-end latency is not measurable here; inter-frame timing is.
//!
//! Times are passed in, never read here, so the arithmetic is testable.

use std::fmt;
use std::time::{Duration, Instant};

/// Most timing samples kept; a long session keeps the latest ones.
const SAMPLES_MAX: usize = 100_000;

/// Running counters for the screen channel.
#[derive(Debug, Default)]
pub struct ScreenStats {
    bytes: u64,
    frames: u64,
    first_byte_at: Option<Instant>,
    last_frame_at: Option<Instant>,
    /// When the first update of the frame being assembled arrived.
    frame_started_at: Option<Instant>,
    intervals: Samples,
    assembly: Samples,
}

/// What `--stats` prints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsSummary {
    pub frames: u64,
    pub bytes: u64,
    pub kbit_per_sec: f64,
    pub fps: f64,
    /// Time between complete frames.
    pub interval_mean_ms: Option<f64>,
    pub interval_p50_ms: Option<f64>,
    /// From a frame's first update to its completing update.
    pub assembly_mean_ms: Option<f64>,
    pub assembly_p50_ms: Option<f64>,
}

impl ScreenStats {
    /// A message of `bytes` wire bytes arrived on the screen channel.
    pub fn on_bytes(&mut self, bytes: usize, now: Instant) {
        self.bytes += bytes as u64;
        self.first_byte_at.get_or_insert(now);
    }

    /// A frame update was applied; `complete` when it finished a frame.
    pub fn on_update(&mut self, complete: bool, now: Instant) {
        let started = *self.frame_started_at.get_or_insert(now);
        if !complete {
            return;
        }
        self.frame_started_at = None;
        self.frames += 1;
        self.assembly.push(now.saturating_duration_since(started));
        if let Some(last) = self.last_frame_at.replace(now) {
            self.intervals.push(now.saturating_duration_since(last));
        }
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Rates are over the time from the first screen byte to `now`.
    pub fn summary(&self, now: Instant) -> StatsSummary {
        let elapsed = self
            .first_byte_at
            .map_or(0.0, |at| now.saturating_duration_since(at).as_secs_f64());
        let per_sec = |value: f64| if elapsed > 0.0 { value / elapsed } else { 0.0 };
        StatsSummary {
            frames: self.frames,
            bytes: self.bytes,
            kbit_per_sec: per_sec(self.bytes as f64 * 8.0 / 1000.0),
            fps: per_sec(self.frames as f64),
            interval_mean_ms: self.intervals.mean_ms(),
            interval_p50_ms: self.intervals.median_ms(),
            assembly_mean_ms: self.assembly.mean_ms(),
            assembly_p50_ms: self.assembly.median_ms(),
        }
    }
}

impl fmt::Display for StatsSummary {
    /// `stats: frames=.. bytes=.. kbit/s=.. fps=..` then the timings, `-`
    /// where there were too few frames to measure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        write!(
            f,
            "stats: frames={} bytes={} kbit/s={:.1} fps={:.2} interval_ms_mean={} interval_ms_p50={} assembly_ms_mean={} assembly_ms_p50={}",
            self.frames,
            self.bytes,
            self.kbit_per_sec,
            self.fps,
            ms(self.interval_mean_ms),
            ms(self.interval_p50_ms),
            ms(self.assembly_mean_ms),
            ms(self.assembly_p50_ms),
        )
    }
}

/// Durations, bounded: past [`SAMPLES_MAX`] the oldest half is dropped.
#[derive(Debug, Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn push(&mut self, d: Duration) {
        if self.0.len() >= SAMPLES_MAX {
            self.0.drain(..SAMPLES_MAX / 2);
        }
        self.0.push(d);
    }

    fn mean_ms(&self) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        let total: f64 = self.0.iter().map(|d| d.as_secs_f64() * 1000.0).sum();
        Some(total / self.0.len() as f64)
    }

    /// The middle sample (the lower middle for an even count).
    fn median_ms(&self) -> Option<f64> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let middle = sorted.get(sorted.len().checked_sub(1)? / 2)?;
        Some(middle.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rates_are_bytes_and_frames_over_the_time_since_the_first_screen_byte() {
        let t0 = Instant::now();
        let mut stats = ScreenStats::default();
        stats.on_bytes(50_000, t0);
        stats.on_update(true, t0);
        stats.on_bytes(75_000, t0 + ms(1000));
        stats.on_update(true, t0 + ms(1000));
        let s = stats.summary(t0 + ms(2000));
        assert_eq!(s.frames, 2);
        assert_eq!(s.bytes, 125_000);
        assert!((s.kbit_per_sec - 500.0).abs() < 1e-9, "{s:?}");
        assert!((s.fps - 1.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn interval_mean_and_median_come_from_the_gaps_between_complete_frames() {
        let t0 = Instant::now();
        let mut stats = ScreenStats::default();
        stats.on_bytes(1, t0);
        // Complete frames at 0, 10, 40, 50 ms: gaps 10, 30, 10.
        for at in [0, 10, 40, 50] {
            stats.on_update(true, t0 + ms(at));
        }
        let s = stats.summary(t0 + ms(50));
        assert!(
            (s.interval_mean_ms.unwrap() - 50.0 / 3.0).abs() < 1e-6,
            "{s:?}"
        );
        assert!((s.interval_p50_ms.unwrap() - 10.0).abs() < 1e-6, "{s:?}");
    }

    #[test]
    fn assembly_time_runs_from_a_frames_first_update_to_its_last() {
        let t0 = Instant::now();
        let mut stats = ScreenStats::default();
        stats.on_update(false, t0);
        stats.on_update(false, t0 + ms(5));
        stats.on_update(true, t0 + ms(20));
        stats.on_update(true, t0 + ms(100)); // a one-update frame: 0 ms
        let s = stats.summary(t0 + ms(100));
        assert_eq!(s.frames, 2);
        assert!((s.assembly_mean_ms.unwrap() - 10.0).abs() < 1e-6, "{s:?}");
        assert_eq!(s.interval_p50_ms, Some(80.0));
    }

    #[test]
    fn no_screen_traffic_gives_zero_rates_and_no_timings_not_a_division_by_zero() {
        let s = ScreenStats::default().summary(Instant::now());
        assert_eq!((s.frames, s.bytes, s.kbit_per_sec, s.fps), (0, 0, 0.0, 0.0));
        assert_eq!(s.interval_mean_ms, None);
        assert_eq!(
            s.to_string(),
            "stats: frames=0 bytes=0 kbit/s=0.0 fps=0.00 interval_ms_mean=- interval_ms_p50=- assembly_ms_mean=- assembly_ms_p50=-"
        );
    }

    #[test]
    fn the_stats_line_starts_with_the_fields_scripts_parse() {
        let t0 = Instant::now();
        let mut stats = ScreenStats::default();
        stats.on_bytes(1000, t0);
        stats.on_update(true, t0 + ms(500));
        let line = stats.summary(t0 + ms(1000)).to_string();
        assert!(
            line.starts_with("stats: frames=1 bytes=1000 kbit/s=8.0 fps=1.00 "),
            "{line}"
        );
    }

    #[test]
    fn samples_stay_bounded_in_a_long_session() {
        let mut samples = Samples::default();
        for i in 0..(SAMPLES_MAX as u64 + 10) {
            samples.push(ms(i));
        }
        assert!(samples.0.len() <= SAMPLES_MAX);
        assert_eq!(samples.0.last(), Some(&ms(SAMPLES_MAX as u64 + 9)));
    }
}
