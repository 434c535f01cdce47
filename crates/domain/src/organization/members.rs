//! An organization is never left without members: someone must be able to act for it.

/// Whether one member may leave an organization that has `members` members (the leaver
/// included), by being removed or by being deleted as a user.
pub fn member_may_leave(members: u64) -> bool {
    members > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_only_member_may_not_leave() {
        assert!(!member_may_leave(1));
    }

    #[test]
    fn a_member_with_company_may_leave() {
        assert!(member_may_leave(2));
        assert!(member_may_leave(100));
    }

    #[test]
    fn a_count_that_misses_the_leaver_refuses() {
        assert!(!member_may_leave(0));
    }
}
