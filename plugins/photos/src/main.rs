//! photos: the family photo album bundled with porch.
//!
//! Albums belong to the person who made them and are shared with chosen
//! people or groups as viewers or contributors; anyone else gets 404 for the
//! album and everything in it. Uploads stream into porch's blob store, are
//! checked and thumbnailed by porch's media capability, and are stored once
//! per album by content hash. Originals others download have their location
//! and camera serials removed unless the album's owner allowed them.

mod files;
mod model;
mod pages;
mod upload;
mod web;
mod zip;

use wstd::http::{Body, Error, Method, Request, Response};

use model::{Access, Album, Caller, Viewer};
use web::{Reply, not_found};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let Some(caller) = Caller::from_headers(request.headers()) else {
        return web::text(401, "porch did not say who you are; open Photos from porch.");
    };
    let reply = route(Viewer::new(caller), request).await;
    match reply {
        Ok(response) => Ok(response),
        Err(e) => web::error_page(e),
    }
}

async fn route(mut me: Viewer, request: Request<Body>) -> Reply {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let method = request.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, []) => pages::albums(&mut me),
        (&Method::POST, ["albums"]) => pages::create_album(&me, request).await,
        (&Method::GET, ["static", "photos.js"]) => web::asset("text/javascript", include_str!("../static/photos.js")),
        (&Method::GET, ["static", "photos.css"]) => web::asset("text/css", include_str!("../static/photos.css")),
        (_, ["a", album, rest @ ..]) => {
            let album = *album;
            let Some(found) = load_album(&mut me, album)? else { return not_found() };
            album_route(&mut me, found, &method, rest, request).await
        }
        _ => not_found(),
    }
}

/// The album if it exists and this caller may see it.
fn load_album(me: &mut Viewer, id: &str) -> Result<Option<(Album, Access)>, web::Fail> {
    if !model::valid_id(id) {
        return Ok(None);
    }
    let Some(album) = model::get_json::<Album>(&model::album_key(id))? else { return Ok(None) };
    Ok(me.access(&album).map(|access| (album, access)))
}

async fn album_route(
    me: &mut Viewer,
    (album, access): (Album, Access),
    method: &Method,
    rest: &[&str],
    request: Request<Body>,
) -> Reply {
    // Managing needs the album's owner (or a porch owner or editor);
    // uploading needs contributor.
    let needs = match rest {
        ["rename" | "delete" | "cover" | "share"] => Access::Manage,
        ["upload"] => Access::Contribute,
        _ => Access::View,
    };
    if access < needs {
        return Err(web::Fail::Forbidden);
    }
    let query = request.uri().query().unwrap_or("").to_owned();
    match (method, rest) {
        (&Method::GET, []) => pages::album(me, &album, access, web::param(&query, "after").as_deref()),
        (&Method::GET, ["grid"]) => pages::grid_page(&album, web::param(&query, "after").as_deref()),
        (&Method::POST, ["upload"]) => upload::upload(me, &album, request).await,
        (&Method::GET, ["zip"]) => zip::album_zip(me, &album),
        (&Method::POST, ["rename"]) => pages::rename(&album, request).await,
        (&Method::GET, ["delete"]) => pages::confirm_delete(&album),
        (&Method::POST, ["delete"]) => pages::delete_album(&album),
        (&Method::POST, ["cover"]) => pages::set_cover(&album, request).await,
        (&Method::GET, ["share"]) => pages::share_page(&album),
        (&Method::POST, ["share"]) => pages::save_shares(&album, request).await,
        (_, ["p", photo, tail @ ..]) => {
            if !model::valid_id(photo) {
                return not_found();
            }
            let Some(p) = model::get_json::<model::Photo>(&model::photo_key(&album.id, photo))? else {
                return not_found();
            };
            match (method, tail) {
                (&Method::GET, []) => pages::photo(me, &album, access, &p),
                (&Method::GET, ["thumb"]) => files::serve_derived(&p.thumb(&album.id), &request),
                (&Method::GET, ["view"]) => files::serve_derived(&p.view(&album.id), &request),
                (&Method::GET, ["original"]) => files::original(me, &album, &p, &request, true),
                (&Method::GET, ["play"]) => files::original(me, &album, &p, &request, false),
                (&Method::POST, ["comment"]) => pages::add_comment(me, &album, &p, request).await,
                (&Method::POST, ["delete"]) => {
                    if access < Access::Manage && p.uploader != me.caller.id {
                        return Err(web::Fail::Forbidden);
                    }
                    pages::delete_photo(&album, &p)
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}
