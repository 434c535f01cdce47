//! Query parameters, read as Coder's `httpapi.QueryParamParser` reads them, with its
//! messages: lists may be comma-separated or repeated; an empty value means the default; a
//! single-valued parameter given twice is an error. Unknown parameters are refused before
//! the handler runs (see `router`).

use std::collections::BTreeMap;

use actix_web::HttpRequest;
use domain::provisioner::TagFilter;
use uuid::Uuid;

use crate::error::ApiError;
use crate::wire::ValidationError;

pub struct QueryParams {
    pairs: Vec<(String, String)>,
    errors: Vec<ValidationError>,
}

impl QueryParams {
    pub fn new(req: &HttpRequest) -> Result<Self, ApiError> {
        let pairs = serde_urlencoded::from_str(req.query_string()).map_err(|e| {
            ApiError::invalid_query(vec![ValidationError::new("", format!("invalid query string: {e}"))])
        })?;
        Ok(Self { pairs, errors: Vec::new() })
    }

    fn values(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str()).collect()
    }

    fn fail(&mut self, name: &str, detail: String) {
        self.errors.push(ValidationError::new(name, detail));
    }

    /// The one value of a single-valued parameter; `None` when absent or empty.
    fn single(&mut self, name: &str) -> Option<String> {
        let values = self.values(name);
        match values.as_slice() {
            [] | [""] => None,
            [value] => Some((*value).to_owned()),
            many => {
                let detail = format!(
                    "Query param {name:?} provided more than once, found {} times. Only provide 1 instance of this query param.",
                    many.len()
                );
                self.fail(name, detail);
                None
            }
        }
    }

    /// The first value of a parameter, as given.
    pub fn value(&self, name: &str) -> Option<String> {
        self.values(name).first().map(|value| (*value).to_owned())
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == name)
    }

    /// A non-negative 32-bit integer (Coder's `PositiveInt32`).
    pub fn positive_i32(&mut self, name: &str, default: i32) -> i32 {
        let Some(raw) = self.single(name) else {
            return default;
        };
        match go_parse_int32(&raw) {
            Ok(value) => value,
            Err(reason) => {
                self.fail(name, format!("Query param {name:?} must be a valid 32-bit positive integer: {reason}"));
                default
            }
        }
    }

    /// Go's `strconv.ParseBool`: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False.
    pub fn boolean(&mut self, name: &str, default: bool) -> bool {
        let Some(raw) = self.single(name) else {
            return default;
        };
        match raw.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => {
                let detail = format!(
                    "Query param {name:?} must be a valid boolean: strconv.ParseBool: parsing {raw:?}: invalid syntax"
                );
                self.fail(name, detail);
                default
            }
        }
    }

    pub fn uuid(&mut self, name: &str) -> Option<Uuid> {
        let raw = self.single(name)?;
        match Uuid::try_parse(raw.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                self.fail(name, format!("Query param {name:?} must be a valid uuid"));
                None
            }
        }
    }

    /// Every value of a list parameter, repeated and/or comma-separated; an empty item is no
    /// item, as an empty value is no value; all bad items are reported together.
    pub fn list<T>(&mut self, name: &str, parse: impl Fn(&str) -> Result<T, String>) -> Vec<T> {
        let items: Vec<String> = self
            .values(name)
            .iter()
            .flat_map(|value| value.split(','))
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        let mut parsed = Vec::new();
        let mut bad = Vec::new();
        for item in &items {
            match parse(item) {
                Ok(value) => parsed.push(value),
                Err(reason) => bad.push(reason),
            }
        }
        if bad.is_empty() {
            return parsed;
        }
        self.fail(name, format!("Query param {name:?} has invalid values: {}", bad.join("\n")));
        Vec::new()
    }

    pub fn uuids(&mut self, name: &str) -> Vec<Uuid> {
        self.list(name, |item| {
            let item = item.trim();
            Uuid::try_parse(item).map_err(|_| go_uuid_error(item))
        })
    }

    /// A JSON object of strings (Coder's `JSONStringMap`).
    fn json_string_map(&mut self, name: &str) -> BTreeMap<String, String> {
        let Some(raw) = self.single(name) else {
            return BTreeMap::new();
        };
        match serde_json::from_str::<BTreeMap<String, String>>(&raw) {
            Ok(map) => map,
            Err(error) => {
                self.fail(name, format!("Query param {name:?} must be a valid JSON object: {error}"));
                BTreeMap::new()
            }
        }
    }

    /// Tags to filter by: a JSON object of strings, none holding NUL.
    pub fn tag_filter(&mut self, name: &str) -> TagFilter {
        match TagFilter::parse(self.json_string_map(name)) {
            Ok(filter) => filter,
            Err(error) => {
                self.fail(name, format!("Query param {name:?} {}", error.reason));
                TagFilter::default()
            }
        }
    }

    /// `Invalid query parameters.` with every problem found, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::invalid_query(self.errors)) }
    }
}

/// Go's `strconv.ParseInt(v, 10, 32)` followed by Coder's negative check, with Go's texts.
fn go_parse_int32(raw: &str) -> Result<i32, String> {
    let syntax = || format!("strconv.ParseInt: parsing {raw:?}: invalid syntax");
    let digits = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    let value: i32 = raw.parse().map_err(|_| format!("strconv.ParseInt: parsing {raw:?}: value out of range"))?;
    if value < 0 {
        return Err("value is negative".to_owned());
    }
    Ok(value)
}

/// What Go's `uuid.Parse` says about a bad UUID.
fn go_uuid_error(raw: &str) -> String {
    match raw.len() {
        36 | 38 | 32 | 45 => "invalid UUID format".to_owned(),
        len => format!("invalid UUID length: {len}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int32_parsing_reads_as_go() {
        assert_eq!(go_parse_int32("50"), Ok(50));
        assert_eq!(go_parse_int32("0"), Ok(0));
        assert_eq!(go_parse_int32("-1"), Err("value is negative".to_owned()));
        assert_eq!(go_parse_int32("abc"), Err("strconv.ParseInt: parsing \"abc\": invalid syntax".to_owned()));
        assert_eq!(
            go_parse_int32("99999999999"),
            Err("strconv.ParseInt: parsing \"99999999999\": value out of range".to_owned())
        );
    }
}
