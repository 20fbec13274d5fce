//! One diesel schema for both backends: only portable types (BigInt, Integer, Text, Bool,
//! Double). Timestamps are Unix milliseconds (UTC) in BigInt columns.

diesel::table! {
    monitors (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        probe_kind -> Text,
        target -> Text,
        probe_json -> Text,
        interval_seconds -> BigInt,
        failure_threshold -> Integer,
        success_threshold -> Integer,
        state -> Text,
        paused -> Bool,
        consecutive_failures -> Integer,
        consecutive_successes -> Integer,
        next_run_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        last_checked_at -> Nullable<BigInt>,
        state_changed_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        degraded_threshold_ms -> Nullable<BigInt>,
        locations_json -> Text,
        location_failure_threshold -> Integer,
    }
}

diesel::table! {
    monitor_labels (monitor_id, key) {
        monitor_id -> BigInt,
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    probe_results (id) {
        id -> BigInt,
        monitor_id -> BigInt,
        started_at -> BigInt,
        success -> Bool,
        failure_reason -> Nullable<Text>,
        error -> Nullable<Text>,
        duration_seconds -> Double,
        status_code -> Nullable<Integer>,
        detail_json -> Nullable<Text>,
        location -> Text,
        attempt -> Integer,
        has_screenshot -> Bool,
    }
}

diesel::table! {
    screenshots (result_id) {
        result_id -> BigInt,
        monitor_id -> BigInt,
        created_at -> BigInt,
        png -> Binary,
    }
}

diesel::table! {
    rollup_hours (monitor_id, hour_start) {
        monitor_id -> BigInt,
        hour_start -> BigInt,
        checks -> BigInt,
        successes -> BigInt,
    }
}

diesel::table! {
    rollup_latency (monitor_id, hour_start, bucket) {
        monitor_id -> BigInt,
        hour_start -> BigInt,
        bucket -> Integer,
        count -> BigInt,
    }
}

diesel::table! {
    state_changes (id) {
        id -> BigInt,
        monitor_id -> BigInt,
        from_state -> Text,
        to_state -> Text,
        at -> BigInt,
        reason -> Nullable<Text>,
    }
}

diesel::joinable!(monitor_labels -> monitors (monitor_id));
diesel::joinable!(probe_results -> monitors (monitor_id));
diesel::joinable!(state_changes -> monitors (monitor_id));

diesel::allow_tables_to_appear_in_same_query!(
    monitors,
    monitor_labels,
    probe_results,
    rollup_hours,
    rollup_latency,
    state_changes,
    screenshots,
);
