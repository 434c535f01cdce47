//! Field rules shared by the value types, and the error a broken rule produces.
//!
//! A text rule is stated in the terms JSON Schema uses — lengths counted in characters, as
//! `minLength`/`maxLength` count them, a pattern the whole value must match, and a pattern of
//! values refused although they match — so that an API document can publish exactly what a
//! parse function enforces, from the same constants.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

/// A request field that broke a rule. `tag` is the name Coder's validator gives the rule
/// (`organization_name`, `required`, ...), so an API can answer exactly as Coder does;
/// `reason` says the same thing in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's JSON name.
    pub field: &'static str,
    /// The name of the rule it broke.
    pub tag: &'static str,
    /// The value it had (empty for secrets).
    pub value: String,
    /// What is wrong, in words.
    pub reason: String,
}

impl FieldError {
    /// A field error from its parts.
    pub fn new(field: &'static str, tag: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self { field, tag, value: value.to_owned(), reason: reason.into() }
    }

    /// A field that must be present and non-empty was not.
    pub fn required(field: &'static str) -> Self {
        Self::new(field, "required", "", "is required")
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

/// An anchored regular expression, written once for the check here and for the document.
/// Its syntax is what Rust's `regex`, ECMA-262 (JSON Schema) and Python's `re` read alike:
/// classes, ranges, `\xHH` and `\uHHHH` escapes, groups and quantifiers; no look-around and
/// no inline flags.
pub struct Pattern {
    source: &'static str,
    compiled: OnceLock<Option<Regex>>,
}

impl Pattern {
    /// A pattern from its source, compiled on first use.
    pub const fn new(source: &'static str) -> Self {
        Self { source, compiled: OnceLock::new() }
    }

    /// The source, as a document states it.
    pub fn as_str(&self) -> &'static str {
        self.source
    }

    /// Whether the whole of `raw` matches. A pattern that does not compile matches nothing,
    /// so a mistake refuses input rather than letting it through (a unit test compiles each).
    pub fn is_match(&self, raw: &str) -> bool {
        self.compiled.get_or_init(|| Regex::new(self.source).ok()).as_ref().is_some_and(|regex| regex.is_match(raw))
    }

    #[cfg(test)]
    fn compiles(&self) -> bool {
        self.compiled.get_or_init(|| Regex::new(self.source).ok()).is_some()
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

/// The characters `char::is_whitespace` (Unicode's White_Space) holds, as a class body.
macro_rules! white_space {
    () => {
        r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}

/// The characters `char::is_control` (Unicode's Cc) holds, as a class body.
macro_rules! control {
    () => {
        r"\x00-\x1F\x7F-\x9F"
    };
}

/// Any text without the NUL character. PostgreSQL's text types cannot hold NUL, so no field
/// may carry one, whichever store is in use: both must answer alike.
pub static TEXT: Pattern = Pattern::new(r"^[^\x00]*$");

/// Text without NUL that neither starts nor ends with white space (empty is fine).
pub static TRIMMED_TEXT: Pattern =
    Pattern::new(concat!(r"^(?:[^\x00", white_space!(), r"](?:[^\x00]*[^\x00", white_space!(), r"])?)?$"));

/// One word without white space or control characters.
pub static WORD: Pattern = Pattern::new(concat!(r"^[^", control!(), white_space!(), r"]+$"));

/// Coder's `NameValid` shape: ASCII letters and digits in groups joined by single hyphens.
pub static NAME: Pattern = Pattern::new(r"^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$");

/// The longest name Coder's `NameValid` allows.
pub const NAME_MAX_CHARS: usize = 32;

/// `local@domain`: one `@`, dot-separated domain labels, no white space or control characters.
pub static EMAIL: Pattern = Pattern::new(concat!(
    r"^[^@",
    control!(),
    white_space!(),
    r"]+@[^@.",
    control!(),
    white_space!(),
    r"]+(?:\.[^@.",
    control!(),
    white_space!(),
    r"]+)*$"
));

/// A rule for one text field.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    /// The fewest characters a value may have (0: it may be empty).
    pub min_chars: usize,
    /// The most characters a value may have, if there is a limit.
    pub max_chars: Option<usize>,
    /// What the whole value must match, if anything.
    pub pattern: Option<&'static Pattern>,
    /// Values refused although they match (words that collide with routes, reserved names).
    pub excluded: Option<&'static Pattern>,
}

/// Which part of a [`TextRule`] a value broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleBreak {
    /// Fewer characters than the minimum.
    TooShort,
    /// More characters than the maximum.
    TooLong,
    /// Does not match the pattern.
    Pattern,
    /// One of the refused values.
    Excluded,
}

/// Free text: anything without NUL.
pub static PLAIN_TEXT: TextRule = TextRule { min_chars: 0, max_chars: None, pattern: Some(&TEXT), excluded: None };

impl TextRule {
    /// Which part of the rule `raw` breaks, if any.
    pub fn check(&self, raw: &str) -> Result<(), RuleBreak> {
        let chars = raw.chars().count();
        if chars < self.min_chars {
            return Err(RuleBreak::TooShort);
        }
        if self.max_chars.is_some_and(|max| chars > max) {
            return Err(RuleBreak::TooLong);
        }
        if self.pattern.is_some_and(|pattern| !pattern.is_match(raw)) {
            return Err(RuleBreak::Pattern);
        }
        if self.excluded.is_some_and(|excluded| excluded.is_match(raw)) {
            return Err(RuleBreak::Excluded);
        }
        Ok(())
    }

    /// The broken part, in words.
    pub fn reason(&self, broken: RuleBreak) -> String {
        match (broken, self.max_chars) {
            (RuleBreak::TooShort, _) => format!("must be at least {} characters", self.min_chars),
            (RuleBreak::TooLong, Some(max)) => format!("must be at most {max} characters"),
            (RuleBreak::TooLong, None) => "is too long".to_owned(),
            (RuleBreak::Pattern, _) => {
                format!("must match {}", self.pattern.map_or("", |pattern| pattern.as_str()))
            }
            (RuleBreak::Excluded, _) => "is a reserved word".to_owned(),
        }
    }

    /// `check` as a [`FieldError`]: an empty value breaking a minimum is `required`, the rest
    /// carry `tag`.
    pub fn check_field(&self, field: &'static str, tag: &'static str, raw: &str) -> Result<(), FieldError> {
        self.check(raw).map_err(|broken| match broken {
            RuleBreak::TooShort if raw.is_empty() => FieldError::required(field),
            broken => FieldError::new(field, tag, raw, self.reason(broken)),
        })
    }
}

/// Free text a client may send (descriptions, log lines, error messages): tag `text`.
pub fn check_text(field: &'static str, raw: &str) -> Result<(), FieldError> {
    PLAIN_TEXT.check(raw).map_err(|_| FieldError::new(field, "text", raw, "must not contain the NUL character"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_PATTERNS: [&Pattern; 5] = [&TEXT, &TRIMMED_TEXT, &WORD, &NAME, &EMAIL];

    #[test]
    fn every_pattern_compiles() {
        for pattern in ALL_PATTERNS {
            assert!(pattern.compiles(), "{pattern:?}");
        }
    }

    #[test]
    fn the_white_space_and_control_classes_are_rusts() {
        let single = |pattern: &Pattern, c: char| pattern.is_match(&c.to_string());
        for c in (0..=0x3100).chain([0xFEFF, 0x10000]).filter_map(char::from_u32) {
            assert_eq!(single(&TRIMMED_TEXT, c), !c.is_whitespace() && c != '\0', "{:?}", c);
            assert_eq!(single(&WORD, c), !c.is_whitespace() && !c.is_control(), "{:?}", c);
        }
    }

    #[test]
    fn names_of_letters_digits_and_single_hyphens_match() {
        for ok in ["a", "acme", "Acme-Corp", "a-b-c", "x1-2y"] {
            assert!(NAME.is_match(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a--b", "a b", "a_b", "é", "a\n", "a\0"] {
            assert!(!NAME.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn trimmed_text_may_be_empty_but_not_padded_or_hold_nul() {
        for ok in ["", "x", "Acme Corp", "a\tb", "é"] {
            assert!(TRIMMED_TEXT.is_match(ok), "{ok:?}");
        }
        for bad in [" x", "x\n", "\u{3000}x", "a\0b", "\0"] {
            assert!(!TRIMMED_TEXT.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn text_holds_anything_but_nul() {
        assert!(TEXT.is_match("line\nbreak \u{1F680}"));
        assert!(!TEXT.is_match("a\0b"));
        assert_eq!(check_text("icon", "a\0b").map_err(|e| (e.field, e.tag)), Err(("icon", "text")));
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let rule = TextRule { min_chars: 1, max_chars: Some(3), pattern: None, excluded: None };
        assert_eq!(rule.check("ééé"), Ok(()));
        assert_eq!(rule.check("éééé"), Err(RuleBreak::TooLong));
        assert_eq!(rule.check(""), Err(RuleBreak::TooShort));
    }

    #[test]
    fn an_empty_value_under_a_minimum_is_required() {
        let rule = TextRule { min_chars: 1, max_chars: None, pattern: Some(&NAME), excluded: None };
        assert_eq!(rule.check_field("name", "organization_name", "").map_err(|e| e.tag), Err("required"));
        assert_eq!(rule.check_field("name", "organization_name", "a b").map_err(|e| e.tag), Err("organization_name"));
    }

    #[test]
    fn excluded_values_are_refused_even_when_they_match() {
        static WORDS: Pattern = Pattern::new("^(?:new|create)$");
        let rule = TextRule { min_chars: 1, max_chars: None, pattern: Some(&NAME), excluded: Some(&WORDS) };
        assert_eq!(rule.check("new"), Err(RuleBreak::Excluded));
        assert_eq!(rule.check("newer"), Ok(()));
    }

    #[test]
    fn addresses_need_one_at_and_whole_domain_labels() {
        for ok in ["a@b", "alice@example.com", "first.last+tag@sub.example.org"] {
            assert!(EMAIL.is_match(ok), "{ok}");
        }
        for bad in ["", "alice", "@example.com", "alice@", "a@b@c", "al ice@example.com", "a@example..com", "a@b."] {
            assert!(!EMAIL.is_match(bad), "{bad}");
        }
    }
}
