// The tables as both migration sets leave them, column by column in the database's order.
// `Uuid`, `UtcTimestamp` and `Jsonb` are ours (sql_types.rs): PostgreSQL's native types, and
// SQLite's text forms of them. A storage test (tests/schema.rs) compares every column of both
// migrated databases (name, type, nullability) with this file, so it cannot drift.

diesel::table! {
    use diesel::sql_types::{BigInt, Binary, Text};
    use crate::sql_types::{UtcTimestamp, Uuid};

    api_keys (id) {
        id -> Text,
        hashed_secret -> Binary,
        user_id -> Uuid,
        login_type -> Text,
        token_name -> Text,
        lifetime_seconds -> BigInt,
        expires_at -> UtcTimestamp,
        last_used -> UtcTimestamp,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::Text;
    use crate::sql_types::Uuid;

    organization_member_roles (organization_id, user_id, role) {
        organization_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
    }
}

diesel::table! {
    use crate::sql_types::{UtcTimestamp, Uuid};

    organization_members (organization_id, user_id) {
        organization_id -> Uuid,
        user_id -> Uuid,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Bool, Nullable, Text};
    use crate::sql_types::{UtcTimestamp, Uuid};

    organizations (id) {
        id -> Uuid,
        name -> Text,
        display_name -> Text,
        description -> Text,
        icon -> Text,
        is_default -> Bool,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
        deleted_at -> Nullable<UtcTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::Text;
    use crate::sql_types::Uuid;

    provisioner_daemon_provisioners (daemon_id, provisioner) {
        daemon_id -> Uuid,
        provisioner -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::Text;
    use crate::sql_types::{UtcTimestamp, Uuid};

    provisioner_daemons (id) {
        id -> Uuid,
        organization_id -> Uuid,
        key_id -> Uuid,
        name -> Text,
        version -> Text,
        api_version -> Text,
        tag_set_id -> Uuid,
        created_at -> UtcTimestamp,
        last_seen_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Text};
    use crate::sql_types::{UtcTimestamp, Uuid};

    provisioner_job_logs (id) {
        id -> BigInt,
        job_id -> Uuid,
        created_at -> UtcTimestamp,
        source -> Text,
        level -> Text,
        stage -> Text,
        output -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Nullable, Text};
    use crate::sql_types::{Jsonb, UtcTimestamp, Uuid};

    provisioner_jobs (id) {
        id -> Uuid,
        organization_id -> Uuid,
        initiator_id -> Uuid,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
        started_at -> Nullable<UtcTimestamp>,
        completed_at -> Nullable<UtcTimestamp>,
        canceled_at -> Nullable<UtcTimestamp>,
        error -> Nullable<Text>,
        error_code -> Nullable<Text>,
        status -> Text,
        job_type -> Text,
        provisioner -> Text,
        file_id -> Nullable<Uuid>,
        tag_set_id -> Uuid,
        input -> Jsonb,
        metadata -> Jsonb,
        worker_id -> Nullable<Uuid>,
        logs_length -> BigInt,
        logs_overflowed -> Bool,
        followed -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::{Binary, Text};
    use crate::sql_types::{UtcTimestamp, Uuid};

    provisioner_keys (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        hashed_secret -> Binary,
        tag_set_id -> Uuid,
        created_at -> UtcTimestamp,
    }
}

diesel::table! {
    use crate::sql_types::{Jsonb, Uuid};

    provisioner_tag_sets (id) {
        id -> Uuid,
        tags -> Jsonb,
    }
}

diesel::table! {
    use diesel::sql_types::Text;
    use crate::sql_types::Uuid;

    user_site_roles (user_id, role) {
        user_id -> Uuid,
        role -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::{Nullable, Text};
    use crate::sql_types::{UtcTimestamp, Uuid};

    users (id) {
        id -> Uuid,
        email -> Text,
        username -> Text,
        name -> Text,
        hashed_password -> Text,
        status -> Text,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
        last_seen_at -> UtcTimestamp,
        deleted_at -> Nullable<UtcTimestamp>,
    }
}

diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(organization_members -> organizations (organization_id));
diesel::joinable!(organization_members -> users (user_id));
diesel::joinable!(provisioner_daemon_provisioners -> provisioner_daemons (daemon_id));
diesel::joinable!(provisioner_daemons -> organizations (organization_id));
diesel::joinable!(provisioner_daemons -> provisioner_keys (key_id));
diesel::joinable!(provisioner_daemons -> provisioner_tag_sets (tag_set_id));
diesel::joinable!(provisioner_job_logs -> provisioner_jobs (job_id));
diesel::joinable!(provisioner_jobs -> organizations (organization_id));
diesel::joinable!(provisioner_jobs -> provisioner_tag_sets (tag_set_id));
diesel::joinable!(provisioner_jobs -> users (initiator_id));
diesel::joinable!(provisioner_keys -> organizations (organization_id));
diesel::joinable!(provisioner_keys -> provisioner_tag_sets (tag_set_id));
diesel::joinable!(user_site_roles -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    organization_member_roles,
    organization_members,
    organizations,
    provisioner_daemon_provisioners,
    provisioner_daemons,
    provisioner_job_logs,
    provisioner_jobs,
    provisioner_keys,
    provisioner_tag_sets,
    user_site_roles,
    users,
);
