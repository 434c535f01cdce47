use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::auth::{ApiKey, KeyRefresh, LoginType, NewApiKey};
use domain::repo::{ApiKeyRepo, RepoResult};
use uuid::Uuid;

use crate::Store;
use crate::error::{ConflictOn, Fail};
use crate::rows::api_keys::ApiKeyRow;
use crate::schema::{api_keys, users};
use crate::sql_types::{Id, Instant};

impl ApiKeyRepo for Store {
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
