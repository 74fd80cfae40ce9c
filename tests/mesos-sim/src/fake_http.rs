//! A small loopback HTTP/1.1 server for the fakes of Marathon and an SDK scheduler: whole
//! request in, whole answer out, or no answer at all (a hung server).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
}

/// `None`: the connection is held open and never answered.
pub(crate) type Handler = Arc<dyn Fn(&Req) -> Option<(u16, String)> + Send + Sync>;

/// The accept loop; dropping it stops the server and its connections.
pub(crate) struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn serve(handler: Handler) -> std::io::Result<Server> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            while conns.try_join_next().is_some() {}
            let handler = handler.clone();
            conns.spawn(async move {
                let svc = service_fn(move |req: hyper::Request<Incoming>| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(answer(req, handler).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(Server { addr, task })
}

async fn answer(req: hyper::Request<Incoming>, handler: Handler) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let _ = body.collect().await;
    let r = Req {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        authorization: parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    match handler(&r) {
        Some((status, body)) => hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("valid response"),
        None => std::future::pending().await,
    }
}

/// Whether `authorization` carries the credentials `auth` asks for (none asked: always).
pub(crate) fn authorized(auth: &crate::SimAuth, authorization: Option<&str>) -> bool {
    use base64::Engine as _;
    match auth {
        crate::SimAuth::None => true,
        crate::SimAuth::Basic { principal, secret } => {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{secret}"))
            );
            authorization == Some(want.as_str())
        }
        crate::SimAuth::Token(t) => authorization == Some(format!("token={t}").as_str()),
    }
}
