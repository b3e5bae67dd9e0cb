//! The provider: the `microcluster-token-distributor` side, a mirror.
//!
//! The leader mirrors, across every consumer relation, what the consumers need: a
//! `mirror-<host>` placeholder (`empty`) for every host that needs a token, replaced by the token
//! once the communicator publishes one; everything else is deleted (departed hosts, consumed
//! tokens, except one kept while a Python consumer is related, its only sign of a cluster), so
//! the bag stays O(N). Non-leaders take their mirror down in every hook. The
//! decisions are pure functions ([`plan_leader`], [`plan_follower`]); [`Provider`] does the I/O.

use crate::cli::{valid_hostname, Redacted, RedactedMap};
use crate::protocol::*;
use charm::{AppName, BagOwner, Context, Databag, Event, ModelError, RelationId, UnitName};
use std::collections::{BTreeMap, BTreeSet};

/// One consumer relation as the distributor sees it (its `Debug` output redacts the bags).
#[derive(Clone)]
pub struct RelationView {
    /// The relation.
    pub id: RelationId,
    /// The consumer application.
    pub app: Option<AppName>,
    /// The consumer units in the relation now, with their bags.
    pub units: Vec<(UnitName, Databag)>,
    /// This distributor unit's own bag in the relation.
    pub own: Databag,
}

/// What to write: per relation, the changes to this unit's bag (`None` deletes), and the
/// change to `bootstrap-app` in the application bag.
///
/// Its `Debug` output redacts the values (tokens) and the refused hostnames (relation data).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProviderPlan {
    /// Changes to this unit's bag, by relation.
    pub unit_bags: Vec<(RelationId, BTreeMap<String, Option<String>>)>,
    /// A new value for `bootstrap-app` (leader only).
    pub bootstrap_app: Option<String>,
    /// Hostnames refused because they are not valid hostnames (logged, never mirrored).
    pub rejected_hostnames: Vec<String>,
}

#[derive(Debug, Default)]
struct HostState {
    request: Option<u64>,
    acked: bool,
    ensemble: bool,
}

/// A token offered for a host, and the request generation it answers.
#[derive(Clone, PartialEq, Eq)]
struct Offer {
    token: String,
    answers: Option<u64>,
}

fn accepts(offer_answers: Option<u64>, wanted: Option<u64>) -> bool {
    match (offer_answers, wanted) {
        (Some(a), Some(w)) => a == w,
        // A token from the Python library answers no generation: good for a Python consumer,
        // and for an ensemble consumer's first request only (a stale one needs a fresh token).
        (None, None) => true,
        (None, Some(w)) => w == 1,
        (Some(_), None) => false,
    }
}

fn is_mirrored_key(k: &str) -> bool {
    k.starts_with(MIRROR_PREFIX)
        || k.starts_with(REQUEST_PREFIX)
        || k.starts_with(ANSWERS_PREFIX)
        || k == MEMBERS
}

fn diff(own: &Databag, desired: &Databag) -> BTreeMap<String, Option<String>> {
    let mut changes = BTreeMap::new();
    for (k, v) in desired {
        if own.get(k) != Some(v) {
            changes.insert(k.clone(), Some(v.clone()));
        }
    }
    for k in own.keys() {
        if !desired.contains_key(k) {
            changes.insert(k.clone(), None);
        }
    }
    changes
}

/// The leader's plan: the mirrored view, the same in every relation, and `bootstrap-app`.
pub fn plan_leader(relations: &[RelationView], app_bag: &Databag) -> ProviderPlan {
    let mut plan = ProviderPlan::default();
    let mut hosts: BTreeMap<String, HostState> = BTreeMap::new();
    // Up mirrors, in a deterministic order: relation id, then unit name.
    let mut mirrors: Vec<(RelationId, &UnitName, &Databag)> = Vec::new();
    for r in relations {
        for (unit, bag) in &r.units {
            if let Some(h) = bag.get(HOSTNAME) {
                if !valid_hostname(h) {
                    plan.rejected_hostnames.push(h.clone());
                } else {
                    let s = hosts.entry(h.clone()).or_default();
                    let req = bag.get(TOKEN_REQUEST).and_then(|g| parse_generation(g));
                    s.request = s.request.max(req);
                    s.acked |= bag.get(JOINED).is_some_and(|v| v == "true");
                    s.ensemble |= bag.contains_key(TOKEN_REQUEST) || bag.contains_key(JOINED);
                }
            }
            if bag.get(MIRROR).is_some_and(|m| m == UP) {
                mirrors.push((r.id, unit, bag));
            }
        }
    }
    mirrors.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

    // The member list, from the first ensemble communicator that publishes one, else as before.
    let previous = relations.first().map(|r| &r.own);
    let members_value = mirrors
        .iter()
        .find_map(|(_, _, bag)| bag.get(MEMBERS).cloned())
        .or_else(|| previous.and_then(|p| p.get(MEMBERS).cloned()));
    let members: BTreeSet<String> = members_value
        .as_deref()
        .map(parse_members)
        .unwrap_or_default()
        .into_iter()
        .collect();

    let communicator = mirrors
        .iter()
        .find_map(|(_, _, bag)| bag.get(COMMUNICATOR).cloned());
    let mut desired = Databag::new();
    desired.insert(MIRROR.into(), UP.into());
    if let Some(c) = communicator.filter(|c| valid_hostname(c)) {
        desired.insert(COMMUNICATOR.into(), c);
    }
    desired.insert(ENSEMBLE.into(), PROTOCOL_VERSION.into());
    if !hosts.is_empty() {
        let names: Vec<&str> = hosts.keys().map(String::as_str).collect();
        desired.insert(HOSTS.into(), names.join(","));
    }
    if let Some(m) = &members_value {
        if !m.is_empty() {
            desired.insert(MEMBERS.into(), m.clone());
        }
    }
    let mut consumed: Vec<&str> = Vec::new();
    for (host, state) in &hosts {
        let joined = if state.ensemble {
            state.acked && state.request.is_none()
        } else {
            members.contains(host)
        };
        if joined {
            consumed.push(host);
            continue;
        }
        let key = mirror_key(host);
        let akey = answers_key(host);
        let offer_of = |bag: &Databag| -> Option<Offer> {
            let token = bag.get(&key).filter(|t| !t.is_empty() && *t != EMPTY)?;
            Some(Offer {
                token: token.clone(),
                answers: bag.get(&akey).and_then(|a| parse_generation(a)),
            })
        };
        let mut candidates: Vec<Offer> = mirrors
            .iter()
            .filter_map(|(_, _, bag)| offer_of(bag))
            .filter(|o| accepts(o.answers, state.request))
            .collect();
        // Keep the token already mirrored if it still answers the request, even when the
        // communicator that minted it is gone (a real token always beats `empty`).
        if let Some(own) = previous.and_then(offer_of) {
            if accepts(own.answers, state.request) {
                candidates.retain(|c| *c != own);
                candidates.insert(0, own);
            }
        }
        match candidates.into_iter().next() {
            Some(o) => {
                desired.insert(key.clone(), o.token);
                if let Some(a) = o.answers {
                    desired.insert(akey.clone(), a.to_string());
                }
            }
            None => {
                desired.insert(key.clone(), EMPTY.into());
            }
        }
        if let Some(g) = state.request {
            desired.insert(request_key(host), g.to_string());
        }
    }
    // A Python consumer takes a real token anywhere in the mirror as the sign that a cluster
    // exists (it never reads `members`): while one is related, keep one consumed token rather
    // than none, so that a Python leader not in the cluster never bootstraps a second one.
    let python_related = hosts.values().any(|s| !s.ensemble);
    let real_token = |(k, v): (&String, &String)| k.starts_with(MIRROR_PREFIX) && v != EMPTY;
    if python_related && !desired.iter().any(real_token) {
        let kept = consumed.iter().find_map(|h| {
            let key = mirror_key(h);
            let token = previous?.get(&key).filter(|t| *t != EMPTY && !t.is_empty())?;
            Some((key, token.clone()))
        });
        if let Some((key, token)) = kept {
            desired.insert(key, token);
        }
    }
    for r in relations {
        let changes = diff(&r.own, &desired);
        if !changes.is_empty() {
            plan.unit_bags.push((r.id, changes));
        }
    }

    // bootstrap-app: sticky while that application is related; otherwise the application of
    // the oldest relation, unless a cluster already exists.
    let related: Vec<(RelationId, &AppName)> = relations
        .iter()
        .filter_map(|r| r.app.as_ref().map(|a| (r.id, a)))
        .collect();
    let current = app_bag.get(BOOTSTRAP_APP).filter(|v| !v.is_empty());
    let cluster_exists = !members.is_empty()
        || desired
            .iter()
            .any(|(k, v)| k.starts_with(MIRROR_PREFIX) && v != EMPTY)
        || relations.iter().any(|r| {
            r.own
                .iter()
                .any(|(k, v)| k.starts_with(MIRROR_PREFIX) && v != EMPTY)
        });
    let keep = match current {
        Some(c) => related.iter().any(|(_, a)| a.as_str() == c) || cluster_exists,
        None => false,
    };
    if !keep {
        if let Some((_, app)) = related.iter().min_by_key(|(id, _)| *id) {
            if current.map(String::as_str) != Some(app.as_str()) {
                plan.bootstrap_app = Some(app.to_string());
            }
        }
    }
    plan
}

/// A follower's plan: mirror down, nothing mirrored (weakness #5: a deposed leader lowers its
/// mirror in its next hook).
pub fn plan_follower(relations: &[RelationView]) -> ProviderPlan {
    let mut plan = ProviderPlan::default();
    for r in relations {
        let mut changes = BTreeMap::new();
        if r.own.get(MIRROR).map(String::as_str) != Some(DOWN) && r.own.contains_key(MIRROR) {
            changes.insert(MIRROR.to_owned(), Some(DOWN.to_owned()));
        }
        for k in r.own.keys() {
            if is_mirrored_key(k) || k == ENSEMBLE {
                changes.insert(k.clone(), None);
            }
        }
        if !changes.is_empty() {
            plan.unit_bags.push((r.id, changes));
        }
    }
    plan
}

/// The stored-state key of the leader's summary of the consumers' bags.
pub const SUMMARY_KEY: &str = "microcluster.provider";

/// The leader's summary of one relation.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct RelationSummary {
    app: Option<String>,
    units: BTreeMap<String, Databag>,
}

/// The leader's summary of every consumer relation, by relation id.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Summary {
    relations: BTreeMap<u32, RelationSummary>,
}

/// The keys of a consumer bag the protocol reads (an `up` unit's mirrored keys too).
fn relevant(bag: &Databag) -> Databag {
    let up = bag.get(MIRROR).is_some_and(|m| m == UP);
    bag.iter()
        .filter(|(k, _)| {
            matches!(k.as_str(), HOSTNAME | TOKEN_REQUEST | JOINED | MIRROR)
                || (up
                    && (k.starts_with(MIRROR_PREFIX)
                        || k.starts_with(ANSWERS_PREFIX)
                        || *k == MEMBERS
                        || *k == COMMUNICATOR))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Errors of the provider.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The model refused.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The provider, over a charm's `Context`: call [`Provider::handle`] from a handler on every
/// event.
#[derive(Debug, Clone)]
pub struct Provider {
    endpoint: String,
}

impl Provider {
    /// The provider on `endpoint` (`microcluster-cluster` in the distributor charm).
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
        }
    }

    /// Plans and writes. The leader keeps a summary of the consumers' bags (the keys the
    /// protocol reads) in its stored state: a relation hook re-reads only the unit it names, any
    /// other hook (leader-elected, update-status, start-up) re-reads every bag. So a hook costs
    /// O(1) reads, not one per consumer unit; the summary rolls back with a failed hook like
    /// everything else, and update-status repairs anything it could have missed.
    pub fn handle(&self, ctx: &mut Context<'_>, event: &Event) -> Result<ProviderPlan, ProviderError> {
        let leader = ctx.is_leader()?;
        let ids: Vec<RelationId> = ctx.relation_ids(&self.endpoint)?;
        let broken = match event {
            Event::RelationBroken(r) if r.endpoint == self.endpoint => Some(r.relation_id),
            _ => None,
        };
        let mut summary: Summary = if leader {
            ctx.stored(SUMMARY_KEY)?
        } else {
            Summary::default()
        };
        let ours = event.relation().filter(|r| r.endpoint == self.endpoint);
        let incremental =
            leader && ours.is_some() && ids.iter().all(|id| summary.relations.contains_key(&id.0));
        summary
            .relations
            .retain(|id, _| ids.contains(&RelationId(*id)) && Some(RelationId(*id)) != broken);
        if leader && !incremental {
            summary.relations.clear();
            for id in &ids {
                if Some(*id) == broken {
                    continue;
                }
                let rel = ctx.relation(*id)?.clone();
                let mut units = BTreeMap::new();
                for u in &rel.units {
                    let bag = ctx.data(*id, &BagOwner::Unit(u.clone()))?;
                    units.insert(u.to_string(), relevant(bag));
                }
                summary.relations.insert(
                    id.0,
                    RelationSummary {
                        app: rel.app.map(|a| a.to_string()),
                        units,
                    },
                );
            }
        } else if let Some(r) = ours.filter(|_| leader) {
            if let Some(rs) = summary.relations.get_mut(&r.relation_id.0) {
                match event {
                    Event::RelationDeparted(_) => {
                        if let Some(d) = r.departing_unit.as_ref().or(r.remote_unit.as_ref()) {
                            rs.units.remove(d.as_str());
                        }
                    }
                    Event::RelationBroken(_) => {}
                    _ => {
                        if let Some(u) = &r.remote_unit {
                            let bag = ctx.data(r.relation_id, &BagOwner::Unit(u.clone()))?;
                            rs.units.insert(u.to_string(), relevant(bag));
                        }
                        if rs.app.is_none() {
                            rs.app = r.remote_app.as_ref().map(|a| a.to_string());
                        }
                    }
                }
            }
        }
        let mut views = Vec::new();
        for id in &ids {
            if Some(*id) == broken {
                continue;
            }
            let own = ctx.unit_data(*id)?.clone();
            let (app, units) = match summary.relations.get(&id.0) {
                Some(rs) => (
                    rs.app.as_deref().and_then(|a| AppName::parse(a).ok()),
                    rs.units
                        .iter()
                        .filter_map(|(u, b)| UnitName::parse(u).ok().map(|u| (u, b.clone())))
                        .collect(),
                ),
                None => (None, Vec::new()),
            };
            views.push(RelationView {
                id: *id,
                app,
                units,
                own,
            });
        }
        if leader {
            ctx.set_stored(SUMMARY_KEY, &summary)?;
        } else {
            ctx.remove_stored(SUMMARY_KEY);
        }
        let plan = if leader {
            let app_bag = match views.first() {
                Some(v) => ctx.app_data(v.id)?.clone(),
                None => Databag::new(),
            };
            plan_leader(&views, &app_bag)
        } else {
            plan_follower(&views)
        };
        for h in &plan.rejected_hostnames {
            ctx.warn(format!(
                "ignoring a consumer hostname that is not a valid hostname: {:?}",
                crate::cli::Redacted(h)
            ));
        }
        for (id, changes) in &plan.unit_bags {
            let owner = BagOwner::Unit(ctx.unit().clone());
            ctx.write(*id, &owner, changes.clone())?;
        }
        if let Some(app) = &plan.bootstrap_app {
            for v in &views {
                ctx.set_app_data(v.id, BOOTSTRAP_APP, Some(app))?;
            }
        } else if leader {
            // Copy the sticky value to relations that lack it (LIBPATCH 7 copies it everywhere).
            if let Some(first) = views.first() {
                if let Some(app) = ctx.app_data(first.id)?.get(BOOTSTRAP_APP).cloned() {
                    for v in views.iter().skip(1) {
                        if ctx.app_data(v.id)?.get(BOOTSTRAP_APP) != Some(&app) {
                            ctx.set_app_data(v.id, BOOTSTRAP_APP, Some(&app))?;
                        }
                    }
                }
            }
        }
        Ok(plan)
    }
}

impl std::fmt::Debug for RelationView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let units: Vec<(&UnitName, RedactedMap<'_, String>)> =
            self.units.iter().map(|(u, b)| (u, RedactedMap(b))).collect();
        f.debug_struct("RelationView")
            .field("id", &self.id)
            .field("app", &self.app)
            .field("units", &units)
            .field("own", &RedactedMap(&self.own))
            .finish()
    }
}

impl std::fmt::Debug for ProviderPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit_bags: Vec<(RelationId, RedactedMap<'_, Option<String>>)> = self
            .unit_bags
            .iter()
            .map(|(id, ch)| (*id, RedactedMap(ch)))
            .collect();
        let rejected: Vec<Redacted<'_>> = self.rejected_hostnames.iter().map(|h| Redacted(h)).collect();
        f.debug_struct("ProviderPlan")
            .field("unit_bags", &unit_bags)
            .field("bootstrap_app", &self.bootstrap_app.as_deref().map(Redacted))
            .field("rejected_hostnames", &rejected)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use charm::testing::bag;

    fn unit(s: &str) -> UnitName {
        UnitName::parse(s).unwrap()
    }

    fn view(id: u32, app: &str, units: Vec<(&str, Databag)>, own: Databag) -> RelationView {
        RelationView {
            id: RelationId(id),
            app: Some(AppName::parse(app).unwrap()),
            units: units.into_iter().map(|(u, b)| (unit(u), b)).collect(),
            own,
        }
    }

    fn desired(plan: &ProviderPlan, own: &Databag, id: u32) -> Databag {
        let mut b = own.clone();
        if let Some((_, ch)) = plan.unit_bags.iter().find(|(r, _)| *r == RelationId(id)) {
            for (k, v) in ch {
                match v {
                    Some(v) => b.insert(k.clone(), v.clone()),
                    None => b.remove(k),
                };
            }
        }
        b
    }

    #[test]
    fn placeholders_then_tokens_then_cleanup() {
        // Two ensemble consumers ask; the communicator (ovn/0) minted a token for h1.
        let comm = bag(&[
            ("hostname", "h0"),
            ("joined", "true"),
            ("mirror", "up"),
            ("members", "h0"),
            ("mirror-h1", "TOKEN1"),
            ("answers-h1", "1"),
        ]);
        let u1 = bag(&[("hostname", "h1"), ("token-request", "1")]);
        let u2 = bag(&[("hostname", "h2"), ("token-request", "1")]);
        let v = view(
            3,
            "ovn",
            vec![("ovn/0", comm), ("ovn/1", u1), ("ovn/2", u2)],
            Databag::new(),
        );
        let plan = plan_leader(std::slice::from_ref(&v), &Databag::new());
        let d = desired(&plan, &v.own, 3);
        assert_eq!(d["mirror"], "up");
        assert_eq!(d["mirror-h1"], "TOKEN1");
        assert_eq!(d["answers-h1"], "1");
        assert_eq!(d["mirror-h2"], "empty");
        assert_eq!(d["request-h2"], "1");
        assert!(!d.contains_key("mirror-h0"), "a joined host gets no placeholder");
        assert_eq!(plan.bootstrap_app.as_deref(), Some("ovn"));

        // h1 joined and acked; h2 left: both disappear from the mirror.
        let comm = bag(&[
            ("hostname", "h0"),
            ("joined", "true"),
            ("mirror", "up"),
            ("members", "h0,h1"),
        ]);
        let u1 = bag(&[("hostname", "h1"), ("joined", "true")]);
        let v2 = view(3, "ovn", vec![("ovn/0", comm), ("ovn/1", u1)], d.clone());
        let plan = plan_leader(std::slice::from_ref(&v2), &bag(&[("bootstrap-app", "ovn")]));
        let d2 = desired(&plan, &v2.own, 3);
        assert_eq!(
            d2,
            bag(&[
                ("mirror", "up"),
                ("ensemble", "1"),
                ("members", "h0,h1"),
                ("hosts", "h0,h1")
            ])
        );
        assert_eq!(plan.bootstrap_app, None);
    }

    #[test]
    fn a_real_token_beats_empty_and_survives_a_communicator_change() {
        let own = bag(&[
            ("mirror", "up"),
            ("mirror-h1", "TOK"),
            ("answers-h1", "1"),
            ("request-h1", "1"),
        ]);
        // The new communicator has not minted anything for h1.
        let comm = bag(&[("hostname", "h9"), ("mirror", "up"), ("joined", "true")]);
        let u1 = bag(&[("hostname", "h1"), ("token-request", "1")]);
        let v = view(1, "ovn", vec![("ovn/9", comm), ("ovn/1", u1)], own);
        let d = desired(&plan_leader(std::slice::from_ref(&v), &Databag::new()), &v.own, 1);
        assert_eq!(d["mirror-h1"], "TOK");
    }

    #[test]
    fn a_new_request_generation_withdraws_the_stale_token() {
        let own = bag(&[
            ("mirror", "up"),
            ("mirror-h1", "OLD"),
            ("answers-h1", "1"),
            ("request-h1", "1"),
        ]);
        let comm = bag(&[
            ("hostname", "h0"),
            ("mirror", "up"),
            ("mirror-h1", "OLD"),
            ("answers-h1", "1"),
        ]);
        let u1 = bag(&[("hostname", "h1"), ("token-request", "2")]);
        let v = view(1, "ovn", vec![("ovn/0", comm), ("ovn/1", u1)], own);
        let d = desired(&plan_leader(std::slice::from_ref(&v), &Databag::new()), &v.own, 1);
        assert_eq!(d["mirror-h1"], "empty");
        assert_eq!(d["request-h1"], "2");
        assert!(!d.contains_key("answers-h1"));
    }

    #[test]
    fn python_consumers_and_communicators_interoperate() {
        // A LIBPATCH 2 communicator: mirror up, a token for h1, no ensemble keys.
        let comm = bag(&[("hostname", "h0"), ("mirror", "up"), ("mirror-h1", "PYTOK")]);
        let u1 = bag(&[("hostname", "h1")]);
        let v = view(1, "ovn", vec![("ovn/0", comm), ("ovn/1", u1)], Databag::new());
        let d = desired(&plan_leader(std::slice::from_ref(&v), &Databag::new()), &v.own, 1);
        assert_eq!(d["mirror-h1"], "PYTOK");
        // The communicator's own host is not a member as far as the mirror knows (no `members`):
        // LIBPATCH 2 behaviour, a placeholder the communicator ignores (ensemble) or cannot fill.
        assert_eq!(d["mirror-h0"], "empty");
    }

    #[test]
    fn tokens_are_mirrored_across_relations() {
        let comm = bag(&[
            ("hostname", "a0"),
            ("mirror", "up"),
            ("members", "a0"),
            ("mirror-b0", "TB"),
            ("answers-b0", "1"),
        ]);
        let a = view(1, "app-a", vec![("app-a/0", comm)], Databag::new());
        let b = view(
            2,
            "app-b",
            vec![("app-b/0", bag(&[("hostname", "b0"), ("token-request", "1")]))],
            Databag::new(),
        );
        let plan = plan_leader(&[a.clone(), b.clone()], &Databag::new());
        assert_eq!(desired(&plan, &b.own, 2)["mirror-b0"], "TB");
        assert_eq!(desired(&plan, &a.own, 1)["mirror-b0"], "TB");
        assert_eq!(plan.bootstrap_app.as_deref(), Some("app-a"));
    }

    #[test]
    fn invalid_hostnames_are_rejected() {
        let u = bag(&[("hostname", "--force"), ("token-request", "1")]);
        let v = view(1, "ovn", vec![("ovn/1", u)], Databag::new());
        let plan = plan_leader(std::slice::from_ref(&v), &Databag::new());
        assert_eq!(plan.rejected_hostnames, ["--force"]);
        assert!(!desired(&plan, &v.own, 1).contains_key("mirror---force"));
    }

    #[test]
    fn followers_lower_their_mirror() {
        let own = bag(&[
            ("mirror", "up"),
            ("mirror-h1", "T"),
            ("members", "h0"),
            ("ensemble", "1"),
        ]);
        let v = view(1, "ovn", vec![], own);
        let plan = plan_follower(std::slice::from_ref(&v));
        assert_eq!(desired(&plan, &v.own, 1), bag(&[("mirror", "down")]));
    }
}
