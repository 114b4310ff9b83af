//! How many SMS segments a body takes, which is what a message costs (pure).
//!
//! A body that fits the GSM-7 alphabet is sent in 7-bit units: 160 alone, 153 per part when it
//! needs several (the rest of each part carries the concatenation header). Characters of the
//! GSM-7 extension table take two units (an escape and the character). Any other character makes
//! the whole body UCS-2: 16-bit units, 70 alone, 67 per part; characters outside the Basic
//! Multilingual Plane (most emoji) take two units (a surrogate pair).
//!
//! Parts are filled greedily, and a two-unit character is never split across parts (handsets
//! cannot rejoin half an escape or half a surrogate pair, so it moves to the next part). So 80
//! `€` (160 units) are one part, 81 are two parts of at most 76 `€` each.

/// The character set a body is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Ucs2 => "ucs2",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "gsm7" => Some(Self::Gsm7),
            "ucs2" => Some(Self::Ucs2),
            _ => None,
        }
    }

    /// Units in a message of one part, and per part of a concatenated message.
    const fn capacity(self) -> (u32, u32) {
        match self {
            Self::Gsm7 => (160, 153),
            Self::Ucs2 => (70, 67),
        }
    }
}

/// A body's encoding and segment count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segmentation {
    pub encoding: Encoding,
    /// Units used (septets for GSM-7, UTF-16 code units for UCS-2).
    pub units: u32,
    pub segments: u32,
}

/// GSM 03.38 default alphabet (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// GSM 03.38 extension table (an escape septet, then the character).
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets a character takes in GSM-7, or `None` if GSM-7 cannot carry it.
fn gsm7_units(c: char) -> Option<u32> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding and number of segments of `body`. An empty body is one (empty) segment.
pub fn segment(body: &str) -> Segmentation {
    let gsm: Option<Vec<u32>> = body.chars().map(gsm7_units).collect();
    let (encoding, units) = match gsm {
        Some(units) => (Encoding::Gsm7, units),
        None => (
            Encoding::Ucs2,
            body.chars()
                .map(|c| u32::try_from(c.len_utf16()).unwrap_or(2))
                .collect(),
        ),
    };
    let total: u32 = units.iter().sum();
    let (single, part) = encoding.capacity();
    let segments = if total <= single {
        1
    } else {
        pack(&units, part)
    };
    Segmentation {
        encoding,
        units: total,
        segments,
    }
}

/// Parts of `capacity` units needed for characters of the given widths, never splitting one.
fn pack(widths: &[u32], capacity: u32) -> u32 {
    let mut parts = 1;
    let mut used = 0;
    for &width in widths {
        if used + width > capacity {
            parts += 1;
            used = 0;
        }
        used += width;
    }
    parts
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn count(body: &str) -> (Encoding, u32) {
        let s = segment(body);
        (s.encoding, s.segments)
    }

    #[test]
    fn encodings_keep_their_stored_names() {
        for (encoding, name) in [(Encoding::Gsm7, "gsm7"), (Encoding::Ucs2, "ucs2")] {
            assert_eq!(encoding.as_str(), name);
            assert_eq!(Encoding::parse(name), Some(encoding));
        }
        assert_eq!(Encoding::parse("GSM7"), None);
    }

    #[test]
    fn gsm7_is_160_alone_and_153_per_part() {
        assert_eq!(count("a"), (Encoding::Gsm7, 1));
        assert_eq!(count(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(count(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(count(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(count(&"a".repeat(307)), (Encoding::Gsm7, 3));
        assert_eq!(count(&"a".repeat(1530)), (Encoding::Gsm7, 10));
        // The whole basic table, accents and Greek capitals included, stays GSM-7.
        assert_eq!(segment(GSM7_BASIC).encoding, Encoding::Gsm7);
    }

    #[test]
    fn extension_characters_count_twice_and_are_never_split() {
        assert_eq!(segment("€").units, 2);
        assert_eq!(count(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(count(&"€".repeat(81)), (Encoding::Gsm7, 2));
        assert_eq!(
            count(&format!("{}{}", "a".repeat(159), "[")),
            (Encoding::Gsm7, 2)
        );
        // 152 one-unit characters then an escape pair: 154 units; the pair cannot straddle the
        // first part's boundary at 153, so it starts the second part.
        let body = format!("{}{}{}", "a".repeat(152), "{", "a".repeat(152));
        assert_eq!(segment(&body).units, 306);
        assert_eq!(count(&body), (Encoding::Gsm7, 3));
    }

    #[test]
    fn anything_outside_gsm7_makes_the_body_ucs2() {
        assert_eq!(count("ç"), (Encoding::Ucs2, 1));
        assert_eq!(
            count(&"a".repeat(70).replacen('a', "ç", 1)),
            (Encoding::Ucs2, 1)
        );
        assert_eq!(count(&format!("{}ç", "a".repeat(70))), (Encoding::Ucs2, 2));
        assert_eq!(count(&"ж".repeat(134)), (Encoding::Ucs2, 2));
        assert_eq!(count(&"ж".repeat(135)), (Encoding::Ucs2, 3));
        // An emoji is a surrogate pair: two units, never split.
        assert_eq!(segment("😀").units, 2);
        assert_eq!(count(&"😀".repeat(35)), (Encoding::Ucs2, 1));
        assert_eq!(count(&"😀".repeat(36)), (Encoding::Ucs2, 2));
        let body = format!("{}😀{}", "ж".repeat(66), "ж".repeat(10));
        assert_eq!(count(&body), (Encoding::Ucs2, 2));
    }

    proptest! {
        /// Without two-unit characters, the count is the textbook formula.
        #[test]
        fn single_width_bodies_follow_the_formula(
            length in 1usize..1600,
            ucs in any::<bool>(),
        ) {
            let c = if ucs { 'ж' } else { 'a' };
            let body: String = std::iter::repeat_n(c, length).collect();
            let (single, part) = if ucs { (70, 67) } else { (160, 153) };
            let units = u32::try_from(length).unwrap();
            let expected = if units <= single { 1 } else { units.div_ceil(part) };
            prop_assert_eq!(segment(&body).segments, expected);
        }

        /// Greedy packing never needs fewer parts than the units allow, and never more than
        /// one extra part per two-unit character split avoided.
        #[test]
        fn packing_is_bounded(body in "[a€😀ж{]{0,400}") {
            let s = segment(&body);
            let (single, part) = s.encoding.capacity();
            if s.units <= single {
                prop_assert_eq!(s.segments, 1);
            } else {
                prop_assert!(s.segments >= s.units.div_ceil(part));
                prop_assert!(s.segments <= s.units.div_ceil(part - 1));
            }
        }
    }
}
