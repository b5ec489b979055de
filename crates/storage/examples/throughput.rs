//! Upload and download throughput of one blob through a storage backend, and this process's
//! peak memory: the numbers of `bench/storage.sh` (docs/benchmarks.md, "Storage").
//!
//! The backend is configured like the service, with `MP3C_STORAGE__*` variables; `SIZE_MIB`
//! (default 1024) sets the blob's size. Prints one line of JSON.

use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use mp3converter_storage::{StorageConfig, build};

const MIB: usize = 1024 * 1024;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let settings: serde_json::Map<String, serde_json::Value> = std::env::vars()
        .filter_map(|(var, value)| {
            let key = var.strip_prefix("MP3C_STORAGE__")?.to_ascii_lowercase();
            Some((key, value.into()))
        })
        .collect();
    let config: StorageConfig =
        serde_json::from_value(settings.into()).expect("MP3C_STORAGE__* settings");
    let size_mib: usize = std::env::var("SIZE_MIB").map_or(1024, |s| s.parse().expect("SIZE_MIB"));
    let store = build(&config).expect("storage");
    store
        .health_check()
        .await
        .expect("the backend is reachable");

    // 1 MiB pieces of the same (non-repeating within a piece) data: the body costs no memory.
    let piece: Bytes = (0..MIB)
        .map(|i| (i * 7 % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let body = stream::iter((0..size_mib).map(move |_| Ok(piece.clone()))).boxed();
    let key = format!("bench/throughput-{}", std::process::id());

    let started = Instant::now();
    let put = store.put_stream(&key, body, None).await.expect("put");
    let put_secs = started.elapsed().as_secs_f64();
    assert_eq!(put.size, (size_mib * MIB) as u64);

    let started = Instant::now();
    let read = store
        .get(&key)
        .await
        .expect("get")
        .body
        .try_fold(0u64, |n, chunk| async move { Ok(n + chunk.len() as u64) })
        .await
        .expect("reading");
    let get_secs = started.elapsed().as_secs_f64();
    assert_eq!(read, put.size);
    store.delete(&key).await.expect("delete");

    let peak_rss_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "backend": format!("{:?}", config.backend).to_lowercase(),
            "size_mib": size_mib,
            "put_mib_s": (size_mib as f64 / put_secs * 10.0).round() / 10.0,
            "get_mib_s": (size_mib as f64 / get_secs * 10.0).round() / 10.0,
            "client_peak_rss_mib": peak_rss_kib / 1024,
        })
    );
}
