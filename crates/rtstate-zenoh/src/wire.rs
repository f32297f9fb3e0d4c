//! The bridge's wire format: a sample's payload is the state's bytes in its
//! layout; its attachment is a small fixed little-endian header.
//!
//! | bytes | content |
//! | --- | --- |
//! | 4 | magic `b"RTZ1"` (format version 1) |
//! | 8 | version (`u64`, the exporting buffer's) |
//! | 8 | publish time (`f64`, wall-clock seconds on the exporting machine) |
//! | 8 | the state's timestamp (`f64`, wall-clock seconds; staleness is judged on it) |
//! | 8 | layout hash (`u64`, [`Layout::hash`](rtstate::layout::Layout::hash)) |
//! | 8 | exporter epoch (`u64`, random per export; a new one means a new remote writer) |
//! | 2 | source length `l` (`u16`, at most [`MAX_SOURCE`]) |
//! | `l` | the source's name, UTF-8 |
//!
//! A query on an exported key answers the latest sample (payload and
//! attachment as above); a query with the parameters `rtstate=layout`
//! answers the layout's encoded form ([`Layout::encode`](rtstate::layout::Layout::encode)).

/// The attachment's magic and format version.
pub const MAGIC: [u8; 4] = *b"RTZ1";
/// Bytes before the source's name.
pub const FIXED_LEN: usize = 46;
/// The longest source name carried (longer ones are cut at a character boundary).
pub const MAX_SOURCE: usize = 255;
/// The query parameters that ask for a key's layout.
pub const LAYOUT_QUERY: &str = "rtstate=layout";

/// What a sample's attachment says.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    /// The exporting buffer's version of the state.
    pub version: u64,
    /// Wall-clock seconds of the publish, on the exporting machine.
    pub published_at: f64,
    /// The state's own time (wall-clock seconds).
    pub timestamp: f64,
    /// The layout's hash.
    pub layout_hash: u64,
    /// The exporter's epoch: random per export.
    pub epoch: u64,
    /// The publisher's name.
    pub source: String,
}

/// Why an attachment is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed attachment: {0}")]
pub struct Malformed(pub String);

impl Meta {
    /// The attachment's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut end = self.source.len().min(MAX_SOURCE);
        while !self.source.is_char_boundary(end) {
            end -= 1;
        }
        let source = &self.source.as_bytes()[..end];
        let mut out = Vec::with_capacity(FIXED_LEN + source.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.published_at.to_le_bytes());
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.extend_from_slice(&self.layout_hash.to_le_bytes());
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&(source.len() as u16).to_le_bytes());
        out.extend_from_slice(source);
        out
    }

    /// Parses an attachment, checking its magic, lengths, UTF-8, a version
    /// of at least 1 and finite times. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Meta, Malformed> {
        if bytes.len() < FIXED_LEN {
            return Err(Malformed(format!(
                "{} bytes, at least {FIXED_LEN} expected",
                bytes.len()
            )));
        }
        if bytes[..4] != MAGIC {
            return Err(Malformed("wrong magic".into()));
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            w
        };
        let version = u64::from_le_bytes(word(4));
        let published_at = f64::from_le_bytes(word(12));
        let timestamp = f64::from_le_bytes(word(20));
        let layout_hash = u64::from_le_bytes(word(28));
        let epoch = u64::from_le_bytes(word(36));
        let len = u16::from_le_bytes([bytes[44], bytes[45]]) as usize;
        if bytes.len() != FIXED_LEN + len {
            return Err(Malformed(format!(
                "source of {len} bytes announced, {} present",
                bytes.len() - FIXED_LEN
            )));
        }
        let source = std::str::from_utf8(&bytes[FIXED_LEN..])
            .map_err(|_| Malformed("the source is not UTF-8".into()))?
            .to_string();
        if version == 0 {
            return Err(Malformed("version 0".into()));
        }
        if !published_at.is_finite() || !timestamp.is_finite() {
            return Err(Malformed("a time is not finite".into()));
        }
        Ok(Meta {
            version,
            published_at,
            timestamp,
            layout_hash,
            epoch,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            version: 7,
            published_at: 1.5e9,
            timestamp: 1.5e9 - 0.01,
            layout_hash: 0xf7d4_6631_4fdd_4c2b,
            epoch: 42,
            source: "estimator".into(),
        }
    }

    #[test]
    fn round_trip() {
        let m = meta();
        let bytes = m.encode();
        assert_eq!(bytes.len(), FIXED_LEN + 9);
        assert_eq!(Meta::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn hostile_bytes_are_refused_never_a_panic() {
        let good = meta().encode();
        for cut in 0..good.len() {
            assert!(Meta::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = good.clone();
        extra.push(b'x');
        assert!(Meta::decode(&extra).is_err());
        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(Meta::decode(&magic).is_err());
        let mut zero = meta();
        zero.version = 0;
        assert!(Meta::decode(&zero.encode()).is_err());
        let mut nan = meta();
        nan.published_at = f64::NAN;
        assert!(Meta::decode(&nan.encode()).is_err());
        for i in 0..good.len() {
            for v in [0u8, 0x7f, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = Meta::decode(&b);
            }
        }
    }

    #[test]
    fn long_sources_are_cut_at_a_character_boundary() {
        let mut m = meta();
        m.source = "é".repeat(200);
        let decoded = Meta::decode(&m.encode()).unwrap();
        assert!(decoded.source.len() <= MAX_SOURCE);
        assert!(m.source.starts_with(&decoded.source));
    }
}
