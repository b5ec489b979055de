//! Identifiers of users and jobs: UUID v7 strings (time-ordered), wrapped so they cannot be mixed up.
//!
//! The text form is the canonical lowercase hyphenated UUID; it is what the database stores
//! (`VARCHAR(36)`), what queue messages carry (`"job_id"`) and what URLs show.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Why a string was refused as an id. Safe to show to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id: {0:?}")]
pub struct IdError(pub String);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh UUID v7: unique, and sorting by it sorts by creation time.
            pub fn generate() -> Self {
                Self(Uuid::now_v7().hyphenated().to_string())
            }

            /// The canonical text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            /// Accepts any UUID spelling and keeps the canonical lowercase hyphenated form.
            fn from_str(s: &str) -> Result<Self, IdError> {
                Uuid::parse_str(s)
                    .map(|u| Self(u.hyphenated().to_string()))
                    .map_err(|_| IdError(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, IdError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

uuid_id! {
    /// Identifies a user account (`users.id`, the JWT `sub`).
    UserId
}

uuid_id! {
    /// Identifies a conversion job (`jobs.id`, `"job_id"` in messages, the queue `message_id`).
    JobId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_v7_and_sort_by_creation() {
        let a = JobId::generate();
        let b = JobId::generate();
        assert!(a < b, "{a} should sort before {b}");
        let parsed = Uuid::parse_str(a.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert_eq!(a.as_str().len(), 36);
    }

    #[test]
    fn parsing_canonicalises_and_rejects_garbage() {
        let id: UserId = "0190F5B2-7C4A-7D3E-8B1A-1234567890AB".parse().unwrap();
        assert_eq!(id.as_str(), "0190f5b2-7c4a-7d3e-8b1a-1234567890ab");
        assert!("../etc/passwd".parse::<UserId>().is_err());
        assert!("".parse::<JobId>().is_err());
    }

    #[test]
    fn serde_form_is_the_plain_string() {
        let id = JobId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<JobId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<JobId>("\"nope\"").is_err());
    }
}
