//! `config.apply_dir`: the config-as-code documents a deployment ships beside its manifests (a
//! mounted ConfigMap), applied at start-up before the server answers, so `/readyz` means they
//! are in. Every `*.yaml` / `*.yml` file of the directory, in name order (a plan in
//! `20-plans.yaml` may name an operation of `10-operations.yaml`), is parsed first, then all
//! are applied in one transaction: a bad document changes nothing and stops the start with an
//! error naming the file and the field. Applying is idempotent, so every replica and every
//! restart applies them again and finds them unchanged.

use super::{ApplyResult, Context, Document};
use crate::engine::Error;
use crate::store::audit::Actor;
use crate::store::{self, DbConn};
use std::path::{Path, PathBuf};

/// Who the applied changes are audited as.
pub const ACTOR: &str = "system:config";

/// The documents of `dir`, by file, in name order. A missing directory is an error: a
/// deployment that names one means to apply it.
pub fn read(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Document)>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("config key `config.apply_dir`: {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let yaml = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
        // Kubernetes mounts a ConfigMap's keys as links into a hidden `..data` directory.
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if yaml && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read(&path)
                .map_err(|e| anyhow::anyhow!("config document {}: {e}", path.display()))?;
            let doc = super::parse(&text).map_err(|e| named(&path, &e))?;
            Ok((path, doc))
        })
        .collect()
}

/// The error of `path` as an operator reads it: file, field and what is wrong.
fn named(path: &Path, e: &Error) -> anyhow::Error {
    match e.parts() {
        (Some(field), detail) => {
            anyhow::anyhow!("config document {}: `{field}`: {detail}", path.display())
        }
        (None, detail) => anyhow::anyhow!("config document {}: {detail}", path.display()),
    }
}

/// Applies `docs` in one transaction; each result is its file's. The error of a file is
/// [`Error::At`] its path ([`describe`] words it).
pub fn apply(
    conn: &mut DbConn,
    engines: &crate::engine::plans::Context,
    docs: &[(PathBuf, Document)],
) -> Result<Vec<ApplyResult>, Error> {
    let actor = Actor {
        name: ACTOR.into(),
        kind: "system",
        peer: String::new(),
    };
    let ctx = Context {
        engines,
        actor: &actor,
    };
    store::write(conn, |c| {
        docs.iter()
            .map(|(path, doc)| {
                super::apply(c, &ctx, doc, false).map_err(|e| Error::At {
                    prefix: path.display().to_string(),
                    inner: Box::new(e),
                })
            })
            .collect()
    })
}

/// An error of [`apply`] as an operator reads it: file, field and what is wrong.
pub fn describe(e: &Error) -> anyhow::Error {
    match e {
        Error::At { prefix, inner } => named(Path::new(prefix), inner),
        other => anyhow::anyhow!("applying config.apply_dir: {other}"),
    }
}
