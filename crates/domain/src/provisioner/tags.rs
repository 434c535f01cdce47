use std::collections::BTreeMap;

use uuid::Uuid;

use crate::validation::{FieldError, TEXT, TextRule};

/// A normalised tag set, as every job, daemon and key carries: it always has `scope`
/// (`organization` or `user`) and `owner` (the user's id for `user` scope, else empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tags(BTreeMap<String, String>);

pub const SCOPE: &str = "scope";
pub const OWNER: &str = "owner";
pub const SCOPE_ORGANIZATION: &str = "organization";
pub const SCOPE_USER: &str = "user";

/// A raw tag that cannot be stored.
pub type TagError = FieldError;

static KEY_RULE: TextRule = TextRule { min_chars: 1, max_chars: Some(256), pattern: Some(&TEXT), excluded: None };
static VALUE_RULE: TextRule = TextRule { min_chars: 0, max_chars: Some(256), pattern: Some(&TEXT), excluded: None };

impl Tags {
    /// The most tags a set may have.
    pub const MAX_TAGS: usize = 64;

    /// What each tag's key must be.
    pub fn key_rule() -> &'static TextRule {
        &KEY_RULE
    }

    /// What each tag's value must be.
    pub fn value_rule() -> &'static TextRule {
        &VALUE_RULE
    }

    /// Coder's `MutateTags`: no scope means organization scope; user scope belongs to `user`;
    /// any other scope is taken as organization scope.
    pub fn normalise(raw: BTreeMap<String, String>, user: Uuid) -> Result<Self, TagError> {
        Self::check(&raw)?;
        let mut tags = raw;
        let scope = tags.get(SCOPE).map(String::as_str);
        let owner = if scope == Some(SCOPE_USER) { user.to_string() } else { String::new() };
        if scope != Some(SCOPE_USER) {
            tags.insert(SCOPE.to_owned(), SCOPE_ORGANIZATION.to_owned());
        }
        tags.insert(OWNER.to_owned(), owner);
        Ok(Self(tags))
    }

    /// Tags without any user: what a provisioner key or its daemons carry.
    pub fn normalise_for_organization(raw: BTreeMap<String, String>) -> Result<Self, TagError> {
        Self::normalise(raw, Uuid::nil())
    }

    /// Restores tags that were normalised before being stored.
    pub fn from_normalised(tags: BTreeMap<String, String>) -> Self {
        Self(tags)
    }

    /// The rules of a tag set as a client sends it: at most [`Self::MAX_TAGS`] tags, each key
    /// and value following its rule.
    pub fn check(raw: &BTreeMap<String, String>) -> Result<(), TagError> {
        if raw.len() > Self::MAX_TAGS {
            return Err(FieldError::new("tags", "tags", "", format!("must have at most {} tags", Self::MAX_TAGS)));
        }
        for (key, value) in raw {
            let broken = KEY_RULE.check(key).map_err(|b| ("key", KEY_RULE.reason(b)));
            let broken = broken.and_then(|()| VALUE_RULE.check(value).map_err(|b| ("value", VALUE_RULE.reason(b))));
            if let Err((part, reason)) = broken {
                return Err(FieldError::new("tags", "tags", key, format!("a tag {part} {reason}")));
            }
        }
        Ok(())
    }

    /// `{scope: organization, owner: ""}` exactly: a job no particular daemon was asked for.
    pub fn is_untagged(&self) -> bool {
        self.0.len() == 2
            && self.0.get(SCOPE).map(String::as_str) == Some(SCOPE_ORGANIZATION)
            && self.0.get(OWNER).map(String::as_str) == Some("")
    }

    /// Whether a daemon with these tags may run a job with `job` tags: its tags must contain
    /// all of the job's, except that an untagged job runs only on an exactly untagged daemon
    /// (so tagged daemons are kept for the work they were tagged for).
    pub fn can_run(&self, job: &Tags) -> bool {
        if job.is_untagged() {
            return self == job;
        }
        job.0.iter().all(|(key, value)| self.0.get(key) == Some(value))
    }

    /// The tags as a map from key to value.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

/// Tags a list is filtered by: jobs whose tags contain all of these (not normalised).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagFilter(pub BTreeMap<String, String>);

impl TagFilter {
    /// A filter as a client sends it: its keys and values hold no NUL (no tag can).
    pub fn parse(raw: BTreeMap<String, String>) -> Result<Self, FieldError> {
        for (key, value) in &raw {
            crate::validation::check_text("tags", key)?;
            crate::validation::check_text("tags", value)?;
        }
        Ok(Self(raw))
    }

    /// Whether the filter lets every job through.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `tags` has every key of the filter with the same value.
    pub fn matches(&self, tags: &Tags) -> bool {
        self.0.iter().all(|(key, value)| tags.0.get(key) == Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        Tags::normalise_for_organization(raw(pairs)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn no_scope_means_organization_scope_without_owner() {
        assert_eq!(tags(&[]).as_map(), &raw(&[("scope", "organization"), ("owner", "")]));
        assert_eq!(tags(&[("owner", "x")]).as_map(), &raw(&[("scope", "organization"), ("owner", "")]));
    }

    #[test]
    fn user_scope_is_owned_by_the_user() {
        let user = Uuid::from_u128(42);
        let normalised = Tags::normalise(raw(&[("scope", "user"), ("os", "linux")]), user);
        let expected = raw(&[("scope", "user"), ("owner", &user.to_string()), ("os", "linux")]);
        assert_eq!(normalised.map(|t| t.as_map().clone()), Ok(expected));
    }

    #[test]
    fn an_unknown_scope_becomes_organization_scope() {
        assert_eq!(tags(&[("scope", "galaxy")]).as_map(), &raw(&[("scope", "organization"), ("owner", "")]));
    }

    #[test]
    fn empty_keys_are_refused() {
        assert!(Tags::normalise_for_organization(raw(&[("", "x")])).is_err());
    }

    #[test]
    fn nul_and_overlong_keys_or_values_are_refused() {
        let long = "é".repeat(257);
        for (key, value) in [("a\0", "x"), ("a", "x\0"), (long.as_str(), "x"), ("a", long.as_str())] {
            assert!(Tags::normalise_for_organization(raw(&[(key, value)])).is_err(), "{key:?} {value:?}");
        }
        assert!(Tags::normalise_for_organization(raw(&[(&"é".repeat(256), &"é".repeat(256))])).is_ok());
    }

    #[test]
    fn at_most_sixty_four_tags() {
        let many: BTreeMap<String, String> = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(Tags::check(&many).is_err());
        let enough: BTreeMap<String, String> = many.into_iter().take(64).collect();
        assert!(Tags::check(&enough).is_ok());
    }

    #[test]
    fn a_daemon_runs_jobs_whose_tags_it_contains() {
        // (daemon tags, job tags, runs)
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: &[(Pairs, Pairs, bool)] = &[
            (&[], &[], true),
            (&[("a", "1")], &[], false),
            (&[], &[("a", "1")], false),
            (&[("a", "1")], &[("a", "1")], true),
            (&[("a", "1"), ("b", "2")], &[("a", "1")], true),
            (&[("a", "1")], &[("a", "1"), ("b", "2")], false),
            (&[("a", "1")], &[("a", "2")], false),
            (&[("scope", "user")], &[], false),
        ];
        for (daemon, job, runs) in cases {
            assert_eq!(tags(daemon).can_run(&tags(job)), *runs, "daemon {daemon:?} job {job:?}");
        }
    }

    #[test]
    fn a_user_scoped_daemon_runs_only_its_owners_jobs() {
        let alice = Uuid::from_u128(1);
        let bob = Uuid::from_u128(2);
        let user_scope = || raw(&[("scope", "user")]);
        let daemon = Tags::normalise(user_scope(), alice).unwrap_or_else(|e| panic!("{e}"));
        let alices_job = Tags::normalise(user_scope(), alice).unwrap_or_else(|e| panic!("{e}"));
        let bobs_job = Tags::normalise(user_scope(), bob).unwrap_or_else(|e| panic!("{e}"));
        assert!(daemon.can_run(&alices_job));
        assert!(!daemon.can_run(&bobs_job));
    }

    #[test]
    fn a_filter_matches_tags_that_contain_it() {
        let job = tags(&[("a", "1"), ("b", "2")]);
        assert!(TagFilter(raw(&[("a", "1")])).matches(&job));
        assert!(TagFilter(raw(&[("scope", "organization")])).matches(&job));
        assert!(!TagFilter(raw(&[("a", "2")])).matches(&job));
        assert!(TagFilter::default().matches(&job));
    }

    #[test]
    fn a_filter_with_nul_is_refused() {
        assert!(TagFilter::parse(raw(&[("a\0", "1")])).is_err());
        assert!(TagFilter::parse(raw(&[("a", "\0")])).is_err());
        assert_eq!(TagFilter::parse(raw(&[("a", "1")])), Ok(TagFilter(raw(&[("a", "1")]))));
    }
}
