//! `repo serve DIR`: a directory served as a chart repository over plain HTTP. The index
//! is `DIR/index.yaml` when there is one, else built from the `.tgz` files at each
//! request (so charts copied in appear at once). Only GET and HEAD of files directly in
//! or below DIR are answered; paths that climb out are refused.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use super::index::IndexFile;
use crate::Error;

/// Binds `addr` and serves `dir` until the process ends; `ready` gets the bound address.
pub fn serve(dir: &Path, addr: &str, ready: impl FnOnce(SocketAddr)) -> Result<(), Error> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| Error::Repo(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Repo(format!("cannot listen on {addr}: {e}")))?;
    ready(local);
    for stream in listener.incoming().flatten() {
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = answer(&dir, stream);
        });
    }
    Ok(())
}

/// The file under `dir` a request path names, if it stays inside.
fn resolve(dir: &Path, path: &str) -> Option<PathBuf> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut out = dir.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == ".." || part == "." || part.contains('\\') {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

fn answer(dir: &Path, stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("/");
    let (code, content_type, body) = match method {
        "GET" | "HEAD" => response(dir, path),
        _ => (405, "text/plain", b"method not allowed\n".to_vec()),
    };
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(&body)?;
    }
    out.flush()
}

fn response(dir: &Path, path: &str) -> (u16, &'static str, Vec<u8>) {
    let not_found = (404, "text/plain", b"not found\n".to_vec());
    let Some(file) = resolve(dir, path) else {
        return not_found;
    };
    if file == dir.join("index.yaml") && !file.exists() {
        return match IndexFile::from_dir(dir, "") {
            Ok(idx) => (200, "application/x-yaml", idx.to_yaml().into_bytes()),
            Err(e) => (500, "text/plain", format!("{e}\n").into_bytes()),
        };
    }
    if !file.is_file() {
        return not_found;
    }
    let kind = if path.ends_with(".yaml") {
        "application/x-yaml"
    } else if path.ends_with(".tgz") {
        "application/gzip"
    } else {
        "application/octet-stream"
    };
    match std::fs::read(&file) {
        Ok(b) => (200, kind, b),
        Err(_) => not_found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_directory() {
        let d = Path::new("/srv/charts");
        assert_eq!(resolve(d, "/a-1.0.0.tgz"), Some(d.join("a-1.0.0.tgz")));
        assert_eq!(resolve(d, "/sub/x.tgz?x=1"), Some(d.join("sub/x.tgz")));
        assert_eq!(resolve(d, "/../etc/passwd"), None);
        assert_eq!(resolve(d, "/a/../../b"), None);
    }
}
