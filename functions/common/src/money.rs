//! Money: `NUMERIC(10,2)` in SQL, [`Money`] in Rust, a decimal string with two decimals in
//! JSON (`"12.50"`). Never a float anywhere, and never rounded: an amount that cannot be held
//! exactly is refused.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What `NUMERIC(10,2)` holds: below 10^8.
pub const BOUND: i64 = 100_000_000;

/// An amount of money: not negative, below [`BOUND`], whole cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0} is not an amount of money: amounts are whole cents from 0 to 99999999.99")]
pub struct BadAmount(pub String);

impl Money {
    /// 0.00: two decimals like every other amount, so it is `"0.00"` on the wire too.
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    /// `cents` / 100, if it is in range.
    pub fn from_cents(cents: i64) -> Result<Money, BadAmount> {
        if (0..BOUND * 100).contains(&cents) {
            Ok(Money(Decimal::new(cents, 2)))
        } else {
            Err(BadAmount(cents.to_string()))
        }
    }

    /// From a decimal (a database row, a sum): whole cents in range, else refused.
    pub fn new(amount: Decimal) -> Result<Money, BadAmount> {
        let normalized = amount.normalize();
        if normalized.scale() > 2 || normalized.is_sign_negative() && !normalized.is_zero() || normalized >= Decimal::from(BOUND) {
            return Err(BadAmount(amount.to_string()));
        }
        let mut cents = normalized;
        cents.rescale(2);
        Ok(Money(cents))
    }

    /// `self × n`, if the product is still an amount.
    pub fn times(self, n: i64) -> Option<Money> {
        Money::new(self.0.checked_mul(Decimal::from(n))?).ok()
    }

    /// `self + other`, if the sum is still an amount.
    pub fn plus(self, other: Money) -> Option<Money> {
        Money::new(self.0.checked_add(other.0)?).ok()
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The exact amount a client sent, or `None` if it is not whole cents in range.
    pub fn from_sent(sent: &AmountText) -> Option<Money> {
        let cents = match sent {
            AmountText::Text(text) => plain_decimal(text).and_then(|(int, frac)| cents(int, frac, 0)),
            AmountText::Number(text) => json_number(text).and_then(|(int, frac, exp)| cents(int, frac, exp)),
        }?;
        Money::from_cents(cents).ok()
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// From the wire form other services send (a decimal string): checked like any amount.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Money::from_sent(&AmountText::Text(text.clone())).ok_or_else(|| serde::de::Error::custom(BadAmount(text)))
    }
}

/// An amount as a client sent it, kept as its exact text: a decimal string (`"12.50"`) or a
/// JSON number (`12.5`, `1e2`). serde_json would turn a number into an f64 first (which reads
/// `1.0000000000000001` as 1), so the raw JSON text is taken instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountText {
    /// The string's content: plain decimal digits only (see [`Money::from_sent`]).
    Text(String),
    /// The JSON number's own text.
    Number(String),
}

impl<'de> Deserialize<'de> for AmountText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let text = raw.get();
        if text.starts_with('"') {
            serde_json::from_str::<String>(text).map(AmountText::Text).map_err(serde::de::Error::custom)
        } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            Ok(AmountText::Number(text.to_owned()))
        } else {
            Err(serde::de::Error::custom(format!("expected a decimal string such as \"12.50\", not {text}")))
        }
    }
}

/// `(integer digits, fraction digits)` of `(0|[1-9][0-9]*)(\.[0-9]+)?`: a string amount has
/// no sign, exponent, spaces or leading zero, so `"+1"`, `" 1"`, `"1e5"`, `"03.4"` are refused.
fn plain_decimal(text: &str) -> Option<(&str, &str)> {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) if !frac.is_empty() => (int, frac),
        Some(_) => return None,
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let canonical_int = !int.is_empty() && digits(int) && (int == "0" || !int.starts_with('0'));
    (canonical_int && digits(frac)).then_some((int, frac))
}

/// `(integer digits, fraction digits, exponent)` of a non-negative JSON number
/// (`(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`); `None` for a negative one. A JSON number
/// means its value, whatever its spelling, so `1e2` is 100.
fn json_number(text: &str) -> Option<(&str, &str, i64)> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, "0"),
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    // A huge exponent saturates: the value is then far out of range either way.
    let exponent = exponent.parse::<i64>().unwrap_or(if exponent.starts_with('-') { i64::MIN / 2 } else { i64::MAX / 2 });
    let (int, frac) = plain_decimal(mantissa)?;
    Some((int, frac, exponent))
}

/// The exact value of `int.frac × 10^exp` in cents, if it is a whole number of cents below
/// 10^10 (so it fits an i64); `None` otherwise.
fn cents(int: &str, frac: &str, exp: i64) -> Option<i64> {
    let digits: String = [int, frac].concat();
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    if significant.is_empty() {
        return Some(0);
    }
    // value = significant × 10^scale10, with the trailing zeros moved into the exponent.
    let trailing = (digits.len() - significant.len()) as i64;
    let scale10 = exp.saturating_sub(frac.len() as i64).saturating_add(trailing);
    // In cents: significant × 10^(scale10 + 2); not whole below one cent.
    let shift = scale10.checked_add(2)?;
    if shift < 0 || significant.len() as i64 + shift > 10 {
        return None;
    }
    let mut cents: i64 = significant.parse().ok()?;
    for _ in 0..shift {
        cents = cents.checked_mul(10)?;
    }
    Some(cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Option<String> {
        Money::from_sent(&AmountText::Text(s.into())).map(|m| m.to_string())
    }

    fn number(s: &str) -> Option<String> {
        Money::from_sent(&AmountText::Number(s.into())).map(|m| m.to_string())
    }

    #[test]
    fn strings_are_plain_decimals_read_exactly() {
        assert_eq!(text("12.5").as_deref(), Some("12.50"));
        assert_eq!(text("12.500").as_deref(), Some("12.50"), "trailing zeros are not precision");
        assert_eq!(text("0").as_deref(), Some("0.00"));
        assert_eq!(text("99999999.99").as_deref(), Some("99999999.99"));
        assert_eq!(text(&format!("1.{}", "0".repeat(40))).as_deref(), Some("1.00"), "zeros are exact, however many");
        for bad in ["-1", "1.234", "100000000", "1e5", "abc", "", "NaN", "+1", " 1", "1 ", "03.4", "00", "1.", ".5", "1.0000000000000000000000000000001"] {
            assert_eq!(text(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_numbers_are_read_exactly_from_their_text() {
        assert_eq!(number("19.99").as_deref(), Some("19.99"));
        assert_eq!(number("1e2").as_deref(), Some("100.00"));
        assert_eq!(number("1.5E+1").as_deref(), Some("15.00"));
        assert_eq!(number("1234e-2").as_deref(), Some("12.34"));
        for bad in ["1.0000000000000001", "-1", "1e8", "1e-3", "1e999999999999999999999", "1e-99999999999999999", "0.001", "100000000.00"] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_wire_form_is_a_string_with_two_decimals() {
        let m = Money::new("4.2".parse().unwrap()).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"4.20\"");
        assert_eq!(serde_json::from_str::<Money>("\"4.20\"").unwrap(), m);
        assert!(serde_json::from_str::<Money>("4.2").is_err(), "other services send strings");
        assert!(Money::new("-0.01".parse().unwrap()).is_err());
        assert!(Money::new("0.001".parse().unwrap()).is_err());
        assert_eq!(Money::from_cents(1250).unwrap().to_string(), "12.50");
        assert_eq!(serde_json::to_string(&Money::ZERO).unwrap(), "\"0.00\"");
        assert_eq!(Money::ZERO, Money::from_cents(0).unwrap());
    }

    #[test]
    fn arithmetic_stays_exact_and_in_range() {
        let price = Money::from_cents(1999).unwrap();
        assert_eq!(price.times(3).unwrap().to_string(), "59.97");
        assert_eq!(price.plus(Money::from_cents(1).unwrap()).unwrap().to_string(), "20.00");
        assert_eq!(Money::from_cents(99_999_999_99).unwrap().plus(Money::from_cents(1).unwrap()), None);
        assert_eq!(price.times(100_000_000), None);
    }

    #[test]
    fn a_raw_amount_keeps_the_text_sent() {
        assert_eq!(serde_json::from_str::<AmountText>("1.0000000000000001").unwrap(), AmountText::Number("1.0000000000000001".into()));
        assert_eq!(serde_json::from_str::<AmountText>("\"2\"").unwrap(), AmountText::Text("2".into()));
        assert!(serde_json::from_str::<AmountText>("true").is_err());
    }
}
