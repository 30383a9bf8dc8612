//! starter: a notice board for the family. Everyone given the app reads
//! the notes; writers add them and remove their own. It is what
//! `porch app new` gives an author to start from: roles, routes, a form, a
//! record in kv and templates, nothing else.

use porch_app::{App, Cx, Error, Reply, context, dates, kv, web};
use serde::{Deserialize, Serialize};
use wstd::http::{Body, Request, Response};

porch_app::roles! {
    /// The roles in app.toml, in its order (the build checks they match).
    pub enum Role { Reader = "reader", Writer = "writer" }
}

/// One note, kept in kv as JSON under `notes/<time>-<id>` (so they list in
/// the order they were written).
#[derive(Serialize, Deserialize)]
struct Note {
    id: String,
    text: String,
    author: i64,
    author_name: String,
    at: i64,
}

#[derive(Deserialize)]
struct NoteForm {
    text: String,
}

const MAX_NOTE: usize = 2000;

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, wstd::http::Error> {
    App::<Role>::new("Starter")
        .templates(porch_app::templates!["base.html", "error.html", "index.html"])
        .get("/", index)
        .post("/notes", add)
        .post("/notes/{key}/delete", remove)
        .serve(request)
        .await
}

async fn index(cx: Cx<Role>) -> Reply {
    // The newest 200, newest first; `key` names a note in its address.
    let notes: Vec<_> = kv::list_json_reverse::<Note>("notes/", None, 200)?
        .into_iter()
        .map(|(key, note)| context! { key => key.trim_start_matches("notes/"), note })
        .collect();
    cx.render("index.html", context! { notes, can_write => cx.caller.role >= Role::Writer })
}

async fn add(mut cx: Cx<Role>) -> Reply {
    if cx.caller.role < Role::Writer {
        return Err(Error::Forbidden("Readers read the notes; ask the porch owner to make you a writer.".into()));
    }
    let form: NoteForm = cx.form(16 * 1024).await?;
    let text = form.text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE {
        return Err(Error::Bad(format!("A note is 1 to {MAX_NOTE} characters.")));
    }
    let note = Note {
        id: porch_app::random_id(),
        text: text.to_owned(),
        author: cx.caller.id,
        author_name: cx.caller.name.clone(),
        at: dates::now(),
    };
    kv::put_json(&format!("notes/{:012}-{}", note.at, note.id), &note)?;
    web::see_other("/")
}

async fn remove(cx: Cx<Role>) -> Reply {
    let key = format!("notes/{}", cx.param::<String>("key")?);
    let note: Note = kv::get_json(&key)?.ok_or(Error::NotFound)?;
    if note.author != cx.caller.id && !cx.caller.is_owner {
        return Err(Error::Forbidden("Only the person who wrote a note can remove it.".into()));
    }
    kv::delete(&key)?;
    web::see_other("/")
}
