use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::auth::{ApiKey, KeyRefresh, LoginType, NewApiKey};
use domain::organization::OrganizationRef;
use domain::repo::{ApiKeyRepo, RepoResult, Session};
use uuid::Uuid;

use crate::Store;
use crate::error::{ConflictOn, Fail};
use crate::repos::organizations::find;
use crate::repos::users::assemble;
use crate::rows::api_keys::ApiKeyRow;
use crate::rows::users::UserRow;
use crate::schema::{api_keys, user_site_roles, users};
use crate::sql_types::{Id, Instant};

impl ApiKeyRepo for Store {
    fn session(&self, key_id: &str, organization: Option<&OrganizationRef>) -> RepoResult<Session> {
        self.read(|conn| {
            // The key, its live user and the user's site roles in one statement; then the
            // memberships and the organization, on the same connection.
            let rows: Vec<(ApiKeyRow, UserRow, Option<String>)> = api_keys::table
                .inner_join(users::table.left_join(user_site_roles::table))
                .filter(api_keys::id.eq(key_id))
                .filter(users::deleted_at.is_null())
                .select((ApiKeyRow::as_select(), UserRow::as_select(), user_site_roles::role.nullable()))
                .load(conn)?;
            let mut found = None;
            let mut user_rows = Vec::with_capacity(rows.len());
            for (key, user, role) in rows {
                found.get_or_insert(key);
                user_rows.push((user, role));
            }
            let Some(key) = found else {
                // No key, or a key without a live user: which one decides the answer's words.
                let key = api_keys::table.find(key_id).select(ApiKeyRow::as_select()).first(conn).optional()?;
                return Ok(Session { key: key.map(ApiKeyRow::into_domain).transpose()?, ..Session::default() });
            };
            let key = key.into_domain()?;
            let user = assemble(conn, user_rows)?.pop();
            let organization = match organization {
                Some(reference) => find(conn, reference)?,
                None => None,
            };
            Ok(Session { key: Some(key), user, organization })
        })
        .map_err(Into::into)
    }

    fn insert_api_key(&self, key: NewApiKey, now: DateTime<Utc>) -> RepoResult<ApiKey> {
        let key = key.into_key(now);
        self.write(|conn, _| {
            diesel::insert_into(api_keys::table)
                .values(ApiKeyRow::from_domain(&key))
                .execute(conn)
                .conflict_on("token_name")?;
            Ok(())
        })?;
        Ok(key)
    }

    fn api_key(&self, key_id: &str) -> RepoResult<Option<ApiKey>> {
        self.read(|conn| {
            let row = api_keys::table.find(key_id).select(ApiKeyRow::as_select()).first(conn).optional()?;
            row.map(ApiKeyRow::into_domain).transpose()
        })
        .map_err(Into::into)
    }

    fn refresh_api_key(&self, key: &ApiKey, refresh: KeyRefresh) -> RepoResult<()> {
        self.write(|conn, _| {
            diesel::update(api_keys::table.find(&key.id))
                .set((
                    api_keys::last_used.eq(Instant::from(refresh.last_used)),
                    api_keys::expires_at.eq(Instant::from(refresh.expires_at)),
                    api_keys::updated_at.eq(Instant::from(refresh.last_used)),
                ))
                .execute(conn)?;
            diesel::update(users::table.find(Id(key.user_id)))
                .set(users::last_seen_at.eq(Instant::from(refresh.last_used)))
                .execute(conn)?;
            Ok(())
        })
        .map_err(Into::into)
    }

    fn tokens(&self, user: Uuid) -> RepoResult<Vec<ApiKey>> {
        self.read(|conn| {
            let rows = api_keys::table
                .filter(api_keys::user_id.eq(Id(user)))
                .filter(api_keys::login_type.eq(LoginType::Token.as_str()))
                .order((api_keys::created_at, api_keys::id))
                .select(ApiKeyRow::as_select())
                .load(conn)?;
            rows.into_iter().map(ApiKeyRow::into_domain).collect()
        })
        .map_err(Into::into)
    }

    fn delete_api_key(&self, user: Uuid, key_id: &str) -> RepoResult<()> {
        self.write(|conn, _| {
            let deleted =
                diesel::delete(api_keys::table.filter(api_keys::id.eq(key_id)).filter(api_keys::user_id.eq(Id(user))))
                    .execute(conn)?;
            if deleted == 0 { Err(Fail::NotFound) } else { Ok(()) }
        })
        .map_err(Into::into)
    }
}
