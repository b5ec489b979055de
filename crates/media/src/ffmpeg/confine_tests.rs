//! Tests of the child's confinement, through the same spawn path ffmpeg takes ([`Run`]): what a
//! child can read, write, see in its environment and reach on the network.
//!
//! What this kernel supports decides what is asserted: with Landlock, a read outside the input is
//! refused with EACCES; without it, the run must say it was not confined (the warning path).

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use landlock::{ABI, Access, AccessFs, AccessNet, Compatible, Ruleset, RulesetAttr};

use super::sandbox::{Finished, Limits, Run};
use super::*;

/// True when this kernel enforces Landlock (asked independently of the code under test).
fn kernel_has_landlock(abi: ABI, net: bool) -> bool {
    let ruleset = Ruleset::default()
        .set_compatibility(landlock::CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi));
    let ruleset = match (ruleset, net) {
        (Ok(r), true) => r.handle_access(AccessNet::from_all(abi)),
        (r, _) => r,
    };
    ruleset.and_then(|r| r.create()).is_ok()
}

/// Runs `program args` confined to reading `reads` and writing `writes`; returns the run's end
/// and its stdout.
fn run_confined(
    program: &str,
    args: &[&str],
    reads: &[&Path],
    writes: &[&Path],
) -> (Finished, String) {
    let config = EngineConfig::default();
    let timeout = Duration::from_secs(30);
    let run = Run {
        program: Path::new(program),
        args: args.iter().map(OsString::from).collect(),
        timeout,
        limits: Limits::new(&config, timeout),
        temp_parent: None,
        reads,
        writes,
    };
    let mut stdout = Vec::new();
    let finished = run
        .run(Control::none(), &mut |line| {
            stdout.extend_from_slice(line);
            Ok(())
        })
        .unwrap();
    (finished, String::from_utf8_lossy(&stdout).into_owned())
}

#[test]
fn the_child_reads_its_input_but_not_a_file_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.mp4");
    let secret = dir.path().join("other-users-audio.mp3");
    std::fs::write(&input, "the upload\n").unwrap();
    std::fs::write(&secret, "another user's audio\n").unwrap();

    let (ok, out) = run_confined("cat", &[input.to_str().unwrap()], &[&input], &[]);
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(out, "the upload\n");

    let (denied, out) = run_confined("cat", &[secret.to_str().unwrap()], &[&input], &[]);
    if kernel_has_landlock(ABI::V1, false) {
        assert!(denied.confined.landlock);
        assert!(!denied.status.success() && out.is_empty(), "{denied:?}");
        assert!(
            denied.stderr_tail.contains("Permission denied"),
            "EACCES: {}",
            denied.stderr_tail
        );
        // /etc beyond the loader's cache is out of reach too.
        let (etc, _) = run_confined("cat", &["/etc/passwd"], &[], &[]);
        assert!(etc.stderr_tail.contains("Permission denied"), "{etc:?}");
    } else {
        eprintln!("this kernel has no Landlock: checking the unconfined (warning) path");
        assert!(!denied.confined.landlock);
    }
}

#[test]
fn the_child_writes_only_its_temp_dir_and_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp3.part");
    std::fs::write(&output, "").unwrap();
    let beside = dir.path().join("planted");
    let script = format!(
        "echo scratch > \"$TMPDIR/scratch\" && cat \"$TMPDIR/scratch\"\n\
         echo audio > '{out}' && echo wrote-output\n\
         echo evil > '{beside}' && echo wrote-beside\n\
         exit 0",
        out = output.display(),
        beside = beside.display(),
    );
    let (finished, out) = run_confined("sh", &["-c", &script], &[], &[&output]);
    assert!(finished.status.success(), "{finished:?}");
    assert!(
        out.contains("scratch\n") && out.contains("wrote-output"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "audio\n");
    if finished.confined.landlock {
        assert!(!out.contains("wrote-beside"), "{out}");
        assert!(!beside.exists());
    } else {
        eprintln!("this kernel has no Landlock: writes are not confined");
    }
}

#[test]
fn the_child_environment_holds_only_path_locale_and_tmpdir() {
    // `cargo test` runs this binary with CARGO_* variables (and the service would have its
    // secrets there): none may reach the child.
    assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO")));
    let (finished, out) = run_confined("env", &[], &[], &[]);
    assert!(finished.status.success(), "{finished:?}");
    let mut keys: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["LC_ALL", "PATH", "TMPDIR"], "{out}");
}

#[test]
fn the_child_cannot_reach_the_network() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let (finished, out) = run_confined("bash", &["-c", &script], &[], &[]);
    let isolated = finished.confined.net != confine::NetIsolation::Unavailable
        || (finished.confined.landlock && kernel_has_landlock(ABI::V4, true));
    if isolated {
        assert!(!out.contains("connected"), "{finished:?}");
        assert!(
            listener.accept().is_err(),
            "no connection reached the listener"
        );
    } else {
        eprintln!("no network namespace and no Landlock TCP rules here: the warning path");
        assert_eq!(finished.confined.net, confine::NetIsolation::Unavailable);
    }
}

#[test]
fn real_ffmpeg_cannot_open_a_second_input_even_past_the_whitelists() {
    let config = EngineConfig::default();
    if !available(&config) {
        eprintln!("skipping: ffmpeg not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.mp3");
    let other = dir.path().join("other.mp3");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/media/mp3-cbr.mp3");
    std::fs::copy(&fixture, &input).unwrap();
    std::fs::copy(&fixture, &other).unwrap();
    // No whitelist on this command line: only the sandbox stands in the way.
    let args = [
        "-nostdin",
        "-v",
        "error",
        "-i",
        input.to_str().unwrap(),
        "-i",
        other.to_str().unwrap(),
        "-f",
        "null",
        "-",
    ];
    let (finished, _) = run_confined("ffmpeg", &args, &[&input], &[]);
    if finished.confined.landlock {
        assert!(!finished.status.success());
        assert!(
            finished.stderr_tail.contains("Permission denied"),
            "{}",
            finished.stderr_tail
        );
    } else {
        eprintln!("this kernel has no Landlock: the second input is not refused by the sandbox");
    }
    // With only the input, the same confined ffmpeg works.
    let one = [
        "-nostdin",
        "-v",
        "error",
        "-i",
        input.to_str().unwrap(),
        "-f",
        "null",
        "-",
    ];
    let (alone, _) = run_confined("ffmpeg", &one, &[&input], &[]);
    assert!(alone.status.success(), "{}", alone.stderr_tail);
}
