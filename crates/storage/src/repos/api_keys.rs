use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::auth::{ApiKey, KeyRefresh, LoginType, NewApiKey};
use domain::repo::{ApiKeyRepo, RepoResult};
use uuid::Uuid;

use crate::Store;
use crate::convert::{id, naive, text, utc};
use crate::error::{ConflictOn, Fail};
use crate::schema::{api_keys, users};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
struct ApiKeyRow {
    id: String,
    hashed_secret: Vec<u8>,
    user_id: String,
    login_type: String,
    token_name: String,
    lifetime_seconds: i64,
    expires_at: NaiveDateTime,
    last_used: NaiveDateTime,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl ApiKeyRow {
    fn into_domain(self) -> Result<ApiKey, Fail> {
        Ok(ApiKey {
            user_id: id(&self.user_id)?,
            login_type: LoginType::parse(&self.login_type)
                .ok_or_else(|| Fail::corrupt(format_args!("login type {:?}", self.login_type)))?,
            id: self.id,
            hashed_secret: self.hashed_secret,
            token_name: self.token_name,
            lifetime_seconds: self.lifetime_seconds,
            expires_at: utc(self.expires_at),
            last_used: utc(self.last_used),
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }

    fn from_domain(key: &ApiKey) -> Self {
        Self {
            id: key.id.clone(),
            hashed_secret: key.hashed_secret.clone(),
            user_id: text(key.user_id),
            login_type: key.login_type.as_str().to_owned(),
            token_name: key.token_name.clone(),
            lifetime_seconds: key.lifetime_seconds,
            expires_at: naive(key.expires_at),
            last_used: naive(key.last_used),
            created_at: naive(key.created_at),
            updated_at: naive(key.updated_at),
        }
    }
}

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
                    api_keys::last_used.eq(naive(refresh.last_used)),
                    api_keys::expires_at.eq(naive(refresh.expires_at)),
                    api_keys::updated_at.eq(naive(refresh.last_used)),
                ))
                .execute(conn)?;
            diesel::update(users::table.find(text(key.user_id)))
                .set(users::last_seen_at.eq(naive(refresh.last_used)))
                .execute(conn)?;
            Ok(())
        })
        .map_err(Into::into)
    }

    fn tokens(&self, user: Uuid) -> RepoResult<Vec<ApiKey>> {
        self.read(|conn| {
            let rows = api_keys::table
                .filter(api_keys::user_id.eq(text(user)))
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
            let deleted = diesel::delete(
                api_keys::table.filter(api_keys::id.eq(key_id)).filter(api_keys::user_id.eq(text(user))),
            )
            .execute(conn)?;
            if deleted == 0 { Err(Fail::NotFound) } else { Ok(()) }
        })
        .map_err(Into::into)
    }
}
