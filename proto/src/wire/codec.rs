//! Canonical field encoding: big-endian integers, fixed arrays, and
//! length-prefixed byte strings whose bound is part of the type.
//!
//! One encoding per value (no optional padding, no alternative forms), so
//! signatures and hash chains over encoded bytes are well defined.

use super::DecodeError;

/// A cursor over untrusted bytes. Every read is bounds-checked; nothing here
/// allocates more than the bytes actually present.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                needed: n,
                remaining: self.remaining(),
            });
        }
        let slice = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A `u32` length prefix followed by that many bytes, at most `max`.
    /// The length is checked against `max` and the input before anything is copied.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(DecodeError::FieldTooLong { len, max });
        }
        self.take(len)
    }

    /// Fails if any byte is left: trailing garbage is an error, not ignored.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// A value with one canonical wire encoding.
pub trait Field: Sized {
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Encodes into a fresh buffer.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes a whole buffer; trailing bytes are an error.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::decode(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

macro_rules! int_field {
    ($($t:ty => $read:ident),*) => {$(
        impl Field for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.$read()
            }
        }
    )*};
}
int_field!(u8 => u8, u16 => u16, u32 => u32, u64 => u64);

impl Field for i32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(i32::from_be_bytes(r.array()?))
    }
}

impl Field for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError::InvalidValue {
                what: "bool",
                value: u64::from(v),
            }),
        }
    }
}

impl<const N: usize> Field for [u8; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.array()
    }
}

impl<T: Field> Field for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode(out);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(r)?)),
            v => Err(DecodeError::InvalidValue {
                what: "option tag",
                value: u64::from(v),
            }),
        }
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths are bounded by MAX well below u32::MAX; constructors enforce it.
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

/// Bytes of at most `MAX` length. The bound is enforced when built and when decoded.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes<const MAX: usize>(Vec<u8>);

impl<const MAX: usize> Bytes<MAX> {
    pub fn new(bytes: Vec<u8>) -> Result<Self, DecodeError> {
        if bytes.len() > MAX {
            return Err(DecodeError::FieldTooLong {
                len: bytes.len(),
                max: MAX,
            });
        }
        Ok(Self(bytes))
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const MAX: usize> std::fmt::Debug for Bytes<MAX> {
    // Length only: payloads may be key material or file contents (never logged).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl<const MAX: usize> std::ops::Deref for Bytes<MAX> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const MAX: usize> Field for Bytes<MAX> {
    fn encode(&self, out: &mut Vec<u8>) {
        put_len(out, self.0.len());
        out.extend_from_slice(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self(r.bytes(MAX)?.to_vec()))
    }
}

/// UTF-8 text of at most `MAX` bytes, without control characters, so names and
/// messages from the network are safe to show in a terminal or a log.
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    pub fn new(text: impl Into<String>) -> Result<Self, DecodeError> {
        let text = text.into();
        if text.len() > MAX {
            return Err(DecodeError::FieldTooLong {
                len: text.len(),
                max: MAX,
            });
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(DecodeError::ControlCharacter);
        }
        Ok(Self(text))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> std::fmt::Debug for Text<MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl<const MAX: usize> std::fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> std::ops::Deref for Text<MAX> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> Field for Text<MAX> {
    fn encode(&self, out: &mut Vec<u8>) {
        put_len(out, self.0.len());
        out.extend_from_slice(self.0.as_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let raw = r.bytes(MAX)?;
        let text = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8)?;
        Self::new(text)
    }
}

/// A list of at most `MAX` items. The count is checked against `MAX` before
/// any item is decoded, and items are decoded from bytes actually present, so
/// a lying count cannot make the decoder allocate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct List<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> List<T, MAX> {
    pub fn new(items: Vec<T>) -> Result<Self, DecodeError> {
        if items.len() > MAX {
            return Err(DecodeError::TooManyItems {
                count: items.len(),
                max: MAX,
            });
        }
        Ok(Self(items))
    }
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T, const MAX: usize> std::ops::Deref for List<T, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Field, const MAX: usize> Field for List<T, MAX> {
    fn encode(&self, out: &mut Vec<u8>) {
        put_len(out, self.0.len());
        for item in &self.0 {
            item.encode(out);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.u32()? as usize;
        if count > MAX {
            return Err(DecodeError::TooManyItems { count, max: MAX });
        }
        // Every item takes at least one byte, so `remaining` bounds the capacity.
        let mut items = Vec::with_capacity(count.min(r.remaining()));
        for _ in 0..count {
            items.push(T::decode(r)?);
        }
        Ok(Self(items))
    }
}

/// Declares a struct whose wire encoding is its fields in order.
/// With `: Type`, it is also a top-level [`Message`](super::Message) of that
/// [`MessageType`](super::MessageType).
#[macro_export]
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident $(: $msg_type:ident)? {
            $( $(#[$fmeta:meta])* pub $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $fty ),*
        }

        impl $crate::wire::Field for $name {
            #[allow(unused_variables)]
            fn encode(&self, out: &mut Vec<u8>) {
                $( $crate::wire::Field::encode(&self.$field, out); )*
            }
            #[allow(unused_variables)]
            fn decode(r: &mut $crate::wire::Reader<'_>) -> Result<Self, $crate::wire::DecodeError> {
                Ok(Self { $( $field: $crate::wire::Field::decode(r)? ),* })
            }
        }

        $(
            impl $crate::wire::Message for $name {
                const TYPE: $crate::wire::MessageType = $crate::wire::MessageType::$msg_type;
            }
        )?
    };
}

/// Declares a fieldless enum encoded as one byte; unknown values are errors.
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value ),*
        }

        impl $crate::wire::Field for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                out.push(*self as u8);
            }
            fn decode(r: &mut $crate::wire::Reader<'_>) -> Result<Self, $crate::wire::DecodeError> {
                match r.u8()? {
                    $( $value => Ok(Self::$variant), )*
                    v => Err($crate::wire::DecodeError::InvalidValue {
                        what: stringify!($name),
                        value: u64::from(v),
                    }),
                }
            }
        }
    };
}
