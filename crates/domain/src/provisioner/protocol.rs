//! The daemon protocol this server speaks: plain HTTP (register, heartbeat, acquire, update,
//! complete, fail). A registered daemon is recorded with this version.

/// `major.minor`; the major number changes only with an incompatible protocol.
pub const API_VERSION: &str = "1.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_version_is_major_dot_minor() {
        let parts: Vec<&str> = API_VERSION.split('.').collect();
        assert_eq!(parts.len(), 2, "{API_VERSION}");
        assert!(parts.iter().all(|part| part.parse::<u32>().is_ok()), "{API_VERSION}");
    }
}
