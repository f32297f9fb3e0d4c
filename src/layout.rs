//! Self-describing layouts of plain-data states.
//!
//! A [`Layout`] lists a `#[repr(C)]` state's fields: name, element type
//! (one of [`ElementType`]), element count and byte offset, and the state's
//! size. A shared-memory buffer records its layout in its header, so that
//! any process (the Rust program that defined the struct, a Python script
//! with a numpy structured dtype, the `rtstate` command) can decode it
//! without sharing code, and so that opening a buffer with another layout
//! is an error that shows both.
//!
//! A type describes itself by implementing [`PodLayout`], normally through
//! the [`layout!`](crate::layout!) macro, which checks the description
//! against the compiler's `size_of` and `offset_of` at compile time:
//!
//! ```
//! use rtstate::layout::PodLayout;
//!
//! #[repr(C)]
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! pub struct Wheel {
//!     pub timestamp: f64,
//!     pub speed: [f32; 4],
//!     pub ticks: u64,
//! }
//! rtstate::layout!(Wheel { timestamp: f64, speed: [f32; 4], ticks: u64 });
//!
//! let layout = Wheel::layout();
//! assert_eq!(layout.size(), 32);
//! assert_eq!(layout.fields()[1].offset, 8);
//! assert_eq!(
//!     layout.to_string(),
//!     "{timestamp: f64 @0, speed: [f32; 4] @8, ticks: u64 @24} (32 bytes)"
//! );
//! ```
//!
//! # The encoded form and its hash
//!
//! [`Layout::encode`] writes the layout as bytes, little-endian:
//!
//! | bytes | content |
//! | --- | --- |
//! | 4 | state size in bytes |
//! | 4 | number of fields `n` |
//! | per field: 1 | element type code ([`ElementType::code`]) |
//! | 1 | name length `l` (1..=[`MAX_NAME`]) |
//! | 2 | zero |
//! | 4 | element count |
//! | 4 | byte offset |
//! | `l` | the name, UTF-8 |
//!
//! [`Layout::hash`] is the 64-bit FNV-1a hash (offset basis
//! `0xcbf29ce484222325`, prime `0x100000001b3`) of these bytes: it changes
//! with any name, type, count, offset, order or size, and is the same on
//! every platform and in every language that encodes the same layout.
//! [`Layout::decode`] validates everything it reads (lengths, UTF-8, type
//! codes, sizes, overlaps) and never panics on hostile bytes.

use std::fmt;

/// The element types a layout may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ElementType {
    /// `f64`, numpy `<f8`.
    F64 = 1,
    /// `f32`, numpy `<f4`.
    F32 = 2,
    /// `i64`, numpy `<i8`.
    I64 = 3,
    /// `u64`, numpy `<u8`.
    U64 = 4,
    /// `i32`, numpy `<i4`.
    I32 = 5,
    /// `u32`, numpy `<u4`.
    U32 = 6,
    /// `u8`, numpy `u1`.
    U8 = 7,
    /// `bool` (one byte, 0 or 1), numpy `?`.
    Bool = 8,
}

impl ElementType {
    /// Every element type, in code order.
    pub const ALL: [ElementType; 8] = [
        ElementType::F64,
        ElementType::F32,
        ElementType::I64,
        ElementType::U64,
        ElementType::I32,
        ElementType::U32,
        ElementType::U8,
        ElementType::Bool,
    ];

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            ElementType::F64 | ElementType::I64 | ElementType::U64 => 8,
            ElementType::F32 | ElementType::I32 | ElementType::U32 => 4,
            ElementType::U8 | ElementType::Bool => 1,
        }
    }

    /// The Rust name (`"f64"`, ..., `"bool"`).
    pub const fn name(self) -> &'static str {
        match self {
            ElementType::F64 => "f64",
            ElementType::F32 => "f32",
            ElementType::I64 => "i64",
            ElementType::U64 => "u64",
            ElementType::I32 => "i32",
            ElementType::U32 => "u32",
            ElementType::U8 => "u8",
            ElementType::Bool => "bool",
        }
    }

    /// The code stored in an encoded layout.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The type with this code, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The type with this Rust name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The longest field name, in bytes.
pub const MAX_NAME: usize = 64;
/// The most fields a layout may have.
pub const MAX_FIELDS: usize = 256;
/// The largest state a layout may describe, in bytes.
pub const MAX_STATE_SIZE: usize = 1 << 20;

/// One field of a [`Layout`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Its element type.
    pub element: ElementType,
    /// Elements (1 for a scalar, `N` for `[T; N]`).
    pub count: usize,
    /// Byte offset in the state.
    pub offset: usize,
}

impl Field {
    /// Bytes the field occupies.
    pub fn size(&self) -> usize {
        self.element.size() * self.count
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 1 {
            write!(f, "{}: {} @{}", self.name, self.element, self.offset)
        } else {
            write!(
                f,
                "{}: [{}; {}] @{}",
                self.name, self.element, self.count, self.offset
            )
        }
    }
}

/// The static description a [`layout!`](crate::layout!) macro produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// The field's name.
    pub name: &'static str,
    /// Its element type.
    pub element: ElementType,
    /// Elements.
    pub count: usize,
    /// Byte offset.
    pub offset: usize,
}

/// A state's layout: its fields in offset order and its size.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    fields: Vec<Field>,
    size: usize,
}

/// Why a layout (built or decoded) is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid layout: {0}")]
pub struct LayoutError(pub String);

fn invalid<T>(reason: impl Into<String>) -> Result<T, LayoutError> {
    Err(LayoutError(reason.into()))
}

/// 64-bit FNV-1a of `bytes` (see the module docs).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(BASIS, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-')
}

impl Layout {
    /// A layout from fields (sorted by offset here) and a state size,
    /// checked: names non-empty, at most [`MAX_NAME`] bytes of letters,
    /// digits, `_`, `.`, `-`, unique; at most [`MAX_FIELDS`] fields; counts
    /// ≥ 1; every field within `size`, aligned to its element, and not
    /// overlapping another; `1 ≤ size ≤` [`MAX_STATE_SIZE`].
    pub fn new(mut fields: Vec<Field>, size: usize) -> Result<Self, LayoutError> {
        if size == 0 || size > MAX_STATE_SIZE {
            return invalid(format!("state size {size} is outside 1..={MAX_STATE_SIZE}"));
        }
        if fields.is_empty() || fields.len() > MAX_FIELDS {
            return invalid(format!(
                "{} fields (1..={MAX_FIELDS} allowed)",
                fields.len()
            ));
        }
        fields.sort_by_key(|f| f.offset);
        let mut end = 0usize;
        for (i, field) in fields.iter().enumerate() {
            if !valid_name(&field.name) {
                return invalid(format!("field name {:?} is not allowed", field.name));
            }
            if fields[..i].iter().any(|g| g.name == field.name) {
                return invalid(format!("field name {:?} appears twice", field.name));
            }
            if field.count == 0 || field.count > MAX_STATE_SIZE {
                return invalid(format!("field {} has count {}", field.name, field.count));
            }
            if field.offset % field.element.size() != 0 {
                return invalid(format!(
                    "field {} at offset {} is not aligned to {}",
                    field.name, field.offset, field.element
                ));
            }
            if field.offset < end {
                return invalid(format!("field {} overlaps the field before it", field.name));
            }
            end = field.offset + field.size();
            if end > size {
                return invalid(format!(
                    "field {} ends at byte {end}, beyond the state's {size} bytes",
                    field.name
                ));
            }
        }
        Ok(Layout { fields, size })
    }

    /// The layout of a [`layout!`](crate::layout!) description.
    pub fn from_specs(specs: &[FieldSpec], size: usize) -> Result<Self, LayoutError> {
        let fields = specs
            .iter()
            .map(|s| Field {
                name: s.name.to_string(),
                element: s.element,
                count: s.count,
                offset: s.offset,
            })
            .collect();
        Layout::new(fields, size)
    }

    /// The fields, in offset order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The value of the `f64` field named `timestamp`, if the layout has
    /// one, in `state` (the state's bytes): by convention, the state's own
    /// time (wall-clock seconds).
    pub fn timestamp_in(&self, state: &[u8]) -> Option<f64> {
        let f = self
            .field("timestamp")
            .filter(|f| f.element == ElementType::F64 && f.count == 1)?;
        let bytes = state.get(f.offset..f.offset + 8)?;
        Some(f64::from_ne_bytes(bytes.try_into().ok()?))
    }

    /// The state's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The encoded form (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.fields.len() * 24);
        out.extend_from_slice(&(self.size as u32).to_le_bytes());
        out.extend_from_slice(&(self.fields.len() as u32).to_le_bytes());
        for f in &self.fields {
            out.push(f.element.code());
            out.push(f.name.len() as u8);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(f.count as u32).to_le_bytes());
            out.extend_from_slice(&(f.offset as u32).to_le_bytes());
            out.extend_from_slice(f.name.as_bytes());
        }
        out
    }

    /// Parses an encoded layout, validating every length, code and size;
    /// `bytes` must hold exactly one layout.
    pub fn decode(bytes: &[u8]) -> Result<Self, LayoutError> {
        let mut cursor = Cursor { bytes, at: 0 };
        let size = cursor.u32()? as usize;
        let n = cursor.u32()? as usize;
        if n == 0 || n > MAX_FIELDS {
            return invalid(format!("{n} fields (1..={MAX_FIELDS} allowed)"));
        }
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            let code = cursor.take(1)?[0];
            let element = ElementType::from_code(code)
                .ok_or_else(|| LayoutError(format!("unknown element type code {code}")))?;
            let len = cursor.take(1)?[0] as usize;
            if cursor.take(2)? != [0, 0] {
                return invalid("reserved bytes are not zero");
            }
            let count = cursor.u32()? as usize;
            let offset = cursor.u32()? as usize;
            let name = std::str::from_utf8(cursor.take(len)?)
                .map_err(|_| LayoutError("a field name is not UTF-8".into()))?;
            fields.push(Field {
                name: name.to_string(),
                element,
                count,
                offset,
            });
        }
        if cursor.at != bytes.len() {
            return invalid(format!(
                "{} bytes follow the last field",
                bytes.len() - cursor.at
            ));
        }
        let layout = Layout::new(fields, size)?;
        // Encoding is canonical (fields in offset order): anything else
        // would hash differently from the same layout written by us.
        if layout.encode() != bytes {
            return invalid("fields are not in offset order");
        }
        Ok(layout)
    }

    /// The layout's hash: FNV-1a 64 of [`encode`](Self::encode).
    pub fn hash(&self) -> u64 {
        fnv1a64(&self.encode())
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LayoutError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| LayoutError("truncated".into()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, LayoutError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{field}")?;
        }
        write!(f, "}} ({} bytes)", self.size)
    }
}

/// A plain-data state that describes its own layout. Implement it with
/// [`layout!`](crate::layout!), which checks the description at compile
/// time.
pub trait PodLayout: bytemuck::Pod {
    /// The fields, as the macro lists them.
    const FIELDS: &'static [FieldSpec];

    /// The layout (built from [`FIELDS`](Self::FIELDS) and `size_of`).
    fn layout() -> Layout {
        match Layout::from_specs(Self::FIELDS, std::mem::size_of::<Self>()) {
            Ok(layout) => layout,
            // The macro's compile-time checks make this unreachable for
            // macro-built descriptions.
            Err(e) => panic!("{}: {e}", std::any::type_name::<Self>()),
        }
    }
}

/// A type a [`layout!`](crate::layout!) field may have: one of the element
/// types or an array of one.
pub trait LayoutField {
    /// The element type.
    const ELEMENT: ElementType;
    /// Elements.
    const COUNT: usize;
}

macro_rules! scalar {
    ($($t:ty => $e:ident),*) => {$(
        impl LayoutField for $t {
            const ELEMENT: ElementType = ElementType::$e;
            const COUNT: usize = 1;
        }
    )*};
}
scalar!(f64 => F64, f32 => F32, i64 => I64, u64 => U64, i32 => I32, u32 => U32, u8 => U8, bool => Bool);

impl<E: LayoutField, const N: usize> LayoutField for [E; N] {
    const ELEMENT: ElementType = {
        assert!(E::COUNT == 1, "nested arrays are not supported");
        E::ELEMENT
    };
    const COUNT: usize = N;
}

/// Implements [`PodLayout`](crate::layout::PodLayout) for a `#[repr(C)]`
/// plain-data struct, listing every field with its type (an element type
/// or an array of one). Compilation fails if a field's type differs from
/// the struct's, or if the listed fields do not cover the struct's size.
///
/// ```
/// #[repr(C)]
/// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
/// struct Gps { time: f64, fix: [i32; 2] }
/// rtstate::layout!(Gps { time: f64, fix: [i32; 2] });
/// ```
///
/// ```compile_fail
/// #[repr(C)]
/// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
/// struct Gps { time: f64, fix: [i32; 2] }
/// rtstate::layout!(Gps { time: f64, fix: [u32; 2] }); // wrong type
/// ```
///
/// ```compile_fail
/// #[repr(C)]
/// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
/// struct Gps { time: f64, fix: [i32; 2] }
/// rtstate::layout!(Gps { time: f64 }); // a field left out
/// ```
#[macro_export]
macro_rules! layout {
    ($ty:ty { $($field:ident : $fty:ty),+ $(,)? }) => {
        impl $crate::layout::PodLayout for $ty {
            const FIELDS: &'static [$crate::layout::FieldSpec] = &[$(
                $crate::layout::FieldSpec {
                    name: ::core::stringify!($field),
                    element: <$fty as $crate::layout::LayoutField>::ELEMENT,
                    count: <$fty as $crate::layout::LayoutField>::COUNT,
                    offset: ::core::mem::offset_of!($ty, $field),
                },
            )+];
        }
        const _: () = {
            // Each listed type is the field's type.
            #[allow(dead_code)]
            fn check_types(value: &$ty) {
                $(let _: &$fty = &value.$field;)+
            }
            // The listed fields cover the whole struct (a Pod type has no
            // padding, so the sizes add up exactly).
            assert!(
                0 $(+ ::core::mem::size_of::<$fty>())+ == ::core::mem::size_of::<$ty>(),
                "layout!: the listed fields do not cover the struct"
            );
        };
    };
}

crate::layout!(crate::FastDroneState {
    timestamp: f64,
    position: [f64; 3],
    velocity: [f64; 3],
    attitude: [f64; 3],
    angular_velocity: [f64; 3],
});

crate::layout!(crate::control::pid::Command {
    timestamp: f64,
    thrust: f64,
    roll_rate: f64,
    pitch_rate: f64,
    yaw_rate: f64,
});

crate::layout!(crate::control::pid::Setpoint {
    position: [f64; 3],
    velocity: [f64; 3],
    attitude: [f64; 3],
    angular_velocity: [f64; 3],
    thrust: f64,
});

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::FastDroneState;

    #[test]
    fn fast_drone_state_layout_matches_the_struct() {
        let layout = FastDroneState::layout();
        assert_eq!(layout.size(), 104);
        let names: Vec<&str> = layout.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "timestamp",
                "position",
                "velocity",
                "attitude",
                "angular_velocity"
            ]
        );
        assert_eq!(layout.field("velocity").unwrap().offset, 32);
        assert_eq!(layout.field("velocity").unwrap().count, 3);
        assert_eq!(
            layout.to_string(),
            "{timestamp: f64 @0, position: [f64; 3] @8, velocity: [f64; 3] @32, \
             attitude: [f64; 3] @56, angular_velocity: [f64; 3] @80} (104 bytes)"
        );
    }

    #[test]
    fn encode_decode_round_trip_and_hash_is_stable() {
        for layout in [
            FastDroneState::layout(),
            crate::control::pid::Command::layout(),
        ] {
            let bytes = layout.encode();
            assert_eq!(Layout::decode(&bytes).unwrap(), layout);
            assert_eq!(layout.hash(), fnv1a64(&bytes));
        }
        // FNV-1a reference values.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        // The hash is pinned: other languages compute the same value.
        assert_eq!(FastDroneState::layout().hash(), FAST_HASH);
        assert_ne!(
            FastDroneState::layout().hash(),
            crate::control::pid::Command::layout().hash()
        );
    }

    // Computed independently (a few lines of Python over the documented
    // encoding).
    const FAST_HASH: u64 = 0xf7d4_6631_4fdd_4c2b;

    #[test]
    fn any_change_changes_the_hash() {
        let base = FastDroneState::layout();
        let mut renamed = base.fields().to_vec();
        renamed[0].name = "time".into();
        let mut retyped = base.fields().to_vec();
        retyped[0].element = ElementType::I64;
        for other in [
            Layout::new(renamed, 104).unwrap(),
            Layout::new(retyped, 104).unwrap(),
            Layout::new(base.fields().to_vec(), 112).unwrap(),
        ] {
            assert_ne!(other.hash(), base.hash(), "{other}");
        }
    }

    #[test]
    fn invalid_layouts_are_refused() {
        let f = |name: &str, element, count, offset| Field {
            name: name.into(),
            element,
            count,
            offset,
        };
        let cases = [
            (vec![f("a", ElementType::F64, 1, 0)], 0),
            (vec![f("a", ElementType::F64, 2, 0)], 8),
            (
                vec![
                    f("a", ElementType::F64, 1, 0),
                    f("b", ElementType::U8, 1, 4),
                ],
                16,
            ),
            (vec![f("a", ElementType::F64, 1, 4)], 16),
            (vec![f("", ElementType::F64, 1, 0)], 8),
            (vec![f("a b", ElementType::F64, 1, 0)], 8),
            (
                vec![
                    f("a", ElementType::F64, 1, 0),
                    f("a", ElementType::F64, 1, 8),
                ],
                16,
            ),
            (vec![f("a", ElementType::F64, 0, 0)], 8),
            (vec![], 8),
        ];
        for (fields, size) in cases {
            assert!(Layout::new(fields.clone(), size).is_err(), "{fields:?}");
        }
    }

    #[test]
    fn decode_never_panics_on_hostile_bytes() {
        let good = FastDroneState::layout().encode();
        for cut in 0..good.len() {
            assert!(Layout::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(Layout::decode(&extra).is_err());
        let mut bad_code = good.clone();
        bad_code[8] = 99;
        assert!(Layout::decode(&bad_code).is_err());
        let mut bad_utf8 = good.clone();
        bad_utf8[20] = 0xff;
        assert!(Layout::decode(&bad_utf8).is_err());
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Layout::decode(&huge).is_err());
        // Every single-byte corruption is either refused or decodes to a
        // valid layout; none panics.
        for i in 0..good.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                if let Ok(l) = Layout::decode(&b) {
                    assert!(l.size() >= 1);
                }
            }
        }
    }
}
