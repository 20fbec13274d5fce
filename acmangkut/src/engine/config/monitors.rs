//! The `monitors` section of a config document: monitor definitions by name, in the format of
//! `POST /api/v1/monitors`.
//!
//! Only the definition is config: a monitor's state, history and pause switch are the
//! operators' (applying at every start must not resume what someone paused), so an applied
//! monitor keeps them and a created one starts `pending`, as through the API. Credentials in a
//! probe (a URL's password or token parameter, `Authorization`-like header values) are
//! exported as `******`; applying that marker back keeps the stored value while the target
//! stays the same ([`ProbeSpec::keep_secrets_from`](shared::probe::ProbeSpec)), and a marker
//! with nothing to keep is refused naming the field.

use super::{Change, Outcome, at};
use crate::engine::Error;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::monitors::{self as store, MonitorFilter};
use shared::monitor::MonitorInput;

/// Every monitor's definition, by name, credentials redacted.
pub fn export(conn: &mut DbConn) -> Result<Vec<MonitorInput>, Error> {
    let (monitors, _) = store::list(conn, &MonitorFilter::default(), i64::MAX, 0)?;
    let mut out: Vec<MonitorInput> = monitors
        .iter()
        .map(|m| {
            let mut input = m.input();
            input.probe = input.probe.redacted();
            input
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub fn apply(
    c: &mut DbConn,
    actor: &Actor,
    entries: &[MonitorInput],
    out: &mut Outcome,
) -> Result<(), Error> {
    for (i, entry) in entries.iter().enumerate() {
        let wrap = at(format!("monitors[{i}]"));
        let mut input = entry.clone();
        input.validate().map_err(|e| wrap(e.into()))?;
        // Stored trimmed, as through the API.
        input.name = input.name.trim().to_string();
        let stored = match store::id_by_name(c, &input.name)? {
            None => None,
            Some(id) => Some((id, store::get(c, id)?)),
        };
        if let Some((_, old)) = &stored {
            input.probe.keep_secrets_from(&old.probe);
        }
        if let Some(field) = input.probe.redaction_left() {
            return Err(wrap(Error::invalid(
                format!("probe.{field}"),
                "holds the redaction marker ****** and there is no stored value to keep: \
                 give the real value",
            )));
        }
        let change = match stored {
            None => {
                store::create(c, actor, &input)?;
                Change::Created
            }
            Some((_, old)) if old.input() == input => Change::Unchanged,
            Some((id, _)) => {
                store::update(c, actor, id, &input)?;
                Change::Updated
            }
        };
        out.add(&input.name, change);
    }
    Ok(())
}
