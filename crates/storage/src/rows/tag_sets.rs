use domain::provisioner::Tags;
use sha2::{Digest, Sha256};

use crate::error::Fail;

/// A tag set's stored text: a JSON object with its keys in order, so equal sets give equal
/// text (and the same fingerprint).
pub(crate) fn canonical(tags: &Tags) -> String {
    serde_json::to_string(tags.as_map()).unwrap_or_default()
}

/// The id a tag set is stored under: the first 16 bytes of the SHA-256 of its canonical
/// text, so a set's id is known without a lookup. Stored databases depend on it: never change.
pub(crate) fn fingerprint(tags: &Tags) -> String {
    let digest = Sha256::digest(canonical(tags).as_bytes());
    hex::encode(&digest[..16])
}

/// A stored tag set, read back.
pub(crate) fn parse<R>(stored: &str) -> Result<Tags, Fail<R>> {
    serde_json::from_str(stored).map(Tags::from_normalised).map_err(Fail::corrupt)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
        // The untagged set, as every database made so far stores it.
        assert_eq!(fingerprint(&tags(&[])), "107ca86e005b03b821dbaab87caa6474");
    }

    #[test]
    fn a_stored_set_reads_back_equal() {
        let set = tags(&[("os", "linux"), ("scope", "user")]);
        assert_eq!(parse::<()>(&canonical(&set)).ok(), Some(set));
    }
}
