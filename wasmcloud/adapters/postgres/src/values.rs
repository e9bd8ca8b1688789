//! Values between Spin's Postgres types and the wire. Parameters are sent in Postgres's text
//! format with the type they stand for (a string goes as `unknown`, so the server infers its
//! type from the statement, as it does for a literal); results are asked for in text format
//! and decoded by their column's type OID.

use crate::bindings::{DbDataType, DbValue, ParameterValue, RangeBoundKind};

/// Type OIDs (pg_type.oid), the ones Spin's types map to.
pub mod oid {
    pub const UNKNOWN: u32 = 0;
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const UNKNOWN_LITERAL: u32 = 705;
    pub const INT4_ARRAY: u32 = 1007;
    pub const TEXT_ARRAY: u32 = 1009;
    pub const VARCHAR_ARRAY: u32 = 1015;
    pub const INT8_ARRAY: u32 = 1016;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC_ARRAY: u32 = 1231;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
    pub const INT4RANGE: u32 = 3904;
    pub const NUMRANGE: u32 = 3906;
    pub const INT8RANGE: u32 = 3926;
}

/// A parameter as the wire carries it: its type OID and its text (None for NULL).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub oid: u32,
    pub text: Option<String>,
}

fn some(oid: u32, text: impl Into<String>) -> Encoded {
    Encoded { oid, text: Some(text.into()) }
}

fn float(f: f64) -> String {
    match f {
        f if f.is_nan() => "NaN".into(),
        f if f == f64::INFINITY => "Infinity".into(),
        f if f == f64::NEG_INFINITY => "-Infinity".into(),
        f => f.to_string(),
    }
}

/// An element of an array literal: quoted, with `"` and `\` escaped; NULL bare.
fn array<T>(items: &[Option<T>], text: impl Fn(&T) -> String, quote: bool) -> String {
    let elements: Vec<String> = items
        .iter()
        .map(|item| match item {
            None => "NULL".into(),
            Some(v) if quote => format!("\"{}\"", text(v).replace('\\', "\\\\").replace('"', "\\\"")),
            Some(v) => text(v),
        })
        .collect();
    format!("{{{}}}", elements.join(","))
}

/// A range's lower and upper bounds, each absent (unbounded) or a value and its kind.
type Bounds<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn range<T>(bounds: &Bounds<T>, text: impl Fn(&T) -> String) -> String {
    let (lower, upper) = bounds;
    let open = match lower {
        Some((_, RangeBoundKind::Inclusive)) => '[',
        _ => '(',
    };
    let close = match upper {
        Some((_, RangeBoundKind::Inclusive)) => ']',
        _ => ')',
    };
    let bound = |b: &Option<(T, RangeBoundKind)>| b.as_ref().map(|(v, _)| text(v)).unwrap_or_default();
    format!("{open}{},{}{close}", bound(lower), bound(upper))
}

fn date_text((year, month, day): (i32, u8, u8)) -> String {
    format!("{year:04}-{month:02}-{day:02}")
}

fn time_text((hour, minute, second, nanos): (u8, u8, u8, u32)) -> String {
    format!("{hour:02}:{minute:02}:{second:02}.{nanos:09}")
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// Unix seconds as a UTC timestamp literal.
fn unix_seconds_text(seconds: i64) -> String {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}+00", of_day / 3600, of_day % 3600 / 60, of_day % 60)
}

pub fn encode(value: &ParameterValue) -> Encoded {
    use ParameterValue as P;
    match value {
        P::Boolean(b) => some(oid::BOOL, if *b { "t" } else { "f" }),
        P::Int8(n) => some(oid::INT2, n.to_string()),
        P::Int16(n) => some(oid::INT2, n.to_string()),
        P::Int32(n) => some(oid::INT4, n.to_string()),
        P::Int64(n) => some(oid::INT8, n.to_string()),
        P::Floating32(f) => some(oid::FLOAT4, float(f64::from(*f))),
        P::Floating64(f) => some(oid::FLOAT8, float(*f)),
        P::Str(s) => some(oid::UNKNOWN, s.clone()),
        P::Binary(bytes) => some(oid::BYTEA, format!("\\x{}", hex(bytes))),
        P::Date(d) => some(oid::DATE, date_text(*d)),
        P::Time(t) => some(oid::TIME, time_text(*t)),
        P::Datetime((y, mo, d, h, mi, s, ns)) => {
            some(oid::TIMESTAMP, format!("{} {}", date_text((*y, *mo, *d)), time_text((*h, *mi, *s, *ns))))
        }
        P::Timestamp(seconds) => some(oid::TIMESTAMPTZ, unix_seconds_text(*seconds)),
        P::Uuid(s) => some(oid::UUID, s.clone()),
        P::Jsonb(bytes) => some(oid::JSONB, String::from_utf8_lossy(bytes).into_owned()),
        P::Decimal(s) => some(oid::NUMERIC, s.clone()),
        P::RangeInt32(r) => some(oid::INT4RANGE, range(r, i32::to_string)),
        P::RangeInt64(r) => some(oid::INT8RANGE, range(r, i64::to_string)),
        P::RangeDecimal(r) => some(oid::NUMRANGE, range(r, String::clone)),
        P::ArrayInt32(items) => some(oid::INT4_ARRAY, array(items, i32::to_string, false)),
        P::ArrayInt64(items) => some(oid::INT8_ARRAY, array(items, i64::to_string, false)),
        P::ArrayDecimal(items) => some(oid::NUMERIC_ARRAY, array(items, String::clone, true)),
        P::ArrayStr(items) => some(oid::TEXT_ARRAY, array(items, String::clone, true)),
        P::Interval(i) => {
            some(oid::INTERVAL, format!("{} months {} days {} microseconds", i.months, i.days, i.micros))
        }
        P::DbNull => Encoded { oid: oid::UNKNOWN, text: None },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Spin data type of a column of this type.
pub fn data_type(type_oid: u32) -> DbDataType {
    use DbDataType as T;
    match type_oid {
        oid::BOOL => T::Boolean,
        oid::INT2 => T::Int16,
        oid::INT4 => T::Int32,
        oid::INT8 => T::Int64,
        oid::FLOAT4 => T::Floating32,
        oid::FLOAT8 => T::Floating64,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::CHAR | oid::UNKNOWN_LITERAL => T::Str,
        oid::BYTEA => T::Binary,
        oid::DATE => T::Date,
        oid::TIME => T::Time,
        oid::TIMESTAMP | oid::TIMESTAMPTZ => T::Datetime,
        oid::UUID => T::Uuid,
        oid::JSON | oid::JSONB => T::Jsonb,
        oid::NUMERIC => T::Decimal,
        oid::INT4_ARRAY => T::ArrayInt32,
        oid::INT8_ARRAY => T::ArrayInt64,
        oid::NUMERIC_ARRAY => T::ArrayDecimal,
        oid::TEXT_ARRAY | oid::VARCHAR_ARRAY => T::ArrayStr,
        other => T::Other(format!("type oid {other}")),
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("`{text}` is not a number of the column's type"))
}

fn parse_date(text: &str) -> Result<(i32, u8, u8), String> {
    let bad = || format!("`{text}` is not a date");
    let mut parts = text.splitn(3, '-');
    let (year, month, day) = (parts.next(), parts.next(), parts.next());
    let year = year.and_then(|y| y.parse().ok()).ok_or_else(bad)?;
    let month = month.and_then(|m| m.parse().ok()).ok_or_else(bad)?;
    let day = day.and_then(|d| d.get(..2)).and_then(|d| d.parse().ok()).ok_or_else(bad)?;
    Ok((year, month, day))
}

fn parse_time(text: &str) -> Result<(u8, u8, u8, u32), String> {
    let bad = || format!("`{text}` is not a time");
    // Drop a time zone (`+00`, `-05:30`): the session runs in UTC.
    let clock = text.split(['+', '-']).next().ok_or_else(bad)?;
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.splitn(3, ':').map(|p| p.parse::<u8>().ok());
    let (Some(Some(h)), Some(Some(m)), Some(Some(s))) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let digits: String = fraction.chars().chain(std::iter::repeat('0')).take(9).collect();
    Ok((h, m, s, digits.parse().map_err(|_| bad())?))
}

/// An array literal's elements (`{1,2,NULL}`, `{"a b","c\"d"}`), NULLs as None.
fn parse_array(text: &str) -> Result<Vec<Option<String>>, String> {
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| format!("`{text}` is not a one-dimensional array"))?;
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        let mut item = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => item.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => item.push(c),
                    None => return Err(format!("`{text}` has an unterminated element")),
                }
            }
        }
        while let Some(c) = chars.next_if(|c| *c != ',') {
            item.push(c);
        }
        chars.next(); // the comma
        items.push(if !quoted && item == "NULL" { None } else { Some(item) });
    }
    Ok(items)
}

fn parse_items<T: std::str::FromStr>(text: &str) -> Result<Vec<Option<T>>, String> {
    parse_array(text)?.into_iter().map(|item| item.map(|i| number(&i)).transpose()).collect()
}

fn parse_bytea(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.strip_prefix("\\x").ok_or_else(|| "bytea arrived in a format other than hex".to_owned())?;
    (0..digits.len())
        .step_by(2)
        .map(|i| digits.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| "malformed bytea".to_owned())
}

/// A value of a column of type `type_oid`, from its text (None for NULL).
pub fn decode(type_oid: u32, text: Option<&[u8]>) -> Result<DbValue, String> {
    use DbValue as V;
    let Some(bytes) = text else { return Ok(V::DbNull) };
    let text = || std::str::from_utf8(bytes).map_err(|_| "a value that is not UTF-8".to_owned());
    Ok(match type_oid {
        oid::BOOL => V::Boolean(text()? == "t"),
        oid::INT2 => V::Int16(number(text()?)?),
        oid::INT4 => V::Int32(number(text()?)?),
        oid::INT8 => V::Int64(number(text()?)?),
        oid::FLOAT4 => V::Floating32(number(text()?)?),
        oid::FLOAT8 => V::Floating64(number(text()?)?),
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::CHAR | oid::UNKNOWN_LITERAL => V::Str(text()?.to_owned()),
        oid::BYTEA => V::Binary(parse_bytea(text()?)?),
        oid::UUID => V::Uuid(text()?.to_owned()),
        oid::NUMERIC => V::Decimal(text()?.to_owned()),
        oid::JSON | oid::JSONB => V::Jsonb(bytes.to_vec()),
        oid::DATE => V::Date(parse_date(text()?)?),
        oid::TIME => V::Time(parse_time(text()?)?),
        oid::TIMESTAMP | oid::TIMESTAMPTZ => {
            let text = text()?;
            let (date, time) = text.split_once(' ').ok_or_else(|| format!("`{text}` is not a timestamp"))?;
            let ((y, mo, d), (h, mi, s, ns)) = (parse_date(date)?, parse_time(time)?);
            V::Datetime((y, mo, d, h, mi, s, ns))
        }
        oid::INT4_ARRAY => V::ArrayInt32(parse_items(text()?)?),
        oid::INT8_ARRAY => V::ArrayInt64(parse_items(text()?)?),
        oid::NUMERIC_ARRAY => V::ArrayDecimal(parse_array(text()?)?),
        oid::TEXT_ARRAY | oid::VARCHAR_ARRAY => V::ArrayStr(parse_array(text()?)?),
        // Ranges, intervals and the rest: the raw text, as Spin hands over what it cannot map.
        _ => V::Unsupported(bytes.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_go_as_postgres_text_with_their_type() {
        assert_eq!(encode(&ParameterValue::Int64(-7)), some(oid::INT8, "-7"));
        assert_eq!(encode(&ParameterValue::Str("abc".into())), some(oid::UNKNOWN, "abc"));
        assert_eq!(encode(&ParameterValue::Binary(vec![0, 255])), some(oid::BYTEA, "\\x00ff"));
        assert_eq!(encode(&ParameterValue::DbNull).text, None);
        assert_eq!(
            encode(&ParameterValue::ArrayStr(vec![Some("a \"b\"".into()), None, Some("c\\d".into())])),
            some(oid::TEXT_ARRAY, r#"{"a \"b\"",NULL,"c\\d"}"#)
        );
        assert_eq!(encode(&ParameterValue::ArrayInt64(vec![Some(1), None])), some(oid::INT8_ARRAY, "{1,NULL}"));
        assert_eq!(encode(&ParameterValue::Timestamp(0)), some(oid::TIMESTAMPTZ, "1970-01-01 00:00:00+00"));
        assert_eq!(encode(&ParameterValue::Timestamp(1_796_601_600)), some(oid::TIMESTAMPTZ, "2026-12-07 00:00:00+00"));
        assert_eq!(encode(&ParameterValue::Floating64(f64::NAN)).text.as_deref(), Some("NaN"));
    }

    #[test]
    fn results_are_decoded_by_column_type() {
        assert_eq!(decode(oid::INT4, Some(b"42")).unwrap(), DbValue::Int32(42));
        assert_eq!(decode(oid::BOOL, Some(b"t")).unwrap(), DbValue::Boolean(true));
        assert_eq!(decode(oid::BYTEA, Some(b"\\x00ff")).unwrap(), DbValue::Binary(vec![0, 255]));
        assert_eq!(decode(oid::TEXT, None).unwrap(), DbValue::DbNull);
        assert_eq!(
            decode(oid::TIMESTAMPTZ, Some(b"2026-12-07 12:34:56.5+00")).unwrap(),
            DbValue::Datetime((2026, 12, 7, 12, 34, 56, 500_000_000))
        );
        assert_eq!(
            decode(oid::TEXT_ARRAY, Some(br#"{plain,"with \"quote\"",NULL,"NULL"}"#)).unwrap(),
            DbValue::ArrayStr(vec![Some("plain".into()), Some("with \"quote\"".into()), None, Some("NULL".into())])
        );
        assert_eq!(decode(oid::INT8_ARRAY, Some(b"{}")).unwrap(), DbValue::ArrayInt64(vec![]));
        assert_eq!(decode(oid::NUMERIC, Some(b"12.50")).unwrap(), DbValue::Decimal("12.50".into()));
    }

    #[test]
    fn a_malformed_value_is_an_error_not_a_guess() {
        assert!(decode(oid::INT8, Some(b"12x")).is_err());
        assert!(decode(oid::BYTEA, Some(b"\\x0")).is_err());
        assert!(decode(oid::DATE, Some(b"yesterday")).is_err());
    }
}
