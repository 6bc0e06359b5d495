//! Input messages (R10), viewer to host inside end-to-end records. The host
//! injects them only while remote control is granted; before that, and after
//! a revoke, each one is dropped and audited. Every message is a few fixed
//! bytes, so a flood costs the host nothing to parse.

crate::wire_struct! {
    /// Absolute pointer position in host screen coordinates (may be
    /// negative on multi-monitor layouts).
    pub struct PointerMove : PointerMove {
        pub x: i32,
        pub y: i32,
    }
}

crate::wire_enum! {
    pub enum MouseButton {
        Left = 1,
        Middle = 2,
        Right = 3,
        Back = 4,
        Forward = 5,
    }
}

crate::wire_struct! {
    /// A button went down or up at the current pointer position.
    pub struct PointerButton : PointerButton {
        pub button: MouseButton,
        pub pressed: bool,
    }
}

crate::wire_struct! {
    /// Scroll by whole notches; positive `dy` scrolls down, positive `dx` right.
    pub struct Wheel : Wheel {
        pub dx: i32,
        pub dy: i32,
    }
}

crate::wire_struct! {
    /// A key went down or up. Keys travel as X11 keysyms, the layout-neutral
    /// names both ends can map; the host releases every held key when
    /// control ends so no key stays stuck.
    pub struct KeyEvent : KeyEvent {
        pub keysym: u32,
        pub pressed: bool,
    }
}

#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    use super::*;
    use crate::messages::session::test_support::{largest, largest_is};
    use crate::messages::session::SessionMessage;

    largest_is! {
        MouseButton => MouseButton::Forward,
    }

    pub(crate) fn pointer_move() -> impl Strategy<Value = PointerMove> {
        (any::<i32>(), any::<i32>()).prop_map(|(x, y)| PointerMove { x, y })
    }

    pub(crate) fn pointer_button() -> impl Strategy<Value = PointerButton> {
        let button = proptest::sample::select(vec![
            MouseButton::Left,
            MouseButton::Middle,
            MouseButton::Right,
            MouseButton::Back,
            MouseButton::Forward,
        ]);
        (button, any::<bool>()).prop_map(|(button, pressed)| PointerButton { button, pressed })
    }

    pub(crate) fn wheel() -> impl Strategy<Value = Wheel> {
        (any::<i32>(), any::<i32>()).prop_map(|(dx, dy)| Wheel { dx, dy })
    }

    pub(crate) fn key_event() -> impl Strategy<Value = KeyEvent> {
        (any::<u32>(), any::<bool>()).prop_map(|(keysym, pressed)| KeyEvent { keysym, pressed })
    }

    pub(crate) fn largest_instances() -> Vec<SessionMessage> {
        vec![
            PointerMove {
                x: largest(),
                y: largest(),
            }
            .into(),
            PointerButton {
                button: largest(),
                pressed: largest(),
            }
            .into(),
            Wheel {
                dx: largest(),
                dy: largest(),
            }
            .into(),
            KeyEvent {
                keysym: largest(),
                pressed: largest(),
            }
            .into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DecodeError, Field};

    #[test]
    fn unknown_mouse_button_is_refused() {
        assert_eq!(
            PointerButton::from_bytes(&[6, 1]),
            Err(DecodeError::InvalidValue {
                what: "MouseButton",
                value: 6
            })
        );
    }

    #[test]
    fn a_pressed_flag_other_than_zero_or_one_is_refused() {
        assert_eq!(
            KeyEvent::from_bytes(&[0, 0, 0xff, 0x0d, 2]),
            Err(DecodeError::InvalidValue {
                what: "bool",
                value: 2
            })
        );
    }

    #[test]
    fn negative_pointer_coordinates_round_trip() {
        let m = PointerMove { x: -1920, y: -1 };
        assert_eq!(PointerMove::from_bytes(&m.to_bytes()), Ok(m));
    }
}
