use domain::provisioner::Tags;

use crate::error::Fail;

/// A stored tag set, read back.
pub(crate) fn parse<R>(stored: &str) -> Result<Tags, Fail<R>> {
    serde_json::from_str(stored).map(Tags::from_normalised).map_err(Fail::corrupt)
}
