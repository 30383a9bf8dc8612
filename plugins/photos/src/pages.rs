//! The album's pages and the forms behind them: album list, album grid
//! (paged), photo view with comments, and the owner's rename, cover,
//! sharing and delete. The HTML is in `templates/`; pages work without
//! JavaScript, and `photos.js` adds uploads with progress, endless
//! scrolling, keys and swipes.

use porch_app::sharing::{self, Access};
use porch_app::{Cx, Error, Reply, blobs, context, home, kv, media, web};
use serde::{Deserialize, Serialize};

use crate::model::{self, Album, Comment, Id, Kind, Like, Photo, Role};

/// Forms here are a title, a comment or share choices.
const MAX_FORM: usize = 64 * 1024;

/// A photo as the grid shows it.
#[derive(Serialize)]
struct Tile {
    photo: Photo,
    video: bool,
    /// A video's length badge.
    duration: Option<String>,
}

/// One page of an album's photos after `after`, and the next page's
/// `after` if there is one.
fn grid(album: &Album, after: Option<&str>) -> Result<(Vec<Tile>, Option<String>), Error> {
    let prefix = model::photos_prefix(&album.id);
    let after_key = after.filter(|a| model::valid_id(a)).map(|a| format!("{prefix}{a}"));
    let keys = kv::list(&prefix, after_key.as_deref(), model::PAGE + 1)?;
    let mut tiles = Vec::new();
    for key in keys.iter().take(model::PAGE as usize) {
        if let Some(photo) = kv::get_json::<Photo>(key)?
            && photo.live_still.is_none()
        {
            tiles.push(Tile { video: photo.kind == Kind::Video, duration: photo.duration(), photo });
        }
    }
    let next = if keys.len() > model::PAGE as usize { tiles.last().map(|t| t.photo.id.clone()) } else { None };
    Ok((tiles, next))
}

#[derive(Deserialize, Default)]
pub struct Page {
    after: Option<String>,
}

pub async fn albums(cx: Cx<Role>) -> Reply {
    let albums = model::visible_albums(&cx.caller)?;
    cx.render("albums.html", context! { albums, can_create => model::can_create(&cx.caller) })
}

/// The cards porch shows under Photos on its start page: the albums this
/// person can see, newest first, each with a small cover (made once per
/// cover from its thumbnail).
pub async fn home_cards(cx: Cx<Role>) -> Reply {
    let mut albums = model::visible_albums(&cx.caller)?;
    albums.sort_by_key(|a| std::cmp::Reverse(a.created_at));
    let mut cards = Vec::new();
    for album in albums.into_iter().take(home::MAX_CARDS) {
        let image = match &album.cover {
            Some(cover) => model::small_cover(&album.id, cover).unwrap_or(None),
            None => None,
        };
        let note = match album.count {
            1 => "1 photo".to_owned(),
            n => format!("{n} photos"),
        };
        cards.push(home::Card { title: album.title, note, path: format!("/a/{}", album.id), image });
    }
    home::reply(cards)
}

#[derive(Deserialize)]
pub struct TitleForm {
    #[serde(default)]
    title: String,
}

fn checked_title(form: &TitleForm) -> Result<String, Error> {
    let title = form.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > model::MAX_TITLE || title.chars().any(char::is_control) {
        return Err(Error::Bad(format!("An album title is 1 to {} characters.", model::MAX_TITLE)));
    }
    Ok(title)
}

pub async fn create_album(mut cx: Cx<Role>) -> Reply {
    let form: TitleForm = cx.form(MAX_FORM).await?;
    let album = new_album_for(&cx.caller, &form.title)?;
    web::see_other(&format!("/a/{}", album.id))
}

/// A new, unshared album of `me`'s called `title` (if they may make one).
pub fn new_album_for(me: &model::Caller, title: &str) -> Result<Album, Error> {
    if !model::can_create(me) {
        return Err(model::forbidden());
    }
    let title = checked_title(&TitleForm { title: title.to_owned() })?;
    let album = Album {
        id: porch_app::random_id(),
        title,
        owner: me.id,
        owner_name: me.name.clone(),
        created_at: model::now(),
        cover: None,
        count: 0,
        bytes: 0,
        shares: Vec::new(),
        keep_location: false,
        invited: Vec::new(),
    };
    kv::put_json(&model::album_key(&album.id), &album)?;
    Ok(album)
}

/// How many of the photos added since someone's last visit the album's
/// page shows above its grid.
const FRESH_SHOWN: usize = 12;

/// Photos others added to `album` since `me` last opened it (how many, and
/// the newest few as tiles); then this visit becomes the last one. A first
/// visit shows nothing as new.
fn since_last_visit(album: &Album, me: i64) -> Result<(usize, Vec<Tile>), Error> {
    let visit = model::visit_key(&album.id, me);
    let last: Option<u64> = kv::get_json(&visit)?;
    kv::put_json(&visit, &model::now_millis())?;
    let Some(last) = last else { return Ok((0, Vec::new())) };
    let prefix = model::added_prefix(&album.id);
    let after = format!("{prefix}{last:013}~");
    let added: Vec<(String, i64)> = kv::list_json(&prefix, Some(&after), 1000)?;
    let fresh: Vec<&str> = added
        .iter()
        .filter(|(_, by)| *by != me)
        .filter_map(|(key, _)| key.strip_prefix(&prefix)?.split_once('-').map(|(_, id)| id))
        .collect();
    let mut tiles = Vec::new();
    for id in fresh.iter().rev().take(FRESH_SHOWN) {
        if let Some(photo) = kv::get_json::<Photo>(&model::photo_key(&album.id, id))? {
            tiles.push(Tile { video: photo.kind == Kind::Video, duration: photo.duration(), photo });
        }
    }
    Ok((fresh.len(), tiles))
}

pub async fn album(cx: Cx<Role>) -> Reply {
    let (album, access) = model::album(&cx.caller, &cx.param("album")?, Access::View)?;
    let page: Page = cx.query().unwrap_or_default();
    let (tiles, next) = grid(&album, page.after.as_deref())?;
    let (fresh_count, fresh) =
        if page.after.is_none() { since_last_visit(&album, cx.caller.id)? } else { (0, Vec::new()) };
    crate::news::seen(&album);
    cx.render(
        "album.html",
        context! {
            muted => crate::news::muted(&album),
            fresh_count,
            fresh,
            mine => album.owner == cx.caller.id,
            first_page => page.after.is_none(),
            manage => access >= Access::Manage,
            contribute => access >= Access::Contribute,
            album,
            tiles,
            next,
        },
    )
}

/// The tiles after `after`, for endless scrolling.
pub async fn grid_page(cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::View)?;
    let page: Page = cx.query().unwrap_or_default();
    let (tiles, next) = grid(&album, page.after.as_deref())?;
    web::html(cx.templates().render_text("grid.html", context! { album, tiles, next })?)
}

fn neighbour(album: &str, photo: &str, forward: bool) -> Result<Option<String>, Error> {
    let prefix = model::photos_prefix(album);
    let key = model::photo_key(album, photo);
    let keys = if forward { kv::list(&prefix, Some(&key), 1)? } else { kv::list_reverse(&prefix, Some(&key), 1)? };
    Ok(keys.first().and_then(|k| k.strip_prefix(&prefix)).map(str::to_owned))
}

#[derive(Serialize)]
struct Said {
    comment: Comment,
    when: String,
}

pub async fn photo(cx: Cx<Role>) -> Reply {
    let (album, access) = model::album(&cx.caller, &cx.param("album")?, Access::View)?;
    let photo = model::photo(&album, &cx.param("photo")?)?;
    let comments: Vec<Said> = kv::list_json::<Comment>(&model::comments_prefix(&album.id, &photo.id), None, 1000)?
        .into_iter()
        .map(|(_, comment)| Said { when: model::format_time(comment.at), comment })
        .collect();
    // A video some browsers cannot play: its H.264 copy, or how that stands.
    let mut codec = photo.video_codec.clone();
    let mut preparing = None;
    let mut failed = None;
    if let Some(original) = codec.as_deref().filter(|c| !crate::upload::browsers_play(c)) {
        let original = original.to_owned();
        if blobs::stat(&photo.h264(&album.id))?.is_some() {
            codec = Some("h264".into());
        } else {
            match media::work_state(&photo.h264(&album.id))? {
                Some(state) if state.starts_with("failed") => failed = Some(original),
                Some(_) => preparing = Some(original),
                None => {}
            }
        }
    }
    let likes: Vec<Like> =
        kv::list_json::<Like>(&model::likes_prefix(&album.id, &photo.id), None, 1000)?.into_iter().map(|(_, l)| l).collect();
    let liked = likes.iter().any(|l| l.by == cx.caller.id);
    crate::news::seen(&album);
    let motion = if photo.motion {
        Some(format!("/a/{}/p/{}/motion", album.id, photo.id))
    } else {
        photo.live_video.as_ref().map(|video| format!("/a/{}/p/{video}/play", album.id))
    };
    cx.render(
        "photo.html",
        context! {
            motion,
            codec,
            preparing,
            failed,
            prev => neighbour(&album.id, &photo.id, false)?,
            next => neighbour(&album.id, &photo.id, true)?,
            taken => photo.taken_at.map(model::format_date_long),
            added => model::format_date_long(photo.uploaded_at),
            video => photo.kind == Kind::Video,
            poster => photo.poster,
            jpeg_copy => photo.kind == Kind::Image && !crate::upload::browsers_show(&photo.content_type),
            may_cover => access >= Access::Manage && photo.kind == Kind::Image && album.cover.as_deref() != Some(photo.id.as_str()),
            may_delete => access >= Access::Manage || photo.uploader == cx.caller.id,
            comments,
            likes,
            liked,
            album,
            photo,
        },
    )
}

#[derive(Deserialize)]
pub struct MuteForm {
    #[serde(default)]
    muted: String,
}

/// "Mute this album" for the caller's email digests (the feed still shows
/// it), or unmute.
pub async fn mute(mut cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::View)?;
    let form: MuteForm = cx.form(MAX_FORM).await?;
    crate::news::mute(&album, form.muted == "1")?;
    web::see_other(&format!("/a/{}", album.id))
}

/// The heart: a like, or taking it back (one per person).
pub async fn like(cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::View)?;
    let photo = model::photo(&album, &cx.param("photo")?)?;
    let key = model::like_key(&album.id, &photo.id, cx.caller.id);
    if kv::delete(&key)? {
        crate::news::unliked(&photo);
    } else {
        kv::put_json(&key, &Like { by: cx.caller.id, name: cx.caller.name.clone(), at: model::now() })?;
        crate::news::liked(&album, &photo);
    }
    web::see_other(&format!("/a/{}/p/{}#likes", album.id, photo.id))
}

#[derive(Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    text: String,
}

pub async fn add_comment(mut cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::View)?;
    let photo = model::photo(&album, &cx.param("photo")?)?;
    let form: CommentForm = cx.form(MAX_FORM).await?;
    let text = form.text.trim().to_owned();
    if text.is_empty() || text.chars().count() > model::MAX_COMMENT {
        return Err(Error::Bad(format!("A comment is 1 to {} characters.", model::MAX_COMMENT)));
    }
    let at = model::now();
    let prefix = model::comments_prefix(&album.id, &photo.id);
    let earlier: Vec<Comment> = kv::list_json(&prefix, None, 1000)?.into_iter().map(|(_, c)| c).collect();
    let comment = Comment { by: cx.caller.id, name: cx.caller.name.clone(), text, at };
    let key = format!("{prefix}{at:011}-{}", porch_app::random_id());
    kv::put_json(&key, &comment)?;
    crate::news::commented(&album, &photo, &earlier, &comment.text);
    web::see_other(&format!("/a/{}/p/{}#comments", album.id, photo.id))
}

pub async fn rename(mut cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::Manage)?;
    let title = checked_title(&cx.form(MAX_FORM).await?)?;
    model::update_album(&album.id, |a| a.title = title.clone())?;
    web::see_other(&format!("/a/{}", album.id))
}

#[derive(Deserialize)]
pub struct CoverForm {
    #[serde(default)]
    photo: String,
}

pub async fn set_cover(mut cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::Manage)?;
    let form: CoverForm = cx.form(MAX_FORM).await?;
    let not_here = || Error::Bad("That photo is not in this album.".into());
    let photo = model::photo(&album, &form.photo.parse::<Id>().map_err(|()| not_here())?).map_err(|_| not_here())?;
    model::update_album(&album.id, |a| a.cover = Some(photo.id.clone()))?;
    web::see_other(&format!("/a/{}/p/{}", album.id, photo.id))
}

pub async fn confirm_delete(cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::Manage)?;
    cx.render("delete.html", context! { album })
}

pub async fn delete_album(cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::Manage)?;
    // The record goes first, so the album vanishes at once; then its
    // photos, comments and files, each group in one step.
    kv::delete(&model::album_key(&album.id))?;
    crate::news::forget(&album, &porch_app::sharing::reached(album.owner, &album.shares));
    kv::delete_prefix(&format!("a/{}/", album.id))?;
    blobs::delete_prefix(&format!("{}/", album.id))?;
    web::see_other("/")
}

pub async fn delete_photo(cx: Cx<Role>) -> Reply {
    let (album, access) = model::album(&cx.caller, &cx.param("album")?, Access::View)?;
    let photo = model::photo(&album, &cx.param("photo")?)?;
    if access < Access::Manage && photo.uploader != cx.caller.id {
        return Err(model::forbidden());
    }
    kv::delete(&model::hash_key(&album.id, &photo.sha256))?;
    model::remove_photo(&album, &photo)?;
    web::see_other(&format!("/a/{}", album.id))
}

pub async fn share_page(cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::Manage)?;
    let choices = sharing::choices(album.owner, &album.shares);
    let now = model::now();
    let invited: Vec<_> = album.invited.iter().filter(|i| i.expires_at > now).collect();
    cx.render("share.html", context! { album, choices, invited })
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    note: String,
    role: String,
}

/// "Invite someone new": porch makes a single-use invite that gives them
/// Photos and lands them in this album, which is shared with them once
/// they come (`model::album` claims it). The link is shown once, with a QR.
pub async fn invite_someone_new(mut cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::Manage)?;
    let form: InviteForm = cx.form(MAX_FORM).await?;
    let role = sharing::ShareRole::parse(&form.role).ok_or_else(|| Error::Bad("Pick what they may do.".into()))?;
    let note = form.note.trim();
    if note.chars().count() > 100 {
        return Err(Error::Bad("Their name can be at most 100 characters.".into()));
    }
    let note = if note.is_empty() { format!("Invited to the album “{}”", album.title) } else { note.to_owned() };
    let landing = format!("/a/{}", album.id);
    let (invite, invited) = sharing::invite_someone_new(role, &note, cx.caller.id, &landing)?;
    model::update_album(&album.id, |a| {
        let now = model::now();
        a.invited.retain(|i| i.expires_at > now);
        a.invited.push(invited.clone());
    })?;
    let (link, qr, expires_at) = (invite.link, invite.qr_svg, invite.expires_at);
    cx.render("invited.html", context! { album, link, qr, expires_at, note, role => role.name() })
}

/// Takes back an invite to this album that nobody used yet.
pub async fn revoke_invite(cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::Manage)?;
    let invite: i64 = cx.param("invite")?;
    if album.invited.iter().any(|i| i.invite == invite) {
        porch_app::invites::revoke(invite)?;
        model::update_album(&album.id, |a| a.invited.retain(|i| i.invite != invite))?;
    }
    web::see_other(&format!("/a/{}/share", album.id))
}

pub async fn save_shares(mut cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::Manage)?;
    let fields: Vec<(String, String)> = cx.form(MAX_FORM).await?;
    let shares = sharing::from_form(&fields);
    let keep_location = fields.iter().any(|(k, v)| k == "keep_location" && v == "1");
    let updated = model::update_album(&album.id, |a| {
        a.shares = shares.clone();
        a.keep_location = keep_location;
    })?;
    if let Some(updated) = updated {
        let cover = cover_thumb(&updated)?;
        crate::news::shares_changed(&updated, &album.shares, cover);
    }
    web::see_other(&format!("/a/{}", album.id))
}

/// The grid thumbnail of the album's cover (or first photo), if it has one.
fn cover_thumb(album: &Album) -> Result<Option<String>, Error> {
    let id = match &album.cover {
        Some(id) => Some(id.clone()),
        None => kv::list(&model::photos_prefix(&album.id), None, 1)?
            .first()
            .and_then(|k| k.strip_prefix(&model::photos_prefix(&album.id)).map(str::to_owned)),
    };
    let Some(id) = id else { return Ok(None) };
    Ok(kv::get_json::<Photo>(&model::photo_key(&album.id, &id))?
        .filter(|p| p.kind == Kind::Image || p.poster)
        .map(|p| p.thumb(&album.id)))
}
