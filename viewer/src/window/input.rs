//! The viewer's side of R10 for input: pointer, wheel and key events become
//! proto messages only while remote control is granted. The host enforces
//! the grant too; the viewer does not even send without it.
//!
//! It also keeps the host free of stuck keys and buttons: a release is sent
//! only for a press that was sent, and when the window loses focus every
//! held key and button is released. When control is revoked nothing more
//! may be sent, so held state is forgotten and the host releases its held
//! keys itself when control ends (see `KeyEvent` in assent-proto).

use std::collections::HashMap;

use assent_proto::messages::input::{KeyEvent, MouseButton, PointerButton, PointerMove, Wheel};
use assent_proto::messages::session::SessionMessage;
use winit::keyboard::PhysicalKey;

/// Pixel-precise scrolling (touchpads) in pixels per wheel notch.
pub const PIXELS_PER_NOTCH: f64 = 40.0;

/// Input forwarding state for one window.
#[derive(Debug, Default)]
pub struct InputGate {
    control: bool,
    /// Keys whose press was sent, by physical key, with the keysym sent, so
    /// the release carries the same keysym even if modifiers changed what
    /// the key means in between.
    held_keys: HashMap<PhysicalKey, u32>,
    held_buttons: Vec<MouseButton>,
    last_pointer: Option<(i32, i32)>,
    /// Scroll not yet worth a whole notch, in notches.
    wheel_remainder: (f64, f64),
}

impl InputGate {
    /// Any button the host currently holds down (a drag in progress).
    pub fn dragging(&self) -> bool {
        !self.held_buttons.is_empty()
    }

    /// Records a grant or revoke of remote control. On revoke, held keys and
    /// buttons are forgotten without sending anything (R10: nothing flows
    /// after a revoke).
    pub fn set_control(&mut self, granted: bool) {
        if !granted {
            self.held_keys.clear();
            self.held_buttons.clear();
            self.last_pointer = None;
            self.wheel_remainder = (0.0, 0.0);
        }
        self.control = granted;
    }

    /// A key went down or up. `keysym` is `None` for keys with no X11
    /// equivalent. Auto-repeated presses are not sent: the host's own X
    /// server repeats a held key, and forwarding ours would double it.
    pub fn key(
        &mut self,
        physical: PhysicalKey,
        keysym: Option<u32>,
        pressed: bool,
        repeat: bool,
    ) -> Option<SessionMessage> {
        if !self.control {
            return None;
        }
        if pressed {
            if repeat || self.held_keys.contains_key(&physical) {
                return None;
            }
            let keysym = keysym?;
            self.held_keys.insert(physical, keysym);
            Some(KeyEvent { keysym, pressed }.into())
        } else {
            let keysym = self.held_keys.remove(&physical)?;
            Some(KeyEvent { keysym, pressed }.into())
        }
    }

    /// The pointer moved to `remote` (None: off the image). Only a change
    /// is sent.
    pub fn pointer_moved(&mut self, remote: Option<(i32, i32)>) -> Option<SessionMessage> {
        if !self.control {
            return None;
        }
        let (x, y) = remote?;
        if self.last_pointer == Some((x, y)) {
            return None;
        }
        self.last_pointer = Some((x, y));
        Some(PointerMove { x, y }.into())
    }

    /// A button went down or up. A press counts only over the image; a
    /// release is sent only for a press that was sent.
    pub fn button(
        &mut self,
        button: MouseButton,
        pressed: bool,
        over_image: bool,
    ) -> Option<SessionMessage> {
        if !self.control {
            return None;
        }
        let held = self.held_buttons.iter().position(|b| *b == button);
        match (pressed, held) {
            (true, None) if over_image => self.held_buttons.push(button),
            (false, Some(i)) => {
                self.held_buttons.swap_remove(i);
            }
            _ => return None,
        }
        Some(PointerButton { button, pressed }.into())
    }

    /// Scroll by `lines` in winit's sense (positive: content moves right and
    /// down, i.e. the user scrolls left and up). Fractions add up until they
    /// make a whole notch.
    pub fn wheel(&mut self, lines_x: f64, lines_y: f64) -> Option<SessionMessage> {
        if !self.control || !lines_x.is_finite() || !lines_y.is_finite() {
            return None;
        }
        // Proto: positive dy scrolls down, positive dx scrolls right.
        let x = self.wheel_remainder.0 - lines_x;
        let y = self.wheel_remainder.1 - lines_y;
        let (dx, dy) = (x.trunc(), y.trunc());
        self.wheel_remainder = (x - dx, y - dy);
        if dx == 0.0 && dy == 0.0 {
            return None;
        }
        // `as` saturates; no real wheel turns two billion notches at once.
        Some(
            Wheel {
                dx: dx as i32,
                dy: dy as i32,
            }
            .into(),
        )
    }

    /// The window lost focus: release every key and button the host holds
    /// for us, because their real releases will go to another window.
    pub fn release_all(&mut self) -> Vec<SessionMessage> {
        let mut out = Vec::new();
        if !self.control {
            return out;
        }
        let mut keys: Vec<u32> = self.held_keys.drain().map(|(_, keysym)| keysym).collect();
        keys.sort_unstable();
        out.extend(keys.into_iter().map(|keysym| {
            SessionMessage::from(KeyEvent {
                keysym,
                pressed: false,
            })
        }));
        out.extend(self.held_buttons.drain(..).map(|button| {
            SessionMessage::from(PointerButton {
                button,
                pressed: false,
            })
        }));
        out
    }
}

/// The proto button for a winit button; `None` for extra buttons the
/// protocol has no name for.
pub fn proto_button(button: winit::event::MouseButton) -> Option<MouseButton> {
    use winit::event::MouseButton as W;
    Some(match button {
        W::Left => MouseButton::Left,
        W::Middle => MouseButton::Middle,
        W::Right => MouseButton::Right,
        W::Back => MouseButton::Back,
        W::Forward => MouseButton::Forward,
        W::Other(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use winit::keyboard::KeyCode;

    const A: PhysicalKey = PhysicalKey::Code(KeyCode::KeyA);
    const SHIFT: PhysicalKey = PhysicalKey::Code(KeyCode::ShiftLeft);

    fn key(keysym: u32, pressed: bool) -> Option<SessionMessage> {
        Some(KeyEvent { keysym, pressed }.into())
    }

    fn granted() -> InputGate {
        let mut gate = InputGate::default();
        gate.set_control(true);
        gate
    }

    #[test]
    fn nothing_is_forwarded_before_control_is_granted() {
        let mut gate = InputGate::default();
        assert_eq!(gate.key(A, Some(0x61), true, false), None);
        assert_eq!(gate.key(A, Some(0x61), false, false), None);
        assert_eq!(gate.pointer_moved(Some((5, 5))), None);
        assert_eq!(gate.button(MouseButton::Left, true, true), None);
        assert_eq!(gate.wheel(0.0, -3.0), None);
        assert!(gate.release_all().is_empty());
    }

    #[test]
    fn input_is_forwarded_while_control_is_granted() {
        let mut gate = granted();
        assert_eq!(gate.key(A, Some(0x61), true, false), key(0x61, true));
        assert_eq!(gate.key(A, Some(0x61), false, false), key(0x61, false));
        assert_eq!(
            gate.pointer_moved(Some((5, 6))),
            Some(PointerMove { x: 5, y: 6 }.into())
        );
        assert_eq!(
            gate.button(MouseButton::Right, true, true),
            Some(
                PointerButton {
                    button: MouseButton::Right,
                    pressed: true
                }
                .into()
            )
        );
    }

    #[test]
    fn nothing_is_forwarded_after_control_is_revoked() {
        let mut gate = granted();
        assert!(gate.key(A, Some(0x61), true, false).is_some());
        assert!(gate.button(MouseButton::Left, true, true).is_some());
        gate.set_control(false);
        assert_eq!(gate.key(A, Some(0x61), false, false), None);
        assert_eq!(gate.button(MouseButton::Left, false, true), None);
        assert_eq!(gate.pointer_moved(Some((1, 1))), None);
        assert!(gate.release_all().is_empty());
    }

    #[test]
    fn a_release_carries_the_keysym_its_press_sent() {
        let mut gate = granted();
        assert_eq!(gate.key(A, Some(0x61), true, false), key(0x61, true));
        // Shift went down meanwhile, so the layout now calls the key "A".
        assert_eq!(gate.key(A, Some(0x41), false, false), key(0x61, false));
    }

    #[test]
    fn a_release_without_a_sent_press_is_not_forwarded() {
        // Pressed before control was granted (or consumed as a shortcut).
        let mut gate = granted();
        assert_eq!(gate.key(A, Some(0x61), false, false), None);
        assert_eq!(gate.button(MouseButton::Left, false, true), None);
    }

    #[test]
    fn auto_repeat_and_duplicate_presses_are_not_forwarded() {
        let mut gate = granted();
        assert!(gate.key(A, Some(0x61), true, false).is_some());
        assert_eq!(gate.key(A, Some(0x61), true, true), None);
        assert_eq!(gate.key(A, Some(0x61), true, false), None);
    }

    #[test]
    fn losing_focus_releases_every_held_key_and_button_once() {
        let mut gate = granted();
        gate.key(SHIFT, Some(0xffe1), true, false);
        gate.key(A, Some(0x41), true, false);
        gate.button(MouseButton::Left, true, true);
        assert_eq!(
            gate.release_all(),
            vec![
                SessionMessage::from(KeyEvent {
                    keysym: 0x41,
                    pressed: false
                }),
                KeyEvent {
                    keysym: 0xffe1,
                    pressed: false
                }
                .into(),
                PointerButton {
                    button: MouseButton::Left,
                    pressed: false
                }
                .into(),
            ]
        );
        assert!(gate.release_all().is_empty());
        assert_eq!(gate.key(A, Some(0x41), false, false), None);
    }

    #[test]
    fn a_press_off_the_image_is_not_forwarded() {
        let mut gate = granted();
        assert_eq!(gate.button(MouseButton::Left, true, false), None);
        assert_eq!(gate.button(MouseButton::Left, false, false), None);
        assert!(!gate.dragging());
    }

    #[test]
    fn the_pointer_is_sent_only_when_it_moves_to_a_new_remote_pixel() {
        let mut gate = granted();
        assert!(gate.pointer_moved(Some((3, 4))).is_some());
        assert_eq!(gate.pointer_moved(Some((3, 4))), None);
        assert_eq!(gate.pointer_moved(None), None);
        assert!(gate.pointer_moved(Some((3, 5))).is_some());
    }

    #[test]
    fn wheel_fractions_add_up_to_whole_notches_with_the_proto_sign() {
        let mut gate = granted();
        // winit: negative y = user scrolls down; proto: positive dy = down.
        assert_eq!(gate.wheel(0.0, -0.5), None);
        assert_eq!(gate.wheel(0.0, -0.5), Some(Wheel { dx: 0, dy: 1 }.into()));
        assert_eq!(gate.wheel(2.0, 3.0), Some(Wheel { dx: -2, dy: -3 }.into()));
        assert_eq!(gate.wheel(f64::NAN, 1.0), None);
    }

    #[test]
    fn every_standard_button_has_a_proto_name_and_extras_are_dropped() {
        use winit::event::MouseButton as W;
        assert_eq!(proto_button(W::Left), Some(MouseButton::Left));
        assert_eq!(proto_button(W::Middle), Some(MouseButton::Middle));
        assert_eq!(proto_button(W::Right), Some(MouseButton::Right));
        assert_eq!(proto_button(W::Back), Some(MouseButton::Back));
        assert_eq!(proto_button(W::Forward), Some(MouseButton::Forward));
        assert_eq!(proto_button(W::Other(9)), None);
    }
}
