//! [`App`]: an app's routes and templates, and what every request goes
//! through: who is calling, the route, and a failure turned into a page.

use std::future::Future;
use std::rc::Rc;

use wstd::http::{Body, Method, Request, Response};

use crate::caller::{Caller, Role};
use crate::router::{Cx, Router, with_me};
use crate::templates::Templates;
use crate::web::{Error, Reply};

/// An app: its name (for pages), roles `R`, routes and templates.
///
/// ```ignore
/// #[wstd::http_server]
/// async fn main(request: Request<Body>) -> Result<Response<Body>, wstd::http::Error> {
///     App::<Role>::new("Hello")
///         .templates(porch_app::templates!["hello.html"])
///         .get("/", home)
///         .serve(request)
///         .await
/// }
/// ```
pub struct App<R: Role + 'static> {
    name: &'static str,
    router: Router<R>,
    templates: Templates,
    jobs: Vec<(String, JobHandler)>,
}

type JobHandler = Box<dyn Fn(Job) -> std::pin::Pin<Box<dyn Future<Output = Reply>>>>;

/// One run of a scheduled trigger (`[schedule]` in `app.toml`): porch
/// sends it with no caller, under the app's usual limits.
pub struct Job {
    /// The trigger's name in `app.toml`.
    pub name: String,
    /// The request porch sent (`POST` to the trigger's path).
    pub request: Request<Body>,
}

impl<R: Role + 'static> App<R> {
    /// An app called `name` (shown on its pages), with no routes yet.
    pub fn new(name: &'static str) -> App<R> {
        App { name, router: Router::new(), templates: Templates::new(&[]), jobs: Vec::new() }
    }

    /// The app's templates (see [`templates!`](crate::templates)).
    pub fn templates(mut self, templates: Templates) -> App<R> {
        self.templates = templates;
        self
    }

    /// A route for `method`; see [`Router::route`] for patterns.
    pub fn route<F, Fut>(mut self, method: Method, pattern: &str, handler: F) -> App<R>
    where
        F: Fn(Cx<R>) -> Fut + 'static,
        Fut: Future<Output = Reply> + 'static,
    {
        self.router = self.router.route(method, pattern, handler);
        self
    }

    /// A GET (and HEAD) route; see [`Router::route`] for patterns.
    pub fn get<F, Fut>(self, pattern: &str, handler: F) -> App<R>
    where
        F: Fn(Cx<R>) -> Fut + 'static,
        Fut: Future<Output = Reply> + 'static,
    {
        self.route(Method::GET, pattern, handler)
    }

    /// A POST route; see [`Router::route`] for patterns.
    pub fn post<F, Fut>(self, pattern: &str, handler: F) -> App<R>
    where
        F: Fn(Cx<R>) -> Fut + 'static,
        Fut: Future<Output = Reply> + 'static,
    {
        self.route(Method::POST, pattern, handler)
    }

    /// What to do when porch runs the scheduled trigger `name` (declared in
    /// `app.toml`'s `[schedule]`). Only porch can send these: it removes
    /// every `porch-*` header from what visitors send.
    pub fn job<F, Fut>(mut self, name: &str, handler: F) -> App<R>
    where
        F: Fn(Job) -> Fut + 'static,
        Fut: Future<Output = Reply> + 'static,
    {
        self.jobs.push((name.to_owned(), Box::new(move |job| Box::pin(handler(job)))));
        self
    }

    /// Answers one request: a scheduled trigger's job; else 401 without a
    /// caller porch vouched for, the route's answer, or the failure as a
    /// page (the app's `error.html` with `status`, `title` and `message`,
    /// else a plain one). A script that asks for JSON (`Accept:
    /// application/json`) gets the failure as `{"ok": false, "error": ...}`
    /// with the same status instead.
    pub async fn serve(self, request: Request<Body>) -> Result<Response<Body>, wstd::http::Error> {
        let trigger = request.headers().get("porch-trigger").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(name) = trigger {
            let Some((_, handler)) = self.jobs.iter().find(|(n, _)| *n == name) else {
                let message = format!("{} has no job called {name}", self.name);
                return Ok(Response::builder().status(404).body(message.into())?);
            };
            return match handler(Job { name, request }).await {
                Ok(response) => Ok(response),
                Err(e) => Ok(Response::builder().status(e.status()).body(e.message().into())?),
            };
        }
        let Some(caller) = Caller::<R>::from_headers(request.headers()) else {
            let message = format!("porch did not say who you are; open {} from porch.", self.name);
            return Ok(Response::builder()
                .status(401)
                .header("content-type", "text/plain; charset=utf-8")
                .body(message.into())?);
        };
        let wants_json = request
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.trim_start().starts_with("application/json"));
        let templates = Rc::new(self.templates);
        let answer = self.router.dispatch(request, caller.clone(), templates.clone()).await;
        match answer {
            Ok(response) => Ok(response),
            Err(e) if wants_json => {
                let body = serde_json::json!({ "ok": false, "error": e.message(), "status": e.status() });
                Ok(Response::builder()
                    .status(e.status())
                    .header("content-type", "application/json")
                    .header("cache-control", "no-store")
                    .body(body.to_string().into())?)
            }
            Err(e) => Ok(error_page(self.name, &templates, &caller, &e)?),
        }
    }
}

fn error_page<R: Role>(
    app: &str,
    templates: &Templates,
    caller: &Caller<R>,
    e: &Error,
) -> Result<Response<Body>, http::Error> {
    let status = e.status();
    let title = if status == 404 { "Not found" } else { "That did not work" };
    let message = e.message();
    let page = templates
        .has("error.html")
        .then(|| templates.render_text("error.html", with_me(caller, minijinja::context! { status, title, message })).ok())
        .flatten()
        .unwrap_or_else(|| {
            let mut env = minijinja::Environment::new();
            env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
            env.render_str(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{{ app }}</title></head>\
                 <body><main><h1>{{ title }}</h1><p id=\"error\">{{ message }}</p><p><a href=\"/\">Back to {{ app }}</a></p></main></body></html>",
                minijinja::context! { app, title, message },
            )
            .unwrap_or_default()
        });
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(page.into())
}
