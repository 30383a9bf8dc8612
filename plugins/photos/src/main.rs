//! photos: the family photo album bundled with porch.
//!
//! Albums belong to the person who made them and are shared with chosen
//! people or groups as viewers or contributors; anyone else gets 404 for the
//! album and everything in it. Uploads stream into porch's blob store, are
//! checked and thumbnailed by porch's media capability, and are stored once
//! per album by content hash. Originals others download have their location
//! and camera serials removed unless the album's owner allowed them.
//!
//! Routes are here; pages and forms in `pages.rs` with their templates in
//! `templates/`; records and rules in `model.rs`; uploads, files and the
//! album as a zip in `upload.rs`, `files.rs` and `zip.rs`; what people hear
//! about (porch's `activity`) in `news.rs`.

mod files;
mod live;
mod model;
mod news;
mod pages;
mod share_target;
mod upload;
mod zip;

use porch_app::{App, web};
use wstd::http::{Body, Error, Request, Response};

use model::Role;

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    App::<Role>::new("Photos")
        .templates(porch_app::templates![
            "base.html",
            "error.html",
            "albums.html",
            "album.html",
            "grid.html",
            "photo.html",
            "share.html",
            "delete.html",
            "invited.html",
            "share_pick.html",
        ])
        .get("/", pages::albums)
        .get("/home.json", pages::home_cards)
        .post("/share", share_target::receive)
        .get("/share", share_target::pick)
        .post("/share/add", share_target::add)
        .post("/albums", pages::create_album)
        .get("/static/photos.js", |_| async { web::asset("text/javascript", include_str!("../static/photos.js")) })
        .get("/static/photos.css", |_| async { web::asset("text/css", include_str!("../static/photos.css")) })
        .get("/static/manifest.webmanifest", |_| async {
            web::asset("application/manifest+json", include_str!("../static/manifest.webmanifest"))
        })
        .get("/a/{album}", pages::album)
        .get("/a/{album}/grid", pages::grid_page)
        .post("/a/{album}/upload", upload::upload)
        .get("/a/{album}/zip", zip::album_zip)
        .post("/a/{album}/rename", pages::rename)
        .get("/a/{album}/delete", pages::confirm_delete)
        .post("/a/{album}/delete", pages::delete_album)
        .post("/a/{album}/cover", pages::set_cover)
        .post("/a/{album}/mute", pages::mute)
        .get("/a/{album}/share", pages::share_page)
        .post("/a/{album}/share", pages::save_shares)
        .post("/a/{album}/invite", pages::invite_someone_new)
        .post("/a/{album}/invite/{invite}/revoke", pages::revoke_invite)
        .get("/a/{album}/p/{photo}", pages::photo)
        .get("/a/{album}/p/{photo}/thumb", files::thumb)
        .get("/a/{album}/p/{photo}/view", files::view)
        .get("/a/{album}/p/{photo}/original", files::original)
        .get("/a/{album}/p/{photo}/play", files::play)
        .get("/a/{album}/p/{photo}/motion", files::motion)
        .get("/a/{album}/p/{photo}/jpeg", files::jpeg)
        .post("/a/{album}/p/{photo}/comment", pages::add_comment)
        .post("/a/{album}/p/{photo}/like", pages::like)
        .post("/a/{album}/p/{photo}/delete", pages::delete_photo)
        .serve(request)
        .await
}
