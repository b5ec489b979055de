//! A TCP proxy a test controls, to make a dependency (database, S3, SMTP, RabbitMQ) unreachable
//! without stopping it: while down, it cuts every connection through it and closes new ones at
//! once, as a stopped server would; up, it passes them through again.

use std::net::SocketAddr;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running proxy; stops (and cuts its connections) when dropped.
#[derive(Debug)]
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Where it forwards to (`host:port`).
    pub upstream: String,
    up: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1 with a free port and forwards to `upstream` (`host:port`). Needs a
    /// tokio runtime (it is not async so that it can be called from a config callback).
    pub fn start(upstream: &str) -> Proxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy port");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("proxy addr");
        let listener = TcpListener::from_std(std_listener).expect("tokio listener");
        let (up, _) = watch::channel(true);
        let state = up.clone();
        let target = upstream.to_owned();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *state.borrow() {
                    tokio::spawn(pipe(client, target.clone(), state.subscribe()));
                }
            }
        });
        Proxy {
            addr,
            upstream: upstream.to_owned(),
            up,
            task,
        }
    }

    /// Cuts every connection and refuses new ones.
    pub fn down(&self) {
        self.up.send_replace(false);
    }

    /// Lets connections through again.
    pub fn up(&self) {
        self.up.send_replace(true);
    }

    /// `url` with its `host:port` replaced by this proxy's address.
    pub fn rewrite(&self, url: &str) -> String {
        url.replacen(&self.upstream, &self.addr.to_string(), 1)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
        self.task.abort();
    }
}

async fn pipe(mut client: TcpStream, upstream: String, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
    // Both sockets close here, as when a server goes away.
}

/// The `host:port` of a URL such as `mysql://root@127.0.0.1:3306/db`, `smtp://127.0.0.1:25?x`
/// or `http://127.0.0.1:8014`.
pub fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    host_port.contains(':').then(|| host_port.to_owned())
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_port_of_each_service_url() {
        let cases = [
            ("mysql://root@127.0.0.1:3306/test", "127.0.0.1:3306"),
            ("postgres://postgres@127.0.0.1:5432/x", "127.0.0.1:5432"),
            ("amqp://guest:guest@127.0.0.1:5672/%2f", "127.0.0.1:5672"),
            ("http://127.0.0.1:8014", "127.0.0.1:8014"),
            ("smtp://127.0.0.1:40000?tls=none", "127.0.0.1:40000"),
        ];
        for (url, want) in cases {
            assert_eq!(host_port(url).as_deref(), Some(want), "{url}");
        }
    }
}
