//! Conversions between the WIT's `parameter-value`/`db-value` and Postgres wire values.
//!
//! Parameters become concrete Rust types, so tokio-postgres checks them against the types the
//! server inferred for the statement. Results are read by column type; a type the WIT does not
//! map (e.g. `json`) comes back as `other(name)` with the raw bytes as `unsupported`. NUMERIC
//! is decoded by hand so that any precision reads back exactly; JSONB comes back re-serialised
//! compactly, as Spin returns it.
//!
//! `timestamptz` is the exception: Spin 4.0.2 fails any query that returns such a column
//! (`query-failed`, text), and so does galley, rather than answer something Spin would not —
//! an app that reads `timestamptz` through galley would break on Spin. The error says how to
//! select it instead.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Datelike};
use rust_decimal::Decimal;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::Row;

use crate::bindings::postgres::{DbDataType, DbValue, Error, Interval, ParameterValue, QueryError, RangeBoundKind};

type BoxError = Box<dyn StdError + Sync + Send>;
pub type SqlParam = Box<dyn ToSql + Sync + Send>;

pub fn as_refs(params: &[SqlParam]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// The bytes of the text and binary values among `params`: what makes a message large.
pub fn parameter_bytes(params: &[ParameterValue]) -> usize {
    params
        .iter()
        .map(|p| match p {
            ParameterValue::Str(v) => v.len(),
            ParameterValue::Binary(v) => v.len(),
            _ => 0,
        })
        .sum()
}

/// The bytes of the text and binary values among a result's rows.
pub fn row_bytes(rows: &crate::bindings::postgres::RowSet) -> usize {
    rows.rows
        .iter()
        .flatten()
        .map(|v| match v {
            DbValue::Str(v) => v.len(),
            DbValue::Binary(v) => v.len(),
            _ => 0,
        })
        .sum()
}

fn bad(what: &str, value: impl std::fmt::Debug) -> Error {
    Error::BadParameter(format!("{what} {value:?} is not valid"))
}

pub fn to_sql_params(params: Vec<ParameterValue>) -> Result<Vec<SqlParam>, Error> {
    params.into_iter().map(to_sql).collect()
}

fn to_sql(value: ParameterValue) -> Result<SqlParam, Error> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(v),
        ParameterValue::Int8(v) => Box::new(v),
        ParameterValue::Int16(v) => Box::new(v),
        ParameterValue::Int32(v) => Box::new(v),
        ParameterValue::Int64(v) => Box::new(v),
        ParameterValue::Floating32(v) => Box::new(v),
        ParameterValue::Floating64(v) => Box::new(v),
        ParameterValue::Str(v) => Box::new(v),
        ParameterValue::Binary(v) => Box::new(v),
        ParameterValue::Date(d) => Box::new(date(d)?),
        ParameterValue::Time(t) => Box::new(time(t)?),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => Box::new(NaiveDateTime::new(date((y, mo, d))?, time((h, mi, s, ns))?)),
        ParameterValue::Timestamp(seconds) => {
            Box::new(Timestamp(DateTime::from_timestamp(seconds, 0).ok_or_else(|| bad("timestamp", seconds))?))
        }
        ParameterValue::Uuid(v) => Box::new(uuid::Uuid::parse_str(&v).map_err(|_| bad("uuid", v))?),
        ParameterValue::Jsonb(bytes) => {
            Box::new(serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| Error::BadParameter(format!("jsonb: {e}")))?)
        }
        ParameterValue::Decimal(v) => Box::new(decimal(&v)?),
        ParameterValue::RangeInt32((lower, upper)) => Box::new(Range { lower, upper }),
        ParameterValue::RangeInt64((lower, upper)) => Box::new(Range { lower, upper }),
        ParameterValue::RangeDecimal((lower, upper)) => {
            let bound = |b: Option<(String, RangeBoundKind)>| b.map(|(v, k)| decimal(&v).map(|d| (d, k))).transpose();
            Box::new(Range { lower: bound(lower)?, upper: bound(upper)? })
        }
        ParameterValue::ArrayInt32(v) => Box::new(v),
        ParameterValue::ArrayInt64(v) => Box::new(v),
        ParameterValue::ArrayDecimal(v) => {
            Box::new(v.iter().map(|d| d.as_deref().map(decimal).transpose()).collect::<Result<Vec<_>, _>>()?)
        }
        ParameterValue::ArrayStr(v) => Box::new(v),
        ParameterValue::Interval(v) => Box::new(IntervalValue(v)),
        ParameterValue::DbNull => Box::new(Null),
    })
}

fn date((year, month, day): (i32, u8, u8)) -> Result<NaiveDate, Error> {
    NaiveDate::from_ymd_opt(year, month.into(), day.into()).ok_or_else(|| bad("date", (year, month, day)))
}

fn time((hour, minute, second, nanos): (u8, u8, u8, u32)) -> Result<NaiveTime, Error> {
    NaiveTime::from_hms_nano_opt(hour.into(), minute.into(), second.into(), nanos)
        .ok_or_else(|| bad("time", (hour, minute, second, nanos)))
}

fn decimal(text: &str) -> Result<Decimal, Error> {
    Decimal::from_str_exact(text).map_err(|_| bad("decimal", text))
}

/// SQL NULL for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// A Unix timestamp, written to either `timestamp` (as UTC) or `timestamptz`.
#[derive(Debug)]
struct Timestamp(DateTime<chrono::Utc>);

impl ToSql for Timestamp {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::TIMESTAMP {
            self.0.naive_utc().to_sql(ty, out)
        } else {
            self.0.to_sql(ty, out)
        }
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMP || *ty == Type::TIMESTAMPTZ
    }
    to_sql_checked!();
}

#[derive(Debug)]
struct IntervalValue(Interval);

impl ToSql for IntervalValue {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for IntervalValue {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let bytes: [u8; 16] = raw.try_into().map_err(|_| "interval must be 16 bytes")?;
        Ok(IntervalValue(Interval {
            micros: i64::from_be_bytes(bytes[0..8].try_into()?),
            days: i32::from_be_bytes(bytes[8..12].try_into()?),
            months: i32::from_be_bytes(bytes[12..16].try_into()?),
        }))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

// Range flags of Postgres's binary range format.
const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;

/// A range with optional bounds (`None` is unbounded on that side).
#[derive(Debug)]
struct Range<T> {
    lower: Option<(T, RangeBoundKind)>,
    upper: Option<(T, RangeBoundKind)>,
}

impl<T: ToSql> ToSql for Range<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let Kind::Range(element) = ty.kind() else { return Err(format!("{ty} is not a range").into()) };
        let mut flags = 0;
        match &self.lower {
            None => flags |= RANGE_LB_INF,
            Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_LB_INC,
            Some(_) => {}
        }
        match &self.upper {
            None => flags |= RANGE_UB_INF,
            Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_UB_INC,
            Some(_) => {}
        }
        out.put_u8(flags);
        for (value, _) in [&self.lower, &self.upper].into_iter().flatten() {
            let mut bound = BytesMut::new();
            value.to_sql(element, &mut bound)?;
            out.put_i32(i32::try_from(bound.len())?);
            out.extend_from_slice(&bound);
        }
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.kind(), Kind::Range(element) if T::accepts(element))
    }
    to_sql_checked!();
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Range<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let Kind::Range(element) = ty.kind() else { return Err(format!("{ty} is not a range").into()) };
        let (&flags, mut rest) = raw.split_first().ok_or("empty range value")?;
        if flags & RANGE_EMPTY != 0 {
            // The WIT has no way to say "empty" ((none, none) means unbounded): refuse.
            return Err("an empty range has no representation in spin:postgres".into());
        }
        let mut bound = |infinite: bool, inclusive: bool| -> Result<Option<(T, RangeBoundKind)>, BoxError> {
            if infinite {
                return Ok(None);
            }
            let (len, after) = rest.split_at_checked(4).ok_or("truncated range")?;
            let len = usize::try_from(i32::from_be_bytes(len.try_into()?))?;
            let (value, after) = after.split_at_checked(len).ok_or("truncated range")?;
            rest = after;
            let kind = if inclusive { RangeBoundKind::Inclusive } else { RangeBoundKind::Exclusive };
            Ok(Some((T::from_sql(element, value)?, kind)))
        };
        let lower = bound(flags & RANGE_LB_INF != 0, flags & RANGE_LB_INC != 0)?;
        let upper = bound(flags & RANGE_UB_INF != 0, flags & RANGE_UB_INC != 0)?;
        Ok(Range { lower, upper })
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.kind(), Kind::Range(element) if T::accepts(element))
    }
}

/// NUMERIC as its exact base-10 text, whatever its precision.
struct NumericText(String);

impl<'a> FromSql<'a> for NumericText {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode_numeric(raw).map(NumericText)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

fn decode_numeric(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        Ok(i16::from_be_bytes(raw.get(i * 2..i * 2 + 2).ok_or("truncated numeric")?.try_into()?))
    };
    let ndigits = usize::try_from(word(0)?)?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = usize::try_from(word(3)?)?;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits = (0..ndigits).map(|i| word(4 + i)).collect::<Result<Vec<_>, _>>()?;
    // The base-10000 group at power `p` of 10000 is digits[weight - p].
    let group = |power: i32| -> i16 {
        usize::try_from(weight - power).ok().and_then(|i| digits.get(i).copied()).unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        text.push_str(&group(weight).to_string());
        for power in (0..weight).rev() {
            text.push_str(&format!("{:04}", group(power)));
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut power = -1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", group(power)));
            power -= 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// Any value's raw bytes, for types the WIT does not map.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

pub fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

/// Reads column `index` of `row` as the WIT value for its type.
pub fn read_value(row: &Row, index: usize) -> Result<DbValue, Error> {
    let column = &row.columns()[index];
    let ty = column.type_().clone();
    if ty == Type::TIMESTAMPTZ {
        // Spin 4.0.2 cannot read these and fails the query, NULLs included: so does galley.
        let name = column.name();
        return Err(Error::QueryFailed(QueryError::Text(format!(
            "column {index} (`{name}`) is timestamptz, which spin:postgres@4.0.0 hosts cannot return \
             (Spin 4.0.2 fails this query too): select `{name} AT TIME ZONE 'UTC'` (a timestamp, read as datetime) \
             or `extract(epoch from {name})::int8` instead"
        ))));
    }
    let value = match data_type(&ty) {
        DbDataType::Boolean => get(row, index, DbValue::Boolean),
        DbDataType::Int8 => get(row, index, DbValue::Int8),
        DbDataType::Int16 => get(row, index, DbValue::Int16),
        DbDataType::Int32 => get(row, index, DbValue::Int32),
        DbDataType::Int64 => get(row, index, DbValue::Int64),
        DbDataType::Floating32 => get(row, index, DbValue::Floating32),
        DbDataType::Floating64 => get(row, index, DbValue::Floating64),
        DbDataType::Str => get(row, index, DbValue::Str),
        DbDataType::Binary => get(row, index, DbValue::Binary),
        DbDataType::Date => get(row, index, |d: NaiveDate| DbValue::Date(date_tuple(d))),
        DbDataType::Time => get(row, index, |t: NaiveTime| DbValue::Time(time_tuple(t))),
        DbDataType::Datetime => get(row, index, |dt: NaiveDateTime| {
            let (y, mo, d) = date_tuple(dt.date());
            let (h, mi, s, ns) = time_tuple(dt.time());
            DbValue::Datetime((y, mo, d, h, mi, s, ns))
        }),
        // `data_type` never yields this (`read_value` refuses timestamptz before, as Spin
        // cannot read it), but the WIT has the case.
        DbDataType::Timestamp => get(row, index, |t: DateTime<chrono::Utc>| DbValue::Timestamp(t.timestamp())),
        DbDataType::Uuid => get(row, index, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
        // Spin parses the value and serialises it again: compact, keys in sorted order (it
        // builds serde_json without `preserve_order`, as galley does).
        DbDataType::Jsonb => get(row, index, |json: serde_json::Value| DbValue::Jsonb(json.to_string().into_bytes())),
        DbDataType::Decimal => get(row, index, |n: NumericText| DbValue::Decimal(n.0)),
        DbDataType::RangeInt32 => get(row, index, |r: Range<i32>| DbValue::RangeInt32((r.lower, r.upper))),
        DbDataType::RangeInt64 => get(row, index, |r: Range<i64>| DbValue::RangeInt64((r.lower, r.upper))),
        DbDataType::RangeDecimal => get(row, index, |r: Range<NumericText>| {
            let text = |b: Option<(NumericText, RangeBoundKind)>| b.map(|(n, k)| (n.0, k));
            DbValue::RangeDecimal((text(r.lower), text(r.upper)))
        }),
        DbDataType::ArrayInt32 => get(row, index, DbValue::ArrayInt32),
        DbDataType::ArrayInt64 => get(row, index, DbValue::ArrayInt64),
        DbDataType::ArrayDecimal => get(row, index, |v: Vec<Option<NumericText>>| {
            DbValue::ArrayDecimal(v.into_iter().map(|n| n.map(|n| n.0)).collect())
        }),
        DbDataType::ArrayStr => get(row, index, DbValue::ArrayStr),
        DbDataType::Interval => get(row, index, |i: IntervalValue| DbValue::Interval(i.0)),
        DbDataType::Other(_) => get(row, index, |raw: Raw| DbValue::Unsupported(raw.0)),
    };
    value.map_err(|e| Error::ValueConversionFailed(format!("column {index} ({ty}): {e}")))
}

/// Reads a nullable column as `T`, mapping SQL NULL to `db-null`.
fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize, wrap: impl FnOnce(T) -> DbValue) -> Result<DbValue, tokio_postgres::Error> {
    Ok(row.try_get::<_, Option<T>>(index)?.map(wrap).unwrap_or(DbValue::DbNull))
}

fn date_tuple(d: NaiveDate) -> (i32, u8, u8) {
    (d.year(), d.month() as u8, d.day() as u8)
}

fn time_tuple(t: NaiveTime) -> (u8, u8, u8, u32) {
    (t.hour() as u8, t.minute() as u8, t.second() as u8, t.nanosecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_messages_size_is_its_text_and_binary_values() {
        let params = [ParameterValue::Str("abc".into()), ParameterValue::Binary(vec![0; 1000]), ParameterValue::Int64(7)];
        assert_eq!(parameter_bytes(&params), 1003);
        let rows = crate::bindings::postgres::RowSet {
            columns: Vec::new(),
            rows: vec![vec![DbValue::Binary(vec![1; 10]), DbValue::Str("xy".into())], vec![DbValue::Int32(1), DbValue::DbNull]],
        };
        assert_eq!(row_bytes(&rows), 12);
    }

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [ndigits, weight, sign as i16, dscale as i16].iter().chain(digits) {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        raw
    }

    #[test]
    fn numeric_decodes_exactly() {
        assert_eq!(decode_numeric(&numeric(2, 0, 0, 2, &[12, 3400])).unwrap(), "12.34");
        assert_eq!(decode_numeric(&numeric(1, -1, 0x4000, 2, &[500])).unwrap(), "-0.05");
        assert_eq!(decode_numeric(&numeric(2, 1, 0, 0, &[1, 0])).unwrap(), "10000");
        assert_eq!(decode_numeric(&numeric(1, 1, 0, 0, &[1])).unwrap(), "10000");
        assert_eq!(decode_numeric(&numeric(0, 0, 0, 3, &[])).unwrap(), "0.000");
        assert_eq!(decode_numeric(&numeric(1, -2, 0, 8, &[1200])).unwrap(), "0.00001200");
        assert_eq!(decode_numeric(&numeric(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
    }

    #[test]
    fn bad_parameters_are_reported() {
        assert!(matches!(to_sql(ParameterValue::Uuid("nope".into())), Err(Error::BadParameter(_))));
        assert!(matches!(to_sql(ParameterValue::Decimal("1.2.3".into())), Err(Error::BadParameter(_))));
        assert!(matches!(to_sql(ParameterValue::Date((2024, 2, 30))), Err(Error::BadParameter(_))));
        assert!(matches!(to_sql(ParameterValue::Jsonb(b"{".to_vec())), Err(Error::BadParameter(_))));
    }

    #[test]
    fn decimal_accepts_28_digits() {
        assert!(decimal("1234567890123456789.012345678").is_ok());
    }
}
