// The shape `diesel print-schema` gives for migrations/postgres, in the SQL types both
// backends share (a storage test checks both migrated databases against it).

diesel::table! {
    api_keys (id) {
        id -> Text,
        hashed_secret -> Binary,
        user_id -> Text,
        login_type -> Text,
        token_name -> Text,
        lifetime_seconds -> BigInt,
        expires_at -> Timestamp,
        last_used -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    organization_members (organization_id, user_id) {
        organization_id -> Text,
        user_id -> Text,
        roles -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        display_name -> Text,
        description -> Text,
        icon -> Text,
        is_default -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    provisioner_daemons (id) {
        id -> Text,
        organization_id -> Text,
        key_id -> Text,
        name -> Text,
        version -> Text,
        api_version -> Text,
        provisioners -> Text,
        tag_set_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    provisioner_job_logs (id) {
        id -> BigInt,
        job_id -> Text,
        created_at -> Timestamp,
        source -> Text,
        level -> Text,
        stage -> Text,
        output -> Text,
    }
}

diesel::table! {
    provisioner_jobs (id) {
        id -> Text,
        organization_id -> Text,
        initiator_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
        canceled_at -> Nullable<Timestamp>,
        error -> Nullable<Text>,
        error_code -> Nullable<Text>,
        status -> Text,
        job_type -> Text,
        provisioner -> Text,
        file_id -> Nullable<Text>,
        tag_set_id -> Text,
        input -> Text,
        metadata -> Text,
        worker_id -> Nullable<Text>,
        logs_length -> BigInt,
        logs_overflowed -> Bool,
    }
}

diesel::table! {
    provisioner_keys (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        hashed_secret -> Binary,
        tag_set_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    provisioner_tag_sets (id) {
        id -> Text,
        tags -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        username -> Text,
        name -> Text,
        hashed_password -> Text,
        status -> Text,
        site_roles -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_seen_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(organization_members -> organizations (organization_id));
diesel::joinable!(organization_members -> users (user_id));
diesel::joinable!(provisioner_daemons -> organizations (organization_id));
diesel::joinable!(provisioner_daemons -> provisioner_keys (key_id));
diesel::joinable!(provisioner_daemons -> provisioner_tag_sets (tag_set_id));
diesel::joinable!(provisioner_job_logs -> provisioner_jobs (job_id));
diesel::joinable!(provisioner_jobs -> organizations (organization_id));
diesel::joinable!(provisioner_jobs -> provisioner_tag_sets (tag_set_id));
diesel::joinable!(provisioner_jobs -> users (initiator_id));
diesel::joinable!(provisioner_keys -> organizations (organization_id));
diesel::joinable!(provisioner_keys -> provisioner_tag_sets (tag_set_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    organization_members,
    organizations,
    provisioner_daemons,
    provisioner_job_logs,
    provisioner_jobs,
    provisioner_keys,
    provisioner_tag_sets,
    users,
);
