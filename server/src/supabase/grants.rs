//! What the proxy's checks found, kept in memory for a few seconds so that a panel's burst of
//! requests does not read the same membership and link again for each one.
//!
//! A grant is the answer PostgreSQL gave under the caller's tenant claims (RLS decides, as
//! on every path): the live role of a login in its tenant, and that tenant's route for one
//! project ref (upstream, encrypted token, whether the server's token may stand in). Only
//! positive answers are kept: a refusal is looked up again every time.
//!
//! A grant is used only while both hold:
//! - it is younger than [`TTL`];
//! - nothing that grants read has changed since its lookup began. Every change to a
//!   membership, a user, a tenant, a Supabase link or a tenant's token bumps
//!   `AppState::authz_epoch`: at once in this process (the server functions that make them),
//!   and through the `ops_authz` notification (statement triggers, migration
//!   20261203000012) in every console process, including changes made by hand in SQL. A lost
//!   listener connection bumps it too. The epoch is read before the lookup, so a change that
//!   commits while the lookup runs makes its result stale at once.
//!
//! So a removed member or an unlinked project is refused on the next request in this
//! process, within the notification's delivery (milliseconds) in others, and after
//! [`TTL`] at worst should notifications stop without the connection dropping.
use app::db::supabase::Route;
use app::models::Role;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a grant is used at most.
pub const TTL: Duration = Duration::from_secs(5);
/// Grants kept at most; past it, everything is dropped (each is one lookup to redo).
const MAX_GRANTS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    user_id: Uuid,
    tenant_id: Uuid,
    project_ref: String,
}

#[derive(Debug, Clone)]
struct Kept {
    role: Role,
    route: Route,
    epoch: u64,
    at: Instant,
}

#[derive(Debug, Default)]
pub struct Grants {
    kept: Mutex<HashMap<Key, Kept>>,
}

impl Grants {
    /// The kept role and route of `user_id` in `tenant_id` for `project_ref`, if still good
    /// at `epoch` (the current one).
    pub fn get(&self, user_id: Uuid, tenant_id: Uuid, project_ref: &str, epoch: u64) -> Option<(Role, Route)> {
        let key = Key { user_id, tenant_id, project_ref: project_ref.to_string() };
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        match kept.get(&key) {
            Some(k) if k.epoch == epoch && k.at.elapsed() < TTL => Some((k.role, k.route.clone())),
            Some(_) => {
                kept.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps a lookup's answer; `epoch` is the one read before the lookup began.
    pub fn put(&self, user_id: Uuid, tenant_id: Uuid, project_ref: &str, epoch: u64, role: Role, route: Route) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_GRANTS {
            kept.retain(|_, k| k.epoch == epoch && k.at.elapsed() < TTL);
            if kept.len() >= MAX_GRANTS {
                kept.clear();
            }
        }
        kept.insert(Key { user_id, tenant_id, project_ref: project_ref.to_string() }, Kept { role, route, epoch, at: Instant::now() });
    }

    pub fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::models::supabase::SupabaseUpstream;

    fn route() -> Route {
        Route { upstream: SupabaseUpstream::Local, token_enc: None, server_token: false }
    }

    #[test]
    fn a_grant_is_used_only_at_the_epoch_it_was_looked_up_at() {
        let g = Grants::default();
        let (u, t) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(g.get(u, t, "abc", 1).is_none());
        g.put(u, t, "abc", 1, Role::Developer, route());
        assert_eq!(g.get(u, t, "abc", 1).map(|g| g.0), Some(Role::Developer));
        assert!(g.get(u, t, "other", 1).is_none(), "per ref");
        assert!(g.get(u, Uuid::new_v4(), "abc", 1).is_none(), "per tenant");
        assert!(g.get(Uuid::new_v4(), t, "abc", 1).is_none(), "per login");
        assert!(g.get(u, t, "abc", 2).is_none(), "a change since drops it");
        assert!(g.is_empty(), "and it is gone");
    }

    #[test]
    fn the_store_stays_bounded() {
        let g = Grants::default();
        for _ in 0..MAX_GRANTS + 10 {
            g.put(Uuid::new_v4(), Uuid::new_v4(), "abc", 1, Role::Tester, route());
        }
        assert!(g.len() <= MAX_GRANTS);
    }
}
