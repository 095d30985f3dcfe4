//! The Punycode decoder of RFC 3492 §6.2, enough to tell whether an `xn--` DNS label is a
//! real A-label: its body must decode, and to something that is not plain ASCII.
//! (The `idna` crate would do, but it brings ICU's normalisation tables along.)

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

/// The bias adaptation function of RFC 3492 §6.1.
fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

/// The value of one base-36 digit (`a-z` 0-25, `0-9` 26-35, either case).
fn digit(byte: u8) -> Option<u32> {
    match byte {
        b'a'..=b'z' => Some(u32::from(byte - b'a')),
        b'A'..=b'Z' => Some(u32::from(byte - b'A')),
        b'0'..=b'9' => Some(u32::from(byte - b'0') + 26),
        _ => None,
    }
}

/// Decodes the body of an `xn--` label (the part after the prefix); `None` when it is not
/// valid Punycode (a bad digit, a truncated number, an overflow, a non-character).
pub(crate) fn decode(input: &str) -> Option<String> {
    let (basic, extended) = match input.rfind('-') {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => ("", input),
    };
    if !basic.is_ascii() {
        return None;
    }
    let mut output: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    let mut bytes = extended.bytes().peekable();
    while bytes.peek().is_some() {
        let old_i = i;
        let mut w = 1u32;
        let mut k = BASE;
        loop {
            let d = digit(bytes.next()?)?;
            i = i.checked_add(d.checked_mul(w)?)?;
            let t = if k <= bias {
                T_MIN
            } else {
                (k - bias).min(T_MAX)
            };
            if d < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let points = u32::try_from(output.len()).ok()? + 1;
        bias = adapt(i - old_i, points, old_i == 0);
        n = n.checked_add(i / points)?;
        i %= points;
        output.insert(usize::try_from(i).ok()?, char::from_u32(n)?);
        i += 1;
    }
    Some(output.into_iter().collect())
}

/// Whether `label` (without its `xn--` prefix) decodes to a label holding non-ASCII.
pub(crate) fn is_a_label_body(body: &str) -> bool {
    decode(body).is_some_and(|u| !u.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::{decode, is_a_label_body};

    #[test]
    fn decodes_the_rfc_samples() {
        // RFC 3492 §7.1 (B) Chinese (simplified) and (L) Japanese, and a German word.
        assert_eq!(
            decode("ihqwcrb4cv8a8dqg056pqjye").as_deref(),
            Some("他们为什么不说中文")
        );
        assert_eq!(
            decode("3B-ww4c5e180e575a65lsy2b").as_deref(),
            Some("3年B組金八先生")
        );
        assert_eq!(decode("mnchen-3ya").as_deref(), Some("münchen"));
    }

    #[test]
    fn refuses_what_is_not_an_a_label() {
        for body in ["zz", "", "abc-", "a-b-", "99999999999", "-!", "mnchen-3y"] {
            assert!(!is_a_label_body(body), "{body:?} was accepted");
        }
        assert!(is_a_label_body("mnchen-3ya"));
    }
}
