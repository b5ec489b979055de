//! A minimal SMTP capture server for tests: speaks enough of RFC 5321 over real TCP on
//! 127.0.0.1:0 (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for lettre to deliver to
//! it, and records each message with its envelope and login.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Accept every message.
    Accept,
    /// Answer `RCPT` with 550 (permanent failure).
    RejectRecipient,
    /// Answer `RCPT` with 451 (transient failure).
    DeferRecipient,
    /// Accept TCP connections but never send the greeting (a hung server).
    Silent,
}

/// One message received over SMTP.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpt_to: Vec<String>,
    /// `(user, password)` from `AUTH PLAIN`, if the client logged in.
    pub auth: Option<(String, String)>,
    /// The message as sent after `DATA`, dot-unstuffed, with CRLF line ends.
    pub data: Vec<u8>,
}

/// A running capture server; stops when dropped.
#[derive(Debug)]
pub struct SmtpCapture {
    /// Where it listens.
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Captured>>>,
    task: JoinHandle<()>,
}

impl SmtpCapture {
    /// Starts a server on 127.0.0.1 with a free port.
    pub async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        let task = tokio::spawn(async move {
            // Sessions live in this set, so stopping the server also ends them.
            let mut sessions = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                sessions.spawn(session(stream, mode, store.clone()));
            }
        });
        Self {
            addr,
            messages,
            task,
        }
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Captured> {
        self.messages.lock().unwrap().clone()
    }
}

impl Drop for SmtpCapture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, mode: Mode, messages: Arc<Mutex<Vec<Captured>>>) {
    if mode == Mode::Silent {
        let _hold = stream;
        return std::future::pending().await;
    }
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut current = Captured::default();
    let mut auth = None;
    let mut line = Vec::new();
    if writer.write_all(b"220 capture ESMTP\r\n").await.is_err() {
        return;
    }
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command.to_ascii_uppercase();
        let reply = if verb.starts_with("EHLO") {
            "250-capture\r\n250-AUTH PLAIN\r\n250 8BITMIME".to_owned()
        } else if verb.starts_with("HELO") || verb == "NOOP" {
            "250 ok".to_owned()
        } else if let Some(encoded) = verb.strip_prefix("AUTH PLAIN ").map(|_| &command[11..]) {
            auth = decode_plain(encoded);
            "235 2.7.0 authenticated".to_owned()
        } else if verb.starts_with("MAIL FROM:") {
            current = Captured {
                mail_from: between_angles(&command),
                ..Captured::default()
            };
            "250 ok".to_owned()
        } else if verb.starts_with("RCPT TO:") {
            match mode {
                Mode::RejectRecipient => "550 5.1.1 no such user".to_owned(),
                Mode::DeferRecipient => "451 4.3.0 try again later".to_owned(),
                _ => {
                    current.rcpt_to.push(between_angles(&command));
                    "250 ok".to_owned()
                }
            }
        } else if verb == "DATA" {
            if writer
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let Some(data) = read_data(&mut reader).await else {
                return;
            };
            current.data = data;
            current.auth = auth.clone();
            messages.lock().unwrap().push(std::mem::take(&mut current));
            "250 2.0.0 queued".to_owned()
        } else if verb == "RSET" {
            current = Captured::default();
            "250 ok".to_owned()
        } else if verb == "QUIT" {
            let _ = writer.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 5.5.2 command not recognized".to_owned()
        };
        if writer
            .write_all(format!("{reply}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Reads the message after `DATA` up to the lone `.` line, undoing dot-stuffing.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" {
            return Some(data);
        }
        let unstuffed = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}

fn between_angles(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_owned()
}

/// `base64("\0user\0password")` → `(user, password)`.
fn decode_plain(encoded: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(base64_decode(encoded)?).ok()?;
    let mut parts = decoded.split('\0').skip(1);
    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.trim().bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
