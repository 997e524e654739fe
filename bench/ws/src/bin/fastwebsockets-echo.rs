//! An echo server on fastwebsockets, written as that library's own echo example writes one:
//! hyper answers the HTTP upgrade, each WebSocket is a task that reads a frame and writes it
//! back (one write per message), with a `FragmentCollector` so that fragmented messages come
//! back whole, on a current_thread tokio runtime (the benchmark pins the server to one core).
//!
//! ```text
//! cargo run --release -p ws-bench --bin fastwebsockets-echo -- --addr 127.0.0.1:0
//! ```

use clap::Parser;
use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use ws_bench::{raise_fd_limit, ServerCli};

/// Echo every text and binary message until the peer closes (the library answers pings and
/// close frames itself).
async fn echo(upgraded: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(upgraded.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

/// hyper's service: answer the upgrade with a 101 and start the echo task on the upgraded
/// connection.
async fn on_request(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgraded) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        // As the library's example does: let the echo loop run without tokio's cooperative
        // budget, which would otherwise yield every 128 operations.
        if let Err(e) = tokio::task::unconstrained(echo(upgraded)).await {
            eprintln!("websocket: {e}");
        }
    });
    Ok(response)
}

fn main() -> anyhow::Result<()> {
    let cli = ServerCli::parse();
    raise_fd_limit()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(cli.addr).await?;
        println!("listening on ws://{}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let conn = http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service_fn(on_request))
                    .with_upgrades();
                if let Err(e) = conn.await {
                    eprintln!("http: {e}");
                }
            });
        }
    })
}
