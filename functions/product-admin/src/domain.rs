//! Catalog write rules: which resource a path names, what a product's fields must be, and
//! how a listing page is asked for. No Spin types: unit-tested natively.

use galley_common::problem::ProblemRow;
use galley_common::error::Failures;
use galley_common::ids::ProductId;
use galley_common::method::Method;
use galley_common::money::{AmountText, Money};
use galley_common::query::{self, DEFAULT_LIMIT};
use serde::{Deserialize, Deserializer};

/// The collection route; items are `/api/v1/products/:id`.
pub use galley_common::catalog::COLLECTION;
pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldError {
    #[error("name must be 1-{NAME_MAX} characters and not blank")]
    Name,
    #[error("price must be a positive amount below 100000000 with at most 2 decimals, e.g. \"12.50\"")]
    Price,
    #[error("description must be at most {DESCRIPTION_MAX} characters")]
    Description,
}

/// A product's fields break a rule, or a change changes nothing.
const INVALID_PRODUCT: ProblemRow = (422, "validation", "Invalid product");

galley_common::api_errors! {
    pub enum AdminError {
        #[error("{0}")]
        Invalid(Failures<FieldError>) => INVALID_PRODUCT,
        #[error("a PATCH must change at least one of name, price, description")]
        NothingToChange => INVALID_PRODUCT,
        #[error("{0}")]
        BadQuery(String) => galley_common::problem::INVALID_QUERY,
        #[error("no such product")]
        NotFound => galley_common::problem::NOT_FOUND,
    }
}

/// What a path names: the collection, or one product (reached by service chaining from
/// product-query, which owns the item route and passes writes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Collection,
    Item(ProductId),
}

impl Target {
    pub fn of(path: &str) -> Result<Target, AdminError> {
        let path = path.strip_suffix('/').unwrap_or(path);
        match path.strip_prefix(COLLECTION) {
            Some("") => Ok(Target::Collection),
            Some(rest) => match rest.strip_prefix('/') {
                Some(segment) if !segment.contains('/') => {
                    ProductId::parse(segment).map(Target::Item).map_err(AdminError::from)
                }
                _ => Err(AdminError::NotFound),
            },
            None => Err(AdminError::NotFound),
        }
    }

    /// The methods this target answers.
    pub fn methods(self) -> &'static [Method] {
        match self {
            Target::Collection => &[Method::Get, Method::Post],
            Target::Item(_) => &[Method::Put, Method::Patch],
        }
    }
}

/// A price: an amount of money sent exactly (see [`Money::from_sent`]), and more than zero.
pub fn validate_price(sent: &AmountText) -> Result<Money, FieldError> {
    Money::from_sent(sent).filter(|price| !price.is_zero()).ok_or(FieldError::Price)
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
    pub price: AmountText,
    #[serde(default)]
    pub description: Option<String>,
}

/// `PATCH` body: only what is present changes; `"description": null` clears it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    /// Absent: unchanged; `null` is refused (a product always has a name and a price).
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub price: Option<AmountText>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, via `default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A field that may be left out but, when sent, must be a value: `null` is the wrong type.
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A validated change to a product; `None` leaves a column as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub name: Option<String>,
    pub price: Option<Money>,
    pub description: Option<Option<String>>,
}

/// A validated new product (or a whole replacement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub price: Money,
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
    pub after: Option<ProductId>,
}

impl Page {
    pub fn parse(raw: &str) -> Result<Page, AdminError> {
        let mut page = Page { limit: DEFAULT_LIMIT, after: None };
        for (key, value) in query::pairs(raw) {
            match key.as_ref() {
                "limit" => page.limit = query::limit(&value).map_err(AdminError::BadQuery)?,
                "after" => {
                    page.after = Some(ProductId::parse(&value).map_err(|e| AdminError::BadQuery(format!("after: {e}")))?)
                }
                // Unknown parameters are ignored, as caches and proxies add their own.
                _ => {}
            }
        }
        Ok(page)
    }
}

/// `?ids=3,1,7`: a batch read of the products with these ids (the GraphQL gateway reads all
/// the products of an answer's order lines in one call). `None` when the query has no `ids`
/// (a listing page then). 1 to [`query::MAX_LIMIT`] ids, each a product id; repeats are read once.
pub fn batch_ids(raw: &str) -> Result<Option<Vec<ProductId>>, AdminError> {
    query::product_ids(raw).map_err(AdminError::BadQuery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::body::{parse_json, BodyError};
    use galley_common::problem::ApiError;

    fn price(s: &str) -> Result<String, FieldError> {
        validate_price(&AmountText::Text(s.into())).map(|d| d.to_string())
    }


    #[test]
    fn batch_ids_are_1_to_100_product_ids() {
        assert_eq!(batch_ids("limit=5").unwrap(), None);
        let ids = batch_ids("ids=3,1,3").unwrap().unwrap();
        assert_eq!(ids.iter().map(|id| id.get()).collect::<Vec<_>>(), vec![1, 3]);
        let hundred: Vec<String> = (1..=100).map(|n| n.to_string()).collect();
        assert_eq!(batch_ids(&format!("ids={}", hundred.join(","))).unwrap().unwrap().len(), 100);
        // 101 ids are too many even when they repeat (the contract's maxItems counts as sent).
        let repeated = format!("ids={},1", hundred.join(","));
        for bad in ["ids=", "ids=1,,2", "ids=0", "ids=01", "ids=x", &format!("ids={},101", hundred.join(",")), &repeated] {
            assert_eq!(batch_ids(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(Target::of("/api/v1/products").unwrap(), Target::Collection);
        assert_eq!(Target::of("/api/v1/products/").unwrap(), Target::Collection);
        assert_eq!(Target::of("/api/v1/products/12").unwrap(), Target::Item(ProductId::new(12).unwrap()));
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
        for bad in ["0", "0.00", "0.001", "-1", "-0.01", "1.234", "100000000", "1e9", "1e5", "abc", "+1", " 1", "03.4"] {
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
        assert_eq!(number["exclusiveMaximum"].as_i64(), Some(galley_common::money::BOUND));
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
            let code = validate_price(&AmountText::Text(text.clone())).is_ok();
            assert_eq!(pattern.is_match(&text), code, "contract and code disagree on {text:?}");
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
        let input = ProductInput { name: "x".repeat(201), price: AmountText::Text("-3".into()), description: Some("d".repeat(10_001)) };
        let err = input.validate().unwrap_err();
        assert_eq!(err.status(), 422);
        for word in ["name", "price", "description"] {
            assert!(err.detail().contains(word), "{}", err.detail());
        }
        let blank = ProductInput { name: "  ".into(), price: AmountText::Text("1".into()), description: None };
        assert!(blank.validate().is_err());
        let ok = ProductInput { name: "é".repeat(200), price: AmountText::Text("1".into()), description: None };
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
        assert!(matches!(parse_json::<ProductPatch>(br#"{"price":null}"#, 1024), Err(BodyError::Invalid(_))), "a price cannot be cleared");
        assert!(matches!(parse_json::<ProductPatch>(br#"{"name":null}"#, 1024), Err(BodyError::Invalid(_))));
        let p: ProductPatch = parse_json(b"{}", 1024).unwrap();
        assert!(matches!(p.validate(), Err(AdminError::NothingToChange)));
        assert!(matches!(parse_json::<ProductPatch>(br#"{"stock":3}"#, 1024), Err(BodyError::Invalid(_))));
    }

    #[test]
    fn pages() {
        assert_eq!(Page::parse("").unwrap(), Page { limit: DEFAULT_LIMIT, after: None });
        assert_eq!(Page::parse("limit=100&after=7&x=1").unwrap(), Page { limit: 100, after: ProductId::new(7).ok() });
        for bad in ["limit=0", "limit=101", "limit=x", "after=-1", "after=abc", "limit"] {
            assert_eq!(Page::parse(bad).unwrap_err().status(), 400, "{bad}");
        }
    }
}
