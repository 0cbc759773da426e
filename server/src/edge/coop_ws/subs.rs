//! The `subscribe=` flags of a `/ws` connection.

/// Pushes a connection asked for with `subscribe=` (coop's other flags, such as `hooks` or
/// `usage`, are accepted and ignored: nothing here produces them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subs {
    /// `pty` (alias `output`): PTY bytes.
    pub pty: bool,
    /// `screen`: screen pushes.
    pub screen: bool,
    /// `state`: transitions, exit and outcomes.
    pub state: bool,
}

impl Subs {
    /// Parses a comma-separated flag list; unknown flags are ignored.
    pub fn parse(flags: &str) -> Self {
        let mut subs = Self::default();
        for flag in flags.split(',').map(str::trim) {
            match flag {
                "pty" | "output" => subs.pty = true,
                "screen" => subs.screen = true,
                "state" => subs.state = true,
                _ => {}
            }
        }
        subs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_with_alias_and_unknowns() {
        let subs = Subs::parse("output, state,usage,hooks");
        assert_eq!(
            subs,
            Subs {
                pty: true,
                screen: false,
                state: true
            }
        );
        assert_eq!(Subs::parse(""), Subs::default());
    }
}
