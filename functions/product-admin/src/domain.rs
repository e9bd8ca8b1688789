//! Catalog write rules: which resource a path names, what a product's fields must be, and
//! how a listing page is asked for. No Spin types: unit-tested natively.

use galley_common::catalog::parse_product_id;
use galley_common::error::CommonError;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

/// The collection route; items are `/api/v1/products/:id`.
pub const COLLECTION: &str = "/api/v1/products";
pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Prices are `NUMERIC(10,2)`: below 10^8, at most 2 decimals.
pub const PRICE_BOUND: i64 = 100_000_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldError {
    #[error("name must be 1-{NAME_MAX} characters and not blank")]
    Name,
    #[error("price must be a positive amount below 100000000 with at most 2 decimals, e.g. \"12.50\"")]
    Price,
    #[error("description must be at most {DESCRIPTION_MAX} characters")]
    Description,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("a PATCH must change at least one of name, price, description")]
    NothingToChange,
    #[error("{0}")]
    BadId(String),
    #[error("{0}")]
    BadQuery(String),
    #[error("no such product")]
    NotFound,
    #[error(transparent)]
    Common(#[from] CommonError),
}

galley_common::api_error!(AdminError {
    Self::Invalid(_) | Self::NothingToChange => (422, "validation", "Invalid product"),
    Self::BadId(_) => (400, "invalid-id", "Invalid product id"),
    Self::BadQuery(_) => (400, "invalid-query", "Invalid query"),
    Self::NotFound => (404, "not-found", "Not found"),
});

/// What a path names: the collection, or one product (reached by service chaining from
/// product-query, which owns the item route and passes writes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Collection,
    Item(i64),
}

impl Target {
    pub fn of(path: &str) -> Result<Target, AdminError> {
        let path = path.strip_suffix('/').unwrap_or(path);
        match path.strip_prefix(COLLECTION) {
            Some("") => Ok(Target::Collection),
            Some(rest) => match rest.strip_prefix('/') {
                Some(segment) if !segment.contains('/') => {
                    parse_product_id(segment).map(Target::Item).map_err(|e| AdminError::BadId(e.to_string()))
                }
                _ => Err(AdminError::NotFound),
            },
            None => Err(AdminError::NotFound),
        }
    }

    /// The methods this target answers.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Target::Collection => &["GET", "POST"],
            Target::Item(_) => &["PUT", "PATCH"],
        }
    }
}

/// A price as sent: a decimal string (`"12.50"`, preferred) or a JSON number (`12.5`), kept as
/// the exact text the client sent, so no float ever rounds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceText {
    /// The string's content: plain decimal digits only (see [`validate_price`]).
    Text(String),
    /// The JSON number's own text, e.g. `19.99` or `1e2`.
    Number(String),
}

impl<'de> Deserialize<'de> for PriceText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The raw JSON text: a number is seen exactly as written, before serde_json would turn
        // it into an f64 (which stores 1.0000000000000001 as 1).
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let text = raw.get();
        if text.starts_with('"') {
            serde_json::from_str::<String>(text).map(PriceText::Text).map_err(serde::de::Error::custom)
        } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            Ok(PriceText::Number(text.to_owned()))
        } else {
            Err(serde::de::Error::custom(format!("price must be a decimal string such as \"12.50\", not {text}")))
        }
    }
}

/// The price in cents, exactly, or the reason it is refused. Both forms must be positive,
/// below 10^8 and have no non-zero digit past the second decimal; nothing is ever rounded.
///
/// A string must be plain decimal digits: `(0|[1-9][0-9]*)(\.[0-9]+)?`, so `"+1"`, `" 1"`,
/// `"1e5"` and `"03.4"` are refused. A JSON number may use any JSON number syntax (`1e2` is 100),
/// since its value, not its spelling, is what JSON means. `api/openapi.yaml` states the same
/// rules (a test holds the two together).
pub fn validate_price(price: &PriceText) -> Result<Decimal, FieldError> {
    let cents = match price {
        PriceText::Text(text) => plain_decimal(text).and_then(|(int, frac)| cents(int, frac, 0)),
        PriceText::Number(text) => json_number(text).and_then(|(int, frac, exp)| cents(int, frac, exp)),
    };
    match cents {
        Some(cents) if cents > 0 && cents < PRICE_BOUND * 100 => Ok(Decimal::new(cents, 2)),
        _ => Err(FieldError::Price),
    }
}

/// `(integer digits, fraction digits)` of `(0|[1-9][0-9]*)(\.[0-9]+)?`.
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
/// (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`); `None` for a negative one.
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

pub fn validate_name(name: &str) -> Result<String, FieldError> {
    let count = name.chars().count();
    if count == 0 || count > NAME_MAX || name.trim().is_empty() {
        return Err(FieldError::Name);
    }
    Ok(name.to_owned())
}

pub fn validate_description(description: &Option<String>) -> Result<Option<String>, FieldError> {
    match description {
        Some(d) if d.chars().count() > DESCRIPTION_MAX => Err(FieldError::Description),
        other => Ok(other.clone()),
    }
}

/// `POST` and `PUT` bodies: the whole product (a missing description is none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub name: String,
    pub price: PriceText,
    #[serde(default)]
    pub description: Option<String>,
}

/// `PATCH` body: only what is present changes; `"description": null` clears it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub price: Option<PriceText>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, via `default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A validated change to a product; `None` leaves a column as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub name: Option<String>,
    pub price: Option<Decimal>,
    pub description: Option<Option<String>>,
}

/// A validated new product (or a whole replacement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub price: Decimal,
    pub description: Option<String>,
}

impl ProductInput {
    /// Runs every field's rule and reports every failure at once.
    pub fn validate(self) -> Result<NewProduct, AdminError> {
        match (validate_name(&self.name), validate_price(&self.price), validate_description(&self.description)) {
            (Ok(name), Ok(price), Ok(description)) => Ok(NewProduct { name, price, description }),
            (name, price, description) => Err(invalid([name.err(), price.err(), description.err()])),
        }
    }
}

impl From<NewProduct> for Changes {
    fn from(p: NewProduct) -> Self {
        Changes { name: Some(p.name), price: Some(p.price), description: Some(p.description) }
    }
}

impl ProductPatch {
    pub fn validate(self) -> Result<Changes, AdminError> {
        if self.name.is_none() && self.price.is_none() && self.description.is_none() {
            return Err(AdminError::NothingToChange);
        }
        match (
            self.name.as_deref().map(validate_name).transpose(),
            self.price.as_ref().map(validate_price).transpose(),
            self.description.as_ref().map(validate_description).transpose(),
        ) {
            (Ok(name), Ok(price), Ok(description)) => Ok(Changes { name, price, description }),
            (name, price, description) => Err(invalid([name.err(), price.err(), description.err()])),
        }
    }
}

fn invalid(failures: [Option<FieldError>; 3]) -> AdminError {
    AdminError::Invalid(failures.into_iter().flatten().collect())
}

/// A listing page request: `?limit=N&after=ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    /// Only products with a larger id (the last id of the previous page).
    pub after: i64,
}

impl Page {
    pub fn parse(query: &str) -> Result<Page, AdminError> {
        let mut page = Page { limit: DEFAULT_LIMIT, after: 0 };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "limit" => {
                    page.limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| AdminError::BadQuery(format!("limit must be a whole number from 1 to {MAX_LIMIT}")))?
                }
                "after" => {
                    page.after = parse_product_id(value).map_err(|e| AdminError::BadQuery(format!("after: {e}")))?
                }
                // Unknown parameters are ignored, as caches and proxies add their own.
                _ => {}
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::body::{parse_json, BodyError};
    use galley_common::problem::ApiError;

    fn price(s: &str) -> Result<String, FieldError> {
        validate_price(&PriceText::Text(s.into())).map(|d| d.to_string())
    }

    fn number(s: &str) -> Result<String, FieldError> {
        validate_price(&PriceText::Number(s.into())).map(|d| d.to_string())
    }

    #[test]
    fn targets() {
        assert_eq!(Target::of("/api/v1/products").unwrap(), Target::Collection);
        assert_eq!(Target::of("/api/v1/products/").unwrap(), Target::Collection);
        assert_eq!(Target::of("/api/v1/products/12").unwrap(), Target::Item(12));
        assert_eq!(Target::of("/api/v1/products/abc").unwrap_err().status(), 400);
        assert_eq!(Target::of("/api/v1/products/1/x").unwrap_err().status(), 404);
        assert_eq!(Target::of("/api/v1/productsx").unwrap_err().status(), 404);
    }

    #[test]
    fn prices() {
        assert_eq!(price("12.5").unwrap(), "12.50");
        assert_eq!(price("12.500").unwrap(), "12.50", "trailing zeros are not precision");
        assert_eq!(price("0.01").unwrap(), "0.01");
        assert_eq!(price("99999999.99").unwrap(), "99999999.99");
        assert_eq!(price("0.5").unwrap(), "0.50");
        assert_eq!(price(&format!("1.{}", "0".repeat(40))).unwrap(), "1.00", "zeros are exact, however many");
        for bad in ["0", "0.00", "0.001", "-1", "-0.01", "1.234", "100000000", "1e9", "1e5", "abc", "", "NaN", "+1", " 1", "1 ", "03.4", "00", "1.", ".5", "1.0000000000000000000000000000001"] {
            assert!(price(bad).is_err(), "{bad}");
        }
    }

    /// The contract's `PriceInput` and [`validate_price`] accept exactly the same prices: every
    /// string of up to six characters over the alphabet that matters, and some long ones.
    #[test]
    fn the_contract_states_the_same_price_rules() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../api/openapi.yaml");
        let spec: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let input = &spec["components"]["schemas"]["PriceInput"]["oneOf"];
        let pattern = input[0]["pattern"].as_str().expect("PriceInput string pattern");
        let pattern = regex::Regex::new(pattern).unwrap();
        let number = &input[1];
        assert_eq!(number["type"], "number");
        assert_eq!(number["exclusiveMinimum"].as_i64(), Some(0));
        assert_eq!(number["exclusiveMaximum"].as_i64(), Some(PRICE_BOUND));
        assert_eq!(number["multipleOf"].as_f64(), Some(0.01));

        let alphabet = ['0', '1', '5', '9', '.', 'e', '+', '-', ' '];
        let mut corpus = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..6 {
            frontier = frontier.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            corpus.extend(frontier.iter().cloned());
        }
        corpus.extend(["99999999.99", "99999999.990", "100000000", "12345678.9", "0.01", "0.10", "1.2300000000000000000000000000000000"].map(String::from));
        for text in corpus {
            let code = validate_price(&PriceText::Text(text.clone())).is_ok();
            assert_eq!(pattern.is_match(&text), code, "contract and code disagree on {text:?}");
        }
    }

    #[test]
    fn json_numbers_are_read_exactly_from_their_text() {
        assert_eq!(number("19.99").unwrap(), "19.99");
        assert_eq!(number("1e2").unwrap(), "100.00");
        assert_eq!(number("1.5E+1").unwrap(), "15.00");
        assert_eq!(number("1234e-2").unwrap(), "12.34");
        assert_eq!(number("99999999.99").unwrap(), "99999999.99");
        for bad in ["1.0000000000000001", "0", "-0", "-1", "1e8", "1e-3", "1e999999999999999999999", "1e-99999999999999999", "0.001", "100000000.00"] {
            assert!(number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prices_may_be_json_numbers_without_float_rounding() {
        let input: ProductInput = parse_json(br#"{"name":"Tea","price":19.99}"#, 1024).unwrap();
        assert_eq!(input.validate().unwrap().price.to_string(), "19.99");
        let input: ProductInput = parse_json(br#"{"name":"Tea","price":1.234}"#, 1024).unwrap();
        assert!(input.validate().is_err());
        let input: ProductInput = parse_json(br#"{"name":"Tea","price":1.0000000000000001}"#, 1024).unwrap();
        assert!(input.validate().is_err(), "a float would have read this as 1");
        assert!(matches!(parse_json::<ProductInput>(br#"{"name":"Tea","price":true}"#, 1024), Err(BodyError::Invalid(_))));
    }

    #[test]
    fn every_failing_field_is_reported() {
        let input = ProductInput { name: "x".repeat(201), price: PriceText::Text("-3".into()), description: Some("d".repeat(10_001)) };
        let err = input.validate().unwrap_err();
        assert_eq!(err.status(), 422);
        for word in ["name", "price", "description"] {
            assert!(err.detail().contains(word), "{}", err.detail());
        }
        let blank = ProductInput { name: "  ".into(), price: PriceText::Text("1".into()), description: None };
        assert!(blank.validate().is_err());
        let ok = ProductInput { name: "é".repeat(200), price: PriceText::Text("1".into()), description: None };
        assert!(ok.validate().is_ok(), "200 characters, more bytes");
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let p: ProductPatch = parse_json(br#"{"description":null}"#, 1024).unwrap();
        assert_eq!(p.validate().unwrap().description, Some(None));
        let p: ProductPatch = parse_json(br#"{"price":"3"}"#, 1024).unwrap();
        let changes = p.validate().unwrap();
        assert_eq!(changes.description, None);
        assert_eq!(changes.price.map(|d| d.to_string()).as_deref(), Some("3.00"));
        let p: ProductPatch = parse_json(b"{}", 1024).unwrap();
        assert!(matches!(p.validate(), Err(AdminError::NothingToChange)));
        assert!(matches!(parse_json::<ProductPatch>(br#"{"stock":3}"#, 1024), Err(BodyError::Invalid(_))));
    }

    #[test]
    fn pages() {
        assert_eq!(Page::parse("").unwrap(), Page { limit: DEFAULT_LIMIT, after: 0 });
        assert_eq!(Page::parse("limit=100&after=7&x=1").unwrap(), Page { limit: 100, after: 7 });
        for bad in ["limit=0", "limit=101", "limit=x", "after=-1", "after=abc", "limit"] {
            assert_eq!(Page::parse(bad).unwrap_err().status(), 400, "{bad}");
        }
    }
}
