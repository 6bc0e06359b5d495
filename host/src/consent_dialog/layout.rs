//! Where everything sits in the technician's windows, as pure functions of
//! the text and the screen size: window placement, word wrapping, button
//! rectangles and hit-testing. No X here, so it is all unit-tested.

use assent_proto::messages::consent::Capability;

use super::font::{text_width, CELL_WIDTH, GLYPH_HEIGHT, LINE_HEIGHT};

/// Every font pixel is drawn as a `SCALE`×`SCALE` square.
pub const SCALE: i32 = 2;
/// The dialog's title, in the window manager's title bar and in its own
/// banner (there may be no window manager): it says whose window this is.
pub const DIALOG_TITLE: &str = "Assent — technician approval";
/// The session window's title.
pub const SESSION_TITLE: &str = "Assent — session in progress";

/// Space between the window edge and its contents, and between blocks.
const PADDING: i32 = 14;
/// Space kept between a window and the screen edge.
const SCREEN_MARGIN: i32 = 8;
const BANNER_HEIGHT: i32 = GLYPH_HEIGHT * SCALE + 2 * 12;
const BUTTON_HEIGHT: i32 = 40;
const DIALOG_COLUMNS: i32 = 44;
/// A question longer than this is cut (file names come from the engineer).
const MAX_QUESTION_LINES: usize = 6;
const MIN_WINDOW_WIDTH: i32 = 200;
const SESSION_COLUMNS: i32 = 36;
const ROW_HEIGHT: i32 = 34;
const STOP_BUTTON_WIDTH: i32 = 84;
const STOP_BUTTON_HEIGHT: i32 = 28;

/// A rectangle; `x`, `y` relative to the window unless said otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl Rect {
    pub const fn new(x: i32, y: i32, width: i32, height: i32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && x < self.x + self.width && y >= self.y && y < self.y + self.height
    }

    pub fn center(&self) -> (i32, i32) {
        (self.x + self.width / 2, self.y + self.height / 2)
    }
}

/// A text line and where its top-left corner goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLine {
    pub text: String,
    pub x: i32,
    pub y: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogButton {
    Allow,
    Deny,
}

/// The consent dialog: title banner, the question, a countdown, Deny and
/// Allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogLayout {
    /// Where the window goes, in screen coordinates: centred.
    pub window: Rect,
    pub banner: Rect,
    pub title: TextLine,
    pub question: Vec<TextLine>,
    /// Top-left corner of the countdown line.
    pub countdown: (i32, i32),
    pub deny: Rect,
    pub allow: Rect,
}

impl DialogLayout {
    pub fn new(question: &str, screen_width: i32, screen_height: i32) -> Self {
        let columns = columns_for(DIALOG_COLUMNS, screen_width);
        let width = window_width(columns);
        let line_height = LINE_HEIGHT * SCALE;
        let lines = wrap(question, columns as usize, MAX_QUESTION_LINES);
        let mut y = BANNER_HEIGHT + PADDING;
        let question = lines
            .into_iter()
            .map(|text| {
                let line = TextLine {
                    text,
                    x: PADDING,
                    y,
                };
                y += line_height;
                line
            })
            .collect();
        let countdown = (PADDING, y + PADDING / 2);
        y = countdown.1 + line_height + PADDING / 2;
        let button_width = ((width - 3 * PADDING) / 2).min(160);
        let deny = Rect::new(PADDING, y, button_width, BUTTON_HEIGHT);
        let allow = Rect::new(
            width - PADDING - button_width,
            y,
            button_width,
            BUTTON_HEIGHT,
        );
        let height = y + BUTTON_HEIGHT + PADDING;
        let window = Rect::new(
            ((screen_width - width) / 2).max(0),
            ((screen_height - height) / 2).max(0),
            width,
            height,
        );
        Self {
            window,
            banner: Rect::new(0, 0, width, BANNER_HEIGHT),
            title: banner_title(DIALOG_TITLE, columns),
            question,
            countdown,
            deny,
            allow,
        }
    }

    /// The button under window point (x, y).
    pub fn button_at(&self, x: i32, y: i32) -> Option<DialogButton> {
        if self.allow.contains(x, y) {
            Some(DialogButton::Allow)
        } else if self.deny.contains(x, y) {
            Some(DialogButton::Deny)
        } else {
            None
        }
    }

    pub fn button(&self, button: DialogButton) -> Rect {
        match button {
            DialogButton::Allow => self.allow,
            DialogButton::Deny => self.deny,
        }
    }
}

/// The countdown line for `remaining_secs` seconds left.
pub fn countdown_text(remaining_secs: u64) -> String {
    format!("Refused automatically in {remaining_secs} s")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionButton {
    Stop(Capability),
    EndSession,
}

/// One granted capability: its name and its Stop button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub capability: Capability,
    pub label: TextLine,
    pub stop: Rect,
}

/// The session window: title banner, who is connected, one row per granted
/// capability with a Stop button, and End session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLayout {
    /// Where the window goes, in screen coordinates: the top-right corner.
    pub window: Rect,
    pub banner: Rect,
    pub title: TextLine,
    pub engineer: TextLine,
    pub rows: Vec<GrantRow>,
    /// Shown instead of rows when nothing is granted.
    pub nothing_granted: Option<TextLine>,
    pub end_session: Rect,
}

impl SessionLayout {
    pub fn new(engineer: &str, granted: &[Capability], screen_width: i32) -> Self {
        let columns = columns_for(SESSION_COLUMNS, screen_width);
        let width = window_width(columns);
        let line_height = LINE_HEIGHT * SCALE;
        let mut y = BANNER_HEIGHT + PADDING;
        let engineer = TextLine {
            text: truncate(&sanitize(engineer), columns as usize),
            x: PADDING,
            y,
        };
        y += line_height + PADDING / 2;
        let text_offset = (ROW_HEIGHT - GLYPH_HEIGHT * SCALE) / 2;
        let button_offset = (ROW_HEIGHT - STOP_BUTTON_HEIGHT) / 2;
        let rows: Vec<GrantRow> = granted
            .iter()
            .map(|&capability| {
                let row = GrantRow {
                    capability,
                    label: TextLine {
                        text: capability_name(capability).to_owned(),
                        x: PADDING,
                        y: y + text_offset,
                    },
                    stop: Rect::new(
                        width - PADDING - STOP_BUTTON_WIDTH,
                        y + button_offset,
                        STOP_BUTTON_WIDTH,
                        STOP_BUTTON_HEIGHT,
                    ),
                };
                y += ROW_HEIGHT;
                row
            })
            .collect();
        let nothing_granted = rows.is_empty().then(|| {
            let line = TextLine {
                text: truncate("Nothing granted yet", columns as usize),
                x: PADDING,
                y: y + text_offset,
            };
            y += ROW_HEIGHT;
            line
        });
        y += PADDING / 2;
        let end_session = Rect::new(PADDING, y, width - 2 * PADDING, BUTTON_HEIGHT);
        let height = y + BUTTON_HEIGHT + PADDING;
        Self {
            window: Rect::new(
                (screen_width - width - SCREEN_MARGIN).max(0),
                SCREEN_MARGIN,
                width,
                height,
            ),
            banner: Rect::new(0, 0, width, BANNER_HEIGHT),
            title: banner_title(SESSION_TITLE, columns),
            engineer,
            rows,
            nothing_granted,
            end_session,
        }
    }

    /// The button under window point (x, y).
    pub fn button_at(&self, x: i32, y: i32) -> Option<SessionButton> {
        if self.end_session.contains(x, y) {
            return Some(SessionButton::EndSession);
        }
        self.rows
            .iter()
            .find(|row| row.stop.contains(x, y))
            .map(|row| SessionButton::Stop(row.capability))
    }

    pub fn button(&self, button: SessionButton) -> Option<Rect> {
        match button {
            SessionButton::EndSession => Some(self.end_session),
            SessionButton::Stop(capability) => self
                .rows
                .iter()
                .find(|row| row.capability == capability)
                .map(|row| row.stop),
        }
    }
}

/// How the technician's windows name a capability.
pub fn capability_name(capability: Capability) -> &'static str {
    match capability {
        Capability::ScreenView => "Screen view",
        Capability::RemoteControl => "Remote control",
        #[cfg(feature = "file-transfer")]
        Capability::FileTransfer => "File transfer",
    }
}

/// Label on a button, centred in `area`.
pub fn centred_label(text: &str, area: Rect) -> TextLine {
    TextLine {
        text: text.to_owned(),
        x: area.x + (area.width - text_width(text, SCALE) + SCALE) / 2,
        y: area.y + (area.height - GLYPH_HEIGHT * SCALE) / 2,
    }
}

/// Text columns that fit on the screen, at most `wanted`.
fn columns_for(wanted: i32, screen_width: i32) -> i32 {
    let cell = CELL_WIDTH * SCALE;
    let fitting = (screen_width - 2 * SCREEN_MARGIN - 2 * PADDING) / cell;
    fitting.clamp((MIN_WINDOW_WIDTH - 2 * PADDING) / cell, wanted)
}

fn window_width(columns: i32) -> i32 {
    columns * CELL_WIDTH * SCALE + 2 * PADDING
}

fn banner_title(title: &str, columns: i32) -> TextLine {
    TextLine {
        text: truncate(title, columns as usize),
        x: PADDING,
        y: (BANNER_HEIGHT - GLYPH_HEIGHT * SCALE) / 2,
    }
}

/// Control characters would let a file name fake a line break; show them as
/// spaces.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn truncate(text: &str, columns: usize) -> String {
    if text.chars().count() <= columns {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(columns.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Greedy word wrap into lines of at most `columns` characters; a word
/// longer than a line is split; past `max_lines` the last line ends in `…`.
pub fn wrap(text: &str, columns: usize, max_lines: usize) -> Vec<String> {
    let columns = columns.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for word in sanitize(text).split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        // Stop early: the text may be long and only a few lines are shown.
        if lines.len() > max_lines {
            break;
        }
        if current_len > 0 && current_len + 1 + word.len() <= columns {
            current.push(' ');
            current.extend(&word);
            current_len += 1 + word.len();
            continue;
        }
        if current_len > 0 {
            lines.push(std::mem::take(&mut current));
        }
        while word.len() > columns {
            lines.push(word.drain(..columns).collect());
        }
        current.extend(&word);
        current_len = word.len();
    }
    if current_len > 0 {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let kept: String = last.chars().take(columns - 1).collect();
            *last = format!("{kept}…");
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUESTION: &str = "Erin Engineer <erin@example.com> asks for REMOTE CONTROL. Allow?";

    #[test]
    fn wrapping_keeps_every_word_and_respects_the_width() {
        let lines = wrap(QUESTION, 20, 10);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines.join(" "), QUESTION);
    }

    #[test]
    fn a_word_longer_than_a_line_is_split_not_dropped() {
        let lines = wrap("aaaaaaaaaaaaaaaaaaaaaaaaa b", 10, 10);
        assert_eq!(lines, ["aaaaaaaaaa", "aaaaaaaaaa", "aaaaa b"]);
    }

    #[test]
    fn a_long_question_is_cut_to_the_line_limit_with_an_ellipsis() {
        let long = "word ".repeat(10_000);
        let lines = wrap(&long, 20, 3);
        assert_eq!(lines.len(), 3);
        assert!(lines[2].ends_with('…'));
        assert!(lines[2].chars().count() <= 20);
    }

    #[test]
    fn control_characters_in_a_question_cannot_start_a_line_of_their_own() {
        // A file name from the engineer must not inject a fake line.
        let lines = wrap("file\nAllow screen view?\r", 40, 10);
        assert_eq!(lines, ["file Allow screen view?"]);
    }

    #[test]
    fn the_dialog_is_centred_and_fits_the_screen() {
        for (w, h) in [(1920, 1080), (640, 400), (320, 240)] {
            let layout = DialogLayout::new(QUESTION, w, h);
            let win = layout.window;
            assert!(win.x >= 0 && win.x + win.width <= w, "{w}x{h}: {win:?}");
            assert!(win.y >= 0 && win.y + win.height <= h, "{w}x{h}: {win:?}");
            assert!((win.x - (w - win.x - win.width)).abs() <= 1, "centred");
            assert!((win.y - (h - win.y - win.height)).abs() <= 1, "centred");
            for button in [layout.allow, layout.deny] {
                assert!(button.x >= 0 && button.x + button.width <= win.width);
                assert!(button.y + button.height <= win.height);
            }
        }
    }

    #[test]
    fn the_dialog_says_it_is_the_technicians_approval() {
        let layout = DialogLayout::new(QUESTION, 1920, 1080);
        assert_eq!(layout.title.text, DIALOG_TITLE);
        assert_eq!(
            layout.question[0].text,
            "Erin Engineer <erin@example.com> asks for"
        );
    }

    #[test]
    fn dialog_hit_testing_finds_each_button_and_nothing_between() {
        let layout = DialogLayout::new(QUESTION, 1024, 768);
        let (ax, ay) = layout.allow.center();
        let (dx, dy) = layout.deny.center();
        assert_eq!(layout.button_at(ax, ay), Some(DialogButton::Allow));
        assert_eq!(layout.button_at(dx, dy), Some(DialogButton::Deny));
        assert!(!layout.allow.contains(layout.deny.x, layout.deny.y));
        let gap_x = layout.deny.x + layout.deny.width;
        assert_eq!(layout.button_at(gap_x, ay), None, "the gap is no button");
        let (qx, qy) = (layout.question[0].x, layout.question[0].y);
        assert_eq!(layout.button_at(qx, qy), None, "the question is no button");
        // Right and bottom edges are exclusive.
        let a = layout.allow;
        assert_eq!(layout.button_at(a.x + a.width, ay), None);
        assert_eq!(layout.button_at(ax, a.y + a.height), None);
    }

    #[test]
    fn session_window_has_a_stop_button_per_grant_and_hits_them() {
        let granted = [Capability::ScreenView, Capability::RemoteControl];
        let layout = SessionLayout::new("Erin <erin@example.com>", &granted, 1280);
        assert_eq!(layout.rows.len(), 2);
        assert!(layout.nothing_granted.is_none());
        for capability in granted {
            let stop = layout.button(SessionButton::Stop(capability)).unwrap();
            let (x, y) = stop.center();
            assert_eq!(
                layout.button_at(x, y),
                Some(SessionButton::Stop(capability))
            );
        }
        let (x, y) = layout.end_session.center();
        assert_eq!(layout.button_at(x, y), Some(SessionButton::EndSession));
        let label = &layout.rows[0].label;
        assert_eq!(layout.button_at(label.x, label.y), None);
        let w = layout.window;
        assert_eq!(w.x + w.width + SCREEN_MARGIN, 1280, "top-right corner");
        assert!(layout.end_session.y + layout.end_session.height <= w.height);
    }

    #[test]
    fn a_capability_that_is_not_granted_has_no_stop_button() {
        let layout = SessionLayout::new("Erin", &[Capability::ScreenView], 1280);
        assert_eq!(
            layout.button(SessionButton::Stop(Capability::RemoteControl)),
            None
        );
        let empty = SessionLayout::new("Erin", &[], 1280);
        assert!(empty.rows.is_empty());
        assert!(empty.nothing_granted.is_some());
        assert!(empty.end_session.y > empty.engineer.y);
    }

    #[test]
    fn long_engineer_names_are_cut_to_the_window() {
        let layout = SessionLayout::new(&"x".repeat(500), &[], 1280);
        let width = text_width(&layout.engineer.text, SCALE);
        assert!(layout.engineer.x + width <= layout.window.width);
        assert!(layout.engineer.text.ends_with('…'));
    }

    #[test]
    fn button_labels_are_centred() {
        let area = Rect::new(10, 10, 160, 40);
        let label = centred_label("Allow", area);
        let width = text_width("Allow", SCALE) - SCALE;
        let left = label.x - area.x;
        let right = area.x + area.width - (label.x + width);
        assert!((left - right).abs() <= 1, "{left} vs {right}");
    }
}
