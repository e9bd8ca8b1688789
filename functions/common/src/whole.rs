//! JSON integers as JSON Schema (and so the API contract) defines them: any number without a
//! fractional part, so `185.0` is 185. serde's `i64` takes only `185`; a client generating
//! `185.0` from a float-typed language sent a valid integer and must not get a 422.

use serde::de::{self, Deserializer, Visitor};

/// Deserialises a whole number into an `i64`: an integer, or a float with no fraction that
/// fits. `1.5`, `1e300` and strings are refused with a message in JSON's terms.
pub fn i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(WholeNumber)
}

/// The same for an optional field (`null` or absent is `None`).
pub fn option_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    struct Optional;
    impl<'de> Visitor<'de> for Optional {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            i64(d).map(Some)
        }
    }
    deserializer.deserialize_option(Optional)
}

struct WholeNumber;

impl<'de> Visitor<'de> for WholeNumber {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // Exactly representable and in range: 2^63 itself is not an i64.
        if v.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
            Ok(v as i64)
        } else {
            Err(E::invalid_type(de::Unexpected::Float(v), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct N {
        #[serde(deserialize_with = "super::i64")]
        n: i64,
        #[serde(default, deserialize_with = "super::option_i64")]
        m: Option<i64>,
    }

    fn parse(json: &str) -> Result<(i64, Option<i64>), String> {
        serde_json::from_str::<N>(json).map(|v| (v.n, v.m)).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_in_any_spelling() {
        assert_eq!(parse(r#"{"n": 185}"#), Ok((185, None)));
        assert_eq!(parse(r#"{"n": 185.0, "m": 2.0}"#), Ok((185, Some(2))));
        assert_eq!(parse(r#"{"n": -3, "m": null}"#), Ok((-3, None)));
        assert_eq!(parse(r#"{"n": 1e3}"#), Ok((1000, None)));
        for bad in [r#"{"n": 1.5}"#, r#"{"n": 1e300}"#, r#"{"n": "1"}"#, r#"{"n": 18446744073709551615}"#] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
