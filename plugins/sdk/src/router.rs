//! Routing: each route is a method and a path pattern such as
//! `/a/{album}/p/{photo}`, and its handler gets a [`Cx`] with the request,
//! the caller and the path's parts, read as the types the handler asks for.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use wstd::http::{Body, Method, Request};

use std::rc::Rc;

use crate::caller::{Caller, Role};
use crate::templates::Templates;
use crate::web::{Error, Reply};

type Handler<R> = Box<dyn Fn(Cx<R>) -> Pin<Box<dyn Future<Output = Reply>>>>;

/// Routes, tried in the order they were added.
pub struct Router<R: Role> {
    routes: Vec<(Method, Vec<Part>, Handler<R>)>,
}

enum Part {
    Literal(String),
    Param(String),
    /// `{*rest}`: the remaining segments, joined by `/`.
    Rest(String),
}

impl<R: Role> Default for Router<R> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<R: Role + 'static> Router<R> {
    /// No routes yet.
    pub fn new() -> Router<R> {
        Router::default()
    }

    /// Adds a route. `pattern` is a path such as `/a/{album}/p/{photo}`;
    /// `{name}` matches one segment, `{*name}` the rest of the path.
    pub fn route<F, Fut>(mut self, method: Method, pattern: &str, handler: F) -> Router<R>
    where
        F: Fn(Cx<R>) -> Fut + 'static,
        Fut: Future<Output = Reply> + 'static,
    {
        let parts = segments(pattern)
            .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_prefix('*') {
                    Some(rest) => Part::Rest(rest.to_owned()),
                    None => Part::Param(name.to_owned()),
                },
                None => Part::Literal(s.to_owned()),
            })
            .collect();
        self.routes.push((method, parts, Box::new(move |cx| Box::pin(handler(cx)))));
        self
    }

    /// A GET (and HEAD) route.
    pub fn get<F, Fut>(self, pattern: &str, handler: F) -> Router<R>
    where
        F: Fn(Cx<R>) -> Fut + 'static,
        Fut: Future<Output = Reply> + 'static,
    {
        self.route(Method::GET, pattern, handler)
    }

    /// A POST route.
    pub fn post<F, Fut>(self, pattern: &str, handler: F) -> Router<R>
    where
        F: Fn(Cx<R>) -> Fut + 'static,
        Fut: Future<Output = Reply> + 'static,
    {
        self.route(Method::POST, pattern, handler)
    }

    /// Runs the first route that matches; 404 when none does (and 405 when
    /// only the method differs). HEAD is answered by the GET route.
    pub(crate) async fn dispatch(&self, request: Request<Body>, caller: Caller<R>, templates: Rc<Templates>) -> Reply {
        let path = request.uri().path().to_owned();
        let got: Vec<&str> = segments(&path).collect();
        let method = if request.method() == Method::HEAD { Method::GET } else { request.method().clone() };
        let mut other_method = false;
        for (m, parts, handler) in &self.routes {
            let Some(params) = matches(parts, &got) else { continue };
            if *m != method {
                other_method = true;
                continue;
            }
            return handler(Cx { request, caller, params, templates }).await;
        }
        if other_method {
            Err(Error::Bad("This address does not take that kind of request.".into()))
        } else {
            Err(Error::NotFound)
        }
    }
}

/// `context` plus `me`, the caller, for every page.
pub(crate) fn with_me<R: Role, S: serde::Serialize>(caller: &Caller<R>, context: S) -> minijinja::Value {
    let me = minijinja::context! {
        id => caller.id,
        name => caller.name,
        role => caller.role.name(),
        is_owner => caller.is_owner,
    };
    minijinja::context! { me, ..minijinja::Value::from_serialize(&context) }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn matches(parts: &[Part], got: &[&str]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Literal(l) => {
                if got.get(i) != Some(&l.as_str()) {
                    return None;
                }
            }
            Part::Param(name) => params.push((name.clone(), decode(got.get(i)?)?)),
            Part::Rest(name) => {
                let rest: Vec<String> = got.get(i..)?.iter().map(|s| decode(s)).collect::<Option<_>>()?;
                params.push((name.clone(), rest.join("/")));
                return Some(params);
            }
        }
    }
    (parts.len() == got.len()).then_some(params)
}

fn decode(segment: &str) -> Option<String> {
    let bytes: Vec<u8> = percent_encoding::percent_decode(segment.as_bytes()).collect();
    String::from_utf8(bytes).ok()
}

/// One request as a handler sees it.
pub struct Cx<R: Role> {
    /// The request as the app received it (porch's identity headers set).
    pub request: Request<Body>,
    /// Who is calling, with their role in this app.
    pub caller: Caller<R>,
    params: Vec<(String, String)>,
    templates: Rc<Templates>,
}

impl<R: Role> Cx<R> {
    /// The path part `name` as a `T` (an id type, a number). One that does
    /// not parse is [`Error::NotFound`]: no such thing at that address.
    pub fn param<T: FromStr>(&self, name: &str) -> Result<T, Error> {
        self.params.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.parse().ok()).ok_or(Error::NotFound)
    }

    /// The query string as `T` (see [`crate::query`]).
    pub fn query<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        crate::web::query(&self.request)
    }

    /// The form body as `T`, at most `limit` bytes (see [`crate::form`]).
    pub async fn form<T: serde::de::DeserializeOwned>(&mut self, limit: usize) -> Result<T, Error> {
        crate::web::form(&mut self.request, limit).await
    }

    /// The template `name` as an HTML page, with `context` and `me` (the
    /// caller: `me.name`, `me.role`, `me.is_owner`) to fill it.
    pub fn render<S: serde::Serialize>(&self, name: &str, context: S) -> Reply {
        self.templates.render(name, with_me(&self.caller, context))
    }

    /// The templates, for text that is not a whole page.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.headers().get(name).and_then(|v| v.to_str().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &str) -> Vec<Part> {
        segments(p)
            .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(n) if n.starts_with('*') => Part::Rest(n[1..].to_owned()),
                Some(n) => Part::Param(n.to_owned()),
                None => Part::Literal(s.to_owned()),
            })
            .collect()
    }

    #[test]
    fn patterns_match_whole_paths_and_decode_their_parts() {
        let p = parts("/a/{album}/p/{photo}");
        let got = matches(&p, &["a", "x%20y", "p", "7"]).expect("matches");
        assert_eq!(got, vec![("album".into(), "x y".into()), ("photo".into(), "7".into())]);
        assert!(matches(&p, &["a", "x", "p"]).is_none());
        assert!(matches(&p, &["a", "x", "p", "7", "more"]).is_none());
        assert!(matches(&p, &["b", "x", "p", "7"]).is_none());
        let rest = parts("/f/{*path}");
        assert_eq!(matches(&rest, &["f", "a", "b"]), Some(vec![("path".into(), "a/b".into())]));
        assert!(matches(&parts("/"), &[]).is_some());
    }
}
