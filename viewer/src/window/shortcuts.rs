//! The engineer's own shortcuts. They act on the viewer and are never
//! forwarded to the host, whether or not control is granted. The list the
//! engineer reads is [`super::SHORTCUT_HELP`].

use winit::keyboard::{Key, KeyCode, ModifiersState, NamedKey, PhysicalKey};

/// What a shortcut asks the viewer to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    RequestScreen,
    RequestControl,
    RequestFiles,
    SendFile,
    /// Pan the cropped view by a quarter window in (dx, dy).
    Pan(i32, i32),
}

/// The shortcut a key press makes with the current modifiers, if any.
/// Letters are matched by the character the layout typed, falling back to
/// the key's position, so the shortcut is where the engineer expects it.
pub fn shortcut_for(
    modifiers: ModifiersState,
    logical: &Key,
    physical: PhysicalKey,
) -> Option<Shortcut> {
    if !(modifiers.control_key() && modifiers.alt_key()) {
        return None;
    }
    let letter = match logical {
        Key::Character(text) => text
            .chars()
            .next()
            .filter(char::is_ascii_alphabetic)
            .map(|c| c.to_ascii_lowercase()),
        _ => None,
    }
    .or(match physical {
        PhysicalKey::Code(KeyCode::KeyS) => Some('s'),
        PhysicalKey::Code(KeyCode::KeyC) => Some('c'),
        PhysicalKey::Code(KeyCode::KeyF) => Some('f'),
        PhysicalKey::Code(KeyCode::KeyU) => Some('u'),
        _ => None,
    });
    match (letter, logical) {
        (Some('s'), _) => Some(Shortcut::RequestScreen),
        (Some('c'), _) => Some(Shortcut::RequestControl),
        (Some('f'), _) => Some(Shortcut::RequestFiles),
        (Some('u'), _) => Some(Shortcut::SendFile),
        (_, Key::Named(NamedKey::ArrowLeft)) => Some(Shortcut::Pan(-1, 0)),
        (_, Key::Named(NamedKey::ArrowRight)) => Some(Shortcut::Pan(1, 0)),
        (_, Key::Named(NamedKey::ArrowUp)) => Some(Shortcut::Pan(0, -1)),
        (_, Key::Named(NamedKey::ArrowDown)) => Some(Shortcut::Pan(0, 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctrl_alt() -> ModifiersState {
        ModifiersState::CONTROL | ModifiersState::ALT
    }

    fn letter(c: &str, code: KeyCode) -> (Key, PhysicalKey) {
        (Key::Character(c.into()), PhysicalKey::Code(code))
    }

    #[test]
    fn ctrl_alt_letters_request_capabilities_and_send_a_file() {
        for (text, code, shortcut) in [
            ("s", KeyCode::KeyS, Shortcut::RequestScreen),
            ("c", KeyCode::KeyC, Shortcut::RequestControl),
            ("f", KeyCode::KeyF, Shortcut::RequestFiles),
            ("u", KeyCode::KeyU, Shortcut::SendFile),
            ("S", KeyCode::KeyS, Shortcut::RequestScreen),
        ] {
            let (logical, physical) = letter(text, code);
            assert_eq!(
                shortcut_for(ctrl_alt(), &logical, physical),
                Some(shortcut),
                "{text}"
            );
        }
    }

    #[test]
    fn the_same_letters_without_both_ctrl_and_alt_are_ordinary_keys() {
        let (logical, physical) = letter("c", KeyCode::KeyC);
        for modifiers in [
            ModifiersState::empty(),
            ModifiersState::CONTROL,
            ModifiersState::ALT,
            ModifiersState::SHIFT | ModifiersState::CONTROL,
        ] {
            assert_eq!(shortcut_for(modifiers, &logical, physical), None);
        }
    }

    #[test]
    fn ctrl_alt_arrows_pan_the_view() {
        let arrow = |named| {
            shortcut_for(
                ctrl_alt(),
                &Key::Named(named),
                PhysicalKey::Code(KeyCode::Fn),
            )
        };
        assert_eq!(arrow(NamedKey::ArrowLeft), Some(Shortcut::Pan(-1, 0)));
        assert_eq!(arrow(NamedKey::ArrowRight), Some(Shortcut::Pan(1, 0)));
        assert_eq!(arrow(NamedKey::ArrowUp), Some(Shortcut::Pan(0, -1)));
        assert_eq!(arrow(NamedKey::ArrowDown), Some(Shortcut::Pan(0, 1)));
    }

    #[test]
    fn a_layout_without_latin_letters_finds_shortcuts_by_key_position() {
        // Russian layout: the C key types "с" (Cyrillic).
        let (logical, physical) = letter("с", KeyCode::KeyC);
        assert_eq!(
            shortcut_for(ctrl_alt(), &logical, physical),
            Some(Shortcut::RequestControl)
        );
    }

    #[test]
    fn the_help_text_lists_every_letter_shortcut_the_window_honours() {
        let help = super::super::SHORTCUT_HELP;
        for (upper, lower, code) in [
            ("S", "s", KeyCode::KeyS),
            ("C", "c", KeyCode::KeyC),
            ("F", "f", KeyCode::KeyF),
            ("U", "u", KeyCode::KeyU),
        ] {
            let (logical, physical) = letter(lower, code);
            assert!(shortcut_for(ctrl_alt(), &logical, physical).is_some());
            assert!(help.contains(&format!("Ctrl+Alt+{upper} ")), "{upper}");
        }
        assert!(help.contains("Ctrl+Alt+arrows"));
    }

    #[test]
    fn other_ctrl_alt_keys_are_not_shortcuts() {
        let (logical, physical) = letter("x", KeyCode::KeyX);
        assert_eq!(shortcut_for(ctrl_alt(), &logical, physical), None);
        assert_eq!(
            shortcut_for(
                ctrl_alt(),
                &Key::Named(NamedKey::Delete),
                PhysicalKey::Code(KeyCode::Delete)
            ),
            None
        );
    }
}
