//! hello: greets the signed-in person by name and counts their visits in kv.

use porch_app::{Caller, escape_html, kv};
use wstd::http::{Body, Error, Request, Response, StatusCode};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let Some(caller) = Caller::from_headers(request.headers()) else {
        return Ok(Response::builder().status(StatusCode::UNAUTHORIZED).body("who are you?".into())?);
    };
    let key = format!("visits/{}", caller.id);
    let before = match kv::get(&key) {
        Ok(v) => v.and_then(|b| String::from_utf8(b).ok()).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0),
        Err(e) => {
            return Ok(Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).body(e.to_string().into())?);
        }
    };
    let visits = before + 1;
    if let Err(e) = kv::set(&key, visits.to_string().as_bytes()) {
        return Ok(Response::builder().status(StatusCode::INSUFFICIENT_STORAGE).body(e.to_string().into())?);
    }
    let name = escape_html(&caller.name);
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Hello</title></head>\
         <body><h1 id=\"greeting\">Hello, {name}!</h1><p id=\"visits\">This is visit number {visits}.</p></body></html>"
    );
    Ok(Response::builder().header("content-type", "text/html; charset=utf-8").body(page.into())?)
}
