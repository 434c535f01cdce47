//! JSON Schemas of request fields, built from the domain's rules: the document states exactly
//! what the parse functions enforce, from the same constants. Request types name these with
//! `#[schema(schema_with = ...)]`.

use domain::validation::TextRule;
use serde_json::{Value, json};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};

/// JSON Schema keywords utoipa has no builder for (`not`, `propertyNames`), written into the
/// schema as they are. utoipa serialises extensions flattened, so these land as keywords.
fn keywords(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Option<Extensions> {
    Some(pairs.into_iter().collect())
}

/// A string following `rule`.
pub fn text(rule: &TextRule) -> ObjectBuilder {
    let string = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((rule.min_chars > 0).then_some(rule.min_chars))
        .max_length(rule.max_chars)
        .pattern(rule.pattern.map(|pattern| pattern.as_str()));
    match rule.excluded {
        // The refused words are strings: `null`, where allowed, is not among them.
        Some(excluded) => {
            string.extensions(keywords([("not", json!({ "type": "string", "pattern": excluded.as_str() }))]))
        }
        None => string,
    }
}

/// A string following `rule`, or empty: what a request sends to mean "leave it as it is" or
/// "make one up".
pub fn text_or_empty(rule: &TextRule) -> ObjectBuilder {
    let pattern = rule.pattern.map(|pattern| {
        let source = pattern.as_str();
        let inner = source.strip_prefix('^').and_then(|rest| rest.strip_suffix('$')).unwrap_or(source);
        format!("^(?:{inner})?$")
    });
    text(rule).min_length(None).pattern(pattern)
}

/// A field that may also be `null`, which the server reads as absent.
pub fn or_null(string: ObjectBuilder) -> ObjectBuilder {
    string.schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

/// A string that is one of `values`.
pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values))
}

/// A map from tag keys to values, as [`domain::provisioner::Tags::check`] accepts it.
pub fn tags() -> ObjectBuilder {
    use domain::provisioner::Tags;
    let key = serde_json::to_value(text(Tags::key_rule()).build()).unwrap_or(Value::Null);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(Tags::MAX_TAGS))
        .additional_properties(Some(text(Tags::value_rule())))
        .extensions(keywords([("propertyNames", key)]))
}

/// A JSON string without NUL or lone surrogates: plain characters, or escapes other than
/// `\u0000` and `\uD800`-`\uDFFF`.
macro_rules! json_string {
    () => {
        r#""(?:[^"\\\x00-\x1F]|\\(?:["\\/bfnrt]|u(?:[1-9a-cA-CeEfF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}|0(?:[1-9a-fA-F][0-9a-fA-F]{2}|0(?:[1-9a-fA-F][0-9a-fA-F]|0[1-9a-fA-F])))))*""#
    };
}

/// A JSON object of strings (Coder's `JSONStringMap` query format) in which no string holds
/// NUL (as `\u0000`), or nothing at all. JSON's grammar for such an object is regular, so a
/// pattern states it exactly, but for surrogate pairs, which it leaves out.
pub const JSON_STRING_MAP: &str = concat!(
    r#"^(?:[ \t\n\r]*\{[ \t\n\r]*(?:"#,
    json_string!(),
    r#"[ \t\n\r]*:[ \t\n\r]*"#,
    json_string!(),
    r#"(?:[ \t\n\r]*,[ \t\n\r]*"#,
    json_string!(),
    r#"[ \t\n\r]*:[ \t\n\r]*"#,
    json_string!(),
    r#")*[ \t\n\r]*)?\}[ \t\n\r]*)?$"#
);

/// The `status` query parameter of the job list: states, repeated or comma-separated; an empty
/// item is none.
pub struct StatusesQuery;

impl utoipa::PartialSchema for StatusesQuery {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use domain::provisioner::JobStatus;
        let states = std::iter::once("").chain(JobStatus::ALL.map(JobStatus::as_str));
        utoipa::openapi::schema::ArrayBuilder::new().items(one_of(states)).into()
    }
}

impl utoipa::ToSchema for StatusesQuery {}

/// The `tags` query parameter of the lists.
pub struct TagsQuery;

impl utoipa::PartialSchema for TagsQuery {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(JSON_STRING_MAP))
            .description(Some("A JSON object of strings, e.g. `{\"os\":\"linux\"}`; empty for none."))
            .into()
    }
}

impl utoipa::ToSchema for TagsQuery {}

/// For `#[serde(deserialize_with)]`: a nested request object read only from a JSON object.
/// serde would also fill a struct from an array, field by field, which no client means.
pub fn object<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_map(OnlyObjects(std::marker::PhantomData))
}

/// [`object`] for a list of them.
pub fn objects<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(bound = "T: serde::Deserialize<'de>")]
    struct Item<T>(#[serde(deserialize_with = "object")] T);
    let items: Vec<Item<T>> = serde::Deserialize::deserialize(deserializer)?;
    Ok(items.into_iter().map(|Item(item)| item).collect())
}

struct OnlyObjects<T>(std::marker::PhantomData<T>);

impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for OnlyObjects<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
    }
}

/// A 64-bit integer within `minimum..=maximum`.
pub fn int64(minimum: i64, maximum: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(minimum))
        .maximum(Some(maximum))
}

#[cfg(test)]
mod tests {
    use domain::organization::OrganizationName;
    use domain::validation::PLAIN_TEXT;

    use super::*;

    fn json(builder: ObjectBuilder) -> Value {
        serde_json::to_value(builder.build()).unwrap_or_default()
    }

    #[test]
    fn a_rule_becomes_lengths_a_pattern_and_refused_words() {
        let schema = json(text(OrganizationName::rule()));
        assert_eq!(schema["type"], "string");
        assert_eq!((schema["minLength"].clone(), schema["maxLength"].clone()), (json!(1), json!(32)));
        assert_eq!(schema["pattern"], "^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$");
        assert_eq!(schema["not"]["pattern"], "^(?:new|create|[dD][eE][fF][aA][uU][lL][tT])$");
    }

    #[test]
    fn an_optional_rule_also_takes_the_empty_string() {
        let schema = json(text_or_empty(OrganizationName::rule()));
        assert_eq!(schema.get("minLength"), None);
        assert_eq!(schema["pattern"], "^(?:[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*)?$");
    }

    #[test]
    fn free_text_only_refuses_nul() {
        let schema = json(or_null(text(&PLAIN_TEXT)));
        assert_eq!(schema, json!({ "type": ["string", "null"], "pattern": "^[^\\x00]*$" }));
    }

    #[test]
    fn the_json_map_pattern_accepts_what_the_query_parser_accepts() {
        static MAP: domain::validation::Pattern = domain::validation::Pattern::new(JSON_STRING_MAP);
        let parses = |raw: &str| {
            raw.is_empty()
                || serde_json::from_str::<std::collections::BTreeMap<String, String>>(raw)
                    .is_ok_and(|map| domain::provisioner::TagFilter::parse(map).is_ok())
        };
        let samples = [
            "",
            "{}",
            " { } ",
            r#"{"a":"b"}"#,
            r#"{ "a" : "b" , "c":"d" }"#,
            r#"{"é":"\u00e9\n\"\\\/"}"#,
            r#"{"a":"\u0001"}"#,
            "[]",
            "5",
            "null",
            " ",
            r#"{"a":1}"#,
            r#"{"a":"\u0000"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a"}"#,
            r#"{"a":"b",}"#,
            "{\"a\":\"\n\"}",
            r#"{"a":"\x"}"#,
            r#"{"a":"b"}x"#,
        ];
        for raw in samples {
            assert_eq!(MAP.is_match(raw), parses(raw), "{raw:?}");
        }
    }

    #[test]
    fn tag_keys_are_constrained_by_property_names() {
        let schema = json(tags());
        assert_eq!(schema["maxProperties"], 64);
        assert_eq!(schema["propertyNames"]["minLength"], 1);
        assert_eq!(schema["additionalProperties"]["maxLength"], 256);
    }
}
