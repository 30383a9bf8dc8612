//! bare: the smallest `wasi:http` hello world. It imports nothing from
//! porch, so the same component runs under porch's gate and under
//! `wasmtime serve`; `benches/compare` measures the two side by side.

use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(_request: Request<Body>) -> Result<Response<Body>, Error> {
    Ok(Response::builder().header("content-type", "text/plain; charset=utf-8").body("Hello, world!\n".into())?)
}
