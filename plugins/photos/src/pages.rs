//! The album's pages and the forms behind them: album list, album grid
//! (paged), photo view with comments, and the owner's rename, cover,
//! sharing and delete. Pages work without JavaScript; `photos.js` adds
//! uploads with progress, endless scrolling, keys and swipes.

use std::collections::BTreeSet;

use porch_app::{blobs, escape_html as esc, kv, people};
use wstd::http::{Body, Request};

use crate::model::{self, Access, Album, Comment, Kind, Photo, Share, ShareRole, Viewer, Who};
use crate::web::{self, Fail, Reply, encode, frame, get, html, see_other};

fn tile(album: &str, p: &Photo) -> String {
    let href = format!("/a/{album}/p/{}", p.id);
    match p.kind {
        Kind::Image => format!(
            "<a class=\"tile\" href=\"{href}\"><img loading=\"lazy\" decoding=\"async\" src=\"{href}/thumb\" \
             alt=\"{}\" width=\"{}\" height=\"{}\"></a>",
            esc(&p.name),
            p.width.max(1),
            p.height.max(1)
        ),
        Kind::Video => {
            format!("<a class=\"tile video\" href=\"{href}\"><span>&#9654; {}</span></a>", esc(&p.name))
        }
    }
}

/// One page of an album's photos from after `after`, and the next page's
/// `after` if there is one.
fn grid(album: &Album, after: Option<&str>) -> Result<(String, Option<String>), Fail> {
    let prefix = model::photos_prefix(&album.id);
    let after_key = after.filter(|a| model::valid_id(a)).map(|a| format!("{prefix}{a}"));
    let keys = kv::list(&prefix, after_key.as_deref(), model::PAGE + 1)?;
    let mut out = String::new();
    let mut last = None;
    for key in keys.iter().take(model::PAGE as usize) {
        if let Some(p) = model::get_json::<Photo>(key)? {
            out.push_str(&tile(&album.id, &p));
            last = Some(p.id);
        }
    }
    let next = if keys.len() > model::PAGE as usize { last } else { None };
    Ok((out, next))
}

fn more_link(album: &str, next: &Option<String>) -> String {
    match next {
        Some(after) => format!(
            "<p class=\"more\"><a id=\"more\" href=\"/a/{album}?after={after}\" data-grid=\"/a/{album}/grid?after={after}\">\
             More photos</a></p>"
        ),
        None => String::new(),
    }
}

pub fn albums(me: &mut Viewer) -> Reply {
    let mut cards = String::new();
    let mut after: Option<String> = None;
    loop {
        let keys = kv::list("albums/", after.as_deref(), 500)?;
        for key in &keys {
            let Some(album) = model::get_json::<Album>(key)? else { continue };
            if me.access(&album).is_none() {
                continue;
            }
            let cover = match &album.cover {
                Some(c) => format!("<img loading=\"lazy\" src=\"/a/{}/p/{c}/thumb\" alt=\"\">", album.id),
                None => "<span class=\"empty\">No photos yet</span>".to_owned(),
            };
            let count = if album.count == 1 { "1 item".to_owned() } else { format!("{} items", album.count) };
            cards.push_str(&format!(
                "<a class=\"album\" href=\"/a/{}\">{cover}<span class=\"title\">{}</span>\
                 <span class=\"count\">{count} &middot; {}</span></a>",
                album.id,
                esc(&album.title),
                esc(&album.owner_name)
            ));
        }
        match keys.last() {
            Some(last) if keys.len() == 500 => after = Some(last.clone()),
            _ => break,
        }
    }
    if cards.is_empty() {
        cards = "<p class=\"hint\" id=\"no-albums\">No albums yet.</p>".into();
    }
    let create = if me.can_create() {
        "<form class=\"new-album\" method=\"post\" action=\"/albums\"><label for=\"title\">New album</label>\
         <input id=\"title\" name=\"title\" required maxlength=\"120\" placeholder=\"Summer at the lake\">\
         <button>Create</button></form>"
    } else {
        ""
    };
    html(frame(
        "Photos",
        &format!(
            "<main><h1>Albums</h1><p class=\"hint\">Signed in as {}.</p>{create}<div class=\"albums\">{cards}</div></main>",
            esc(&me.caller.name)
        ),
    ))
}

fn checked_title(form: &[(String, String)]) -> Result<String, Fail> {
    let title = get(form, "title").unwrap_or("").trim().to_owned();
    if title.is_empty() || title.chars().count() > model::MAX_TITLE || title.chars().any(char::is_control) {
        return Err(Fail::Bad(format!("An album title is 1 to {} characters.", model::MAX_TITLE)));
    }
    Ok(title)
}

pub async fn create_album(me: &Viewer, request: Request<Body>) -> Reply {
    if !me.can_create() {
        return Err(Fail::Forbidden);
    }
    let form = web::form(request).await?;
    let title = checked_title(&form)?;
    let album = Album {
        id: model::random_id(),
        title,
        owner: me.caller.id,
        owner_name: me.caller.name.clone(),
        created_at: model::now(),
        cover: None,
        count: 0,
        bytes: 0,
        shares: Vec::new(),
        keep_location: false,
    };
    model::put_json(&model::album_key(&album.id), &album)?;
    see_other(&format!("/a/{}", album.id))
}

pub fn album(me: &Viewer, album: &Album, access: Access, after: Option<&str>) -> Reply {
    let (tiles, next) = grid(album, after)?;
    let id = &album.id;
    let mut tools = format!("<a class=\"button\" id=\"zip\" href=\"/a/{id}/zip\" download>Download all</a>");
    if access >= Access::Manage {
        tools.push_str(&format!(
            "<a class=\"button\" href=\"/a/{id}/share\">Share</a><a class=\"button danger\" href=\"/a/{id}/delete\">Delete album</a>"
        ));
    }
    let rename = if access >= Access::Manage {
        format!(
            "<details><summary>Rename</summary><form method=\"post\" action=\"/a/{id}/rename\">\
             <input name=\"title\" value=\"{}\" required maxlength=\"120\" aria-label=\"Album title\"><button>Save</button></form></details>",
            esc(&album.title)
        )
    } else {
        String::new()
    };
    let upload = if access >= Access::Contribute {
        format!(
            "<section class=\"upload\" id=\"upload\" data-url=\"/a/{id}/upload\">\
             <label class=\"drop\" for=\"files\">Add photos and videos: tap to choose, or drop them here\
             <input type=\"file\" id=\"files\" multiple accept=\"image/jpeg,image/png,image/webp,image/gif,video/mp4,video/quicktime,video/webm\"></label>\
             <div id=\"overall\" hidden><progress id=\"overall-bar\" max=\"1\" value=\"0\"></progress> <span id=\"overall-text\"></span></div>\
             <ul id=\"queue\"></ul></section>"
        )
    } else {
        String::new()
    };
    let empty =
        if tiles.is_empty() && after.is_none() { "<p class=\"hint\" id=\"empty\">No photos yet.</p>" } else { "" };
    let whose = if album.owner == me.caller.id { "yours".to_owned() } else { format!("by {}", esc(&album.owner_name)) };
    html(frame(
        &album.title,
        &format!(
            "<main><h1 id=\"album-title\">{}</h1><p class=\"hint\">{} items &middot; {whose}</p>\
             <div class=\"tools\">{tools}</div>{rename}{upload}{empty}\
             <div class=\"grid\" id=\"grid\">{tiles}</div>{}</main>",
            esc(&album.title),
            album.count,
            more_link(id, &next)
        ),
    ))
}

/// The tiles after `after`, for endless scrolling.
pub fn grid_page(album: &Album, after: Option<&str>) -> Reply {
    let (tiles, next) = grid(album, after)?;
    html(format!("{tiles}{}", more_link(&album.id, &next)))
}

fn neighbour(album: &str, photo: &str, forward: bool) -> Result<Option<String>, Fail> {
    let prefix = model::photos_prefix(album);
    let key = model::photo_key(album, photo);
    let keys = if forward { kv::list(&prefix, Some(&key), 1)? } else { kv::list_reverse(&prefix, Some(&key), 1)? };
    Ok(keys.first().and_then(|k| k.strip_prefix(&prefix)).map(str::to_owned))
}

pub fn photo(me: &Viewer, album: &Album, access: Access, p: &Photo) -> Reply {
    let id = &album.id;
    let base = format!("/a/{id}/p/{}", p.id);
    let prev = neighbour(id, &p.id, false)?;
    let next = neighbour(id, &p.id, true)?;
    let nav = |target: &Option<String>, rel: &str, label: &str| match target {
        Some(t) => format!("<a id=\"{rel}\" rel=\"{rel}\" href=\"/a/{id}/p/{t}\">{label}</a>"),
        None => format!("<span class=\"off\">{label}</span>"),
    };
    let media = match p.kind {
        Kind::Image => format!(
            "<img id=\"photo\" src=\"{base}/view\" alt=\"{}\" width=\"{}\" height=\"{}\">",
            esc(&p.name),
            p.width.max(1),
            p.height.max(1)
        ),
        Kind::Video => {
            format!("<video id=\"photo\" controls playsinline preload=\"metadata\" src=\"{base}/play\"></video>")
        }
    };
    let taken = match p.taken_at {
        Some(t) => format!("<p id=\"taken\">Taken {}</p>", model::format_date_long(t)),
        None => format!("<p id=\"taken\" class=\"hint\">Added {}</p>", model::format_date_long(p.uploaded_at)),
    };
    let mut actions = format!("<a class=\"button\" href=\"{base}/original\" download>Download original</a>");
    if access >= Access::Manage && p.kind == Kind::Image && album.cover.as_deref() != Some(p.id.as_str()) {
        actions.push_str(&format!(
            "<form method=\"post\" action=\"/a/{id}/cover\"><input type=\"hidden\" name=\"photo\" value=\"{}\">\
             <button>Use as album cover</button></form>",
            p.id
        ));
    }
    if access >= Access::Manage || p.uploader == me.caller.id {
        actions.push_str(&format!(
            "<form method=\"post\" action=\"{base}/delete\" data-confirm=\"Delete this from the album for everyone?\">\
             <button class=\"danger\">Delete</button></form>"
        ));
    }
    let mut comments = String::new();
    let prefix = model::comments_prefix(id, &p.id);
    for key in kv::list(&prefix, None, 1000)? {
        if let Some(c) = model::get_json::<Comment>(&key)? {
            comments.push_str(&format!(
                "<li><strong>{}</strong> <span class=\"hint\">{}</span><p>{}</p></li>",
                esc(&c.name),
                model::format_time(c.at),
                esc(&c.text)
            ));
        }
    }
    html(frame(
        &p.name,
        &format!(
            "<main class=\"viewer\"><nav class=\"crumbs\"><a id=\"back\" href=\"/a/{id}\">&larr; {}</a></nav>\
             <figure id=\"stage\">{media}</figure>\
             <nav class=\"step\">{}{}</nav>{taken}<p class=\"hint\">{} &middot; added by {}</p>\
             <div class=\"tools\">{actions}</div>\
             <section class=\"comments\"><h2>Comments</h2><ul id=\"comments\">{comments}</ul>\
             <form method=\"post\" action=\"{base}/comment\"><label for=\"comment\">Say something</label>\
             <textarea id=\"comment\" name=\"text\" required maxlength=\"2000\" rows=\"2\"></textarea>\
             <button id=\"send-comment\">Send</button></form></section></main>",
            esc(&album.title),
            nav(&prev, "prev", "&larr; Previous"),
            nav(&next, "next", "Next &rarr;"),
            esc(&p.name),
            esc(&p.uploader_name),
        ),
    ))
}

pub async fn add_comment(me: &Viewer, album: &Album, p: &Photo, request: Request<Body>) -> Reply {
    let form = web::form(request).await?;
    let text = get(&form, "text").unwrap_or("").trim().to_owned();
    if text.is_empty() || text.chars().count() > model::MAX_COMMENT {
        return Err(Fail::Bad(format!("A comment is 1 to {} characters.", model::MAX_COMMENT)));
    }
    let at = model::now();
    let comment = Comment { by: me.caller.id, name: me.caller.name.clone(), text, at };
    let key = format!("{}{at:011}-{}", model::comments_prefix(&album.id, &p.id), model::random_id());
    model::put_json(&key, &comment)?;
    see_other(&format!("/a/{}/p/{}#comments", album.id, p.id))
}

pub async fn rename(album: &Album, request: Request<Body>) -> Reply {
    let form = web::form(request).await?;
    let title = checked_title(&form)?;
    model::update_album(&album.id, |a| {
        a.title = title.clone();
        true
    })?;
    see_other(&format!("/a/{}", album.id))
}

pub async fn set_cover(album: &Album, request: Request<Body>) -> Reply {
    let form = web::form(request).await?;
    let photo = get(&form, "photo").unwrap_or("").to_owned();
    if !model::valid_id(&photo) || kv::get(&model::photo_key(&album.id, &photo))?.is_none() {
        return Err(Fail::Bad("That photo is not in this album.".into()));
    }
    model::update_album(&album.id, |a| {
        a.cover = Some(photo.clone());
        true
    })?;
    see_other(&format!("/a/{}/p/{photo}", album.id))
}

pub fn confirm_delete(album: &Album) -> Reply {
    html(frame(
        "Delete album",
        &format!(
            "<main class=\"narrow\"><h1>Delete \u{201c}{}\u{201d}?</h1>\
             <p>This removes the album and its {} photos and videos for everyone it is shared with. \
             It cannot be undone; download the album first if you want to keep a copy.</p>\
             <form method=\"post\" action=\"/a/{id}/delete\"><button class=\"danger\" id=\"confirm-delete\">Delete it for good</button> \
             <a href=\"/a/{id}\">Keep it</a></form></main>",
            esc(&album.title),
            album.count,
            id = album.id
        ),
    ))
}

pub fn delete_album(album: &Album) -> Reply {
    // The record goes first, so the album vanishes at once; then its
    // photos, comments and files, each group in one step.
    kv::delete(&model::album_key(&album.id))?;
    kv::delete_prefix(&format!("a/{}/", album.id))?;
    blobs::delete_prefix(&format!("{}/", album.id))?;
    see_other("/")
}

pub fn delete_photo(album: &Album, p: &Photo) -> Reply {
    kv::delete(&model::hash_key(&album.id, &p.sha256))?;
    model::remove_photo(album, p)?;
    see_other(&format!("/a/{}", album.id))
}

pub fn share_page(album: &Album) -> Reply {
    let everyone = people::list();
    let role_of = |who: &Who| album.shares.iter().find(|s| &s.with == who).map(|s| s.role);
    let select = |name: String, current: Option<ShareRole>| {
        let opt = |value: &str, label: &str, on: bool| {
            format!("<option value=\"{value}\"{}>{label}</option>", if on { " selected" } else { "" })
        };
        format!(
            "<select name=\"{name}\" aria-label=\"Access\">{}{}{}</select>",
            opt("", "No access", current.is_none()),
            opt("viewer", "Can view", current == Some(ShareRole::Viewer)),
            opt("contributor", "Can add photos", current == Some(ShareRole::Contributor)),
        )
    };
    let mut rows = String::new();
    let mut groups = BTreeSet::new();
    for p in &everyone {
        groups.extend(p.groups.iter().cloned());
        if p.id == album.owner {
            continue;
        }
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&p.name),
            select(format!("person:{}", p.id), role_of(&Who::Person(p.id)))
        ));
    }
    for g in &groups {
        rows.push_str(&format!(
            "<tr><td>Group <em>{}</em></td><td>{}</td></tr>",
            esc(g),
            select(format!("group:{}", encode(g)), role_of(&Who::Group(g.clone())))
        ));
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"2\" class=\"hint\">Nobody else can open Photos yet. The porch owner gives people access \
                under Admin &rarr; Apps.</td></tr>"
            .into();
    }
    let keep = if album.keep_location { " checked" } else { "" };
    html(frame(
        "Share album",
        &format!(
            "<main class=\"narrow\"><h1>Share \u{201c}{}\u{201d}</h1><form method=\"post\" action=\"/a/{id}/share\">\
             <table class=\"shares\">{rows}</table>\
             <label class=\"check\"><input type=\"checkbox\" name=\"keep_location\" value=\"1\"{keep}> \
             Let others download originals with their location and camera details (off: porch removes them)</label>\
             <button id=\"save-shares\">Save</button> <a href=\"/a/{id}\">Cancel</a></form></main>",
            esc(&album.title),
            id = album.id
        ),
    ))
}

pub async fn save_shares(album: &Album, request: Request<Body>) -> Reply {
    let form = web::form(request).await?;
    let known = people::list();
    let mut shares = Vec::new();
    for (key, value) in &form {
        let Some(role) = ShareRole::parse(value) else { continue };
        let with = if let Some(id) = key.strip_prefix("person:") {
            match id.parse::<i64>() {
                Ok(id) if known.iter().any(|p| p.id == id) => Who::Person(id),
                _ => continue,
            }
        } else if let Some(g) = key.strip_prefix("group:") {
            let g = form_urlencoded::parse(format!("g={g}").as_bytes()).next().map(|(_, v)| v.into_owned());
            match g {
                Some(g) if known.iter().any(|p| p.groups.contains(&g)) => Who::Group(g),
                _ => continue,
            }
        } else {
            continue;
        };
        shares.push(Share { with, role });
    }
    let keep_location = get(&form, "keep_location") == Some("1");
    model::update_album(&album.id, |a| {
        a.shares = shares.clone();
        a.keep_location = keep_location;
        true
    })?;
    see_other(&format!("/a/{}", album.id))
}
