//! Sharing one thing (an album, a folder) with chosen people or groups as
//! viewers or contributors: the records, who may do what, the share page's
//! rows and reading its form. Whoever may not see a thing gets the same
//! answer as for one that does not exist.

use serde::{Deserialize, Serialize};

use crate::caller::{Caller, Role};
use crate::{HostError, invites, people};

/// Who a thing is shared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Who {
    /// One person, by porch's id for them.
    Person(i64),
    /// Everyone in a porch group (set by the owner on the people page).
    Group(String),
}

/// What sharing gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ShareRole {
    /// Sees it and takes copies.
    Viewer,
    /// Also adds to it.
    Contributor,
}

impl ShareRole {
    /// `viewer` or `contributor`.
    pub fn parse(s: &str) -> Option<ShareRole> {
        match s {
            "viewer" => Some(ShareRole::Viewer),
            "contributor" => Some(ShareRole::Contributor),
            _ => None,
        }
    }

    /// The role's name in forms and templates.
    pub fn name(self) -> &'static str {
        match self {
            ShareRole::Viewer => "viewer",
            ShareRole::Contributor => "contributor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// One person or group and what they were given.
pub struct Share {
    /// Who it is shared with.
    pub with: Who,
    /// What they may do.
    pub role: ShareRole,
}

/// What a caller may do with a shared thing, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Access {
    /// See it and take copies.
    View,
    /// Also add to it.
    Contribute,
    /// Rename, share, delete: its owner, and the app's admins.
    Manage,
}

/// What `caller` may do with a thing `owner` made and shared as `shares`;
/// `admin` callers (porch owners, the app's top role) manage everything.
/// `None`: it does not exist for them.
pub fn access<R: Role>(caller: &Caller<R>, admin: bool, owner: i64, shares: &[Share]) -> Option<Access> {
    if admin || owner == caller.id {
        return Some(Access::Manage);
    }
    let mut groups: Option<Vec<String>> = None;
    let mut best: Option<ShareRole> = None;
    for share in shares {
        let applies = match &share.with {
            Who::Person(p) => *p == caller.id,
            Who::Group(g) => groups
                .get_or_insert_with(|| {
                    people::list().into_iter().find(|p| p.id == caller.id).map(|p| p.groups).unwrap_or_default()
                })
                .contains(g),
        };
        if applies {
            best = best.max(Some(share.role));
        }
    }
    best.map(|role| match role {
        ShareRole::Viewer => Access::View,
        ShareRole::Contributor => Access::Contribute,
    })
}

/// One row of a share page: a person or a group and what they have now.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// The form field: `person:<id>` or `group:<group>`.
    pub field: String,
    /// The person's name or the group's.
    pub label: String,
    /// Whether the row is a group.
    pub is_group: bool,
    /// `viewer`, `contributor` or empty.
    pub role: &'static str,
}

/// Every group and every person but `owner` (who has it anyway), with what
/// `shares` gives them.
pub fn choices(owner: i64, shares: &[Share]) -> Vec<Choice> {
    let everyone = people::list();
    let role_of = |who: &Who| shares.iter().find(|s| &s.with == who).map_or("", |s| s.role.name());
    let mut groups: Vec<String> = everyone.iter().flat_map(|p| p.groups.clone()).collect();
    groups.sort();
    groups.dedup();
    let mut rows: Vec<Choice> = groups
        .into_iter()
        .map(|g| Choice {
            field: format!("group:{g}"),
            role: role_of(&Who::Group(g.clone())),
            label: g,
            is_group: true,
        })
        .collect();
    rows.extend(everyone.into_iter().filter(|p| p.id != owner).map(|p| Choice {
        field: format!("person:{}", p.id),
        role: role_of(&Who::Person(p.id)),
        label: p.name,
        is_group: false,
    }));
    rows
}

/// The shares a share page's form asks for: fields `person:<id>` and
/// `group:<group>` with `viewer` or `contributor` (anything else: not shared).
/// Only people and groups that exist count.
pub fn from_form(fields: &[(String, String)]) -> Vec<Share> {
    let everyone = people::list();
    let mut shares = Vec::new();
    for (field, value) in fields {
        let Some(role) = ShareRole::parse(value) else { continue };
        let with = match field.split_once(':') {
            Some(("person", id)) => match id.parse::<i64>() {
                Ok(id) if everyone.iter().any(|p| p.id == id) => Who::Person(id),
                _ => continue,
            },
            Some(("group", g)) if everyone.iter().any(|p| p.groups.iter().any(|x| x == g)) => Who::Group(g.to_owned()),
            _ => continue,
        };
        if !shares.iter().any(|s: &Share| s.with == with) {
            shares.push(Share { with, role });
        }
    }
    shares
}

/// Someone new invited to one shared thing, until they join: kept in the
/// thing's record (beside its shares).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invited {
    /// porch's id for the invite.
    pub invite: i64,
    /// What joining gives them here.
    pub role: ShareRole,
    /// Who they are, as the inviter wrote it.
    pub note: String,
    /// Who invited them.
    pub by: i64,
    /// When the link stops working, Unix seconds.
    pub expires_at: i64,
}

/// Invites someone new to one thing: porch makes a single-use invite that
/// gives them this app at `role` (an app role of the same name) and lands
/// them on `landing` (the thing's page); the returned [`Invited`] goes into
/// the thing's record, and [`claim`] turns it into a share once they come.
/// The [`invites::Invite`] holds the link and its QR code to show once.
pub fn invite_someone_new(
    role: ShareRole,
    note: &str,
    by: i64,
    landing: &str,
) -> Result<(invites::Invite, Invited), HostError> {
    let invite = invites::create(role.name(), note, landing)?;
    let invited = Invited { invite: invite.id, role, note: note.trim().to_owned(), by, expires_at: invite.expires_at };
    Ok((invite, invited))
}

/// Moves the invite `invite` out of `invited` into `shares` as the person
/// `person` with the role it promised (replacing any share they had);
/// false if it is no longer there (taken back, or claimed at the same
/// moment). Call it inside the record's update, after [`claim`].
pub fn accept(invited: &mut Vec<Invited>, shares: &mut Vec<Share>, invite: i64, person: i64) -> bool {
    let Some(at) = invited.iter().position(|i| i.invite == invite) else { return false };
    let promised = invited.remove(at);
    shares.retain(|s| s.with != Who::Person(person));
    shares.push(Share { with: Who::Person(person), role: promised.role });
    true
}

/// Whether `caller` joined through one of `invited`: its index, so the
/// caller's record moves it into the shares with [`accept`].
/// Asks porch only about invites still worth asking about (at most the
/// first 20), and only when called, which is when someone without access
/// opens the thing.
pub fn claim<R: Role>(caller: &Caller<R>, invited: &[Invited]) -> Result<Option<usize>, HostError> {
    for (index, pending) in invited.iter().enumerate().take(20) {
        if invites::joined(pending.invite)?.contains(&caller.id) {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

/// Everyone (of the app's people) `shares` reach, its owner first.
pub fn reached(owner: i64, shares: &[Share]) -> Vec<i64> {
    reached_among(&people::list(), owner, shares)
}

fn reached_among(everyone: &[people::Person], owner: i64, shares: &[Share]) -> Vec<i64> {
    let mut ids = vec![owner];
    for p in everyone {
        let shared = shares.iter().any(|s| match &s.with {
            Who::Person(id) => *id == p.id,
            Who::Group(g) => p.groups.contains(g),
        });
        if shared && !ids.contains(&p.id) {
            ids.push(p.id);
        }
    }
    ids
}

/// Who a change of shares lets in and who it shuts out: `(gained, lost)`,
/// people's ids, for news ("shared with you") and for taking news back.
pub fn changes(owner: i64, before: &[Share], after: &[Share]) -> (Vec<i64>, Vec<i64>) {
    let everyone = people::list();
    let (was, is) = (reached_among(&everyone, owner, before), reached_among(&everyone, owner, after));
    let gained = is.iter().filter(|id| !was.contains(id)).copied().collect();
    let lost = was.into_iter().filter(|id| !is.contains(id)).collect();
    (gained, lost)
}
