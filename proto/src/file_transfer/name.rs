//! Safe file names (bad input): one plain name that means the same single
//! file on Linux and on Windows, never a path, a device, a stream or a name
//! that displays differently from what it is.

use std::fmt;

use crate::messages::file_transfer::FILE_NAME_MAX;
use crate::wire::{DecodeError, Text};

/// Prefix of the receiver's temporary files (`.assent-partial-*`). Received
/// names can never start with it, because hidden names are refused.
pub const PARTIAL_FILE_PREFIX: &str = ".assent-partial-";

/// Characters Windows refuses in a file name (besides `/`, `\`, `:` and
/// control characters, which have their own errors).
const WINDOWS_RESERVED_CHARACTERS: [char; 6] = ['<', '>', '"', '|', '?', '*'];

/// A file name that is safe to join to a receive directory on Linux and
/// Windows: exactly one path component, the same file on both systems.
///
/// Refused: empty names, `.` and `..`, `/` and `\`, control characters
/// (NUL included), drive prefixes (`C:`), any `:` (NTFS alternate data
/// streams), `<>"|?*`, Unicode bidirectional controls (they can hide a real
/// extension from the technician), names ending in `.` or space (Windows
/// strips them, so two names would mean one file), Windows device names
/// (`CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`, `LPT0`–`LPT9`, `COM¹²³`,
/// `LPT¹²³`, `CONIN$`, `CONOUT$`, in any case, with any extension and with
/// surrounding spaces), hidden names (leading `.`: invisible in file managers,
/// some are run by shells, and `.assent-partial-*` is ours), and names over
/// [`FILE_NAME_MAX`] bytes (255 UTF-8 bytes is at most 255 UTF-16 units, so
/// both systems' limits hold).
///
/// A leading `-` is **allowed**: it is an ordinary name on both systems, and
/// Assent only ever uses a name joined to its directory (`dir/-rf`), never
/// as a command-line argument, so it cannot be read as an option.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafeFileName(Text<FILE_NAME_MAX>);

/// Why a file name was refused. Each variant names the problem so the
/// technician or engineer knows what to rename.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    #[error("file name is empty; give the file a name")]
    Empty,
    #[error(
        "file name of {len} bytes is longer than the {FILE_NAME_MAX}-byte limit; rename the file \
         to something shorter"
    )]
    TooLong { len: usize },
    #[error("file name {name:?} contains a control character; rename the file")]
    ControlCharacter { name: String },
    #[error(
        "file name {name:?} contains a path separator ({separator:?}); send one file by its \
         name, not a path"
    )]
    PathSeparator { name: String, separator: char },
    #[error("file name {name:?} is a directory reference, not a file name")]
    DirectoryReference { name: String },
    #[error(
        "file name {name:?} starts with a drive prefix; send one file by its name, not a path"
    )]
    DrivePrefix { name: String },
    #[error(
        "file name {name:?} contains ':', which Windows reads as an alternate data stream; \
         rename the file"
    )]
    Colon { name: String },
    #[error(
        "file name {name:?} contains {character:?}, which Windows does not allow in file names; \
         rename the file"
    )]
    ReservedCharacter { name: String, character: char },
    #[error(
        "file name {name:?} contains the bidirectional text control U+{code:04X}, which makes it \
         display differently from what it is; rename the file"
    )]
    BidiControl { name: String, code: u32 },
    #[error(
        "file name {name:?} ends with {last:?}, which Windows silently drops; rename the file"
    )]
    TrailingDotOrSpace { name: String, last: char },
    #[error("file name {name:?} is the Windows device name {device}, not a file; rename the file")]
    DeviceName { name: String, device: String },
    #[error(
        "file name {name:?} starts with '.', a hidden file the technician would not see; rename \
         the file"
    )]
    Hidden { name: String },
}

impl SafeFileName {
    /// Checks `name` against every rule above; the first broken rule is the error.
    pub fn parse(name: &str) -> Result<Self, FileNameError> {
        let owned = || name.to_owned();
        if name.is_empty() {
            return Err(FileNameError::Empty);
        }
        if name.len() > FILE_NAME_MAX {
            return Err(FileNameError::TooLong { len: name.len() });
        }
        if name.chars().any(char::is_control) {
            return Err(FileNameError::ControlCharacter { name: owned() });
        }
        if let Some(separator) = name.chars().find(|c| matches!(c, '/' | '\\')) {
            return Err(FileNameError::PathSeparator {
                name: owned(),
                separator,
            });
        }
        if name == "." || name == ".." {
            return Err(FileNameError::DirectoryReference { name: owned() });
        }
        let bytes = name.as_bytes();
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err(FileNameError::DrivePrefix { name: owned() });
        }
        if name.contains(':') {
            return Err(FileNameError::Colon { name: owned() });
        }
        if let Some(character) = name
            .chars()
            .find(|c| WINDOWS_RESERVED_CHARACTERS.contains(c))
        {
            return Err(FileNameError::ReservedCharacter {
                name: owned(),
                character,
            });
        }
        if let Some(bidi) = name.chars().find(|&c| is_bidi_control(c)) {
            return Err(FileNameError::BidiControl {
                name: owned(),
                code: u32::from(bidi),
            });
        }
        if let Some(last @ ('.' | ' ')) = name.chars().next_back() {
            return Err(FileNameError::TrailingDotOrSpace {
                name: owned(),
                last,
            });
        }
        if let Some(device) = windows_device_name(name) {
            return Err(FileNameError::DeviceName {
                name: owned(),
                device,
            });
        }
        if name.starts_with('.') {
            return Err(FileNameError::Hidden { name: owned() });
        }
        // The checks above already imply the wire text rules; mapping keeps
        // this total rather than trusting that.
        Text::new(name).map(Self).map_err(|e| match e {
            DecodeError::FieldTooLong { len, .. } => FileNameError::TooLong { len },
            _ => FileNameError::ControlCharacter { name: owned() },
        })
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The name as the wire text of a [`FileOffer`](crate::messages::file_transfer::FileOffer).
    pub fn to_wire(&self) -> Text<FILE_NAME_MAX> {
        self.0.clone()
    }
}

impl fmt::Display for SafeFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SafeFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafeFileName({:?})", self.as_str())
    }
}

/// Unicode bidirectional formatting characters (ALM, LRM, RLM, embeddings,
/// overrides and isolates): `invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// The Windows device `name` opens instead of a file, if any. Windows looks at
/// the part before the first dot, ignoring spaces around it, in any case.
fn windows_device_name(name: &str) -> Option<String> {
    let stem = name.split_once('.').map_or(name, |(stem, _)| stem);
    let stem = stem.trim_matches(' ').to_ascii_uppercase();
    let is_device = match stem.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        other => other
            .strip_prefix("COM")
            .or_else(|| other.strip_prefix("LPT"))
            .is_some_and(|port| {
                let mut chars = port.chars();
                matches!(
                    (chars.next(), chars.next()),
                    (Some('0'..='9' | '¹' | '²' | '³'), None)
                )
            }),
    };
    is_device.then_some(stem)
}
