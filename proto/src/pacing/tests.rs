use proptest::prelude::*;

use super::*;

const MINUTE: Duration = Duration::from_secs(60);

/// What a simulated stretch of streaming sent.
#[derive(Debug, Default)]
struct Sent {
    frames: u64,
    bits: u128,
    /// Capture times, relative to the start of the stretch.
    times: Vec<Duration>,
}

impl Sent {
    fn fps(&self, over: Duration) -> f64 {
        self.frames as f64 / over.as_secs_f64()
    }
}

/// Captures as early as the pacer allows from `start` until `start + span`,
/// each capture sending `frame_bytes(capture time)` bytes.
fn stream(
    pacer: &mut FramePacer,
    start: Instant,
    span: Duration,
    mut frame_bytes: impl FnMut(Duration) -> usize,
) -> Sent {
    let mut sent = Sent::default();
    let mut now = start;
    loop {
        now = pacer.next_capture_at(now);
        if now >= start + span {
            return sent;
        }
        let bytes = frame_bytes(now - start);
        pacer.on_frame_sent(bytes, now);
        sent.frames += 1;
        sent.bits += bytes as u128 * 8;
        sent.times.push(now - start);
    }
}

fn burst_bits(settings: &PacingSettings) -> u128 {
    u128::from(settings.budget_bits_per_sec) * settings.burst.as_millis() / 1000
}

#[test]
fn default_budget_is_6_mbit_per_s_at_up_to_30_fps() {
    let settings = PacingSettings::default();
    assert_eq!(settings.budget_bits_per_sec, 6_000_000);
    assert_eq!(settings.max_fps, 30);
    assert_eq!(settings.validated(), Ok(settings));
}

#[test]
fn big_frames_stay_within_the_budget_over_a_simulated_minute() {
    let settings = PacingSettings::default();
    let mut pacer = FramePacer::new(settings);
    // 200 kB per frame: the budget allows 3.75 frames per second.
    let frame = 200_000;
    let sent = stream(&mut pacer, Instant::now(), MINUTE, |_| frame);
    let budget = u128::from(settings.budget_bits_per_sec) * 60;
    let bound = budget + burst_bits(&settings) + frame as u128 * 8;
    assert!(sent.bits <= bound, "{} bits > {bound}", sent.bits);
    // Lower frame rate, not starvation: the budget is used.
    assert!(sent.bits >= budget * 95 / 100, "{} bits", sent.bits);
    assert!(
        (3.7..=3.9).contains(&sent.fps(MINUTE)),
        "{} fps",
        sent.fps(MINUTE)
    );
}

#[test]
fn the_budget_holds_in_every_second_not_just_on_average() {
    let settings = PacingSettings::default();
    let mut pacer = FramePacer::new(settings);
    let frame = 120_000;
    let sent = stream(&mut pacer, Instant::now(), MINUTE, |_| frame);
    let per_window =
        u128::from(settings.budget_bits_per_sec) + burst_bits(&settings) + frame as u128 * 8;
    for second in 0..60 {
        let window = Duration::from_secs(second)..Duration::from_secs(second + 1);
        let frames = sent.times.iter().filter(|t| window.contains(t)).count() as u128;
        assert!(
            frames * frame as u128 * 8 <= per_window,
            "second {second}: {frames} frames"
        );
    }
}

#[test]
fn small_frames_run_at_max_fps() {
    let settings = PacingSettings::default();
    let mut pacer = FramePacer::new(settings);
    // 5 kB at 30 fps is 1.2 Mbit/s, well inside the budget.
    let sent = stream(&mut pacer, Instant::now(), MINUTE, |_| 5_000);
    assert_eq!(sent.frames, 30 * 60);
    let interval = Duration::from_secs(1) / 30;
    assert!(sent.times.windows(2).all(|w| w[1] - w[0] >= interval));
}

#[test]
fn encode_time_after_the_capture_does_not_lower_the_frame_rate() {
    let mut pacer = FramePacer::new(PacingSettings::default());
    let start = Instant::now();
    let mut now = start;
    let mut frames = 0;
    loop {
        let captured_at = pacer.next_capture_at(now);
        if captured_at >= start + MINUTE {
            break;
        }
        // 12 ms to encode and send, then the frame is reported.
        now = captured_at + Duration::from_millis(12);
        pacer.on_frame_sent(5_000, captured_at);
        frames += 1;
    }
    assert_eq!(frames, 30 * 60);
}

#[test]
fn still_screens_run_at_max_fps() {
    let mut pacer = FramePacer::new(PacingSettings::default());
    let sent = stream(&mut pacer, Instant::now(), MINUTE, |_| 0);
    assert_eq!(sent.frames, 30 * 60);
}

#[test]
fn frame_rate_recovers_after_a_burst_of_big_frames() {
    let settings = PacingSettings::default();
    let mut pacer = FramePacer::new(settings);
    let start = Instant::now();
    // Five seconds of 1 MB frames (8 Mbit each, more than a second of budget).
    let big = 1_000_000;
    let burst = stream(&mut pacer, start, Duration::from_secs(5), |_| big);
    assert!(burst.fps(Duration::from_secs(5)) < 1.5);
    // Then small updates: the debt of at most one big frame is paid within
    // big / budget seconds, and from then on every frame interval is used.
    let recovery = Duration::from_secs_f64(big as f64 * 8.0 / settings.budget_bits_per_sec as f64);
    let after = start + Duration::from_secs(5);
    let calm = stream(&mut pacer, after, Duration::from_secs(10), |_| 5_000);
    assert!(
        calm.times[0] <= recovery,
        "first frame after {:?}",
        calm.times[0]
    );
    let interval = Duration::from_secs(1) / 30;
    for pair in calm.times.windows(2) {
        assert!(
            pair[1] - pair[0] <= interval + Duration::from_nanos(1),
            "{pair:?}"
        );
    }
    let steady = Duration::from_secs(10) - calm.times[0];
    assert!(calm.fps(steady) >= 29.9, "{} fps", calm.fps(steady));
}

#[test]
fn a_frame_larger_than_the_credit_is_sent_and_delays_the_next_capture_until_paid() {
    let settings = PacingSettings::default();
    let mut pacer = FramePacer::new(settings);
    let now = Instant::now();
    assert_eq!(pacer.next_capture_at(now), now);
    // 10 MB: 80 Mbit against 3 Mbit of burst credit leaves 77 Mbit of debt.
    pacer.on_frame_sent(10_000_000, now);
    let debt_bits = 80_000_000 - burst_bits(&settings);
    let paid = Duration::from_nanos((debt_bits * 1_000_000_000 / 6_000_000) as u64);
    let next = pacer.next_capture_at(now);
    assert!(next - now >= paid && next - now <= paid + Duration::from_micros(1));
}

#[test]
fn idle_time_saves_at_most_the_burst_credit() {
    let settings = PacingSettings::default();
    let mut pacer = FramePacer::new(settings);
    let start = Instant::now();
    pacer.on_frame_sent(0, start);
    let later = start + Duration::from_secs(30);
    // 30 s idle saved only the burst credit: spending it leaves no debt...
    let credit_bytes = (burst_bits(&settings) / 8) as usize;
    pacer.on_frame_sent(credit_bytes, later);
    let interval = Duration::from_secs(1) / 30;
    assert!(pacer.next_capture_at(later) - later <= interval + Duration::from_nanos(1));
    // ...and one byte more than the credit does.
    let mut pacer = FramePacer::new(settings);
    pacer.on_frame_sent(0, start);
    pacer.on_frame_sent(credit_bytes + 125_000, later);
    let wait = pacer.next_capture_at(later) - later;
    assert!(wait >= Duration::from_millis(166), "{wait:?}");
}

#[test]
fn a_budget_changed_at_run_time_governs_from_then_on() {
    let mut pacer = FramePacer::new(PacingSettings::default());
    let start = Instant::now();
    let frame = 100_000;
    let fast = stream(&mut pacer, start, Duration::from_secs(30), |_| frame);
    let half = start + Duration::from_secs(30);
    pacer.set_budget(1_000_000, half);
    assert_eq!(pacer.settings().budget_bits_per_sec, 1_000_000);
    let slow = stream(&mut pacer, half, Duration::from_secs(30), |_| frame);
    // Old debt carries over, new credit is capped at the new burst.
    let bound = 1_000_000 * 30 + 500_000 + frame as u128 * 8;
    assert!(slow.bits <= bound, "{} bits", slow.bits);
    assert!(slow.fps(Duration::from_secs(30)) < 1.3);
    assert!(fast.fps(Duration::from_secs(30)) > 7.0);
    pacer.set_budget(6_000_000, start + MINUTE);
    let again = stream(&mut pacer, start + MINUTE, Duration::from_secs(30), |_| {
        frame
    });
    assert!(again.fps(Duration::from_secs(30)) > 7.0);
}

#[test]
fn out_of_range_settings_are_refused_by_validated_and_clamped_by_the_pacer() {
    let zero = PacingSettings {
        budget_bits_per_sec: 0,
        max_fps: 0,
        burst: Duration::from_secs(3600),
    };
    assert_eq!(zero.validated(), Err(PacingError::BudgetTooLow(0)));
    let fps = PacingSettings {
        max_fps: 241,
        ..PacingSettings::default()
    };
    assert_eq!(fps.validated(), Err(PacingError::FpsOutOfRange(241)));
    let burst = PacingSettings {
        burst: Duration::from_secs(11),
        ..PacingSettings::default()
    };
    assert!(matches!(
        burst.validated(),
        Err(PacingError::BurstTooLong(_))
    ));

    let pacer = FramePacer::new(zero);
    assert_eq!(
        pacer.settings(),
        PacingSettings {
            budget_bits_per_sec: MIN_BUDGET_BITS_PER_SEC,
            max_fps: 1,
            burst: MAX_BURST,
        }
    );
}

#[test]
fn an_enormous_debt_waits_at_most_max_wait() {
    let mut pacer = FramePacer::new(PacingSettings {
        budget_bits_per_sec: MIN_BUDGET_BITS_PER_SEC,
        ..PacingSettings::default()
    });
    let now = Instant::now();
    pacer.on_frame_sent(usize::MAX, now);
    pacer.on_frame_sent(usize::MAX, now);
    assert_eq!(pacer.next_capture_at(now), now + MAX_WAIT);
}

proptest! {
    #[test]
    fn instants_in_any_order_never_panic_or_earn_credit_twice(
        steps in proptest::collection::vec((0u64..5_000, 0usize..2_000_000), 1..40),
    ) {
        let settings = PacingSettings::default();
        let mut pacer = FramePacer::new(settings);
        let base = Instant::now() + Duration::from_secs(10);
        let mut sent_bits = 0u128;
        let mut latest = base;
        for (offset_ms, bytes) in steps {
            // Offsets jump back and forth around the base.
            let now = base + Duration::from_millis(offset_ms);
            let next = pacer.next_capture_at(now);
            prop_assert!(next >= now);
            pacer.on_frame_sent(bytes, now);
            sent_bits += bytes as u128 * 8;
            latest = latest.max(now);
        }
        // Whatever the order, the credit left reflects at most the time that
        // really passed: no more than burst + budget × elapsed - sent.
        let elapsed = (latest - base).as_nanos();
        let max_credit = burst_bits(&settings) as i128
            + (6_000_000u128 * elapsed / 1_000_000_000) as i128
            - sent_bits as i128;
        prop_assert!(pacer.credit_at(latest) <= max_credit);
    }
}
