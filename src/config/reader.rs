//! Reading raw `SB_*` values: defaults and bounds from the variable table,
//! every problem collected (never the first one only).

use std::collections::HashMap;
use std::time::Duration;

use super::vars::var;

/// Reads raw values and collects parse errors.
pub(super) struct Reader<'a> {
    values: &'a HashMap<String, String>,
    pub(super) errors: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(values: &'a HashMap<String, String>) -> Self {
        Self {
            values,
            errors: Vec::new(),
        }
    }

    /// The value, or the declared default; `None` when empty.
    pub(super) fn opt(&self, env: &str) -> Option<String> {
        let default = var(env).default;
        let v = self
            .values
            .get(env)
            .map(|s| unquote(s.trim()).to_string())
            .unwrap_or_else(|| default.to_string());
        (!v.is_empty()).then_some(v)
    }

    pub(super) fn string(&self, env: &str) -> String {
        self.opt(env).unwrap_or_default()
    }

    /// Records a problem with a variable.
    pub(super) fn error(&mut self, problem: impl Into<String>) {
        self.errors.push(problem.into());
    }

    pub(super) fn parse<T>(&mut self, env: &str, what: &str) -> T
    where
        T: std::str::FromStr + Default,
    {
        let Some(raw) = self.opt(env) else {
            self.error(format!("{env} must be set ({what})"));
            return T::default();
        };
        match raw.parse() {
            Ok(v) => v,
            Err(_) => {
                self.error(format!("{env}={raw:?} is not valid: expected {what}"));
                T::default()
            }
        }
    }

    /// An integer within the variable's declared bounds.
    pub(super) fn ranged(&mut self, env: &str) -> u64 {
        let (min, max) = var(env)
            .bounds
            .unwrap_or_else(|| panic!("{env} declares no bounds"));
        let v: u64 = self.parse(env, &format!("an integer in {min}..={max}"));
        if !(min..=max).contains(&v) {
            self.error(format!("{env}={v} is out of range {min}..={max}"));
        }
        v
    }

    pub(super) fn ms(&mut self, env: &str) -> Duration {
        Duration::from_millis(self.ranged(env))
    }

    pub(super) fn secs(&mut self, env: &str) -> Duration {
        Duration::from_secs(self.ranged(env))
    }

    /// A comma-separated list, trimmed, without empty items.
    pub(super) fn list(&self, env: &str) -> Vec<String> {
        self.string(env)
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// One pair of matching surrounding quotes removed: env files read by
/// `docker run --env-file` or `kubectl create configmap --from-env-file`
/// keep quotes as part of the value.
pub(super) fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}
