//! hello: greets the signed-in person by name, counts their visits in kv,
//! and counts the hourly job porch runs. The smallest whole app: roles, a
//! route, a record, a template and a scheduled job.

use porch_app::{App, Cx, Job, Reply, context, kv, web};
use wstd::http::{Body, Error, Request, Response};

porch_app::roles! {
    pub enum Role { Visitor = "visitor" }
}

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    App::<Role>::new("Hello")
        .templates(porch_app::templates!["hello.html"])
        .get("/{*anywhere}", home)
        .job("stretch", stretch)
        .serve(request)
        .await
}

/// Counts this visit and greets the visitor, at any path (so a link into
/// the app still lands somewhere after signing in).
async fn home(cx: Cx<Role>) -> Reply {
    let key = format!("visits/{}", cx.caller.id);
    let visits = kv::update_json(&key, |n: Option<u64>| Some(n.unwrap_or(0) + 1))?;
    let jobs: u64 = kv::get_json("jobs")?.unwrap_or(0);
    cx.render("hello.html", context! { visits, jobs })
}

/// The hourly job: counts that it ran.
async fn stretch(_job: Job) -> Reply {
    kv::update_json("jobs", |n: Option<u64>| Some(n.unwrap_or(0) + 1))?;
    web::text(200, "stretched")
}
