//! `chunks`: one long job split into chunk tasks (issue 16's figures). Three runs of the same
//! input on fresh clusters (RabbitMQ, MariaDB or PostgreSQL, S3), each converter running one
//! conversion on one thread:
//!
//! 1. one converter — wall time from upload accepted to `done`, CPU of every process;
//! 2. two converters — the same (budget: ≤ 0.6× the wall time of run 1);
//! 3. two converters, one of them SIGKILLed once the job passes `--kill-at` (default 0.8) —
//!    total CPU of every process, the killed one included (budget: ≤ 1.15× run 2), and the
//!    audio byte-identical to run 2's.
//!
//! Also prints what a model of more converters needs: chunks, chunk time and join time, from
//! the converters' logs (`bench/chunks-model.py` turns them into the table in
//! docs/benchmarks.md).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mp3converter_testkit::cluster::{Cluster, Process};
use sha2::{Digest, Sha256};

use crate::Args;

/// What one run measured.
#[derive(Debug)]
struct Run {
    wall: Duration,
    cpu_secs: f64,
    sha256: String,
    bytes: usize,
    chunks_logged: usize,
    /// Seconds each chunk task spent encoding, planning took, the join took (from the logs).
    encode_secs: Vec<f64>,
    plan_secs: f64,
    join_secs: f64,
}

/// The values of `field=…` in `log`.
fn logged(log: &str, field: &str) -> Vec<f64> {
    let key = format!("{field}=");
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find(&key)? + key.len()..];
            rest.split([' ', ','])
                .next()?
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .collect()
}

/// CPU seconds (user + system) a live process has used, from `/proc/PID/stat`.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

fn processes(cluster: &Cluster) -> Vec<&Process> {
    let mut all = vec![&cluster.auth, &cluster.gateway, &cluster.notifier];
    all.extend(cluster.converters.iter().flatten());
    all
}

/// Makes `minutes` of music-like audio (a chord with a swell, a beat, pink noise) as Ogg
/// Vorbis at about 160 kb/s, with ffmpeg: five synthesised minutes, looped.
fn make_input(dir: &Path, minutes: u32) -> anyhow::Result<PathBuf> {
    let piece = dir.join("piece.flac");
    let graph = "aevalsrc='(0.25*sin(2*PI*220*t)+0.2*sin(2*PI*277.2*t)\
         +0.15*sin(2*PI*(329.6+8*sin(0.4*t))*t))*(0.6+0.4*sin(2*PI*0.25*t))\
         +0.5*exp(-30*mod(t,0.5))*sin(2*PI*60*t)\
         |(0.2*sin(2*PI*330*t)+0.2*sin(2*PI*165*t))*(0.6+0.4*cos(2*PI*0.3*t))'\
         :s=44100:d=300[a];\
         anoisesrc=color=pink:amplitude=0.04:seed=7:r=44100:d=300,\
         aformat=channel_layouts=stereo[n];[a][n]amix=inputs=2:normalize=0";
    ffmpeg(&["-filter_complex", graph, "-c:a", "flac"], &piece)?;
    let path = dir.join(format!("concert-{minutes}min.ogg"));
    let loops = (minutes.div_ceil(5) - 1).to_string();
    let secs = (minutes * 60).to_string();
    let args = [
        "-stream_loop",
        &loops,
        "-i",
        piece.to_str().unwrap_or_default(),
        "-t",
        &secs,
        "-c:a",
        "libvorbis",
        "-b:a",
        "160k",
        "-metadata",
        "title=Concert",
    ];
    ffmpeg(&args, &path)?;
    Ok(path)
}

fn ffmpeg(args: &[&str], output: &Path) -> anyhow::Result<()> {
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(args)
        .arg("-y")
        .arg(output)
        .status()
        .context("ffmpeg makes the input")?;
    if !status.success() {
        bail!("ffmpeg could not make {}", output.display());
    }
    Ok(())
}

async fn run_once(
    args: &Args,
    input: &Path,
    converters: usize,
    kill_at: Option<f64>,
) -> anyhow::Result<Run> {
    let settings = [
        ("MP3C_CONVERTER__CONCURRENCY", "1"),
        ("MP3C_CONVERTER__ENGINE__THREADS", "1"),
        ("MP3C_CONVERTER__SPLIT_MIN_SECS", "600"),
        ("RUST_LOG", "info"),
    ];
    let Some(mut cluster) =
        Cluster::start_with_settings(&args.bin, &args.db_var, converters, &settings, |_, _| None)
            .await
    else {
        bail!("the environment lacks a service (see above)");
    };
    let token = cluster.user("chunks@example.com").await;
    let before: f64 = processes(&cluster).iter().map(|p| cpu_secs(p.pid())).sum();
    let id = cluster.upload(&token, input).await;
    let started = Instant::now();
    let mut killed_cpu = 0.0;
    let mut pending_kill = kill_at;
    loop {
        let job = cluster.job(&token, &id).await;
        match job["state"].as_str() {
            Some("done") => break,
            Some("failed") => bail!("the job failed: {job}"),
            _ => {}
        }
        let progress = job["progress"].as_f64().unwrap_or(0.0);
        if let Some(at) = pending_kill.filter(|at| progress >= *at) {
            let victim = cluster.converters[0].as_mut().context("converter 0")?;
            killed_cpu = cpu_secs(victim.pid());
            victim.kill();
            println!(
                "  killed converter 0 at {:.0} % ({killed_cpu:.1} s CPU)",
                at * 100.0
            );
            pending_kill = None;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("not done within an hour: {job}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = started.elapsed();
    let after: f64 = processes(&cluster).iter().map(|p| cpu_secs(p.pid())).sum();
    let audio = cluster
        .http
        .get(cluster.url(&format!("/download?fid={id}")))
        .bearer_auth(&token)
        .send()
        .await?
        .bytes()
        .await?;
    let logs: String = processes(&cluster).iter().map(|p| p.log_text()).collect();
    let chunks_logged = logs.matches("chunk stored").count();
    let encode_secs = logged(&logs, "encode_secs");
    let plan_secs = logged(&logs, "plan_secs").iter().sum();
    let join_secs = logged(&logs, "join_secs").iter().sum();
    let sha256 = Sha256::digest(&audio)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    cluster.shutdown().await;
    Ok(Run {
        wall,
        cpu_secs: after - before + killed_cpu,
        sha256,
        bytes: audio.len(),
        chunks_logged,
        encode_secs,
        plan_secs,
        join_secs,
    })
}

pub async fn run(args: &Args) -> anyhow::Result<bool> {
    let minutes = args.jobs.unwrap_or(60) as u32;
    let kill_at = args.kill_at;
    let dir = tempfile::tempdir()?;
    println!("chunks: making {minutes} minutes of music-like Ogg Vorbis");
    let input = make_input(dir.path(), minutes)?;
    let mut runs = Vec::new();
    for (converters, kill) in [(1, None), (2, None), (2, Some(kill_at))] {
        println!(
            "run: {converters} converter(s){}",
            kill.map_or(String::new(), |k| format!(
                ", one killed at {:.0} %",
                k * 100.0
            ))
        );
        let run = run_once(args, &input, converters, kill).await?;
        println!(
            "  wall {:.1} s, CPU {:.1} s, {} chunk tasks stored, {} bytes, sha256 {}",
            run.wall.as_secs_f64(),
            run.cpu_secs,
            run.chunks_logged,
            run.bytes,
            &run.sha256[..16]
        );
        runs.push(run);
    }
    let (one, two, killed) = (&runs[0], &runs[1], &runs[2]);
    let wall_ratio = two.wall.as_secs_f64() / one.wall.as_secs_f64();
    let cpu_ratio = killed.cpu_secs / two.cpu_secs;
    let identical = one.sha256 == two.sha256 && two.sha256 == killed.sha256;
    println!("| figure | measured | budget |");
    println!("|---|---|---|");
    println!("| wall, 2 converters / 1 | {wall_ratio:.2}× | ≤ 0.6× |");
    println!(
        "| CPU, kill at {:.0} % / clean | {cpu_ratio:.2}× | ≤ 1.15× |",
        kill_at * 100.0
    );
    println!("| audio identical in all three runs | {identical} | true |");
    // What bench/chunks-model.py needs, from the clean one-converter run.
    let tasks = one.encode_secs.len().max(1) as f64;
    let chunk = one.encode_secs.iter().sum::<f64>() / tasks;
    let overhead = (one.wall.as_secs_f64() - one.plan_secs - one.join_secs) / tasks - chunk;
    println!(
        "model inputs: --audio-min {minutes} --chunks {} --chunk-secs {chunk:.3} \
         --task-overhead-secs {overhead:.3} --plan-secs {:.2} --join-secs {:.2} \
         --measured-1 {:.1} --measured-2 {:.1}",
        one.encode_secs.len(),
        one.plan_secs,
        one.join_secs,
        one.wall.as_secs_f64(),
        two.wall.as_secs_f64()
    );
    Ok(identical && wall_ratio <= 0.6 && cpu_ratio <= 1.15)
}
