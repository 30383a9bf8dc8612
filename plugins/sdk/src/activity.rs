//! News for the people this app serves (`activity = true` under
//! `[capabilities]`): porch shows it in each person's feed on its start
//! page, counts it on the app's tile and gathers it into digests. porch
//! names the person whose request published it; the app says what happened
//! and to whom, and porch keeps it only for people with a grant for the app.
//!
//! ```ignore
//! News::new(format!("added a photo to {title}"), format!("/a/{id}"))
//!     .many(format!("added {{count}} photos to {title}"))
//!     .batch(format!("added:{id}"))
//!     .about(format!("album:{id}"))
//!     .to_shares(album.owner, &album.shares)
//!     .publish()?;
//! ```

use crate::HostError as Error;
use crate::host::activity;
use crate::sharing::{Share, Who};

pub use activity::Audience;

/// One piece of news, built up and then [published](News::publish).
#[derive(Debug, Clone)]
pub struct News(activity::News);

impl News {
    /// What happened, after the person's name ("added a photo to Beach
    /// day"), and the path of this app it opens.
    pub fn new(text: impl Into<String>, link: impl Into<String>) -> News {
        News(activity::News {
            text: text.into(),
            text_many: None,
            count: 1,
            batch: None,
            scope: None,
            link: link.into(),
            thumbnail: None,
            audience: Vec::new(),
        })
    }

    /// The line once a batch counts more than one; `{count}` stands for the
    /// number ("added {count} photos to Beach day").
    pub fn many(mut self, text: impl Into<String>) -> News {
        self.0.text_many = Some(text.into());
        self
    }

    /// How many things this news is about (one by default).
    pub fn count(mut self, n: u32) -> News {
        self.0.count = n;
        self
    }

    /// Merges with the same person's news of this key while it is recent
    /// (porch's `activity.batch_for`): twelve uploads, one line.
    pub fn batch(mut self, key: impl Into<String>) -> News {
        self.0.batch = Some(key.into());
        self
    }

    /// What it is about inside the app ("album:<id>"), for [`seen`] and
    /// [`forget`].
    pub fn about(mut self, scope: impl Into<String>) -> News {
        self.0.scope = Some(scope.into());
        self
    }

    /// A small image blob of this app (JPEG, PNG or WebP, at most 512 KiB)
    /// shown beside the line.
    pub fn thumbnail(mut self, blob: impl Into<String>) -> News {
        self.0.thumbnail = Some(blob.into());
        self
    }

    /// For one person.
    pub fn to_person(mut self, id: i64) -> News {
        self.0.audience.push(Audience::Person(id));
        self
    }

    /// For everyone in a porch group.
    pub fn to_group(mut self, group: impl Into<String>) -> News {
        self.0.audience.push(Audience::Group(group.into()));
        self
    }

    /// For everyone a shared thing reaches: its owner and each share.
    pub fn to_shares(mut self, owner: i64, shares: &[Share]) -> News {
        self = self.to_person(owner);
        for share in shares {
            self = match &share.with {
                Who::Person(id) => self.to_person(*id),
                Who::Group(g) => self.to_group(g.clone()),
            };
        }
        self
    }

    /// Publishes it from the calling person; how many people it reached anew
    /// (never the caller, never anyone without a grant for this app).
    pub fn publish(self) -> Result<u32, Error> {
        activity::publish(&self.0)
    }
}

/// The calling person looked at `scope`: their news about it is seen.
pub fn seen(scope: &str) -> Result<(), Error> {
    activity::seen(scope)
}

/// `people` lost access to `scope`: its news leaves their feeds.
pub fn forget(scope: &str, people: &[i64]) -> Result<(), Error> {
    activity::forget(scope, people)
}

/// The calling person wants no email digest about `scope` (`muted`), or
/// wants them again; their start page still shows its news.
pub fn mute(scope: &str, muted: bool) -> Result<(), Error> {
    activity::mute(scope, muted)
}

/// Whether the calling person muted `scope`.
pub fn muted(scope: &str) -> Result<bool, Error> {
    activity::muted(scope)
}

/// Takes back the calling person's news in `batch` (a like undone).
pub fn retract(batch: &str) -> Result<(), Error> {
    activity::retract(batch)
}
