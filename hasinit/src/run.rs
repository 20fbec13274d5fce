//! One run of hasinit, in order: manifest, token, wait, apply, first admin.

use crate::client::{Acmangkut, ClientError, UserCreation};
use crate::config::HasinitConfig;
use crate::exit::Error;
use crate::manifest::{self, Manifest};
use crate::{password, report};
use shared::config::ConfigError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the command line adds to the configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--manifest`: wins over `manifest.path`.
    pub manifest: Option<PathBuf>,
    /// `--dry-run`: print the diff, write nothing.
    pub dry_run: bool,
}

/// Applies the manifest and makes sure an admin exists, writing the report to `out` (stdout
/// in `main`). Everything that can be checked locally (config, manifest, token) is checked
/// before acmangkut is contacted.
pub async fn run<W: Write>(
    config: &HasinitConfig,
    options: &Options,
    out: &mut W,
) -> Result<(), Error> {
    let manifest = load_manifest(options, config, out)?;
    let token = config.token()?;
    let acmangkut = Acmangkut::new(&config.acmangkut.url, token)?;
    acmangkut
        .wait_ready(config.max_wait(), config.initial_backoff())
        .await?;

    let outcome = acmangkut.apply(&manifest, options.dry_run).await?;
    tracing::info!(
        dry_run = options.dry_run,
        created = outcome.created,
        updated = outcome.updated,
        unchanged = outcome.unchanged,
        "manifest applied"
    );
    say(out, report::manifest(&outcome, options.dry_run))?;

    ensure_admin(&acmangkut, config, options.dry_run, out).await
}

/// The manifest from `--manifest`, else `manifest.path`, else the embedded default.
fn load_manifest(
    options: &Options,
    config: &HasinitConfig,
    out: &mut impl Write,
) -> Result<Manifest, Error> {
    let (path, key) = match (&options.manifest, &config.manifest.path) {
        (Some(p), _) => (p.as_path(), "--manifest"),
        (None, Some(p)) => (p.as_path(), "manifest.path"),
        (None, None) => {
            let m = Manifest::default_manifest();
            say(out, [summary(manifest::DEFAULT_SOURCE, &m)])?;
            return Ok(m);
        }
    };
    let text = read(path, key)?;
    let m = manifest::parse(&text, &path.display().to_string())?;
    say(out, [summary(&path.display().to_string(), &m)])?;
    Ok(m)
}

fn read(path: &Path, key: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::Config(ConfigError::Key {
            key: key.into(),
            message: format!("cannot read {}: {e}", path.display()),
        })
    })
}

fn summary(source: &str, m: &Manifest) -> String {
    format!(
        "manifest {source}: {} permissions, {} roles, {} bindings",
        m.permissions.len(),
        m.roles.len(),
        m.bindings.len()
    )
}

/// Creates `admin.username` with the `admin` role unless some user already holds it.
async fn ensure_admin(
    acmangkut: &Acmangkut,
    config: &HasinitConfig,
    dry_run: bool,
    out: &mut impl Write,
) -> Result<(), Error> {
    let username = config.admin.username.as_str();
    let admins = acmangkut.admins().await?;
    if !admins.is_empty() {
        return say(
            out,
            [format!(
                "admin: the admin role is already held by {}; none created",
                admins.join(", ")
            )],
        );
    }
    if dry_run {
        return say(
            out,
            [format!(
                "admin: no user holds the admin role; would create {username:?}"
            )],
        );
    }
    let (password, generated) = match &config.admin.password {
        Some(p) => (p.clone(), false),
        None => (
            password::generate()
                .map_err(|e| Error::Other(format!("cannot generate a password: {e}")))?,
            true,
        ),
    };
    let created = acmangkut
        .create_user(username, &password, &["admin"])
        .await
        .map_err(|e| match e {
            // The server's own rules for usernames and passwords: name our key.
            ClientError::Refused {
                detail,
                field: Some(field),
                ..
            } if field == "username" || field == "password" => Error::Config(ConfigError::Key {
                key: format!("admin.{field}"),
                message: format!("refused by acmangkut: {detail}"),
            }),
            e => e.into(),
        })?;
    match created {
        UserCreation::Created => {
            tracing::info!(username, generated, "first admin created");
            if generated {
                say(
                    out,
                    [
                        format!(
                            "admin: created {username:?}; its generated password is shown only \
                            this once:"
                        ),
                        format!("admin password: {}", password.expose()),
                    ],
                )
            } else {
                say(
                    out,
                    [format!(
                        "admin: created {username:?} with the password from admin.password"
                    )],
                )
            }
        }
        UserCreation::AlreadyExists => {
            // A concurrent run created it between our look and our create, or an account of
            // that name exists without the role: only the first is fine.
            let admins = acmangkut.admins().await?;
            if admins.is_empty() {
                return Err(Error::Config(ConfigError::Key {
                    key: "admin.username".into(),
                    message: format!(
                        "user {username:?} exists but holds no admin role and no other user does; \
                         grant it admin or choose another admin.username"
                    ),
                }));
            }
            say(
                out,
                [format!(
                    "admin: {username:?} was created meanwhile by another run (the admin role is \
                    held by {}); none created",
                    admins.join(", ")
                )],
            )
        }
    }
}

fn say<I, S>(out: &mut impl Write, lines: I) -> Result<(), Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    report::emit(out, lines).map_err(|e| Error::Other(format!("cannot write the report: {e}")))
}
