//! News apps publish for people (`activity`, `activity_inbox`): storing it
//! for the people it may reach (a grant for the app, not disabled, not the
//! one who did it), merging a batch while it is recent, each person's feed
//! and unread counts (only from apps they still have a grant for), marking
//! it seen, withdrawing it, and pruning old news.

use sqlx::FromRow;

use super::{Result, Store};

/// A growing batch moves up people's feeds at most this often (seconds).
pub const REORDER_AFTER: i64 = 60;

/// The most unread lines counted for a tile (it says "99+" long before).
pub const UNREAD_COUNTED: i64 = 1000;

/// One piece of news as an app asks for it (already checked by the apps
/// layer).
#[derive(Debug)]
pub struct NewActivity<'a> {
    pub app: &'a str,
    pub actor: i64,
    pub text: &'a str,
    pub text_many: Option<&'a str>,
    pub count: u32,
    pub batch: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub link: &'a str,
    pub thumbnail: Option<&'a str>,
    /// People (porch ids) and groups (names) it is for.
    pub people: &'a [i64],
    pub groups: &'a [String],
    pub at: i64,
    /// News in the same batch updated at or after this merges.
    pub merge_since: i64,
}

/// One line of a person's feed.
#[derive(Debug, Clone, FromRow)]
pub struct FeedItem {
    pub id: i64,
    pub app_id: String,
    pub app_name: String,
    pub actor: Option<String>,
    pub text: String,
    pub text_many: Option<String>,
    pub count: i64,
    pub link: String,
    pub thumbnail: Option<String>,
    pub updated_at: i64,
    pub seen: bool,
}

impl FeedItem {
    /// The line after the actor's name: the plural text with its count
    /// when the batch grew past one.
    pub fn line(&self) -> String {
        match &self.text_many {
            Some(many) if self.count > 1 => many.replace("{count}", &self.count.to_string()),
            _ => self.text.clone(),
        }
    }
}

/// Who may receive an app's news: granted, signed-in-able, not the actor,
/// and named or in a named group. Binds: app, actor, people (JSON), groups
/// (JSON).
const AUDIENCE: &str = "SELECT p.id FROM people p JOIN grants g ON g.person_id = p.id AND g.app_id = ? \
     WHERE p.disabled_at IS NULL AND p.id != ? AND (p.id IN (SELECT value FROM json_each(?)) \
       OR EXISTS (SELECT 1 FROM person_groups pg JOIN groups gr ON gr.id = pg.group_id \
                  WHERE pg.person_id = p.id AND gr.name IN (SELECT value FROM json_each(?))))";

const FEED: &str = "SELECT a.id, a.app_id, ap.name AS app_name, pe.display_name AS actor, a.text, a.text_many, \
       a.count, a.link, \
       CASE WHEN EXISTS (SELECT 1 FROM app_blobs b WHERE b.app_id = a.app_id AND b.name = a.thumbnail) \
         THEN a.thumbnail END AS thumbnail, a.updated_at, i.seen_at IS NOT NULL AS seen \
     FROM activity_inbox i JOIN activity a ON a.id = i.event_id \
     JOIN grants g ON g.person_id = i.person_id AND g.app_id = a.app_id \
     JOIN apps ap ON ap.id = a.app_id \
     LEFT JOIN people pe ON pe.id = a.actor_id";

impl Store {
    /// Stores `news` for everyone in its audience who may get it, merging
    /// it into the actor's recent news of the same batch (its count grows,
    /// its text, link and picture become the newest, and it is new again
    /// for everyone who saw it). Returns the event id and how many people
    /// it reached anew.
    pub async fn publish_activity(&self, news: &NewActivity<'_>) -> Result<(i64, u64)> {
        let people = serde_json::to_string(news.people).unwrap_or_else(|_| "[]".into());
        let groups = serde_json::to_string(news.groups).unwrap_or_else(|_| "[]".into());
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let merged: Option<(i64,)> = match news.batch {
            Some(batch) => {
                sqlx::query_as(
                    "UPDATE activity SET count = count + ?, text = ?, text_many = ?, link = ?, \
                       thumbnail = COALESCE(?, thumbnail), scope = ?, updated_at = ? \
                     WHERE id = (SELECT id FROM activity WHERE app_id = ? AND actor_id = ? AND batch = ? \
                                 AND updated_at >= ? ORDER BY updated_at DESC LIMIT 1) RETURNING id",
                )
                .bind(i64::from(news.count))
                .bind(news.text)
                .bind(news.text_many)
                .bind(news.link)
                .bind(news.thumbnail)
                .bind(news.scope)
                .bind(news.at)
                .bind(news.app)
                .bind(news.actor)
                .bind(batch)
                .bind(news.merge_since)
                .fetch_optional(&mut *tx)
                .await?
            }
            None => None,
        };
        let id = match merged {
            Some((id,)) => id,
            None => {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO activity (app_id, actor_id, batch, scope, count, text, text_many, link, thumbnail, \
                       created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                )
                .bind(news.app)
                .bind(news.actor)
                .bind(news.batch)
                .bind(news.scope)
                .bind(i64::from(news.count))
                .bind(news.text)
                .bind(news.text_many)
                .bind(news.link)
                .bind(news.thumbnail)
                .bind(news.at)
                .bind(news.at)
                .fetch_one(&mut *tx)
                .await?;
                id
            }
        };
        // A merge makes the line new again for whoever saw it, and moves it
        // up their feeds at most once a minute: the rows of a burst are not
        // rewritten for every photo (the line's own time, which digests go
        // by, is always current).
        let reached = sqlx::query(&format!(
            "INSERT INTO activity_inbox (person_id, event_id, updated_at) SELECT id, ?, ? FROM ({AUDIENCE}) WHERE 1 \
             ON CONFLICT(person_id, event_id) DO UPDATE SET updated_at = excluded.updated_at, seen_at = NULL \
             WHERE activity_inbox.seen_at IS NOT NULL OR activity_inbox.updated_at <= excluded.updated_at - ?"
        ))
        .bind(id)
        .bind(news.at)
        .bind(news.app)
        .bind(news.actor)
        .bind(&people)
        .bind(&groups)
        .bind(REORDER_AFTER)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if reached == 0 && merged.is_none() {
            // Nobody may see it: keep nothing.
            sqlx::query("DELETE FROM activity WHERE id = ?").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok((id, reached))
    }

    /// `person`'s newest news, from apps they still have a grant for.
    pub async fn activity_feed(&self, person: i64, limit: u32) -> Result<Vec<FeedItem>> {
        Ok(sqlx::query_as(&format!("{FEED} WHERE i.person_id = ? ORDER BY i.updated_at DESC, i.event_id DESC LIMIT ?"))
            .bind(person)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// One item of `person`'s feed, if it is theirs and its app still is.
    pub async fn activity_item(&self, person: i64, id: i64) -> Result<Option<FeedItem>> {
        Ok(sqlx::query_as(&format!("{FEED} WHERE i.person_id = ? AND i.event_id = ?"))
            .bind(person)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// How much news `person` has not seen yet, per app they have a grant
    /// for, counting at most [`UNREAD_COUNTED`] lines.
    pub async fn activity_unread(&self, person: i64) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT a.app_id, count(*) FROM \
               (SELECT event_id FROM activity_inbox WHERE person_id = ? AND seen_at IS NULL LIMIT ?) i \
             JOIN activity a ON a.id = i.event_id \
             JOIN grants g ON g.person_id = ? AND g.app_id = a.app_id GROUP BY a.app_id",
        )
        .bind(person)
        .bind(UNREAD_COUNTED)
        .bind(person)
        .fetch_all(self.pool())
        .await?)
    }

    /// Marks `person`'s news seen: one item, or all of it.
    pub async fn mark_activity_seen(&self, person: i64, id: Option<i64>, at: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE activity_inbox SET seen_at = ? WHERE person_id = ? AND seen_at IS NULL \
             AND (? IS NULL OR event_id = ?)",
        )
        .bind(at)
        .bind(person)
        .bind(id)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Marks `person`'s news about `scope` in `app` seen (they just looked).
    pub async fn mark_scope_seen(&self, app: &str, person: i64, scope: &str, at: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE activity_inbox SET seen_at = ? WHERE person_id = ? AND seen_at IS NULL AND event_id IN \
             (SELECT id FROM activity WHERE app_id = ? AND scope = ?)",
        )
        .bind(at)
        .bind(person)
        .bind(app)
        .bind(scope)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Takes `app`'s news about `scope` away from `people` (they lost
    /// access to it); news nobody is left to see goes.
    pub async fn forget_scope(&self, app: &str, scope: &str, people: &[i64]) -> Result<u64> {
        let people = serde_json::to_string(people).unwrap_or_else(|_| "[]".into());
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let gone = sqlx::query(
            "DELETE FROM activity_inbox WHERE person_id IN (SELECT value FROM json_each(?)) AND event_id IN \
             (SELECT id FROM activity WHERE app_id = ? AND scope = ?)",
        )
        .bind(&people)
        .bind(app)
        .bind(scope)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM activity WHERE app_id = ? AND scope = ? \
             AND NOT EXISTS (SELECT 1 FROM activity_inbox WHERE event_id = activity.id)",
        )
        .bind(app)
        .bind(scope)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// Withdraws `actor`'s news in `batch` of `app` (a like taken back).
    pub async fn retract_activity(&self, app: &str, actor: i64, batch: &str) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM activity WHERE app_id = ? AND actor_id = ? AND batch = ?")
            .bind(app)
            .bind(actor)
            .bind(batch)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// Removes news last updated before `before`.
    pub async fn prune_activity(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM activity WHERE updated_at < ?")
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// The content type and file hash of `app`'s blob `name`, for a feed
    /// picture.
    pub async fn activity_picture(&self, app: &str, name: &str) -> Result<Option<(String, String, i64)>> {
        Ok(sqlx::query_as("SELECT sha256, content_type, size FROM app_blobs WHERE app_id = ? AND name = ?")
            .bind(app)
            .bind(name)
            .fetch_optional(self.pool())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn person(store: &Store, name: &str, groups: &[&str]) -> i64 {
        let (id,): (i64,) =
            sqlx::query_as("INSERT INTO people (display_name, role, created_at) VALUES (?, 'member', 0) RETURNING id")
                .bind(name)
                .fetch_one(store.pool())
                .await
                .expect("person");
        sqlx::query("INSERT INTO grants (person_id, app_id, app_role) VALUES (?, 'photos', 'viewer')")
            .bind(id)
            .execute(store.pool())
            .await
            .expect("grant");
        for g in groups {
            sqlx::query("INSERT OR IGNORE INTO groups (name) VALUES (?)")
                .bind(g)
                .execute(store.pool())
                .await
                .expect("g");
            sqlx::query("INSERT INTO person_groups (person_id, group_id) SELECT ?, id FROM groups WHERE name = ?")
                .bind(id)
                .bind(g)
                .execute(store.pool())
                .await
                .expect("member");
        }
        id
    }

    fn news<'a>(actor: i64, people: &'a [i64], groups: &'a [String], at: i64) -> NewActivity<'a> {
        NewActivity {
            app: "photos",
            actor,
            text: "added a photo to Beach",
            text_many: Some("added {count} photos to Beach"),
            count: 1,
            batch: Some("added:beach"),
            scope: Some("album:beach"),
            link: "/a/beach",
            thumbnail: None,
            people,
            groups,
            at,
            merge_since: at - 600,
        }
    }

    #[tokio::test]
    async fn news_reaches_only_granted_people_and_merges_a_burst() {
        let dir = tempfile::TempDir::new().expect("dir");
        let store = Store::open(dir.path()).await.expect("store");
        sqlx::query(
            "INSERT INTO apps (id, name, version, manifest, component_sha256, installed_at) \
             VALUES ('photos', 'Photos', '1.0.0', '', '', 0)",
        )
        .execute(store.pool())
        .await
        .expect("app");
        let ann = person(&store, "Ann", &[]).await;
        let bob = person(&store, "Bob", &["family"]).await;
        let cy = person(&store, "Cy", &["family"]).await;
        // Dee is in the family but has no grant for Photos.
        let (dee,): (i64,) = sqlx::query_as(
            "INSERT INTO people (display_name, role, created_at) VALUES ('Dee', 'member', 0) RETURNING id",
        )
        .fetch_one(store.pool())
        .await
        .expect("dee");
        sqlx::query("INSERT INTO person_groups (person_id, group_id) SELECT ?, id FROM groups WHERE name = 'family'")
            .bind(dee)
            .execute(store.pool())
            .await
            .expect("member");
        let family = vec!["family".to_owned()];
        let (id, reached) = store.publish_activity(&news(ann, &[ann, cy], &family, 1000)).await.expect("publish");
        assert_eq!(reached, 2, "Bob and Cy; not Ann herself, not Dee without a grant");
        store.mark_activity_seen(bob, None, 1001).await.expect("seen");
        let (again, _) = store.publish_activity(&news(ann, &[], &family, 1300)).await.expect("publish");
        assert_eq!(again, id, "a burst is one line");
        let feed = store.activity_feed(bob, 10).await.expect("feed");
        assert_eq!(feed.len(), 1);
        assert_eq!(feed[0].line(), "added 2 photos to Beach");
        assert!(!feed[0].seen, "a merge makes it new again");
        assert_eq!(feed[0].actor.as_deref(), Some("Ann"));
        assert!(store.activity_feed(ann, 10).await.expect("feed").is_empty());
        assert!(store.activity_feed(dee, 10).await.expect("feed").is_empty());
        assert_eq!(store.activity_unread(cy).await.expect("unread"), vec![("photos".to_owned(), 1)]);

        // Long after, a new upload is a new line.
        let (later, _) = store.publish_activity(&news(ann, &[], &family, 5000)).await.expect("publish");
        assert_ne!(later, id);

        // Cy loses the album: its news goes from her feed only.
        store.forget_scope("photos", "album:beach", &[cy]).await.expect("forget");
        assert!(store.activity_feed(cy, 10).await.expect("feed").is_empty());
        assert_eq!(store.activity_feed(bob, 10).await.expect("feed").len(), 2);
        // Bob loses the app: nothing of it shows.
        sqlx::query("DELETE FROM grants WHERE person_id = ?").bind(bob).execute(store.pool()).await.expect("revoke");
        assert!(store.activity_feed(bob, 10).await.expect("feed").is_empty());
        assert!(store.activity_unread(bob).await.expect("unread").is_empty());

        assert_eq!(store.prune_activity(2000).await.expect("prune"), 1);
    }
}
