//! Secrets actions name (`{{ secret.NAME }}`, in an `http` action's URL, headers and body):
//! read at each run from `executor.secrets.NAME` or else the file `<executor.secrets_dir>/NAME`
//! (trailing newline trimmed, as pageinspect's browser secrets), so a rotated file is used
//! from the next run on. Never stored: the database keeps the template, and what a run leaves
//! (evidence, errors) has each value replaced by [`REDACTED`] before it is returned.

use crate::config::ExecutorConfig;
use crate::engine::Error;
use shared::Secret;
use shared::action::{Action, SECRET_PREFIX};
use shared::check::CheckOutcome;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What stands in for a secret's value in evidence and errors.
pub(crate) const REDACTED: &str = "******";

pub(crate) struct Secrets {
    dir: PathBuf,
    config: BTreeMap<String, Secret>,
}

/// The secrets one run uses: its template variables, and the values to hide.
#[derive(Default)]
pub(crate) struct Resolved {
    values: BTreeMap<String, Secret>,
}

impl Secrets {
    pub(crate) fn new(config: &ExecutorConfig) -> Self {
        Self {
            dir: config.secrets_dir.clone(),
            config: config.secrets.clone(),
        }
    }

    /// Every secret `action` names can be read now. An error names the field that uses it
    /// (`{prefix}headers.Authorization`) and the secret, never a value.
    pub(crate) fn check(&self, action: &Action, prefix: &str) -> Result<(), Error> {
        for (path, name) in uses(action, prefix)? {
            if self.config.contains_key(&name) {
                continue;
            }
            // Read as a run reads it (a directory or a file not in UTF-8 is missing too).
            if let Err(e) = std::fs::read_to_string(self.dir.join(&name)) {
                return Err(Error::invalid(path, self.missing(&name, e.kind())));
            }
        }
        Ok(())
    }

    /// Reads every secret `action` names; the error is `field: why`, naming the secret.
    pub(crate) async fn resolve(&self, action: &Action) -> Result<Resolved, String> {
        let mut values = BTreeMap::new();
        for (path, name) in uses(action, "").map_err(|e| e.to_string())? {
            if values.contains_key(&name) {
                continue;
            }
            let value = match self.config.get(&name) {
                Some(v) => v.clone(),
                None => match tokio::fs::read_to_string(self.dir.join(&name)).await {
                    Ok(text) => Secret::new(text.trim_end_matches(['\n', '\r'])),
                    Err(e) => return Err(format!("{path}: {}", self.missing(&name, e.kind()))),
                },
            };
            values.insert(name, value);
        }
        Ok(Resolved { values })
    }

    fn missing(&self, name: &str, why: std::io::ErrorKind) -> String {
        format!(
            "secret `{name}` is missing: it is not in executor.secrets, and {} cannot be read \
             ({why})",
            self.dir.join(name).display()
        )
    }
}

impl Resolved {
    /// `secret.NAME` → value, for rendering.
    pub(crate) fn vars(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.values
            .iter()
            .map(|(n, v)| (format!("{SECRET_PREFIX}{n}"), v.expose().to_string()))
    }

    /// `text` with every value replaced by [`REDACTED`]: as it is, and as a form or a URL
    /// (path, query, password) encodes it, since the client's errors show the URL it parsed.
    /// Longest first, so a secret that contains another is hidden whole.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut forms: Vec<String> = Vec::new();
        for v in self.values.values().map(Secret::expose) {
            forms.extend(encodings(v));
        }
        forms.retain(|f| !f.is_empty());
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        let mut out = text.to_string();
        for f in &forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), REDACTED);
            }
        }
        out
    }

    /// The outcome with nothing of a secret in it.
    pub(crate) fn redact_outcome(&self, mut outcome: CheckOutcome) -> CheckOutcome {
        if self.values.is_empty() {
            return outcome;
        }
        outcome.evidence = self.redact(&outcome.evidence);
        outcome.value = outcome.value.map(|v| self.redact(&v));
        outcome
    }
}

/// `v` and the ways a form body or a URL writes it.
fn encodings(v: &str) -> Vec<String> {
    let form: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
    let mut forms = vec![v.to_string(), form.replace('+', "%20"), form];
    if let Ok(mut u) = url::Url::parse("http://h/") {
        u.set_path(v);
        forms.push(u.path().trim_start_matches('/').to_string());
        u.set_query(Some(v));
        forms.extend(u.query().map(str::to_string));
        if u.set_password(Some(v)).is_ok() {
            forms.extend(u.password().map(str::to_string));
        }
    }
    forms
}

/// `(field, secret name)` of each secret `action` uses, fields prefixed.
fn uses(action: &Action, prefix: &str) -> Result<Vec<(String, String)>, Error> {
    let uses = action
        .secrets()
        .map_err(|(path, e)| Error::invalid(format!("{prefix}{path}"), e.to_string()))?;
    Ok(uses
        .into_iter()
        .map(|(path, name)| (format!("{prefix}{path}"), name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_value_is_hidden_and_the_longest_first() {
        let r = Resolved {
            values: [
                ("a".to_string(), Secret::new("p@ss word")),
                ("b".to_string(), Secret::new("p@ss")),
            ]
            .into(),
        };
        let seen = r.redact(
            "raw p@ss word, form p%40ss+word, encoded p%40ss%20word, path p@ss%20word, short p@ss",
        );
        assert_eq!(
            seen, "raw ******, form ******, encoded ******, path ******, short ******",
            "{seen}"
        );
        assert_eq!(Resolved::default().redact("p@ss"), "p@ss");
    }
}
