//! nginx (Debian's package) in front of several `mapagov serve` processes, as a deployment puts
//! a load balancer in front of its instances: round robin, no sticky sessions, WebSocket
//! upgrades passed on, and the proxy settings of `deploy/nginx.conf` (the README's example).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nginx.
pub struct Nginx {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Child,
    dir: tempfile::TempDir,
}

/// The nginx binary: on `PATH`, or where Debian puts it.
fn binary() -> PathBuf {
    let on_path = Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status();
    if on_path.is_ok_and(|s| s.success()) {
        return PathBuf::from("nginx");
    }
    let debian = PathBuf::from("/usr/sbin/nginx");
    assert!(
        debian.is_file(),
        "nginx is missing: install Debian's `nginx` package (scripts/test does, as root)"
    );
    debian
}

/// The repository's example configuration, with its upstream servers and its listening
/// address replaced.
fn site(upstreams: &[&str], port: u16) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf");
    let text = std::fs::read_to_string(&example).expect("read deploy/nginx.conf");
    let servers: String = upstreams
        .iter()
        .map(|base| {
            let address = base.trim_start_matches("http://");
            format!("    server {address};\n")
        })
        .collect();
    let mut out = String::new();
    let mut in_upstream = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("upstream ") {
            in_upstream = true;
            out.push_str(line);
            out.push('\n');
            out.push_str(&servers);
            continue;
        }
        if in_upstream && trimmed.starts_with("server ") {
            continue;
        }
        if trimmed == "}" {
            in_upstream = false;
        }
        if trimmed.starts_with("listen ") {
            out.push_str(&format!("    listen 127.0.0.1:{port};\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

impl Nginx {
    /// Starts nginx in the foreground, balancing over `upstreams` (`http://host:port` each), and
    /// waits until it answers `/healthz`.
    pub async fn start(upstreams: &[&str]) -> Nginx {
        let dir = tempfile::tempdir().expect("nginx dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let root = dir.path().display();
        // As root, workers would run as `nobody` and could not write the temp folders here.
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let user = if is_root { "user root;" } else { "" };
        let config = format!(
            "daemon off;\nworker_processes 1;\n{user}\npid {root}/nginx.pid;\n\
             error_log {root}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log {root}/access.log;\n\
             client_body_temp_path {root}/client_body;\n  proxy_temp_path {root}/proxy;\n\
             fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n\
             scgi_temp_path {root}/scgi;\n{}\n}}\n",
            site(upstreams, port)
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config).expect("write nginx.conf");
        let child = Command::new(binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&file)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = Nginx {
            base: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        for _ in 0..100 {
            let up = reqwest::get(format!("{}/healthz", nginx.base)).await;
            if up.is_ok_and(|r| r.status() == 200) {
                return nginx;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nginx did not come up:\n{}", nginx.error_log());
    }

    /// What nginx logged, for failure messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers too (SIGKILL would leave them listening).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
