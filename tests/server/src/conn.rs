//! One connection of the test server: link, then the channel's behaviour.

use crate::migration::{MigrationFinish, MigrationMode, SeamlessPhase, TargetMode, migrate_data_blob, migrate_flags};
use crate::{Fault, Inner, Received};
use anyhow::{Context, Result, bail};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use sumac::connector::acceptor::{AcceptEvent, ServerLink};
use sumac::proto::base::{Message, ServerBase};
use sumac::proto::caps::{self, Caps};
use sumac::proto::channel::display::DisplayServer;
use sumac::proto::channel::main::{ChannelId, MainInit, MainServer, msgc as main_msgc};
use sumac::proto::consts::msgc as base_msgc;
use sumac::proto::consts::{ChannelType, LinkErr, mouse_mode};
use sumac::proto::frame::{DataHeader, HeaderKind};
use sumac::proto::{ReadCursor, WriteCursor};

enum Conn {
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush(),
            Self::Tls(s) => s.flush(),
            #[cfg(unix)]
            Self::Unix(s) => s.flush(),
        }
    }
}

impl Conn {
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_read_timeout(d),
            Self::Tls(s) => s.sock.set_read_timeout(d),
            #[cfg(unix)]
            Self::Unix(s) => s.set_read_timeout(d),
        }
    }
    fn shutdown(&self) {
        let _ = match self {
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
            Self::Tls(s) => s.sock.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Self::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

pub(crate) fn accept_loop(inner: Arc<Inner>, listener: TcpListener, tls: bool) -> Result<JoinHandle<()>> {
    Ok(std::thread::Builder::new()
        .name("test-server-accept".into())
        .spawn(move || {
            let mut conns: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
            for stream in listener.incoming() {
                if inner.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let Ok(killer) = stream.try_clone() else { continue };
                let inner2 = Arc::clone(&inner);
                let h = std::thread::spawn(move || {
                    let conn = if tls {
                        let Some(cfg) = inner2.tls.clone() else { return };
                        let Ok(sc) = rustls::ServerConnection::new(cfg) else {
                            return;
                        };
                        Conn::Tls(Box::new(rustls::StreamOwned::new(sc, stream)))
                    } else {
                        Conn::Tcp(stream)
                    };
                    if let Err(e) = serve(&inner2, conn, tls) {
                        tracing::debug!("test server connection ended: {e:#}");
                    }
                });
                conns.push((killer, h));
            }
            for (k, h) in conns {
                let _ = k.shutdown(Shutdown::Both);
                let _ = h.join();
            }
        })?)
}

#[cfg(unix)]
pub(crate) fn accept_unix_loop(
    inner: Arc<Inner>,
    listener: std::os::unix::net::UnixListener,
) -> Result<JoinHandle<()>> {
    Ok(std::thread::Builder::new()
        .name("test-server-unix".into())
        .spawn(move || {
            let mut conns = Vec::new();
            for stream in listener.incoming() {
                if inner.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let Ok(killer) = stream.try_clone() else { continue };
                let inner2 = Arc::clone(&inner);
                let h = std::thread::spawn(move || {
                    if let Err(e) = serve(&inner2, Conn::Unix(stream), false) {
                        tracing::debug!("test server connection ended: {e:#}");
                    }
                });
                conns.push((killer, h));
            }
            for (k, h) in conns {
                let _ = k.shutdown(Shutdown::Both);
                let _ = h.join();
            }
        })?)
}

fn server_caps(inner: &Inner, ty: ChannelType) -> Caps {
    let mut common = vec![caps::common::PROTOCOL_AUTH_SELECTION, caps::common::AUTH_SPICE];
    if inner.config.mini_header {
        common.push(caps::common::MINI_HEADER);
    }
    let channel = match ty {
        ChannelType::MAIN => {
            let mut c = vec![
                caps::main::NAME_AND_UUID,
                caps::main::AGENT_CONNECTED_TOKENS,
                caps::main::SEMI_SEAMLESS_MIGRATE,
            ];
            if inner.config.seamless_cap {
                c.push(caps::main::SEAMLESS_MIGRATE);
            }
            c
        }
        ChannelType::INPUTS if inner.config.inputs.scancode_cap => vec![caps::inputs::KEY_SCANCODE],
        ChannelType::DISPLAY => vec![
            caps::display::MONITORS_CONFIG,
            caps::display::PREF_COMPRESSION,
            caps::display::STREAM_REPORT,
        ],
        ChannelType::PLAYBACK if inner.config.audio.opus => vec![caps::playback::VOLUME, caps::playback::OPUS],
        ChannelType::PLAYBACK => vec![caps::playback::VOLUME],
        ChannelType::RECORD if inner.config.audio.opus => vec![caps::record::VOLUME, caps::record::OPUS],
        ChannelType::RECORD => vec![caps::record::VOLUME],
        _ => vec![],
    };
    Caps::new(&common, &channel)
}

/// Link, record, then run the channel.
fn serve(inner: &Arc<Inner>, mut conn: Conn, tls: bool) -> Result<()> {
    if inner.config.fault == Some(Fault::SilentLink) {
        // Read whatever comes, answer nothing, until the client gives up.
        conn.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut sink = [0u8; 256];
        while !inner.stop.load(std::sync::atomic::Ordering::Relaxed) {
            match conn.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        inner.record().closed.push((ChannelType(0), 0));
        return Ok(());
    }
    let mut link = ServerLink::new(inner.key.clone())?;
    let (header, mess) = loop {
        let mut buf = vec![0u8; link.wants()];
        conn.read_exact(&mut buf).context("reading link data")?;
        match link.step(&buf)? {
            AcceptEvent::Continue => {}
            AcceptEvent::LinkMess(m) => {
                if inner.config.fault == Some(Fault::TruncatedLinkReply) {
                    let reply = link.accept(server_caps(inner, m.channel_type), None)?;
                    conn.write_all(&reply[..10])?;
                    conn.flush()?;
                    conn.shutdown();
                    return Ok(());
                }
                let refuse = if !tls && inner.config.need_secured.contains(&m.channel_type) {
                    Some(LinkErr::NeedSecured)
                } else if tls && inner.config.need_unsecured.contains(&m.channel_type) {
                    Some(LinkErr::NeedUnsecured)
                } else if (m.channel_type != ChannelType::MAIN || m.connection_id != 0)
                    && m.connection_id != inner.session_id
                {
                    Some(LinkErr::BadConnectionId)
                } else {
                    None
                };
                if let Some(e) = refuse {
                    conn.write_all(&link.reject(e))?;
                    conn.flush()?;
                    inner.record().refused += 1;
                    return Ok(());
                }
                let pw = inner.config.password.as_ref().map(|p| p.as_bytes().to_vec());
                conn.write_all(&link.accept(server_caps(inner, m.channel_type), pw)?)?;
                conn.flush()?;
            }
            AcceptEvent::Done { send, header, client } => {
                conn.write_all(&send)?;
                conn.flush()?;
                break (header, client);
            }
            AcceptEvent::AuthFailed { send } => {
                conn.write_all(&send)?;
                conn.flush()?;
                inner.record().refused += 1;
                return Ok(());
            }
        }
    };
    let key = (mess.channel_type, mess.channel_id);
    {
        let mut rec = inner.record();
        rec.linked.push((key.0, key.1, tls));
        rec.connection_ids.push(mess.connection_id);
    }
    conn.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut ch = Channel {
        inner: Arc::clone(inner),
        conn,
        header,
        key,
        serial: 0,
        inbuf: Vec::new(),
        client_caps: mess.caps,
        seamless: SeamlessPhase::None,
    };
    let r = match key.0 {
        ChannelType::MAIN if mess.connection_id != 0 => ch.run_main_target(),
        ChannelType::MAIN => ch.run_main(),
        ChannelType::DISPLAY => ch.run_display(),
        ChannelType::CURSOR => ch.run_cursor(),
        ChannelType::INPUTS => ch.run_inputs(),
        ChannelType::PORT | ChannelType::WEBDAV => ch.run_port(),
        ChannelType::SMARTCARD => ch.run_smartcard(),
        ChannelType::USBREDIR => ch.run_usbredir(),
        ChannelType::PLAYBACK => ch.run_playback(),
        ChannelType::RECORD => ch.run_record(),
        _ => ch.run_idle(),
    };
    ch.conn.shutdown();
    inner.record().closed.push(key);
    r
}

struct Channel {
    inner: Arc<Inner>,
    conn: Conn,
    header: HeaderKind,
    key: (ChannelType, u8),
    serial: u64,
    inbuf: Vec<u8>,
    client_caps: Caps,
    /// (migration source) This channel's seamless hand-over.
    seamless: SeamlessPhase,
}

impl Channel {
    fn send_raw(&mut self, msg_type: u16, body: &[u8]) -> Result<()> {
        self.serial += 1;
        let bytes = sumac::proto::frame::encode_message(self.header, self.serial, msg_type, body);
        self.conn.write_all(&bytes)?;
        self.conn.flush()?;
        Ok(())
    }

    fn send<M: Message>(&mut self, m: &M) -> Result<()> {
        let body = m.to_body();
        self.send_raw(m.msg_type(), &body)
    }

    /// Reads what is available (up to the read timeout) and returns complete messages.
    fn poll(&mut self) -> Result<Vec<(u16, Vec<u8>)>> {
        if self.inner.stop.load(Ordering::SeqCst) {
            bail!("server stopping");
        }
        if self.seamless == SeamlessPhase::None && self.inner.migration.seamless_go() {
            // Seamless migration (source): MIGRATE with this channel's flags.
            let flags = migrate_flags(self.key.0);
            self.send(&MainServer::Base(ServerBase::Migrate { flags }))?;
            self.seamless = if flags & sumac::channel::migration::NEED_FLUSH != 0 {
                SeamlessPhase::AwaitingFlush
            } else {
                self.send_migrate_data(flags)?;
                SeamlessPhase::Sent
            };
        }
        let mut buf = [0u8; 64 * 1024];
        match self.conn.read(&mut buf) {
            Ok(0) => bail!("client closed {:?}", self.key),
            Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.into()),
        }
        let mut out = Vec::new();
        let hl = self.header.header_len();
        loop {
            if self.inbuf.len() < hl {
                break;
            }
            let h = DataHeader::decode(self.header, &mut ReadCursor::new(&self.inbuf[..hl]), 1 << 24)?;
            let total = hl + h.size as usize;
            if self.inbuf.len() < total {
                break;
            }
            let body = self.inbuf[hl..total].to_vec();
            self.inbuf.drain(..total);
            self.inner.record().received.push(Received {
                channel: self.key,
                msg_type: h.msg_type,
                body: body.clone(),
            });
            if h.msg_type == base_msgc::MIGRATE_FLUSH_MARK && self.seamless == SeamlessPhase::AwaitingFlush {
                self.send_migrate_data(migrate_flags(self.key.0))?;
                self.seamless = SeamlessPhase::Sent;
            }
            out.push((h.msg_type, body));
        }
        Ok(out)
    }

    fn send_migrate_data(&mut self, flags: u32) -> Result<()> {
        if flags & sumac::channel::migration::NEED_DATA_TRANSFER != 0 {
            let blob = migrate_data_blob(self.key);
            self.send(&MainServer::Base(ServerBase::MigrateData(blob)))?;
        }
        Ok(())
    }

    /// After a seamless hand-over the source sends nothing more.
    fn handed_over(&self) -> bool {
        self.seamless == SeamlessPhase::Sent
    }

    /// The channel's fault: it closes now (after serving its first content).
    /// Sends a PING of `size` bytes (id 7, zeros after the timestamp)
    /// without holding it: the header, then 1 MiB at a time.
    fn stream_ping(&mut self, size: u32) -> Result<()> {
        self.serial += 1;
        let mut w = WriteCursor::new();
        DataHeader {
            serial: self.serial,
            msg_type: sumac::proto::consts::msg::PING,
            size,
            sub_list: 0,
        }
        .encode(self.header, &mut w);
        w.write_slice(&7u32.to_le_bytes());
        w.write_slice(&42u64.to_le_bytes());
        self.conn.write_all(w.as_slice())?;
        let chunk = vec![0u8; 1 << 20];
        let mut left = (size as usize).saturating_sub(12);
        while left > 0 {
            let n = left.min(chunk.len());
            self.conn.write_all(&chunk[..n])?;
            left -= n;
        }
        self.conn.flush()?;
        Ok(())
    }

    fn close_fault(&self) -> Result<()> {
        if self.inner.config.fault == Some(Fault::CloseChannel(self.key.0)) {
            std::thread::sleep(Duration::from_millis(300));
            bail!("fault: {:?} closes", self.key);
        }
        Ok(())
    }

    fn run_inputs(&mut self) -> Result<()> {
        let config = self.inner.config.inputs;
        self.send(&crate::inputs::InputsState::init_message(&config))?;
        self.close_fault()?;
        loop {
            for (ty, body) in self.poll()? {
                for reply in self.inner.inputs.on_client_message(&config, ty, &body) {
                    self.send(&reply)?;
                }
            }
            for m in self.inner.inputs.take_outgoing() {
                self.send(&m)?;
            }
        }
    }

    /// A VMC channel: PORT_INIT if a spec names it, then the client's data
    /// recorded and the test's queue sent.
    fn run_port(&mut self) -> Result<()> {
        if let Some(Fault::PortHugePing(size)) = self.inner.config.fault {
            self.stream_ping(size)?;
        }
        let spec = self.inner.config.ports.iter().find(|p| p.channel == self.key).cloned();
        if let Some(spec) = spec {
            self.send(&sumac::proto::channel::vmc::VmcServer::PortInit {
                name: spec.name.into_bytes(),
                opened: spec.opened,
            })?;
        }
        self.inner.ports.linked(self.key, true);
        let r = (|| loop {
            for (ty, body) in self.poll()? {
                self.inner.ports.on_client_message(self.key, ty, &body);
            }
            for o in self.inner.ports.take_outgoing(self.key) {
                let (ty, body) = o.encode();
                self.send_raw(ty, &body)?;
            }
        })();
        self.inner.ports.linked(self.key, false);
        r
    }

    /// The smartcard channel: spice-server's answers to the client's VSCard messages.
    fn run_smartcard(&mut self) -> Result<()> {
        loop {
            for (ty, body) in self.poll()? {
                for reply in self.inner.smartcard.on_client_message(ty, &body) {
                    self.send(&reply)?;
                }
            }
            for (ty, body) in self.inner.smartcard.take_outgoing() {
                self.send_raw(ty, &body)?;
            }
        }
    }

    fn run_usbredir(&mut self) -> Result<()> {
        use crate::usbredir::{GuestView, UsbStep};
        use sumac::proto::channel::vmc::{msg as server, msgc as client};
        let script = self.inner.config.usbredir.clone();
        let mut view = GuestView::new();
        for step in script {
            match step {
                UsbStep::Send(bytes) => self.send_raw(server::DATA, &bytes)?,
                UsbStep::SendZeros(mut left) => {
                    let chunk = vec![0u8; 1 << 20];
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        self.send_raw(server::DATA, &chunk[..n])?;
                        left -= n as u64;
                        // Keep reading, so that a client writing to us never blocks on us.
                        self.usbredir_poll(&mut view, client::DATA)?;
                    }
                }
                UsbStep::Await(ty) => {
                    let deadline = std::time::Instant::now() + Duration::from_secs(30);
                    while !self.usbredir_poll(&mut view, client::DATA)?.contains(&ty) {
                        if std::time::Instant::now() > deadline {
                            bail!("usbredir: packet type {ty} never came");
                        }
                    }
                }
                UsbStep::Close => return Ok(()),
            }
        }
        loop {
            self.usbredir_poll(&mut view, client::DATA)?;
        }
    }

    /// Reads the client's usbredir packets; returns (and records) their types.
    fn usbredir_poll(&mut self, view: &mut crate::usbredir::GuestView, data_type: u16) -> Result<Vec<u32>> {
        for (ty, body) in self.poll()? {
            if ty == data_type {
                view.feed(&body);
            }
        }
        let new: Vec<u32> = std::mem::take(&mut view.seen);
        let id = self.key.1;
        self.inner.record().usbredir.extend(new.iter().map(|&t| (id, t)));
        Ok(new)
    }

    fn run_playback(&mut self) -> Result<()> {
        for m in &self.inner.config.audio.playback_script.clone() {
            self.send(m)?;
        }
        loop {
            self.poll()?;
            for m in self.inner.audio.take_playback(10) {
                self.send(&m)?;
            }
        }
    }

    fn run_record(&mut self) -> Result<()> {
        for m in &self.inner.config.audio.record_script.clone() {
            self.send(m)?;
        }
        loop {
            for (ty, body) in self.poll()? {
                self.inner.audio.on_record_message(ty, &body);
            }
            for m in self.inner.audio.take_record() {
                self.send(&m)?;
            }
        }
    }

    fn run_idle(&mut self) -> Result<()> {
        loop {
            self.poll()?;
        }
    }

    fn run_main(&mut self) -> Result<()> {
        if self.inner.config.fault == Some(Fault::SilentMain) {
            return self.run_idle();
        }
        self.main_init()?;
        self.main_loop()
    }

    /// A main link carrying this server's session id: the destination of a migration.
    fn run_main_target(&mut self) -> Result<()> {
        loop {
            for (ty, body) in self.poll()? {
                match ty {
                    main_msgc::MIGRATE_DST_DO_SEAMLESS => {
                        if self.inner.config.refuse_seamless {
                            self.send(&MainServer::MigrateDstSeamlessNack)?;
                        } else {
                            self.inner.migration.set_target(TargetMode::Seamless);
                            self.send(&MainServer::MigrateDstSeamlessAck)?;
                        }
                    }
                    // Semi-seamless: the session starts over here.
                    main_msgc::MIGRATE_END => {
                        self.inner.migration.set_target(TargetMode::SemiSeamless);
                        self.main_init()?;
                        return self.main_loop();
                    }
                    // Seamless: it continues here, without MAIN_INIT.
                    base_msgc::MIGRATE_DATA => {
                        tracing::debug!("migration target: main MIGRATE_DATA {} bytes", body.len());
                        return self.main_loop();
                    }
                    _ => {}
                }
            }
        }
    }

    fn main_init(&mut self) -> Result<()> {
        self.send(&MainServer::Base(ServerBase::SetAck {
            generation: 1,
            window: 4,
        }))?;
        let (agent_connected, agent_tokens) = self.inner.agent.init();
        self.send(&MainServer::Init(MainInit {
            session_id: self.inner.session_id,
            display_channels_hint: 1,
            supported_mouse_modes: mouse_mode::SERVER | mouse_mode::CLIENT,
            current_mouse_mode: if self.inner.config.client_mouse {
                mouse_mode::CLIENT
            } else {
                mouse_mode::SERVER
            },
            agent_connected: u32::from(agent_connected),
            agent_tokens,
            multi_media_time: self.inner.mm_time(),
            ram_hint: 0,
        }))?;
        if self.client_caps.channel.has(caps::main::NAME_AND_UUID) {
            self.send(&MainServer::Name(self.inner.config.name.as_bytes().to_vec()))?;
            self.send(&MainServer::Uuid(*b"sumac-test-uuid!"))?;
        }
        self.send(&MainServer::Base(ServerBase::Ping {
            id: 1,
            timestamp: 42,
            data: vec![0; 16],
        }))?;
        if self.inner.config.fault == Some(Fault::MainHugeMessage) {
            let mut w = WriteCursor::new();
            DataHeader {
                serial: 99,
                msg_type: 109,
                size: u32::MAX,
                sub_list: 0,
            }
            .encode(self.header, &mut w);
            self.conn.write_all(w.as_slice())?;
            self.conn.write_all(&[0u8; 100])?;
            self.conn.flush()?;
        }
        Ok(())
    }

    fn main_loop(&mut self) -> Result<()> {
        let mut finish = None;
        loop {
            if let Some(order) = self.inner.migration.take_order() {
                finish = self.start_migration(order)?;
            }
            for (ty, body) in self.poll()? {
                if ty == main_msgc::AGENT_START {
                    self.inner.agent.on_agent_start();
                }
                if ty == main_msgc::AGENT_DATA {
                    self.inner.agent.on_agent_data(&body);
                }
                if matches!(
                    ty,
                    main_msgc::MIGRATE_CONNECTED
                        | main_msgc::MIGRATE_CONNECTED_SEAMLESS
                        | main_msgc::MIGRATE_CONNECT_ERROR
                ) && let Some(f) = finish.take()
                {
                    self.finish_migration(ty, f)?;
                }
                if ty == main_msgc::ATTACH_CHANNELS {
                    let list = self
                        .inner
                        .config
                        .channels
                        .iter()
                        .map(|(t, id)| ChannelId {
                            channel_type: t.0,
                            id: *id,
                        })
                        .collect();
                    self.send(&MainServer::ChannelsList(list))?;
                    if self.inner.config.fault == Some(Fault::MainCloseAfterList) {
                        std::thread::sleep(Duration::from_millis(300));
                        bail!("fault: main channel closes after CHANNELS_LIST");
                    }
                }
            }
            for m in self.inner.agent.take_outgoing() {
                self.send(&m)?;
            }
        }
    }

    /// (source) MIGRATE_BEGIN(_SEAMLESS) or MIGRATE_SWITCH_HOST; how to finish, once answered.
    fn start_migration(&mut self, order: crate::migration::MigrationOrder) -> Result<Option<MigrationFinish>> {
        let semi = self.client_caps.channel.has(caps::main::SEMI_SEAMLESS_MIGRATE);
        let seamless = self.client_caps.channel.has(caps::main::SEAMLESS_MIGRATE);
        match order.mode {
            MigrationMode::SwitchHost => {
                self.send(&MainServer::MigrateSwitchHost(order.dst))?;
                return Ok(None);
            }
            // spice-server: a client without semi-seamless support is moved by switch-host.
            _ if !semi => {
                self.send(&MainServer::MigrateSwitchHost(order.dst))?;
                return Ok(None);
            }
            MigrationMode::Auto if seamless => self.send(&MainServer::MigrateBeginSeamless {
                dst: order.dst,
                src_mig_version: 1,
            })?,
            _ => self.send(&MainServer::MigrateBegin(order.dst))?,
        }
        Ok(Some(order.finish))
    }

    /// (source) The client answered MIGRATE_BEGIN with `answer`.
    fn finish_migration(&mut self, answer: u16, finish: MigrationFinish) -> Result<()> {
        match (answer, finish) {
            (main_msgc::MIGRATE_CONNECT_ERROR, _) => Ok(()),
            (_, MigrationFinish::Cancel) => self.send(&MainServer::MigrateCancel),
            (main_msgc::MIGRATE_CONNECTED_SEAMLESS, MigrationFinish::Complete) => {
                self.inner
                    .migration
                    .seamless_go
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
            (_, MigrationFinish::Complete) => self.send(&MainServer::MigrateEnd),
        }
    }

    /// Sends the cursor script, then (demo) circles the cursor every 40 ms.
    fn run_cursor(&mut self) -> Result<()> {
        for m in &self.inner.config.cursor.messages.clone() {
            self.send(m)?;
        }
        self.close_fault()?;
        let (w, h) = (self.inner.config.scene.width, self.inner.config.scene.height);
        let (mut frame, mut next) = (0u32, Instant::now());
        loop {
            self.poll()?;
            if self.inner.config.animate && !self.handed_over() && Instant::now() >= next {
                self.send(&crate::cursor::demo_move(frame, w, h))?;
                frame = frame.wrapping_add(1);
                next += Duration::from_millis(40);
            }
        }
    }

    fn run_display(&mut self) -> Result<()> {
        // Wait for DISPLAY_INIT (101), or, as a seamless migration's
        // destination, for the client's MIGRATE_DATA: the client keeps its
        // surfaces then, and the scene is drawn on them.
        let seamless_target = self.inner.migration.target() == Some(TargetMode::Seamless);
        let wanted = if seamless_target { base_msgc::MIGRATE_DATA } else { 101 };
        let deadline = Instant::now() + Duration::from_secs(10);
        'init: loop {
            for (ty, _) in self.poll()? {
                if ty == wanted {
                    break 'init;
                }
            }
            if Instant::now() > deadline {
                bail!("no DISPLAY_INIT");
            }
        }
        if self.inner.config.fault == Some(Fault::DisplayCloseMidMessage) {
            let m = &self.inner.config.scene.messages[0];
            let body = m.to_body();
            let bytes = sumac::proto::frame::encode_message(self.header, 1, m.msg_type(), &body);
            self.conn.write_all(&bytes[..bytes.len() / 2])?;
            self.conn.flush()?;
            bail!("fault: display closes mid-message");
        }
        let messages: Vec<DisplayServer> = self.inner.config.scene.messages.clone();
        for m in &messages {
            if seamless_target
                && matches!(
                    m,
                    DisplayServer::SurfaceCreate(_) | DisplayServer::MonitorsConfig { .. }
                )
            {
                continue;
            }
            self.send(m)?;
        }
        self.close_fault()?;
        let (w, h) = (self.inner.config.scene.width, self.inner.config.scene.height);
        let mut frame = 0u32;
        let mut next = Instant::now();
        loop {
            self.poll()?;
            if self.key.1 == 0 {
                let queued: Vec<DisplayServer> = self
                    .inner
                    .display_out
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .drain(..)
                    .collect();
                for m in &queued {
                    self.send(m)?;
                }
            }
            if self.inner.config.animate && !self.handed_over() && Instant::now() >= next {
                for m in crate::scene::demo_frame(frame, w, h) {
                    self.send(&m)?;
                }
                frame = frame.wrapping_add(1);
                next += Duration::from_millis(40);
            }
        }
    }
}
