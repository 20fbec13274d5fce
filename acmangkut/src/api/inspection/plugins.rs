//! Plugins: the built-in kinds of check, and custom presets of them.

use crate::api::standard::{create, delete_by_id, list_all, read_by_id, update_by_id};
use crate::engine::inspection::save;
use crate::store::inspection::plugins as store;
use shared::inspection::{Plugin, PluginInput};

list_all!(list: "/api/v1/inspection/plugins", InspectionsRead => (Vec<Plugin>), store::list);

read_by_id!(
    get: "/api/v1/inspection/plugins/{id}", InspectionsRead => (Plugin),
    |c, id| store::get(c, id)
);

create!(
    /// Create a custom plugin: a kind of check with default parameters for its rules.
    create: "/api/v1/inspection/plugins", InspectionsWrite, (PluginInput) => (Plugin),
    |state, input| state.run_as(move |c, actor| save::plugin(c, actor, None, &input)).await?
);

update_by_id!(
    /// Change a custom plugin (built-in ones are read-only).
    update: "/api/v1/inspection/plugins/{id}", InspectionsWrite, 409, (PluginInput) => (Plugin),
    |state, id, input| {
        state
            .run_as(move |c, actor| save::plugin(c, actor, Some(id), &input))
            .await?
    }
);

delete_by_id!(
    /// Delete a custom plugin; 409 while rules use it.
    delete: "/api/v1/inspection/plugins/{id}", InspectionsWrite, 409,
    |c, actor, id| store::delete(c, actor, id)
);
