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
    monitor_counts (shard) {
        shard -> BigInt,
        n -> BigInt,
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

diesel::table! {
    iam_permissions (name) {
        name -> Text,
        description -> Text,
        description_zh -> Text,
    }
}

diesel::table! {
    iam_roles (name) {
        name -> Text,
        description -> Text,
        builtin -> Bool,
        permissions -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    iam_users (id) {
        id -> BigInt,
        username -> Text,
        display_name -> Text,
        password_hash -> Nullable<Text>,
        source -> Text,
        break_glass -> Bool,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_sign_in_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    iam_bindings (id) {
        id -> BigInt,
        subject_kind -> Text,
        subject -> Text,
        role -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    iam_sessions (id_hash) {
        id_hash -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        groups -> Text,
        peer -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    iam_api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        permissions -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    iam_oidc_logins (state) {
        state -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        next_url -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Text,
        actor_kind -> Text,
        action -> Text,
        resource -> Text,
        resource_id -> Nullable<Text>,
        outcome -> Text,
        peer -> Text,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    inspection_plugins (id) {
        id -> BigInt,
        name -> Text,
        kind -> Text,
        builtin -> Bool,
        definition -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    inspection_rules (id) {
        id -> BigInt,
        name -> Text,
        plugin_id -> BigInt,
        level -> Text,
        version -> Integer,
        definition -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    inspection_rule_versions (rule_id, version) {
        rule_id -> BigInt,
        version -> Integer,
        definition -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    inspection_tasks (id) {
        id -> BigInt,
        name -> Text,
        enabled -> Bool,
        definition -> Text,
        next_run_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    inspection_task_rules (task_id, rule_id) {
        task_id -> BigInt,
        rule_id -> BigInt,
        position -> Integer,
    }
}

diesel::table! {
    inspection_runs (id) {
        id -> BigInt,
        task_id -> BigInt,
        task_name -> Text,
        trigger_kind -> Text,
        scheduled_for -> Nullable<BigInt>,
        state -> Text,
        actor -> Text,
        queued_at -> BigInt,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        plan -> Text,
        total -> Integer,
        passed -> Integer,
        failed -> Integer,
        errors -> Integer,
        score -> Nullable<Double>,
        summary -> Text,
        previous_run_id -> Nullable<BigInt>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    inspection_findings (id) {
        id -> BigInt,
        run_id -> BigInt,
        seq -> Integer,
        rule_id -> BigInt,
        rule_version -> Integer,
        rule_name -> Text,
        target -> Text,
        level -> Text,
        status -> Text,
        value -> Nullable<Text>,
        evidence -> Text,
        subject -> Text,
        duration_ms -> BigInt,
        change_kind -> Nullable<Text>,
        checked_at -> BigInt,
    }
}

diesel::table! {
    risk_events (id) {
        id -> BigInt,
        dedup_key -> Text,
        source -> Text,
        level -> Text,
        title -> Text,
        detail -> Text,
        state -> Text,
        rule_id -> Nullable<BigInt>,
        target -> Nullable<Text>,
        monitor_id -> Nullable<BigInt>,
        task_id -> Nullable<BigInt>,
        run_id -> Nullable<BigInt>,
        occurrences -> Integer,
        opened_at -> BigInt,
        last_seen_at -> BigInt,
        acknowledged_at -> Nullable<BigInt>,
        acknowledged_by -> Nullable<Text>,
        resolved_at -> Nullable<BigInt>,
        resolved_by -> Nullable<Text>,
        comment -> Nullable<Text>,
    }
}

diesel::table! {
    notification_channels (id) {
        id -> BigInt,
        name -> Text,
        kind -> Text,
        definition -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    notification_deliveries (id) {
        id -> BigInt,
        channel_id -> BigInt,
        run_id -> Nullable<BigInt>,
        message -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    notification_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        attempt -> Integer,
        at -> BigInt,
        ok -> Bool,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::table! {
    action_runs (id) {
        id -> BigInt,
        subject -> Text,
        attempt -> Integer,
        summary -> Text,
        idempotent -> Bool,
        owner -> Text,
        started_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        status -> Nullable<Text>,
        value -> Nullable<Text>,
        evidence -> Nullable<Text>,
    }
}

diesel::table! {
    operations (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        kind -> Text,
        status -> Text,
        version -> Integer,
        definition -> Text,
        created_at -> BigInt,
        created_by -> Text,
        updated_at -> BigInt,
        published_at -> Nullable<BigInt>,
        published_by -> Nullable<Text>,
        deprecated_at -> Nullable<BigInt>,
        deprecated_by -> Nullable<Text>,
    }
}

diesel::table! {
    operation_versions (operation_id, version) {
        operation_id -> BigInt,
        version -> Integer,
        definition -> Text,
        created_at -> BigInt,
        created_by -> Text,
    }
}

diesel::table! {
    plan_operation_refs (plan_name, plan_version, operation_code, operation_version) {
        plan_name -> Text,
        plan_version -> Integer,
        operation_code -> Text,
        operation_version -> Integer,
    }
}

diesel::table! {
    plans (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        version -> Integer,
        definition -> Text,
        created_at -> BigInt,
        created_by -> Text,
        updated_at -> BigInt,
        updated_by -> Text,
    }
}

diesel::table! {
    plan_versions (plan_id, version) {
        plan_id -> BigInt,
        version -> Integer,
        definition -> Text,
        created_at -> BigInt,
        created_by -> Text,
    }
}

diesel::table! {
    plan_executions (id) {
        id -> BigInt,
        plan -> Text,
        version -> Integer,
        resolved -> Text,
        parameters -> Text,
        state -> Text,
        rollback -> Bool,
        started_by -> Text,
        comment -> Text,
        detail -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        started_at -> Nullable<BigInt>,
        ended_at -> Nullable<BigInt>,
        rto_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    plan_execution_steps (execution_id, step) {
        execution_id -> BigInt,
        step -> Text,
        stage -> Integer,
        position -> Integer,
        state -> Text,
        attempts -> Integer,
        round_start -> Integer,
        completed -> Nullable<Integer>,
        started_at -> Nullable<BigInt>,
        ended_at -> Nullable<BigInt>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    plan_execution_events (id) {
        id -> BigInt,
        execution_id -> BigInt,
        at -> BigInt,
        actor -> Text,
        what -> Text,
        step -> Nullable<Text>,
        comment -> Text,
    }
}

diesel::table! {
    plan_schedules (id) {
        id -> BigInt,
        plan_id -> BigInt,
        cron -> Text,
        time_zone -> Text,
        next_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    plan_risk_proposals (risk_event_id, plan) {
        risk_event_id -> BigInt,
        plan -> Text,
        execution_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::joinable!(monitor_labels -> monitors (monitor_id));
diesel::joinable!(probe_results -> monitors (monitor_id));
diesel::joinable!(state_changes -> monitors (monitor_id));
diesel::joinable!(iam_sessions -> iam_users (user_id));
diesel::joinable!(iam_api_tokens -> iam_users (user_id));
diesel::joinable!(inspection_rules -> inspection_plugins (plugin_id));
diesel::joinable!(inspection_task_rules -> inspection_rules (rule_id));
diesel::joinable!(inspection_task_rules -> inspection_tasks (task_id));
diesel::table! {
    drills (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        version -> Integer,
        definition -> Text,
        created_at -> BigInt,
        created_by -> Text,
        updated_at -> BigInt,
        updated_by -> Text,
    }
}

diesel::table! {
    drill_versions (drill_id, version) {
        drill_id -> BigInt,
        version -> Integer,
        definition -> Text,
        created_at -> BigInt,
        created_by -> Text,
    }
}

diesel::table! {
    drill_runs (id) {
        id -> BigInt,
        drill_id -> BigInt,
        drill -> Text,
        version -> Integer,
        definition -> Text,
        state -> Text,
        stage -> Text,
        outcome -> Nullable<Text>,
        reason -> Text,
        started_by -> Text,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        injected_at -> Nullable<BigInt>,
        observe_until -> Nullable<BigInt>,
        next_check_at -> Nullable<BigInt>,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    drill_run_targets (run_id, target) {
        run_id -> BigInt,
        target -> Text,
        position -> Integer,
        vars -> Text,
        fault_id -> Text,
        desired -> Text,
        observed -> Text,
        injects -> Integer,
        recovers -> Integer,
        updated_at -> BigInt,
    }
}

diesel::table! {
    drill_run_events (id) {
        id -> BigInt,
        run_id -> BigInt,
        at -> BigInt,
        target -> Nullable<Text>,
        what -> Text,
        evidence -> Text,
    }
}

diesel::joinable!(inspection_findings -> inspection_runs (run_id));
diesel::joinable!(notification_deliveries -> notification_channels (channel_id));
diesel::joinable!(operation_versions -> operations (operation_id));
diesel::joinable!(plan_versions -> plans (plan_id));
diesel::joinable!(plan_execution_steps -> plan_executions (execution_id));
diesel::joinable!(plan_execution_events -> plan_executions (execution_id));

diesel::allow_tables_to_appear_in_same_query!(
    monitors,
    monitor_labels,
    probe_results,
    rollup_hours,
    rollup_latency,
    state_changes,
    screenshots,
    iam_users,
    iam_sessions,
    iam_api_tokens,
    iam_bindings,
    iam_roles,
    inspection_plugins,
    inspection_rules,
    inspection_tasks,
    inspection_task_rules,
    inspection_runs,
    inspection_findings,
    notification_channels,
    notification_deliveries,
    action_runs,
    operations,
    operation_versions,
    plan_operation_refs,
    plans,
    plan_versions,
    plan_executions,
    plan_execution_steps,
    plan_execution_events,
    plan_schedules,
    plan_risk_proposals,
    drills,
    drill_versions,
    drill_runs,
    drill_run_targets,
    drill_run_events,
);
