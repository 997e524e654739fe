//! An echo server on tokio-tungstenite, written as that library's own echo example writes one:
//! `accept_async` does the handshake, then the stream of incoming messages, text and binary
//! only, is forwarded into the sink (tungstenite answers pings and close frames itself). The
//! example uses tokio's multi-thread runtime; this one runs on a current_thread runtime, since
//! the benchmark pins each server to one core.
//!
//! ```text
//! cargo run --release -p ws-bench --bin tungstenite-echo -- --addr 127.0.0.1:0
//! ```

use clap::Parser;
use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use ws_bench::{raise_fd_limit, ServerCli};

async fn echo(stream: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let ws = tokio_tungstenite::accept_async(stream).await?;
    let (write, read) = ws.split();
    read.try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(write)
        .await
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
                if let Err(e) = echo(stream).await {
                    eprintln!("websocket: {e}");
                }
            });
        }
    })
}
