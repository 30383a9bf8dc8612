//! files: shared family folders for documents of any kind.
//!
//! A folder belongs to the person who made it and is shared with chosen
//! people or groups as viewers or contributors, exactly like an album;
//! anyone else gets 404 for it and everything in it. Files are stored as
//! they came and always sent back as downloads (`attachment`, a sandboxing
//! Content-Security-Policy), never shown by the browser, so a document can
//! carry no script into the family's porch.
//!
//! This app is written with the porch-app SDK alone and is meant to be
//! read: routes here, records and rules in `model.rs`, pages in
//! `templates/`.

mod model;

use porch_app::blobs::{self, Cache, Disposition};
use porch_app::sharing::{self, Access};
use porch_app::{App, Cx, Error, Reply, context, web};
use serde::Deserialize;
use wstd::http::{Body, Request, Response};

use model::{File, Role};

/// The largest file one upload takes (app.toml's limits.request_body).
const MAX_FILE: u64 = 4 << 30;
/// The largest form (names, share choices).
const MAX_FORM: usize = 64 * 1024;

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, wstd::http::Error> {
    App::<Role>::new("Files")
        .templates(porch_app::templates![
            "base.html",
            "error.html",
            "folders.html",
            "folder.html",
            "share.html",
            "invited.html",
            "delete.html"
        ])
        .get("/", folders)
        .post("/folders", create_folder)
        .get("/static/files.js", |_| async { web::asset("text/javascript", include_str!("../static/files.js")) })
        .get("/static/files.css", |_| async { web::asset("text/css", include_str!("../static/files.css")) })
        .get("/f/{folder}", folder)
        .post("/f/{folder}/upload", upload)
        .post("/f/{folder}/rename", rename_folder)
        .get("/f/{folder}/share", share_page)
        .post("/f/{folder}/share", save_shares)
        .post("/f/{folder}/invite", invite_someone_new)
        .post("/f/{folder}/invite/{invite}/revoke", revoke_invite)
        .get("/f/{folder}/delete", confirm_delete)
        .post("/f/{folder}/delete", delete_folder)
        .get("/f/{folder}/{file}", download)
        .post("/f/{folder}/{file}/rename", rename_file)
        .post("/f/{folder}/{file}/delete", delete_file)
        .serve(request)
        .await
}

#[derive(Deserialize)]
struct NameForm {
    name: String,
}

async fn folders(cx: Cx<Role>) -> Reply {
    let folders: Vec<_> = model::visible_folders(&cx.caller)?
        .into_iter()
        .map(|(folder, access)| context! { folder, mine => access == Access::Manage })
        .collect();
    cx.render("folders.html", context! { folders, can_create => model::can_create(&cx.caller) })
}

async fn create_folder(mut cx: Cx<Role>) -> Reply {
    if !model::can_create(&cx.caller) {
        return Err(Error::Forbidden("Your role lets you see folders shared with you, not make new ones.".into()));
    }
    let form: NameForm = cx.form(MAX_FORM).await?;
    let folder = model::create_folder(&cx.caller, &model::clean_name(&form.name, "New folder"))?;
    web::see_other(&format!("/f/{}", folder.id))
}

async fn folder(cx: Cx<Role>) -> Reply {
    let (folder, access) = model::folder(&cx.caller, &cx.param("folder")?, Access::View)?;
    let me = cx.caller.id;
    let files: Vec<_> = model::files(&folder.id)?
        .into_iter()
        .map(|file| {
            let may_change = access == Access::Manage || (access == Access::Contribute && file.uploader == me);
            context! { file, may_change }
        })
        .collect();
    cx.render(
        "folder.html",
        context! {
            folder,
            files,
            manage => access == Access::Manage,
            contribute => access >= Access::Contribute,
            max_file => MAX_FILE,
        },
    )
}

#[derive(Deserialize)]
struct UploadQuery {
    #[serde(default)]
    name: String,
}

/// One file, streamed into its blob as it arrives (the page's script sends
/// each chosen file as the body, its name in the query, and asks for JSON,
/// so a refusal here comes back as `{"ok": false, "error": ...}`).
async fn upload(cx: Cx<Role>) -> Reply {
    let (folder, _) = model::folder(&cx.caller, &cx.param("folder")?, Access::Contribute)?;
    let query: UploadQuery = cx.query()?;
    let name = model::clean_name(&query.name, "file");
    let id = porch_app::random_id();
    let blob = model::blob_name(&folder.id, &id);
    let stored = blobs::save_body(&blob, cx.request.into_body(), MAX_FILE, |head| Ok(model::kind_of(head).to_owned()));
    let info = stored.await?;
    let file = File {
        id,
        name,
        size: info.size,
        kind: info.content_type,
        uploader: cx.caller.id,
        uploader_name: cx.caller.name.clone(),
        uploaded_at: porch_app::dates::now(),
    };
    model::add_file(&folder.id, &file)?;
    web::json(200, &context! { ok => true, id => file.id, name => file.name })
}

/// Every file goes out as a download of opaque bytes: the browser saves it
/// and never renders it here, whatever is inside.
async fn download(cx: Cx<Role>) -> Reply {
    let (folder, _) = model::folder(&cx.caller, &cx.param("folder")?, Access::View)?;
    let file = model::file(&folder.id, &cx.param("file")?)?;
    let name = model::blob_name(&folder.id, &file.id);
    let mut response = blobs::serve(
        &name,
        &cx.request,
        "application/octet-stream",
        Disposition::Download(file.name),
        Cache::Revalidate,
    )?;
    let headers = response.headers_mut();
    headers.insert("content-security-policy", "sandbox; default-src 'none'".parse().map_err(http_error)?);
    headers.insert("x-content-type-options", "nosniff".parse().map_err(http_error)?);
    Ok(response)
}

fn http_error(e: impl std::fmt::Display) -> Error {
    Error::Http(e.to_string())
}

async fn rename_file(mut cx: Cx<Role>) -> Reply {
    let (folder, access) = model::folder(&cx.caller, &cx.param("folder")?, Access::Contribute)?;
    let file = model::file(&folder.id, &cx.param("file")?)?;
    may_change(&cx, access, &file)?;
    let form: NameForm = cx.form(MAX_FORM).await?;
    model::rename_file(&folder.id, &file, &model::clean_name(&form.name, &file.name))?;
    web::see_other(&format!("/f/{}", folder.id))
}

async fn delete_file(cx: Cx<Role>) -> Reply {
    let (folder, access) = model::folder(&cx.caller, &cx.param("folder")?, Access::Contribute)?;
    let file = model::file(&folder.id, &cx.param("file")?)?;
    may_change(&cx, access, &file)?;
    model::delete_file(&folder.id, &file)?;
    web::see_other(&format!("/f/{}", folder.id))
}

/// A contributor changes only their own files; the folder's owner any.
fn may_change(cx: &Cx<Role>, access: Access, file: &File) -> Result<(), Error> {
    if access == Access::Manage || file.uploader == cx.caller.id {
        Ok(())
    } else {
        Err(Error::Forbidden("Only the person who added this file, or the folder's owner, can change it.".into()))
    }
}

async fn rename_folder(mut cx: Cx<Role>) -> Reply {
    let (folder, _) = model::folder(&cx.caller, &cx.param("folder")?, Access::Manage)?;
    let form: NameForm = cx.form(MAX_FORM).await?;
    let name = model::clean_name(&form.name, &folder.name);
    model::change_folder(&folder.id, |f| f.name = name.clone())?;
    web::see_other(&format!("/f/{}", folder.id))
}

async fn share_page(cx: Cx<Role>) -> Reply {
    let (folder, _) = model::folder(&cx.caller, &cx.param("folder")?, Access::Manage)?;
    let choices = sharing::choices(folder.owner, &folder.shares);
    let now = porch_app::dates::now();
    let invited: Vec<_> = folder.invited.iter().filter(|i| i.expires_at > now).collect();
    cx.render("share.html", context! { folder, choices, invited })
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    note: String,
    role: String,
}

/// "Invite someone new": one link for one person, who joins porch with
/// Files and finds this folder shared with them.
async fn invite_someone_new(mut cx: Cx<Role>) -> Reply {
    let (folder, _) = model::folder(&cx.caller, &cx.param("folder")?, Access::Manage)?;
    let form: InviteForm = cx.form(MAX_FORM).await?;
    let role = sharing::ShareRole::parse(&form.role).ok_or_else(|| Error::Bad("Pick what they may do.".into()))?;
    let note = form.note.trim();
    if note.chars().count() > 100 {
        return Err(Error::Bad("Their name can be at most 100 characters.".into()));
    }
    let note = if note.is_empty() { format!("Invited to the folder “{}”", folder.name) } else { note.to_owned() };
    let landing = format!("/f/{}", folder.id);
    let (invite, invited) = sharing::invite_someone_new(role, &note, cx.caller.id, &landing)?;
    model::change_folder(&folder.id, |f| {
        let now = porch_app::dates::now();
        f.invited.retain(|i| i.expires_at > now);
        f.invited.push(invited.clone());
    })?;
    let (link, qr, expires_at) = (invite.link, invite.qr_svg, invite.expires_at);
    cx.render("invited.html", context! { folder, link, qr, expires_at, note, role => role.name() })
}

/// Takes back an invite to this folder that nobody used yet.
async fn revoke_invite(cx: Cx<Role>) -> Reply {
    let (folder, _) = model::folder(&cx.caller, &cx.param("folder")?, Access::Manage)?;
    let invite: i64 = cx.param("invite")?;
    if folder.invited.iter().any(|i| i.invite == invite) {
        porch_app::invites::revoke(invite)?;
        model::change_folder(&folder.id, |f| f.invited.retain(|i| i.invite != invite))?;
    }
    web::see_other(&format!("/f/{}/share", folder.id))
}

async fn save_shares(mut cx: Cx<Role>) -> Reply {
    let (folder, _) = model::folder(&cx.caller, &cx.param("folder")?, Access::Manage)?;
    let fields: Vec<(String, String)> = cx.form(MAX_FORM).await?;
    let shares = sharing::from_form(&fields);
    model::change_folder(&folder.id, |f| f.shares = shares.clone())?;
    web::see_other(&format!("/f/{}", folder.id))
}

async fn confirm_delete(cx: Cx<Role>) -> Reply {
    let (folder, _) = model::folder(&cx.caller, &cx.param("folder")?, Access::Manage)?;
    cx.render("delete.html", context! { folder })
}

async fn delete_folder(cx: Cx<Role>) -> Reply {
    let (folder, _) = model::folder(&cx.caller, &cx.param("folder")?, Access::Manage)?;
    model::delete_folder(&folder.id)?;
    web::see_other("/")
}
