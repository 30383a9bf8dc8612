//! hello: greets the signed-in person by name and counts their visits in
//! kv. The smallest whole app: roles, a route, a record and a template.

use porch_app::{App, Cx, Reply, context, kv};
use wstd::http::{Body, Error, Request, Response};

porch_app::roles! {
    pub enum Role { Visitor = "visitor" }
}

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    App::<Role>::new("Hello")
        .templates(porch_app::templates!["hello.html"])
        .get("/{*anywhere}", home)
        .serve(request)
        .await
}

/// Counts this visit and greets the visitor, at any path (so a link into
/// the app still lands somewhere after signing in).
async fn home(cx: Cx<Role>) -> Reply {
    let key = format!("visits/{}", cx.caller.id);
    let visits = kv::update_json(&key, |n: Option<u64>| Some(n.unwrap_or(0) + 1))?;
    cx.render("hello.html", context! { visits })
}
