//! Layered configuration: built-in defaults < TOML file < `HAS_…` environment variables.
//!
//! Each binary owns one typed struct (with `#[serde(deny_unknown_fields)]` on every level) and
//! calls [`load`]. Environment keys use `__` between levels: `HAS_SERVER__LISTEN` sets
//! `server.listen`. Variables starting with `HAS_TEST_` belong to the test suite and are ignored;
//! so are variables of another binary's keys ([`owners`]), so that one environment can feed all
//! three binaries. They are logged at debug once logging starts ([`take_ignored`]).

pub mod owners;

pub use owners::App;
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// Variables [`load`] ignored as another binary's, until logging starts.
static IGNORED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The variables the last [`load`] ignored as another binary's (`HAS_PROBE__MAX_BATCH: a key of
/// pageinspect`), once: logging starts after the configuration is read.
pub fn take_ignored() -> Vec<String> {
    std::mem::take(&mut *IGNORED.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Why a configuration could not be loaded; the message always names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("config: {0}")]
    Other(String),
}

impl ConfigError {
    /// The dotted key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Key { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Loads `app`'s `T` from its defaults, an optional TOML file and the process environment.
pub fn load<T>(app: App, defaults: &T, file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned,
{
    let (own, ignored) = split_env(app, std::env::vars());
    *IGNORED.lock().unwrap_or_else(|e| e.into_inner()) = ignored;
    load_with_env(defaults, file, own)
}

/// The variables `app` reads, and a line for each it leaves to another binary.
pub fn split_env<I>(app: App, env: I) -> (Vec<(String, String)>, Vec<String>)
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut ignored = Vec::new();
    let own = env
        .into_iter()
        .filter(|(var, _)| {
            let owner = owners::env_key(var).and_then(|key| app.foreign_owner(&key));
            if let Some(owner) = owner {
                ignored.push(format!("{var}: a key of {}", owner.name()));
            }
            owner.is_none()
        })
        .collect();
    (own, ignored)
}

/// As [`load`], with the environment given explicitly (tests use this).
pub fn load_with_env<T, I>(defaults: &T, file: Option<&Path>, env: I) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned,
    I: IntoIterator<Item = (String, String)>,
{
    let mut builder = config::Config::builder().add_source(
        config::Config::try_from(defaults).map_err(|e| ConfigError::Other(e.to_string()))?,
    );
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
    }
    let env: HashMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("HAS_") && !k.starts_with("HAS_TEST_"))
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix("HAS")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("__never__")
            .source(Some(env)),
    );
    let merged = builder.build().map_err(|e| match file {
        Some(p) => ConfigError::File {
            path: p.display().to_string(),
            message: e.to_string(),
        },
        None => ConfigError::Other(e.to_string()),
    })?;
    serde_path_to_error::deserialize(merged).map_err(|e| {
        let key = e.path().to_string();
        let message = strip_key_suffix(&e.inner().to_string());
        ConfigError::Key { key, message }
    })
}

/// Checks a binary's documented example file against its defaults: the file loads, sets
/// nothing other than the defaults, and mentions every key (`[section]` for a table), so a key
/// added to the struct cannot go undocumented. The error says what is wrong.
pub fn check_example<T>(defaults: &T, example: &Path) -> Result<(), String>
where
    T: Serialize + DeserializeOwned,
{
    let loaded: T = load_with_env(defaults, Some(example), Vec::<(String, String)>::new())
        .map_err(|e| e.to_string())?;
    let (loaded, defaults) = (json(&loaded)?, json(defaults)?);
    if loaded != defaults {
        return Err(format!(
            "{} sets other values than the defaults:\n{loaded}\n{defaults}",
            example.display()
        ));
    }
    let text = std::fs::read_to_string(example).map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    mentioned(&defaults, "", &text, &mut missing);
    match missing.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "{} does not mention {missing:?}",
            example.display()
        )),
    }
}

fn json(v: &impl Serialize) -> Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// The keys of `v` (under the table `path`) that `text` does not mention, depth first.
fn mentioned(v: &serde_json::Value, path: &str, text: &str, missing: &mut Vec<String>) {
    let Some(fields) = v.as_object() else { return };
    for (key, value) in fields {
        let table = match path {
            "" => key.clone(),
            _ => format!("{path}.{key}"),
        };
        let word = match value.is_object() {
            true => format!("[{table}]"),
            false => key.clone(),
        };
        if !text.contains(&word) {
            missing.push(word);
        }
        mentioned(value, &table, text, missing);
    }
}

/// `config` appends " for key `x`" to some messages; we name the key ourselves.
fn strip_key_suffix(message: &str) -> String {
    match message.find(" for key `") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::io::Write;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Server {
        listen: String,
        workers: u16,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Conf {
        server: Server,
        name: String,
    }

    fn defaults() -> Conf {
        Conf {
            server: Server {
                listen: "0.0.0.0:1".into(),
                workers: 2,
            },
            name: "x".into(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_wins_over_file_which_wins_over_defaults() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(f, "name = \"from-file\"\n[server]\nworkers = 7").expect("write");
        let c: Conf = load_with_env(
            &defaults(),
            Some(f.path()),
            env(&[
                ("HAS_SERVER__LISTEN", "127.0.0.1:9"),
                ("HAS_TEST_DATABASE_URL", "x"),
            ]),
        )
        .expect("loads");
        assert_eq!(c.server.listen, "127.0.0.1:9");
        assert_eq!(c.server.workers, 7);
        assert_eq!(c.name, "from-file");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = load_with_env(&defaults(), None, env(&[("HAS_SERVER__LISTN", "x")]))
            .expect_err("unknown key must fail");
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn a_bad_value_is_named_by_its_key() {
        let err = load_with_env(&defaults(), None, env(&[("HAS_SERVER__WORKERS", "many")]))
            .expect_err("bad value must fail");
        assert_eq!(err.key(), Some("server.workers"), "{err}");
    }

    #[test]
    fn another_binarys_variables_are_left_to_it_and_a_typo_of_ours_is_not() {
        let vars = env(&[
            ("HAS_SERVER__LISTEN", "127.0.0.1:9"),
            ("HAS_PROBE__MAX_BATCH", "5"),
            ("HAS_WAIT__MAX_SECONDS", "5"),
            ("HAS_SERVER__MAX_REQUEST_BYTES", "5"),
        ]);
        let (own, ignored) = split_env(App::Acmangkut, vars);
        assert_eq!(own, env(&[("HAS_SERVER__LISTEN", "127.0.0.1:9")]));
        assert_eq!(
            ignored,
            [
                "HAS_PROBE__MAX_BATCH: a key of pageinspect",
                "HAS_WAIT__MAX_SECONDS: a key of hasinit",
                "HAS_SERVER__MAX_REQUEST_BYTES: a key of pageinspect",
            ]
        );
        let (own, _) = split_env(App::Acmangkut, env(&[("HAS_SERVER__LISTN", "x")]));
        assert_eq!(
            own.len(),
            1,
            "a misspelt key is nobody's: still refused by the loader"
        );
    }

    #[test]
    fn a_numeric_looking_string_still_loads_into_a_string_field() {
        let c: Conf = load_with_env(&defaults(), None, env(&[("HAS_NAME", "1234")])).expect("ok");
        assert_eq!(c.name, "1234");
    }
}
