use std::fmt;

use zxcvbn::{Score, zxcvbn};

use crate::validation::{FieldError, RuleBreak, TextRule};

/// A password strong enough to keep: zxcvbn, a maintained strength estimator, must rate it
/// at least "safely unguessable" (score 3 of 4), taking the user's own name and e-mail into
/// account. Debug output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// What can be said of a password before judging its strength: present, and not endless.
static RULE: TextRule = TextRule { min_chars: 1, max_chars: Some(256), pattern: None, excluded: None };

impl Password {
    /// The lowest zxcvbn score a password may have.
    pub const MIN_SCORE: Score = Score::Three;

    /// What is checked before strength: 1-256 characters.
    pub fn rule() -> &'static TextRule {
        &RULE
    }

    /// `context` holds words the password must not lean on: username, e-mail, name.
    pub fn parse(raw: &str, context: &[&str]) -> Result<Self, FieldError> {
        let weak = |reason: String| FieldError::new("password", "password", "", reason);
        match RULE.check(raw) {
            Ok(()) => {}
            Err(RuleBreak::TooShort) => return Err(FieldError::required("password")),
            Err(broken) => return Err(weak(format!("password {}", RULE.reason(broken)))),
        }
        let estimate = zxcvbn(raw, context);
        if estimate.score() < Self::MIN_SCORE {
            let hint = estimate
                .feedback()
                .and_then(|feedback| {
                    feedback
                        .warning()
                        .map(|w| w.to_string())
                        .or_else(|| feedback.suggestions().first().map(|s| s.to_string()))
                })
                .unwrap_or_else(|| "add more words or characters".to_owned());
            return Err(weak(format!("password is too easy to guess: {hint}")));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password itself, for hashing. Named so that every use stands out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_short_passwords_are_refused() {
        for weak in ["password", "12345678", "qwertyuiop", "letmein1", "abc"] {
            assert!(Password::parse(weak, &[]).is_err(), "{weak}");
        }
    }

    #[test]
    fn a_password_built_on_the_username_is_refused() {
        assert!(Password::parse("alicealice2024", &["alice"]).is_err());
    }

    #[test]
    fn long_unpredictable_passwords_are_accepted() {
        for strong in ["correct-horse-battery-staple", "SomeSecurePassword!", "v9#Lq2!mZt8@"] {
            assert!(Password::parse(strong, &["alice", "alice@example.com"]).is_ok(), "{strong}");
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let password = Password::parse("correct-horse-battery-staple", &[]).ok();
        assert_eq!(format!("{password:?}"), "Some(Password(<redacted>))");
    }
}
