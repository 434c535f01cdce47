use diesel::prelude::*;
use domain::auth::{ApiKey, LoginType};

use crate::error::Fail;
use crate::schema::api_keys;
use crate::sql_types::{Id, Instant};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub(crate) struct ApiKeyRow {
    pub(crate) id: String,
    pub(crate) hashed_secret: Vec<u8>,
    pub(crate) user_id: Id,
    pub(crate) login_type: String,
    pub(crate) token_name: String,
    pub(crate) lifetime_seconds: i64,
    pub(crate) expires_at: Instant,
    pub(crate) last_used: Instant,
    pub(crate) created_at: Instant,
    pub(crate) updated_at: Instant,
}

impl ApiKeyRow {
    pub(crate) fn into_domain<R>(self) -> Result<ApiKey, Fail<R>> {
        Ok(ApiKey {
            user_id: self.user_id.0,
            login_type: LoginType::parse(&self.login_type)
                .ok_or_else(|| Fail::corrupt(format_args!("login type {:?}", self.login_type)))?,
            id: self.id,
            hashed_secret: self.hashed_secret,
            token_name: self.token_name,
            lifetime_seconds: self.lifetime_seconds,
            expires_at: self.expires_at.0,
            last_used: self.last_used.0,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }

    pub(crate) fn from_domain(key: &ApiKey) -> Self {
        Self {
            id: key.id.clone(),
            hashed_secret: key.hashed_secret.clone(),
            user_id: key.user_id.into(),
            login_type: key.login_type.as_str().to_owned(),
            token_name: key.token_name.clone(),
            lifetime_seconds: key.lifetime_seconds,
            expires_at: key.expires_at.into(),
            last_used: key.last_used.into(),
            created_at: key.created_at.into(),
            updated_at: key.updated_at.into(),
        }
    }
}
