//! A private network namespace joined to this one by a veth pair, to cut a
//! client's network at the kernel level: with the link down nothing reaches
//! the other side, no ACK and no RST come back, exactly a network that went
//! silent (`tc netem` is not available here; a userspace proxy cannot do
//! this, its kernel keeps acknowledging). The client runs inside the
//! namespace ([`NetNs::command`], through `nsenter`) and connects to
//! [`NetNs::host_ip`], where a [`FaultProxy`](sumac_test_server::fault::FaultProxy)
//! of the test listens and forwards to the server on 127.0.0.1.
//!
//! The namespace belongs to a `sleep` child started by `unshare --net`; the
//! veth pair dies with it. Both are removed when the guard is dropped (the
//! child by PID). Needs root (CAP_NET_ADMIN) and `unshare`, `nsenter`, `ip`.

use crate::support::process::signal_pid;
use crate::support::tools::Tool;
use crate::support::{HarnessError, Result, io_err};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub const UNSHARE: Tool = Tool {
    binary: "unshare",
    package: "util-linux",
};
pub const NSENTER: Tool = Tool {
    binary: "nsenter",
    package: "util-linux",
};
pub const IP: Tool = Tool {
    binary: "ip",
    package: "iproute2",
};
/// Everything [`NetNs`] needs (and root).
pub const NETNS_TOOLS: &[Tool] = &[UNSHARE, NSENTER, IP];

/// Whether this process may create namespaces and links.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A namespace with a veth link to this one.
pub struct NetNs {
    holder: Child,
    host_if: String,
    ns_if: String,
    /// The address of this side (where the namespace's client connects).
    pub host_ip: String,
    /// The address inside the namespace.
    pub ns_ip: String,
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().map_err(io_err(format!("run {cmd:?}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Other(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl NetNs {
    pub fn create() -> Result<NetNs> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let unique = (std::process::id() & 0xffff) * 16 + (n & 0xf);
        // A /30 of 10.222.0.0/16 per namespace, and names ≤ 15 bytes.
        let (a, b) = ((unique >> 6) & 0xff, (unique & 0x3f) * 4);
        let host_ip = format!("10.222.{a}.{}", b + 1);
        let ns_ip = format!("10.222.{a}.{}", b + 2);
        let host_if = format!("sumh{unique:x}");
        let ns_if = format!("sumn{unique:x}");
        let holder = Command::new("unshare")
            .args(["--net", "--", "sleep", "3600"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_err("start `unshare --net sleep`"))?;
        let mut ns = NetNs {
            holder,
            host_if,
            ns_if,
            host_ip,
            ns_ip,
        };
        ns.setup()?;
        Ok(ns)
    }

    fn setup(&mut self) -> Result<()> {
        let pid = self.holder.id().to_string();
        // `unshare` execs `sleep` once the namespace exists: wait for it.
        let start = std::time::Instant::now();
        let own = std::fs::read_link("/proc/self/ns/net").ok();
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == own {
            if start.elapsed() > std::time::Duration::from_secs(5) {
                return Err(HarnessError::Other("the network namespace never appeared".into()));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        run(Command::new("ip").args([
            "link",
            "add",
            &self.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &self.ns_if,
            "netns",
            &pid,
        ]))?;
        run(Command::new("ip").args(["addr", "add", &format!("{}/30", self.host_ip), "dev", &self.host_if]))?;
        run(Command::new("ip").args(["link", "set", &self.host_if, "up"]))?;
        for args in [
            vec!["ip", "addr", "add", &format!("{}/30", self.ns_ip), "dev", &self.ns_if],
            vec!["ip", "link", "set", &self.ns_if, "up"],
            vec!["ip", "link", "set", "lo", "up"],
        ] {
            run(self.command(args[0]).args(&args[1..]))?;
        }
        Ok(())
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.id().to_string(), "-n", "--", program]);
        c
    }

    /// Cuts the link: from now on nothing gets through, silently.
    pub fn cut(&self) -> Result<()> {
        run(self.command("ip").args(["link", "set", &self.ns_if, "down"]))
    }

    /// Restores the link (its route comes back with it).
    pub fn restore(&self) -> Result<()> {
        run(self.command("ip").args(["link", "set", &self.ns_if, "up"]))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(Stdio::null())
            .status();
        signal_pid(self.holder.id(), "KILL");
        let _ = self.holder.wait();
    }
}
