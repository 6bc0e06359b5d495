//! Turns a winit key into the X11 keysym that travels in
//! [`assent_proto::messages::input::KeyEvent`]: keysyms are layout-neutral
//! names, so the host types the character the engineer typed whatever the
//! two keyboard layouts are.
//!
//! Printable keys travel as their character (what the engineer's layout
//! produced), named keys (Return, arrows, F-keys, modifiers) as their X
//! keysym with left/right kept apart, numpad keys as `KP_*`. A key with no
//! keysym is not sent at all rather than guessed.

use winit::keyboard::{Key, KeyCode, KeyLocation, NamedKey, NativeKey, PhysicalKey};

/// The keysym for a key event, from its logical key (what the layout made of
/// it), its location (left/right/numpad) and, for dead keys and unnamed keys,
/// its physical position. `None` when the key has no X11 equivalent.
pub fn keysym_for(logical: &Key, location: KeyLocation, physical: PhysicalKey) -> Option<u32> {
    match logical {
        Key::Named(named) => named_keysym(*named, location),
        Key::Character(text) => {
            let mut chars = text.chars();
            let c = chars.next()?;
            // A key that types several characters (a compose result) has no
            // single keysym; the physical key is the best honest answer.
            if chars.next().is_some() {
                return physical_keysym(physical);
            }
            if location == KeyLocation::Numpad {
                if let Some(keysym) = numpad_char_keysym(c) {
                    return Some(keysym);
                }
            }
            Some(char_keysym(c))
        }
        // On X11 winit reports an unnamed key with its XKB keysym: forward
        // it as is (e.g. XF86 media keys).
        Key::Unidentified(NativeKey::Xkb(keysym)) if *keysym != 0 => Some(*keysym),
        // Dead keys would need the host's compose state; send the base key
        // of the same position instead so at least something lands.
        Key::Dead(_) | Key::Unidentified(_) => physical_keysym(physical),
    }
}

/// X11 keysym of a character: Latin-1 characters are their own code, every
/// other Unicode scalar is `0x0100_0000 + code point` (X11 keysym rules,
/// Appendix A of the X protocol, "Unicode keysyms").
pub fn char_keysym(c: char) -> u32 {
    let code = u32::from(c);
    match code {
        0x20..=0x7e | 0xa0..=0xff => code,
        // Control characters as keys: the ones with a named key.
        0x08 => 0xff08, // BackSpace
        0x09 => 0xff09, // Tab
        0x0a | 0x0d => 0xff0d,
        0x1b => 0xff1b, // Escape
        0x7f => 0xffff, // Delete
        _ => 0x0100_0000 + code,
    }
}

/// Keysyms of named keys (X11 `keysymdef.h`).
fn named_keysym(named: NamedKey, location: KeyLocation) -> Option<u32> {
    let left_right = |left: u32, right: u32| {
        if location == KeyLocation::Right {
            right
        } else {
            left
        }
    };
    let numpad = location == KeyLocation::Numpad;
    let keysym = match named {
        NamedKey::Enter if numpad => 0xff8d, // KP_Enter
        NamedKey::Enter => 0xff0d,           // Return
        NamedKey::Backspace => 0xff08,
        NamedKey::Tab => 0xff09,
        NamedKey::Escape => 0xff1b,
        NamedKey::Space => 0x20,
        NamedKey::Delete => 0xffff,
        NamedKey::Insert => 0xff63,
        NamedKey::Home => 0xff50,
        NamedKey::ArrowLeft => 0xff51,
        NamedKey::ArrowUp => 0xff52,
        NamedKey::ArrowRight => 0xff53,
        NamedKey::ArrowDown => 0xff54,
        NamedKey::PageUp => 0xff55,
        NamedKey::PageDown => 0xff56,
        NamedKey::End => 0xff57,
        NamedKey::PrintScreen => 0xff61,
        NamedKey::Pause => 0xff13,
        NamedKey::ScrollLock => 0xff14,
        NamedKey::NumLock => 0xff7f,
        NamedKey::CapsLock => 0xffe5,
        NamedKey::ContextMenu => 0xff67, // Menu
        NamedKey::F1 => 0xffbe,
        NamedKey::F2 => 0xffbf,
        NamedKey::F3 => 0xffc0,
        NamedKey::F4 => 0xffc1,
        NamedKey::F5 => 0xffc2,
        NamedKey::F6 => 0xffc3,
        NamedKey::F7 => 0xffc4,
        NamedKey::F8 => 0xffc5,
        NamedKey::F9 => 0xffc6,
        NamedKey::F10 => 0xffc7,
        NamedKey::F11 => 0xffc8,
        NamedKey::F12 => 0xffc9,
        NamedKey::Shift => left_right(0xffe1, 0xffe2),
        NamedKey::Control => left_right(0xffe3, 0xffe4),
        NamedKey::Alt => left_right(0xffe9, 0xffea),
        NamedKey::Super => left_right(0xffeb, 0xffec),
        NamedKey::Meta => left_right(0xffe7, 0xffe8),
        NamedKey::Hyper => left_right(0xffed, 0xffee),
        NamedKey::AltGraph => 0xfe03, // ISO_Level3_Shift
        _ => return None,
    };
    Some(keysym)
}

/// `KP_*` keysyms for characters typed on the numpad, so the host sees a
/// numpad key (some instrument software binds them separately).
fn numpad_char_keysym(c: char) -> Option<u32> {
    Some(match c {
        '0'..='9' => 0xffb0 + (u32::from(c) - u32::from('0')),
        '*' => 0xffaa,
        '+' => 0xffab,
        ',' => 0xffac,
        '-' => 0xffad,
        '.' => 0xffae,
        '/' => 0xffaf,
        '=' => 0xffbd,
        _ => return None,
    })
}

/// The unshifted US-layout keysym of a key's position, for keys the layout
/// gave no usable character (dead keys, multi-character results).
fn physical_keysym(physical: PhysicalKey) -> Option<u32> {
    let PhysicalKey::Code(code) = physical else {
        return None;
    };
    let c = match code {
        KeyCode::KeyA => 'a',
        KeyCode::KeyB => 'b',
        KeyCode::KeyC => 'c',
        KeyCode::KeyD => 'd',
        KeyCode::KeyE => 'e',
        KeyCode::KeyF => 'f',
        KeyCode::KeyG => 'g',
        KeyCode::KeyH => 'h',
        KeyCode::KeyI => 'i',
        KeyCode::KeyJ => 'j',
        KeyCode::KeyK => 'k',
        KeyCode::KeyL => 'l',
        KeyCode::KeyM => 'm',
        KeyCode::KeyN => 'n',
        KeyCode::KeyO => 'o',
        KeyCode::KeyP => 'p',
        KeyCode::KeyQ => 'q',
        KeyCode::KeyR => 'r',
        KeyCode::KeyS => 's',
        KeyCode::KeyT => 't',
        KeyCode::KeyU => 'u',
        KeyCode::KeyV => 'v',
        KeyCode::KeyW => 'w',
        KeyCode::KeyX => 'x',
        KeyCode::KeyY => 'y',
        KeyCode::KeyZ => 'z',
        KeyCode::Digit0 => '0',
        KeyCode::Digit1 => '1',
        KeyCode::Digit2 => '2',
        KeyCode::Digit3 => '3',
        KeyCode::Digit4 => '4',
        KeyCode::Digit5 => '5',
        KeyCode::Digit6 => '6',
        KeyCode::Digit7 => '7',
        KeyCode::Digit8 => '8',
        KeyCode::Digit9 => '9',
        KeyCode::Backquote => '`',
        KeyCode::Minus => '-',
        KeyCode::Equal => '=',
        KeyCode::BracketLeft => '[',
        KeyCode::BracketRight => ']',
        KeyCode::Backslash => '\\',
        KeyCode::Semicolon => ';',
        KeyCode::Quote => '\'',
        KeyCode::Comma => ',',
        KeyCode::Period => '.',
        KeyCode::Slash => '/',
        _ => return None,
    };
    Some(u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn character(text: &str) -> Key {
        Key::Character(text.into())
    }

    const NO_KEY: PhysicalKey = PhysicalKey::Code(KeyCode::Fn);

    #[test]
    fn letters_digits_and_punctuation_travel_as_their_character() {
        for (text, keysym) in [
            ("a", 0x61),
            ("A", 0x41),
            ("z", 0x7a),
            ("0", 0x30),
            ("9", 0x39),
            (";", 0x3b),
            ("/", 0x2f),
            ("~", 0x7e),
            ("é", 0xe9),
        ] {
            assert_eq!(
                keysym_for(&character(text), KeyLocation::Standard, NO_KEY),
                Some(keysym),
                "{text:?}"
            );
        }
    }

    #[test]
    fn characters_beyond_latin1_use_the_unicode_keysym_range() {
        assert_eq!(
            keysym_for(&character("€"), KeyLocation::Standard, NO_KEY),
            Some(0x0100_20ac)
        );
        assert_eq!(
            keysym_for(&character("ф"), KeyLocation::Standard, NO_KEY),
            Some(0x0100_0444)
        );
    }

    #[test]
    fn editing_and_navigation_keys_have_their_x11_keysyms() {
        for (named, keysym) in [
            (NamedKey::Enter, 0xff0d),
            (NamedKey::Backspace, 0xff08),
            (NamedKey::Tab, 0xff09),
            (NamedKey::Escape, 0xff1b),
            (NamedKey::ArrowLeft, 0xff51),
            (NamedKey::ArrowUp, 0xff52),
            (NamedKey::ArrowRight, 0xff53),
            (NamedKey::ArrowDown, 0xff54),
            (NamedKey::Home, 0xff50),
            (NamedKey::End, 0xff57),
            (NamedKey::PageUp, 0xff55),
            (NamedKey::PageDown, 0xff56),
            (NamedKey::Delete, 0xffff),
            (NamedKey::Space, 0x20),
        ] {
            assert_eq!(
                keysym_for(&Key::Named(named), KeyLocation::Standard, NO_KEY),
                Some(keysym),
                "{named:?}"
            );
        }
    }

    #[test]
    fn function_keys_f1_to_f12_are_consecutive_from_0xffbe() {
        let keys = [
            NamedKey::F1,
            NamedKey::F2,
            NamedKey::F3,
            NamedKey::F4,
            NamedKey::F5,
            NamedKey::F6,
            NamedKey::F7,
            NamedKey::F8,
            NamedKey::F9,
            NamedKey::F10,
            NamedKey::F11,
            NamedKey::F12,
        ];
        for (i, named) in keys.into_iter().enumerate() {
            assert_eq!(
                keysym_for(&Key::Named(named), KeyLocation::Standard, NO_KEY),
                Some(0xffbe + i as u32),
                "{named:?}"
            );
        }
    }

    #[test]
    fn modifiers_keep_their_left_or_right_side() {
        for (named, left, right) in [
            (NamedKey::Shift, 0xffe1, 0xffe2),
            (NamedKey::Control, 0xffe3, 0xffe4),
            (NamedKey::Alt, 0xffe9, 0xffea),
            (NamedKey::Super, 0xffeb, 0xffec),
        ] {
            let key = Key::Named(named);
            assert_eq!(keysym_for(&key, KeyLocation::Left, NO_KEY), Some(left));
            assert_eq!(keysym_for(&key, KeyLocation::Right, NO_KEY), Some(right));
        }
    }

    #[test]
    fn numpad_keys_travel_as_kp_keysyms() {
        assert_eq!(
            keysym_for(&character("7"), KeyLocation::Numpad, NO_KEY),
            Some(0xffb7)
        );
        assert_eq!(
            keysym_for(&character("+"), KeyLocation::Numpad, NO_KEY),
            Some(0xffab)
        );
        assert_eq!(
            keysym_for(&Key::Named(NamedKey::Enter), KeyLocation::Numpad, NO_KEY),
            Some(0xff8d)
        );
    }

    #[test]
    fn a_dead_key_falls_back_to_its_physical_position() {
        assert_eq!(
            keysym_for(
                &Key::Dead(Some('^')),
                KeyLocation::Standard,
                PhysicalKey::Code(KeyCode::BracketLeft)
            ),
            Some(u32::from('['))
        );
    }

    #[test]
    fn an_unnamed_x11_key_forwards_its_own_keysym() {
        // XF86AudioMute
        assert_eq!(
            keysym_for(
                &Key::Unidentified(NativeKey::Xkb(0x1008_ff12)),
                KeyLocation::Standard,
                NO_KEY
            ),
            Some(0x1008_ff12)
        );
    }

    #[test]
    fn a_key_outside_the_map_is_not_sent_rather_than_guessed() {
        assert_eq!(
            keysym_for(&Key::Named(NamedKey::Soft1), KeyLocation::Standard, NO_KEY),
            None
        );
        assert_eq!(
            keysym_for(
                &Key::Unidentified(NativeKey::Unidentified),
                KeyLocation::Standard,
                NO_KEY
            ),
            None
        );
    }
}
