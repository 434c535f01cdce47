use std::collections::BTreeMap;

use domain::provisioner::Tags;
use sha2::{Digest, Sha256};

use crate::sql_types::{Id, Json};

/// A tag set's canonical text: a JSON object with its keys in order, so equal sets give equal
/// text (and the same fingerprint).
pub(crate) fn canonical(tags: &Tags) -> String {
    serde_json::to_string(tags.as_map()).unwrap_or_default()
}

/// The id a tag set is stored under: the first 16 bytes of the SHA-256 of its canonical
/// text, so a set's id is known without a lookup. Stored databases depend on it: never change.
pub(crate) fn fingerprint(tags: &Tags) -> Id {
    let digest = Sha256::digest(canonical(tags).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Id(uuid::Uuid::from_bytes(bytes))
}

/// How a tag set is stored: its pairs as a JSON object.
pub(crate) fn document(tags: &Tags) -> Json<BTreeMap<String, String>> {
    Json(tags.as_map().clone())
}

/// A stored tag set, read back.
pub(crate) fn from_document(stored: Json<BTreeMap<String, String>>) -> Tags {
    Tags::from_normalised(stored.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        let raw: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Tags::normalise_for_organization(raw).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_canonical_form_does_not_depend_on_insertion_order() {
        assert_eq!(canonical(&tags(&[("a", "1"), ("b", "2")])), canonical(&tags(&[("b", "2"), ("a", "1")])));
        assert_eq!(canonical(&tags(&[("a", "1")])), r#"{"a":"1","owner":"","scope":"organization"}"#);
    }

    #[test]
    fn fingerprints_of_stored_sets_never_change() {
        // The untagged set, as every database made so far stores it (once as 32 hex digits).
        assert_eq!(fingerprint(&tags(&[])).0.simple().to_string(), "107ca86e005b03b821dbaab87caa6474");
    }

    #[test]
    fn a_stored_set_reads_back_equal() {
        let set = tags(&[("os", "linux"), ("scope", "user")]);
        assert_eq!(from_document(document(&set)), set);
    }
}
