//! One way to declare a closed set of names (job statuses, log levels, login types, ...).
//!
//! Each member stands for one fixed string, the name it has on the wire and in storage. The
//! macro writes the enum, `ALL`, `as_str` and `parse` from a single list, so a name is spelt
//! once and a new member cannot be forgotten by one of them.

/// Declares an enum whose members each stand for one fixed string.
///
/// ```text
/// closed_set! {
///     /// Doc comment of the enum.
///     #[derive(PartialOrd, Ord)]          // optional: derives beyond the usual six
///     pub enum Colour {
///         /// Doc comment of a member.
///         Red => "red",
///         Green => "green",
///     }
///     // Optional: without it `parse` returns `Option<Self>`.
///     else |raw| -> FieldError { FieldError::new("colour", "oneof", raw, "must be red or green") }
/// }
/// ```
///
/// Every set derives `Debug`, `Clone`, `Copy`, `PartialEq`, `Eq` and `Hash`, and gets
/// `ALL` (the members in declaration order), `as_str` and `parse`, which returns
/// `Option<Self>`, or `Result<Self, E>` with the error the `else` clause builds from the
/// unknown name.
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$member_meta:meta])* $member:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $crate::closed_set::closed_set!(@members $(#[$meta])* $vis enum $name {
            $( $(#[$member_meta])* $member => $text ),+
        });

        impl $name {
            /// The member named exactly `raw` (case matters), if there is one.
            pub fn parse(raw: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|member| member.as_str() == raw)
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$member_meta:meta])* $member:ident => $text:literal ),+ $(,)?
        }
        else |$raw:ident| -> $error:ty $refusal:block
    ) => {
        $crate::closed_set::closed_set!(@members $(#[$meta])* $vis enum $name {
            $( $(#[$member_meta])* $member => $text ),+
        });

        impl $name {
            /// The member named exactly `raw` (case matters); any other name is refused with
            /// an error that lists the accepted ones.
            pub fn parse($raw: &str) -> Result<Self, $error> {
                Self::ALL.into_iter().find(|member| member.as_str() == $raw).ok_or_else(|| $refusal)
            }
        }
    };
    (@members
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$member_meta:meta])* $member:ident => $text:literal ),+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$member_meta])* $member, )+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: [Self; [$($text),+].len()] = [$(Self::$member),+];

            /// The member's name, as the wire format and the store spell it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$member => $text, )+
                }
            }
        }
    };
}

pub(crate) use closed_set;

#[cfg(test)]
mod tests {
    closed_set! {
        /// Without an `else` clause.
        enum Light {
            Red => "red",
            Amber => "amber",
            Green => "green",
        }
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Unknown(String);

    closed_set! {
        /// With an `else` clause and an extra derive.
        #[derive(PartialOrd, Ord)]
        enum Size {
            Small => "S",
            Large => "L",
        }
        else |raw| -> Unknown { Unknown(format!("{raw} is not a size")) }
    }

    #[test]
    fn all_lists_the_members_in_declaration_order() {
        assert_eq!(Light::ALL, [Light::Red, Light::Amber, Light::Green]);
        assert_eq!(Size::ALL, [Size::Small, Size::Large]);
    }

    #[test]
    fn every_member_parses_back_from_its_name() {
        for light in Light::ALL {
            assert_eq!(Light::parse(light.as_str()), Some(light));
        }
        for size in Size::ALL {
            assert_eq!(Size::parse(size.as_str()), Ok(size));
        }
    }

    #[test]
    fn an_unknown_or_differently_cased_name_is_refused() {
        assert_eq!(Light::parse("blue"), None);
        assert_eq!(Light::parse("Red"), None);
        assert_eq!(Size::parse("M"), Err(Unknown("M is not a size".into())));
    }

    #[test]
    fn extra_derives_are_kept() {
        assert!(Size::Small < Size::Large);
    }
}
