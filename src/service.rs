//! `porch install-service`: the systemd unit for a home box or a VPS, and
//! (run as root) the few steps that put it in place. porch runs as its own
//! unprivileged user; `CAP_NET_BIND_SERVICE` is the only privilege it keeps,
//! for ports 80, 443 and 53. The rest of the unit takes away what porch never
//! needs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where things go on the box.
#[derive(Debug, Clone)]
pub struct Layout {
    pub user: String,
    pub binary: PathBuf,
    pub config: PathBuf,
    /// Under `/var/lib`, made by systemd (`StateDirectory`).
    pub data: PathBuf,
    /// Extra folders porch writes to (a scheduled backup's disk).
    pub writable: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error(
        "installing the service needs root: run `sudo porch install-service`, or `porch install-service --print` to see the unit"
    )]
    NotRoot,
    #[error("the data folder must be under /var/lib (systemd makes and owns it there), not {0}")]
    DataOutsideVarLib(PathBuf),
    #[error("{what}: {detail}")]
    Step { what: String, detail: String },
}

impl Layout {
    /// The systemd state directory name (`/var/lib/<name>`).
    fn state_dir(&self) -> Result<String, ServiceError> {
        self.data
            .strip_prefix("/var/lib")
            .ok()
            .and_then(|p| p.to_str())
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ServiceError::DataOutsideVarLib(self.data.clone()))
    }

    /// The unit file's text.
    pub fn unit(&self) -> Result<String, ServiceError> {
        let state = self.state_dir()?;
        let writable: String =
            self.writable.iter().map(|p| format!("ReadWritePaths=-{}\n", p.display())).collect::<Vec<_>>().concat();
        Ok(format!(
            "# Written by `porch install-service`. Check it with `systemd-analyze verify porch.service`.
[Unit]
Description=porch, the family's private front door
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
User={user}
Group={user}
ExecStart={binary} --config {config} --data {data} serve
Restart=on-failure
RestartSec=5s
# porch drains connections for limits.shutdown_grace (30 s) on SIGTERM.
TimeoutStopSec=45s
LimitNOFILE=65536
StateDirectory={state}
StateDirectoryMode=0700
UMask=0077
{writable}
# The one privilege kept: binding ports below 1024 (80, 443, 53).
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes

# The file system is read-only except the data folder (and the backup folder).
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
# Netlink: dns.address_source = \"interface:...\" reads interface addresses.
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
# Not MemoryDenyWriteExecute: wasmtime compiles apps to machine code at run time.

[Install]
WantedBy=multi-user.target
",
            user = self.user,
            binary = self.binary.display(),
            config = self.config.display(),
            data = self.data.display(),
        ))
    }
}

fn run(what: &str, program: &str, args: &[&str]) -> Result<(), ServiceError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| ServiceError::Step { what: what.to_owned(), detail: format!("cannot run {program}: {e}") })?;
    if !out.status.success() {
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(ServiceError::Step { what: what.to_owned(), detail });
    }
    Ok(())
}

fn step(what: &str, e: std::io::Error) -> ServiceError {
    ServiceError::Step { what: what.to_owned(), detail: e.to_string() }
}

/// Puts the service in place: the user, the binary, a config file if there is
/// none, the unit; then enables and starts it unless `start` is false.
/// Returns what it did, line by line.
pub fn install(
    layout: &Layout,
    current_binary: &Path,
    example_config: &str,
    start: bool,
) -> Result<Vec<String>, ServiceError> {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if !root {
        return Err(ServiceError::NotRoot);
    }
    let unit = layout.unit()?;
    let mut done = Vec::new();
    let exists = Command::new("id").arg(&layout.user).output().is_ok_and(|o| o.status.success());
    if !exists {
        let home = layout.data.display().to_string();
        run(
            "creating the user",
            "useradd",
            &[
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                &home,
                "--shell",
                "/usr/sbin/nologin",
                &layout.user,
            ],
        )?;
        done.push(format!("created the system user {}", layout.user));
    }
    if current_binary != layout.binary {
        if let Some(dir) = layout.binary.parent() {
            std::fs::create_dir_all(dir).map_err(|e| step("creating the binary's folder", e))?;
        }
        let temp = layout.binary.with_extension("new");
        std::fs::copy(current_binary, &temp).map_err(|e| step("copying porch", e))?;
        std::fs::rename(&temp, &layout.binary).map_err(|e| step("copying porch", e))?;
        done.push(format!("copied porch to {}", layout.binary.display()));
    }
    if !layout.config.exists() {
        if let Some(dir) = layout.config.parent() {
            std::fs::create_dir_all(dir).map_err(|e| step("creating the config folder", e))?;
        }
        // Owner root, group porch, 0640: the file may come to hold
        // acme.eab_hmac_key, and other local users have no business reading
        // it (review finding L10).
        write_private(&layout.config, example_config.as_bytes()).map_err(|e| step("writing the config file", e))?;
        let config = layout.config.display().to_string();
        run("giving the config file to porch's group", "chgrp", &[&layout.user, &config])?;
        done.push(format!("wrote {} (every setting explained; set domain and tls)", layout.config.display()));
    }
    let unit_path = Path::new("/etc/systemd/system/porch.service");
    std::fs::write(unit_path, unit).map_err(|e| step("writing the unit", e))?;
    done.push(format!("wrote {}", unit_path.display()));
    run("reloading systemd", "systemctl", &["daemon-reload"])?;
    if start {
        run("starting porch", "systemctl", &["enable", "--now", "porch.service"])?;
        done.push("enabled and started porch.service (journalctl -u porch -f shows its log)".into());
    } else {
        run("enabling porch", "systemctl", &["enable", "porch.service"])?;
        done.push("enabled porch.service; start it with `systemctl start porch`".into());
    }
    Ok(done)
}

/// Writes a new file readable by its owner and group only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o640).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            user: "porch".into(),
            binary: "/usr/local/bin/porch".into(),
            config: "/etc/porch/porch.toml".into(),
            data: "/var/lib/porch".into(),
            writable: vec!["/media/usb/porch-backups".into()],
        }
    }

    #[test]
    fn the_unit_keeps_only_the_low_ports_privilege() {
        let unit = layout().unit().expect("unit");
        for line in [
            "User=porch",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "StateDirectory=porch",
            "ReadWritePaths=-/media/usb/porch-backups",
            "ExecStart=/usr/local/bin/porch --config /etc/porch/porch.toml --data /var/lib/porch serve",
        ] {
            assert!(unit.lines().any(|l| l == line), "missing {line}\n{unit}");
        }
        assert!(!unit.lines().any(|l| l.starts_with("MemoryDenyWriteExecute")), "wasmtime needs W^X toggles");
    }

    #[test]
    fn data_must_live_under_var_lib() {
        let mut l = layout();
        l.data = "/home/me/porch-data".into();
        assert!(matches!(l.unit(), Err(ServiceError::DataOutsideVarLib(_))));
    }
}
