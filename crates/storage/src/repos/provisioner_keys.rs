use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::provisioner::{NewProvisionerKey, ProvisionerKey};
use domain::repo::{DaemonSignIn, ProvisionerKeyRepo, RepoResult};
use uuid::Uuid;

use super::lower;
use super::organizations::find_live;
use super::tag_sets;
use crate::Store;
use crate::conn::AnyConnection;
use crate::error::{ConflictOn, Fail};
use crate::prepared::Rendered;
use crate::rows::provisioner_keys::KeyRow;
use crate::rows::tag_sets::from_document;
use crate::schema::{organizations, provisioner_daemons, provisioner_keys, provisioner_tag_sets};
use crate::sql_types::{Id, Instant, Json};

/// A key, its tags, and the daemon a request named if the key registered it.
type SignInRow = (KeyRow, Json<BTreeMap<String, String>>, Option<Id>);

type KeyQuery = provisioner_keys::BoxedQuery<'static, <AnyConnection as Connection>::Backend>;

/// Keys of live organizations, with their tags, oldest first.
fn load(conn: &mut AnyConnection, filter: impl FnOnce(KeyQuery) -> KeyQuery) -> Result<Vec<ProvisionerKey>, Fail> {
    let live_organizations = organizations::table.filter(organizations::deleted_at.is_null()).select(organizations::id);
    let rows: Vec<KeyRow> = filter(provisioner_keys::table.into_boxed())
        .filter(provisioner_keys::organization_id.eq_any(live_organizations))
        .order((provisioner_keys::created_at, provisioner_keys::id))
        .select(KeyRow::as_select())
        .load(conn)?;
    let tags = tag_sets::load(conn, rows.iter().map(|row| row.tag_set_id))?;
    rows.into_iter()
        .map(|row| {
            let tags = tags.get(&row.tag_set_id).cloned().ok_or_else(|| Fail::corrupt("missing tag set"))?;
            Ok(row.into_domain(tags))
        })
        .collect()
}

impl Store {
    /// The sign-in [`ProvisionerKeyRepo::daemon_sign_in`] would answer from what this server
    /// kept, if it kept one: no database, no blocking, for a caller that can then skip the hop
    /// to a thread that may block.
    pub fn kept_daemon_sign_in(&self, hashed_secret: &[u8], daemon: Option<Uuid>) -> Option<DaemonSignIn> {
        self.sign_ins.look_up(hashed_secret, daemon).ok()
    }
}

impl ProvisionerKeyRepo for Store {
    fn create_provisioner_key(&self, new: &NewProvisionerKey, now: DateTime<Utc>) -> RepoResult<ProvisionerKey> {
        self.write(|conn, _| {
            find_live(conn, new.organization_id)?;
            let key_id = Uuid::now_v7();
            let tag_set = tag_sets::ensure(conn, &new.tags)?;
            diesel::insert_into(provisioner_keys::table)
                .values((
                    provisioner_keys::id.eq(Id(key_id)),
                    provisioner_keys::organization_id.eq(Id(new.organization_id)),
                    provisioner_keys::name.eq(new.name.as_str()),
                    provisioner_keys::hashed_secret.eq(&new.hashed_secret),
                    provisioner_keys::tag_set_id.eq(tag_set),
                    provisioner_keys::created_at.eq(Instant::from(now)),
                ))
                .execute(conn)
                .conflict_on("name")?;
            load(conn, |q| q.filter(provisioner_keys::id.eq(Id(key_id))))?.pop().ok_or(Fail::NotFound)
        })
        .map_err(Into::into)
    }

    fn provisioner_keys(&self, organization: Uuid) -> RepoResult<Vec<ProvisionerKey>> {
        self.read(|conn| {
            find_live(conn, organization)?;
            load(conn, |q| q.filter(provisioner_keys::organization_id.eq(Id(organization))))
        })
        .map_err(Into::into)
    }

    fn delete_provisioner_key(&self, organization: Uuid, name: &str) -> RepoResult<()> {
        self.write(|conn, events| {
            events.sign_ins_changed();
            // Its daemons go with it (ON DELETE CASCADE); their jobs stay as history.
            let deleted = diesel::delete(
                provisioner_keys::table
                    .filter(provisioner_keys::organization_id.eq(Id(organization)))
                    .filter(lower(provisioner_keys::name).eq(lower(name))),
            )
            .execute(conn)?;
            if deleted == 0 { Err(Fail::NotFound) } else { Ok(()) }
        })
        .map_err(Into::into)
    }

    fn daemon_sign_in(&self, hashed_secret: &[u8], daemon: Option<Uuid>) -> RepoResult<Option<DaemonSignIn>> {
        let look_up = match self.sign_ins.look_up(hashed_secret, daemon) {
            Ok(kept) => return Ok(Some(kept)),
            Err(look_up) => look_up,
        };
        // One statement, prepared once: the key, its tags, its organization's liveness, and
        // the named daemon joined only if this key registered it.
        let named = provisioner_daemons::table.on(provisioner_daemons::key_id
            .eq(provisioner_keys::id)
            .and(provisioner_daemons::id.nullable().eq(daemon.map(Id))));
        let query = provisioner_keys::table
            .inner_join(organizations::table)
            .inner_join(provisioner_tag_sets::table)
            .left_join(named)
            .filter(provisioner_keys::hashed_secret.eq(hashed_secret))
            .filter(organizations::deleted_at.is_null())
            .select((KeyRow::as_select(), provisioner_tag_sets::tags, provisioner_daemons::id.nullable()));
        let found = self.read(|conn| {
            let found: Option<SignInRow> = Rendered(query.limit(1)).get_result(conn).optional()?;
            Ok::<_, Fail>(found.map(|(row, tags, daemon)| DaemonSignIn {
                key: row.into_domain(from_document(tags)),
                daemon: daemon.map(|id| id.0),
            }))
        })?;
        self.sign_ins.found(look_up, &found);
        Ok(found)
    }
}
