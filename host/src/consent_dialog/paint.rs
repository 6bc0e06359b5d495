//! What the technician's windows look like: layouts plus state become a
//! [`Scene`], a list of filled rectangles per colour. Pure, so the look is
//! decided here and the X thread only sends rectangles.

use super::font::text_rects;
use super::layout::{
    capability_name, centred_label, countdown_text, DialogButton, DialogLayout, Rect,
    SessionButton, SessionLayout, TextLine, SCALE,
};

pub const BACKGROUND: u32 = 0xf5f5f2;
pub const BORDER: u32 = 0x202020;
pub const TEXT: u32 = 0x141414;
/// Amber: the technician's windows look like nothing the instrument shows.
pub const BANNER: u32 = 0x8a4b08;
pub const BANNER_TEXT: u32 = 0xffffff;
pub const COUNTDOWN: u32 = 0x8a1c1c;
pub const ALLOW: u32 = 0x1d6b34;
pub const DENY: u32 = 0x9c2328;
pub const STOP: u32 = 0x9c2328;
pub const DISABLED: u32 = 0x9a9a9a;
pub const PRESSED: u32 = 0x303030;
pub const BUTTON_TEXT: u32 = 0xffffff;
const BORDER_WIDTH: i32 = 2;

/// Filled rectangles per colour, in drawing order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scene {
    pub layers: Vec<(u32, Vec<Rect>)>,
}

impl Scene {
    fn fill(&mut self, color: u32, rect: Rect) {
        if rect.width <= 0 || rect.height <= 0 {
            return;
        }
        match self.layers.last_mut() {
            Some((last, rects)) if *last == color => rects.push(rect),
            _ => self.layers.push((color, vec![rect])),
        }
    }

    fn text(&mut self, color: u32, line: &TextLine) {
        for rect in text_rects(&line.text, line.x, line.y, SCALE) {
            self.fill(color, rect);
        }
    }

    fn frame(&mut self, width: i32, height: i32) {
        self.fill(BACKGROUND, Rect::new(0, 0, width, height));
        for edge in [
            Rect::new(0, 0, width, BORDER_WIDTH),
            Rect::new(0, height - BORDER_WIDTH, width, BORDER_WIDTH),
            Rect::new(0, 0, BORDER_WIDTH, height),
            Rect::new(width - BORDER_WIDTH, 0, BORDER_WIDTH, height),
        ] {
            self.fill(BORDER, edge);
        }
    }

    fn button(&mut self, color: u32, area: Rect, label: &str) {
        self.fill(color, area);
        self.text(BUTTON_TEXT, &centred_label(label, area));
    }

    /// The colour a rectangle at window point (x, y) was last filled with.
    pub fn color_at(&self, x: i32, y: i32) -> Option<u32> {
        self.layers
            .iter()
            .rev()
            .find(|(_, rects)| rects.iter().any(|r| r.contains(x, y)))
            .map(|(color, _)| *color)
    }
}

/// What the dialog shows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialogState {
    pub remaining_secs: u64,
    /// Buttons ignore clicks (and look disabled) until armed.
    pub armed: bool,
    pub pressed: Option<DialogButton>,
}

pub fn dialog_scene(layout: &DialogLayout, state: DialogState) -> Scene {
    let mut scene = Scene::default();
    scene.frame(layout.window.width, layout.window.height);
    scene.fill(BANNER, layout.banner);
    scene.text(BANNER_TEXT, &layout.title);
    for line in &layout.question {
        scene.text(TEXT, line);
    }
    let (x, y) = layout.countdown;
    scene.text(
        COUNTDOWN,
        &TextLine {
            text: countdown_text(state.remaining_secs),
            x,
            y,
        },
    );
    for (button, label, color) in [
        (DialogButton::Deny, "Deny", DENY),
        (DialogButton::Allow, "Allow", ALLOW),
    ] {
        let color = match (state.armed, state.pressed) {
            (false, _) => DISABLED,
            (true, Some(pressed)) if pressed == button => PRESSED,
            _ => color,
        };
        scene.button(color, layout.button(button), label);
    }
    scene
}

pub fn session_scene(layout: &SessionLayout, pressed: Option<SessionButton>) -> Scene {
    let mut scene = Scene::default();
    scene.frame(layout.window.width, layout.window.height);
    scene.fill(BANNER, layout.banner);
    scene.text(BANNER_TEXT, &layout.title);
    scene.text(TEXT, &layout.engineer);
    let color_of = |button, normal| {
        if pressed == Some(button) {
            PRESSED
        } else {
            normal
        }
    };
    for row in &layout.rows {
        debug_assert_eq!(row.label.text, capability_name(row.capability));
        scene.text(TEXT, &row.label);
        let button = SessionButton::Stop(row.capability);
        scene.button(color_of(button, STOP), row.stop, "Stop");
    }
    if let Some(line) = &layout.nothing_granted {
        scene.text(DISABLED, line);
    }
    scene.button(
        color_of(SessionButton::EndSession, BORDER),
        layout.end_session,
        "End session",
    );
    scene
}

#[cfg(test)]
mod tests {
    use super::*;
    use assent_proto::messages::consent::Capability;

    fn dialog() -> DialogLayout {
        DialogLayout::new("Erin asks for SCREEN VIEW. Allow?", 1024, 768)
    }

    #[test]
    fn buttons_look_disabled_until_the_dialog_is_armed() {
        let layout = dialog();
        let (x, y) = (layout.allow.x + 1, layout.allow.y + 1);
        let waiting = DialogState {
            remaining_secs: 60,
            armed: false,
            pressed: None,
        };
        assert_eq!(
            dialog_scene(&layout, waiting).color_at(x, y),
            Some(DISABLED)
        );
        let armed = DialogState {
            armed: true,
            ..waiting
        };
        assert_eq!(dialog_scene(&layout, armed).color_at(x, y), Some(ALLOW));
        let (x, y) = (layout.deny.x + 1, layout.deny.y + 1);
        assert_eq!(dialog_scene(&layout, armed).color_at(x, y), Some(DENY));
    }

    #[test]
    fn the_countdown_changes_the_picture() {
        let layout = dialog();
        let state = |remaining_secs| DialogState {
            remaining_secs,
            armed: true,
            pressed: None,
        };
        assert_ne!(
            dialog_scene(&layout, state(9)),
            dialog_scene(&layout, state(8))
        );
    }

    #[test]
    fn a_pressed_stop_button_is_drawn_pressed() {
        let layout = SessionLayout::new("Erin", &[Capability::RemoteControl], 1280);
        let stop = layout.rows[0].stop;
        let pressed = Some(SessionButton::Stop(Capability::RemoteControl));
        assert_eq!(
            session_scene(&layout, None).color_at(stop.x + 1, stop.y + 1),
            Some(STOP)
        );
        assert_eq!(
            session_scene(&layout, pressed).color_at(stop.x + 1, stop.y + 1),
            Some(PRESSED)
        );
    }
}
