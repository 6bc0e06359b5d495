use std::time::{Duration, Instant};

use super::*;

const SHIFT_L: u32 = 0xffe1;
const KEY_A: u32 = 0x61;
const CONTROL_L: u32 = 0xffe3;

fn key(keysym: u32, pressed: bool) -> InjectedInput {
    InjectedInput::Key { keysym, pressed }
}

fn button(button: MouseButton, pressed: bool) -> InjectedInput {
    InjectedInput::Button { button, pressed }
}

#[test]
fn release_all_releases_every_held_key_and_button_in_reverse_order() {
    let (mut sink, log) = RecordingSink::recording(800, 600);
    sink.key(SHIFT_L, true).unwrap();
    sink.key(CONTROL_L, true).unwrap();
    sink.key(KEY_A, true).unwrap();
    sink.key(KEY_A, false).unwrap();
    sink.button(MouseButton::Left, true).unwrap();
    let before = log.events().len();

    sink.release_all().unwrap();

    assert_eq!(
        log.events()[before..],
        [
            key(CONTROL_L, false),
            key(SHIFT_L, false),
            button(MouseButton::Left, false)
        ]
    );
    assert!(sink.held_keys().is_empty() && sink.held_buttons().is_empty());
    // Nothing is left to release a second time.
    sink.release_all().unwrap();
    assert_eq!(log.events().len(), before + 3);
}

#[test]
fn dropping_the_sink_releases_held_keys_and_buttons() {
    let (mut sink, log) = RecordingSink::recording(800, 600);
    sink.key(SHIFT_L, true).unwrap();
    sink.button(MouseButton::Right, true).unwrap();

    drop(sink);

    let events = log.events();
    assert_eq!(
        events[events.len() - 2..],
        [key(SHIFT_L, false), button(MouseButton::Right, false)]
    );
}

#[test]
fn release_of_a_key_or_button_not_pressed_here_is_not_injected() {
    let (mut sink, log) = RecordingSink::recording(800, 600);
    sink.key(KEY_A, false).unwrap();
    sink.button(MouseButton::Middle, false).unwrap();
    assert!(log.events().is_empty());
}

#[test]
fn repeated_press_is_injected_but_released_once() {
    let (mut sink, log) = RecordingSink::recording(800, 600);
    sink.key(KEY_A, true).unwrap();
    sink.key(KEY_A, true).unwrap();
    sink.release_all().unwrap();
    assert_eq!(
        log.events(),
        [key(KEY_A, true), key(KEY_A, true), key(KEY_A, false)]
    );
}

#[test]
fn pointer_is_clamped_to_the_screen() {
    let (mut sink, log) = RecordingSink::recording(800, 600);
    sink.pointer_move(-5, 10_000).unwrap();
    sink.pointer_move(i32::MAX, i32::MIN).unwrap();
    sink.pointer_move(799, 599).unwrap();
    sink.set_screen_size(1024, 768);
    sink.pointer_move(1000, 700).unwrap();
    assert_eq!(
        log.events(),
        [
            InjectedInput::PointerMove { x: 0, y: 599 },
            InjectedInput::PointerMove { x: 799, y: 0 },
            InjectedInput::PointerMove { x: 799, y: 599 },
            InjectedInput::PointerMove { x: 1000, y: 700 },
        ]
    );
}

#[test]
fn wheel_notches_are_bounded_per_event() {
    let (mut sink, log) = RecordingSink::recording(800, 600);
    sink.wheel(i32::MIN, i32::MAX).unwrap();
    sink.wheel(0, 0).unwrap();
    sink.wheel(-3, 2).unwrap();
    assert_eq!(
        log.events(),
        [
            InjectedInput::Scroll {
                dx: -MAX_WHEEL_NOTCHES,
                dy: MAX_WHEEL_NOTCHES
            },
            InjectedInput::Scroll { dx: -3, dy: 2 },
        ]
    );
}

#[test]
fn values_that_are_not_keysyms_are_refused() {
    let (mut sink, log) = RecordingSink::recording(800, 600);
    for keysym in [0, 0x2000_0000, u32::MAX] {
        assert!(matches!(
            sink.key(keysym, true),
            Err(InputError::InvalidKeysym { .. })
        ));
    }
    sink.key(0x1fff_ffff, true).unwrap();
    assert_eq!(log.events(), [key(0x1fff_ffff, true)]);
}

#[test]
fn no_more_than_the_held_key_limit_can_be_held() {
    let (mut sink, log) = RecordingSink::recording(800, 600);
    for keysym in 0..MAX_HELD_KEYS as u32 {
        sink.key(0x100 + keysym, true).unwrap();
    }
    assert!(matches!(
        sink.key(KEY_A, true),
        Err(InputError::TooManyKeysHeld)
    ));
    // A held key still repeats, and releasing one makes room.
    sink.key(0x100, true).unwrap();
    sink.key(0x100, false).unwrap();
    sink.key(KEY_A, true).unwrap();
    assert_eq!(log.events().last(), Some(&key(KEY_A, true)));
    assert_eq!(sink.held_keys().len(), MAX_HELD_KEYS);
}

#[test]
fn rate_limiter_drops_actions_beyond_the_burst() {
    let now = Instant::now();
    let mut limiter = InputRateLimiter::new(1000, 200);
    let admitted = (0..250)
        .filter(|_| limiter.admit(now, InputKind::Action))
        .count();
    assert_eq!(admitted, 200);
    assert_eq!(limiter.dropped(), 50);
}

#[test]
fn rate_limiter_recovers_at_its_rate() {
    let start = Instant::now();
    let mut limiter = InputRateLimiter::new(1000, 200);
    while limiter.admit(start, InputKind::Action) {}
    // 1000 per second: 10 ms buys exactly 10 events.
    let later = start + Duration::from_millis(10);
    let admitted = (0..50)
        .filter(|_| limiter.admit(later, InputKind::Action))
        .count();
    assert_eq!(admitted, 10);
    // A long quiet spell refills only up to the burst.
    let much_later = later + Duration::from_secs(60);
    let admitted = (0..1000)
        .filter(|_| limiter.admit(much_later, InputKind::Action))
        .count();
    assert_eq!(admitted, 200);
}

#[test]
fn rate_limiter_always_admits_releases() {
    let now = Instant::now();
    let mut limiter = InputRateLimiter::new(10, 5);
    while limiter.admit(now, InputKind::Action) {}
    assert!((0..100).all(|_| limiter.admit(now, InputKind::Release)));
    assert!(!limiter.admit(now, InputKind::Action));
}

#[test]
fn rate_limiter_refills_nothing_when_the_clock_steps_back() {
    let start = Instant::now() + Duration::from_secs(10);
    let mut limiter = InputRateLimiter::new(1000, 2);
    while limiter.admit(start, InputKind::Action) {}
    assert!(!limiter.admit(start - Duration::from_secs(5), InputKind::Action));
    assert!(!limiter.admit(start, InputKind::Action));
}
