//! The text inputs of the `rollout` example, as library functions so they can be tested
//! and fuzzed: an internal state given as comma-separated numbers (`--state`), and an
//! actions file with one action per line (`--actions`).

use candor_core::{Error, Result};

use crate::space::{Action, Space};

/// Comma-separated numbers, each trimmed (`"0.01, 0,0.02,0"`). The first entry that does
/// not parse is an error quoting it; empty text is one empty entry, hence an error.
pub fn parse_values<T: std::str::FromStr>(text: &str) -> Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    text.split(',')
        .map(|s| {
            let s = s.trim();
            s.parse::<T>()
                .map_err(|e| Error::invalid(format!("'{s}': {e}")))
        })
        .collect()
}

/// A `--state` argument: comma-separated `f64` values (checked for length and finiteness
/// by [`Env::set_state`](crate::Env::set_state)).
pub fn parse_state(text: &str) -> Result<Vec<f64>> {
    parse_values(text)
}

/// One line of an actions file for `space`: an index for a discrete space (its range is
/// checked by [`Env::step`](crate::Env::step)), comma-separated floats for a box.
pub fn parse_action(line: &str, space: &Space) -> Result<Action> {
    match space {
        Space::Discrete(n) => line
            .trim()
            .parse::<usize>()
            .map(Action::Discrete)
            .map_err(|e| {
                Error::invalid(format!(
                    "expected an action index in 0..{n}, got '{}': {e}",
                    line.trim()
                ))
            }),
        Space::Box { .. } => parse_values::<f32>(line)
            .map(Action::Continuous)
            .map_err(|e| Error::invalid(format!("expected comma-separated floats: {e}"))),
    }
}

/// Every action of an actions file, with its 1-based line number; blank lines are
/// skipped. The whole text is parsed before anything is stepped, so a typo late in the
/// file is reported (with its line number) before any output.
pub fn parse_actions(text: &str, space: &Space) -> Result<Vec<(usize, Action)>> {
    let mut actions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let a = parse_action(line, space).map_err(|e| {
            let m = match e {
                Error::InvalidInput(m) => m,
                other => other.to_string(),
            };
            Error::invalid(format!("line {}: {m}", i + 1))
        })?;
        actions.push((i + 1, a));
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_actions() {
        assert_eq!(parse_state(" 0.5, -1,2 ").unwrap(), vec![0.5, -1.0, 2.0]);
        let e = parse_state("0.5,,1").unwrap_err().to_string();
        assert!(e.contains("''"), "{e}");
        let d = Space::Discrete(2);
        let a = parse_actions("1\n\n 0 \n", &d).unwrap();
        assert_eq!(a, vec![(1, Action::Discrete(1)), (3, Action::Discrete(0))]);
        let e = parse_actions("1\nx\n", &d).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("0..2"), "{e}");
        let b = Space::uniform_box(-1.0, 1.0, &[2]);
        assert_eq!(
            parse_action("0.5, -2", &b).unwrap(),
            Action::Continuous(vec![0.5, -2.0])
        );
        assert!(parse_action("0.5;1", &b).is_err());
    }
}
