//! echo: a plain `wasi:http` component that imports nothing from porch. It
//! answers with the method, path, every header and the body length it got,
//! so tests can see exactly what porch passes to apps.

use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(mut request: Request<Body>) -> Result<Response<Body>, Error> {
    let mut out = format!("{} {}\n", request.method(), request.uri().path_and_query().map_or("/", |p| p.as_str()));
    for (name, value) in request.headers() {
        out.push_str(&format!("{}: {}\n", name, String::from_utf8_lossy(value.as_bytes())));
    }
    let body = request.body_mut().contents().await;
    match body {
        Ok(bytes) => out.push_str(&format!("body-length: {}\n", bytes.len())),
        Err(e) => out.push_str(&format!("body-error: {e}\n")),
    }
    Ok(Response::builder().header("content-type", "text/plain; charset=utf-8").body(out.into())?)
}
