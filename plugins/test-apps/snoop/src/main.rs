//! snoop: tries to read a host file and open a network connection. porch
//! links neither filesystem nor sockets, so it must refuse to install this.

use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(_request: Request<Body>) -> Result<Response<Body>, Error> {
    let file = std::fs::read_to_string("/etc/passwd").map(|s| s.len());
    let socket = std::net::TcpStream::connect("127.0.0.1:22").map(|_| ());
    Ok(Response::new(format!("file: {file:?}, socket: {socket:?}").into()))
}
