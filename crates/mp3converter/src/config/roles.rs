//! [`Role`] and [`Roles`]: which parts of the service a process runs, parsed once from
//! `server.roles` (`all`, or a comma-separated list such as `gateway,auth`).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// One part of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Users, login, tokens, JWKS.
    Auth,
    /// The HTTP API, the web UI, uploads and downloads.
    Gateway,
    /// Conversion workers on the `video` queue.
    Converter,
    /// Email workers on the `mp3` queue.
    Notifier,
}

impl Role {
    /// Every role, in start order.
    pub const ALL: [Role; 4] = [Role::Auth, Role::Gateway, Role::Converter, Role::Notifier];

    /// The role's name in configuration and logs (`gateway`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auth => "auth",
            Role::Gateway => "gateway",
            Role::Converter => "converter",
            Role::Notifier => "notifier",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of roles one process runs. Never empty.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Roles {
    /// Every role: the single-binary, embedded deployment.
    pub const ALL: Roles = Roles(0b1111);

    /// Just `role`.
    pub fn only(role: Role) -> Roles {
        Roles(role.bit())
    }

    /// True when `role` is in the set.
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// True when this process runs every role (nothing needs to cross a process boundary).
    pub fn is_all(self) -> bool {
        self == Roles::ALL
    }

    /// The roles in start order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromStr for Roles {
    type Err = String;

    /// `all`, or a comma-separated list of role names; an unknown name or an empty list is an
    /// error (never a silent fall-back to every role).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bits = 0;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            bits |= match part {
                "all" => Roles::ALL.0,
                other => match Role::ALL.iter().find(|r| r.as_str() == other) {
                    Some(role) => role.bit(),
                    None => {
                        return Err(format!(
                            "unknown role `{other}` (expected all, auth, gateway, converter or notifier)"
                        ));
                    }
                },
            };
        }
        if bits == 0 {
            return Err("no role given".into());
        }
        Ok(Roles(bits))
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Roles({self})")
    }
}

impl<'de> Deserialize<'de> for Roles {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_any_order_and_all_means_every_role() {
        let roles: Roles = " gateway , auth,gateway".parse().unwrap();
        assert_eq!(
            roles.iter().collect::<Vec<_>>(),
            [Role::Auth, Role::Gateway]
        );
        assert_eq!(roles.to_string(), "auth,gateway");
        assert!("all".parse::<Roles>().unwrap().is_all());
        assert!(
            "auth,gateway,converter,notifier"
                .parse::<Roles>()
                .unwrap()
                .is_all()
        );
        assert_eq!(Roles::only(Role::Notifier).to_string(), "notifier");
    }

    #[test]
    fn unknown_and_empty_lists_are_errors() {
        let e = "gateway,convertor".parse::<Roles>().unwrap_err();
        assert!(e.contains("unknown role `convertor`"), "{e}");
        assert_eq!("".parse::<Roles>().unwrap_err(), "no role given");
        assert_eq!(" , ".parse::<Roles>().unwrap_err(), "no role given");
    }
}
