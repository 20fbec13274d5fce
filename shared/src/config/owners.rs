//! Which binary owns which configuration key, so that one environment (a Kubernetes ConfigMap
//! loaded with `envFrom`, one `.env` for a compose file) can feed all three: a binary drops the
//! `HAS_…` variables that belong to another one and still rejects a misspelt key of its own.
//!
//! A key belongs to a binary when its first level is a section only that binary has
//! (`scheduler` is acmangkut's, `probe` pageinspect's, `wait` hasinit's: everything under it is
//! that binary's, and a typo there is caught by the binary that reads it), or when it is one of
//! the listed keys of a section several binaries have (`server`, `log`). Each binary has a test
//! that its configuration struct and this table agree.

/// The three binaries of HAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    Acmangkut,
    Pageinspect,
    Hasinit,
}

impl App {
    pub const ALL: [App; 3] = [App::Acmangkut, App::Pageinspect, App::Hasinit];

    pub fn name(self) -> &'static str {
        match self {
            App::Acmangkut => "acmangkut",
            App::Pageinspect => "pageinspect",
            App::Hasinit => "hasinit",
        }
    }

    /// The first-level sections only this binary has.
    pub fn sections(self) -> &'static [&'static str] {
        match self {
            App::Acmangkut => &[
                "database",
                "pageinspect",
                "scheduler",
                "retention",
                "metric_log",
                "iam",
                "inspection",
                "executor",
                "plans",
                "config",
                "drills",
                "outbound",
            ],
            App::Pageinspect => &["probe", "auth", "location", "egress", "resolver", "browser"],
            App::Hasinit => &["acmangkut", "wait", "manifest", "admin"],
        }
    }

    /// Its keys in the sections several binaries have.
    pub fn shared_keys(self) -> &'static [&'static str] {
        const LOG: [&str; 6] = [
            "log.dir",
            "log.level",
            "log.format",
            "log.stdout",
            "log.keep_days",
            "log.max_mb_per_day",
        ];
        match self {
            App::Acmangkut => &[
                "server.listen",
                "server.workers",
                "server.max_body_bytes",
                LOG[0],
                LOG[1],
                LOG[2],
                LOG[3],
                LOG[4],
                LOG[5],
            ],
            App::Pageinspect => &[
                "server.listen",
                "server.workers",
                "server.max_request_bytes",
                LOG[0],
                LOG[1],
                LOG[2],
                LOG[3],
                LOG[4],
                LOG[5],
            ],
            App::Hasinit => &LOG,
        }
    }

    /// Whether the dotted, lower-case `key` is this binary's.
    pub fn owns(self, key: &str) -> bool {
        let section = key.split('.').next().unwrap_or(key);
        self.sections().contains(&section) || self.shared_keys().contains(&key)
    }

    /// The other binary that owns `key`, when this one does not.
    pub fn foreign_owner(self, key: &str) -> Option<App> {
        match self.owns(key) {
            true => None,
            false => App::ALL.into_iter().find(|a| *a != self && a.owns(key)),
        }
    }

    /// Checks the table against a binary's configuration (its defaults as JSON, plus the keys
    /// its defaults leave unset): every key is owned by this binary, and every section listed
    /// as its own is in its configuration. The error names what to change.
    pub fn check_against(
        self,
        defaults: &serde_json::Value,
        optional: &[&str],
    ) -> Result<(), String> {
        let mut keys = Vec::new();
        leaves(defaults, "", &mut keys);
        keys.extend(optional.iter().map(|k| k.to_string()));
        let unowned: Vec<_> = keys.iter().filter(|k| !self.owns(k)).collect();
        if !unowned.is_empty() {
            return Err(format!(
                "keys of {} missing from shared::config::owners: {unowned:?}",
                self.name()
            ));
        }
        let present = |s: &&str| keys.iter().any(|k| k.split('.').next() == Some(*s));
        let absent: Vec<_> = self.sections().iter().filter(|s| !present(s)).collect();
        match absent.is_empty() {
            true => Ok(()),
            false => Err(format!(
                "sections listed for {} but not in its configuration: {absent:?}",
                self.name()
            )),
        }
    }
}

/// The dotted paths of the leaves of `v` (an empty table counts as a leaf: a map of names).
fn leaves(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v.as_object() {
        Some(fields) if !fields.is_empty() => {
            for (key, value) in fields {
                let next = match path {
                    "" => key.clone(),
                    _ => format!("{path}.{key}"),
                };
                leaves(value, &next, out);
            }
        }
        _ => out.push(path.to_string()),
    }
}

/// The dotted, lower-case key an environment variable sets (`HAS_SERVER__LISTEN` →
/// `server.listen`), as the loader reads it.
pub fn env_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("HAS_")?;
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_section_or_shared_key_has_exactly_one_owner() {
        for (key, owner) in [
            ("scheduler.tick_ms", Some(App::Acmangkut)),
            ("pageinspect.url", Some(App::Acmangkut)),
            ("probe.max_batch", Some(App::Pageinspect)),
            ("acmangkut.url", Some(App::Hasinit)),
            ("server.max_body_bytes", Some(App::Acmangkut)),
            ("server.max_request_bytes", Some(App::Pageinspect)),
        ] {
            let owners: Vec<_> = App::ALL.into_iter().filter(|a| a.owns(key)).collect();
            assert_eq!(owners, owner.into_iter().collect::<Vec<_>>(), "{key}");
        }
        assert!(App::ALL.iter().all(|a| a.owns("log.level")));
        assert_eq!(
            App::Hasinit.foreign_owner("server.listen"),
            Some(App::Acmangkut)
        );
        assert_eq!(App::Acmangkut.foreign_owner("server.listen"), None);
        assert_eq!(App::Acmangkut.foreign_owner("server.listn"), None);
        assert_eq!(App::Pageinspect.foreign_owner("schedular.tick_ms"), None);
    }

    #[test]
    fn no_section_belongs_to_two_binaries() {
        for a in App::ALL {
            for b in App::ALL.into_iter().filter(|b| *b != a) {
                for s in a.sections() {
                    assert!(!b.sections().contains(s), "{s}: {a:?} and {b:?}");
                }
            }
        }
    }

    #[test]
    fn environment_variables_name_dotted_keys() {
        assert_eq!(
            env_key("HAS_SERVER__LISTEN").as_deref(),
            Some("server.listen")
        );
        assert_eq!(
            env_key("HAS_INSPECTION__NOTIFY__MAX_ATTEMPTS").as_deref(),
            Some("inspection.notify.max_attempts")
        );
        assert_eq!(env_key("PATH"), None);
    }

    proptest! {
        /// Whatever the variable, ownership is decided without panicking, and a binary never
        /// calls its own key foreign.
        #[test]
        fn ownership_never_panics(var in "HAS_[A-Za-z_.]{0,40}") {
            let key = env_key(&var).expect("prefixed");
            for a in App::ALL {
                if let Some(other) = a.foreign_owner(&key) {
                    prop_assert!(other != a && other.owns(&key) && !a.owns(&key));
                }
            }
        }
    }
}
