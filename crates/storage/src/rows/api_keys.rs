use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::auth::{ApiKey, LoginType};

use crate::convert::{id, naive, text, utc};
use crate::error::Fail;
use crate::schema::api_keys;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub(crate) struct ApiKeyRow {
    pub(crate) id: String,
    pub(crate) hashed_secret: Vec<u8>,
    pub(crate) user_id: String,
    pub(crate) login_type: String,
    pub(crate) token_name: String,
    pub(crate) lifetime_seconds: i64,
    pub(crate) expires_at: NaiveDateTime,
    pub(crate) last_used: NaiveDateTime,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) updated_at: NaiveDateTime,
}

impl ApiKeyRow {
    pub(crate) fn into_domain(self) -> Result<ApiKey, Fail> {
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

    pub(crate) fn from_domain(key: &ApiKey) -> Self {
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
