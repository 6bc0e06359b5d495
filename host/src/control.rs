//! Remote control (R10): injecting the engineer's pointer and keyboard input
//! into the instrument PC's session once the technician granted control.
//!
//! [`InputSink`] is what a session drives. [`InputInjector`] implements it
//! over any raw [`InjectionBackend`] and owns the safety rules every backend
//! shares: pointer positions clamped to the screen, wheel bursts bounded,
//! keysyms checked, and every key and button it pressed released again by
//! [`InputSink::release_all`] and on drop, so a revoke or a lost connection
//! never leaves a key stuck down on the instrument. [`EnigoInput`] injects
//! through enigo (XTest); [`RecordingSink`] records, for tests.
//! [`InputRateLimiter`] bounds how fast a viewer may inject.

mod enigo_backend;
mod rate_limit;
mod recording;

#[cfg(test)]
mod tests;

pub use assent_proto::messages::input::MouseButton;
pub use enigo_backend::{EnigoBackend, EnigoInput};
pub use rate_limit::{InputKind, InputRateLimiter, DEFAULT_INPUT_BURST, DEFAULT_INPUT_RATE};
pub use recording::{InjectedInput, InputLog, RecordingBackend, RecordingSink};

/// Most wheel notches one event may scroll per axis; a larger value is
/// clamped, so a hostile `Wheel { dy: i32::MAX }` cannot tie up the host.
pub const MAX_WHEEL_NOTCHES: i32 = 20;

/// Most keys held down at once. Real keyboards roll over far fewer; the
/// bound keeps the held-key list (and the keycodes enigo borrows) small.
pub const MAX_HELD_KEYS: usize = 32;

/// Largest valid X11 keysym: the top three bits are always zero.
const KEYSYM_MAX: u32 = 0x1fff_ffff;

/// Input a session injects while remote control is granted.
pub trait InputSink {
    /// Moves the pointer to absolute screen coordinates (clamped to the screen).
    fn pointer_move(&mut self, x: i32, y: i32) -> Result<(), InputError>;
    /// Presses or releases a button at the current pointer position.
    fn button(&mut self, button: MouseButton, pressed: bool) -> Result<(), InputError>;
    /// Scrolls whole notches; positive `dy` scrolls down, positive `dx` right.
    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), InputError>;
    /// Presses or releases the key that types X11 `keysym`.
    fn key(&mut self, keysym: u32, pressed: bool) -> Result<(), InputError>;
    /// Releases every key and button this sink holds down (control revoked,
    /// viewer gone). Tries them all even when one fails.
    fn release_all(&mut self) -> Result<(), InputError>;
}

impl<S: InputSink + ?Sized> InputSink for Box<S> {
    fn pointer_move(&mut self, x: i32, y: i32) -> Result<(), InputError> {
        (**self).pointer_move(x, y)
    }

    fn button(&mut self, button: MouseButton, pressed: bool) -> Result<(), InputError> {
        (**self).button(button, pressed)
    }

    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), InputError> {
        (**self).wheel(dx, dy)
    }

    fn key(&mut self, keysym: u32, pressed: bool) -> Result<(), InputError> {
        (**self).key(keysym, pressed)
    }

    fn release_all(&mut self) -> Result<(), InputError> {
        (**self).release_all()
    }
}

/// Why an input event was not injected.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// No X display to inject into.
    #[error("no X display for input injection ({detail}): set DISPLAY or start the host inside an X session")]
    NoDisplay { detail: String },
    /// The viewer sent a value that is not an X11 keysym: drop the event.
    #[error("{keysym:#x} is not an X11 keysym; the key event was dropped")]
    InvalidKeysym { keysym: u32 },
    /// The viewer holds too many keys down at once: the press was dropped.
    #[error("{MAX_HELD_KEYS} keys are already held down; the key press was dropped")]
    TooManyKeysHeld,
    /// The platform refused the event; control is probably broken.
    #[error("input injection failed: {reason}; revoke remote control and grant it again")]
    InjectionFailed { reason: String },
}

/// Raw input injection on one platform, without bookkeeping: the
/// [`InputInjector`] around it decides what reaches it.
pub trait InjectionBackend {
    /// Moves the pointer to a position already clamped to the screen.
    fn move_pointer(&mut self, x: i32, y: i32) -> Result<(), InputError>;
    fn button(&mut self, button: MouseButton, pressed: bool) -> Result<(), InputError>;
    /// Scrolls by notches already bounded by [`MAX_WHEEL_NOTCHES`].
    fn scroll(&mut self, dx: i32, dy: i32) -> Result<(), InputError>;
    /// Presses or releases a valid keysym.
    fn key(&mut self, keysym: u32, pressed: bool) -> Result<(), InputError>;
    /// The screen's new size if it changed since the last call (checked
    /// before every pointer move; must not block).
    fn screen_size_changed(&mut self) -> Option<(u32, u32)> {
        None
    }
}

/// An [`InputSink`] over a backend: clamps, bounds and remembers what it
/// pressed so it can release it (see the module docs).
pub struct InputInjector<B: InjectionBackend> {
    backend: B,
    /// Screen size the pointer is clamped to.
    screen: (u32, u32),
    /// Keys down, in press order (released in reverse, like a person would).
    held_keys: Vec<u32>,
    held_buttons: Vec<MouseButton>,
}

impl<B: InjectionBackend> InputInjector<B> {
    /// Wraps `backend` for a screen of `width`×`height` pixels.
    pub fn with_backend(backend: B, width: u32, height: u32) -> Self {
        Self {
            backend,
            screen: (width, height),
            held_keys: Vec::new(),
            held_buttons: Vec::new(),
        }
    }

    /// Follows a resolution change. Backends that notice changes
    /// themselves ([`EnigoBackend`] does) make this call unnecessary.
    pub fn set_screen_size(&mut self, width: u32, height: u32) {
        self.screen = (width, height);
    }

    /// The backend, e.g. to read a [`RecordingBackend`]'s log.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Keysyms currently held down by this injector, in press order.
    pub fn held_keys(&self) -> &[u32] {
        &self.held_keys
    }

    /// Buttons currently held down by this injector.
    pub fn held_buttons(&self) -> &[MouseButton] {
        &self.held_buttons
    }
}

impl<B: InjectionBackend> InputSink for InputInjector<B> {
    fn pointer_move(&mut self, x: i32, y: i32) -> Result<(), InputError> {
        if let Some((width, height)) = self.backend.screen_size_changed() {
            self.set_screen_size(width, height);
        }
        let clamp = |v: i32, side: u32| {
            v.clamp(
                0,
                i32::try_from(side)
                    .unwrap_or(i32::MAX)
                    .saturating_sub(1)
                    .max(0),
            )
        };
        self.backend
            .move_pointer(clamp(x, self.screen.0), clamp(y, self.screen.1))
    }

    fn button(&mut self, button: MouseButton, pressed: bool) -> Result<(), InputError> {
        let held = self.held_buttons.contains(&button);
        if pressed {
            self.backend.button(button, true)?;
            if !held {
                self.held_buttons.push(button);
            }
        } else if held {
            // A release of a button we never pressed (e.g. pressed before
            // control was granted) is not ours to send.
            self.backend.button(button, false)?;
            self.held_buttons.retain(|&b| b != button);
        }
        Ok(())
    }

    fn wheel(&mut self, dx: i32, dy: i32) -> Result<(), InputError> {
        let bound = |v: i32| v.clamp(-MAX_WHEEL_NOTCHES, MAX_WHEEL_NOTCHES);
        let (dx, dy) = (bound(dx), bound(dy));
        if dx == 0 && dy == 0 {
            return Ok(());
        }
        self.backend.scroll(dx, dy)
    }

    fn key(&mut self, keysym: u32, pressed: bool) -> Result<(), InputError> {
        if keysym == 0 || keysym > KEYSYM_MAX {
            return Err(InputError::InvalidKeysym { keysym });
        }
        let held = self.held_keys.contains(&keysym);
        if pressed {
            if !held && self.held_keys.len() >= MAX_HELD_KEYS {
                return Err(InputError::TooManyKeysHeld);
            }
            // A press of a held key is auto-repeat: inject it again.
            self.backend.key(keysym, true)?;
            if !held {
                self.held_keys.push(keysym);
            }
        } else if held {
            self.backend.key(keysym, false)?;
            self.held_keys.retain(|&k| k != keysym);
        }
        Ok(())
    }

    fn release_all(&mut self) -> Result<(), InputError> {
        let mut first_error = None;
        for keysym in std::mem::take(&mut self.held_keys).into_iter().rev() {
            if let Err(e) = self.backend.key(keysym, false) {
                first_error.get_or_insert(e);
            }
        }
        for button in std::mem::take(&mut self.held_buttons).into_iter().rev() {
            if let Err(e) = self.backend.button(button, false) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl<B: InjectionBackend> Drop for InputInjector<B> {
    fn drop(&mut self) {
        if let Err(e) = self.release_all() {
            tracing::warn!(error = %e, "could not release every held key and button");
        }
    }
}
