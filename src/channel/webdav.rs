//! The WebDAV channel's multiplexer (port `org.spice-space.webdav.0`), sans-IO.
//!
//! The guest's `spice-webdavd` accepts HTTP connections inside the guest and
//! forwards each one over the channel's byte stream as frames
//! `{i64 client_id, u16 size, u8 data[size]}` (little-endian), so a frame
//! carries at most 65535 bytes. The client answers with frames of the same
//! shape. A frame of size 0 closes that client's connection (either way); an
//! id the client does not know opens a new connection to its WebDAV server.
//! A PORT_INIT that says "opened", a PORT_EVENT OPENED, or a channel reset
//! drops every connection.
//!
//! [`Mux`] parses the stream incrementally (a frame may arrive split over
//! any number of chunks; nothing is buffered beyond the 10-byte header) and
//! keeps the table of open connections, at most [`Mux::max_clients`]: a new
//! id beyond that is refused (answered with a close frame, its data
//! dropped), so a guest announcing a million clients costs nothing.
#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use std::collections::BTreeSet;

/// `client_id` (8) + `size` (2).
pub const HEADER_LEN: usize = 10;
/// Most data bytes in one frame.
pub const MAX_FRAME_DATA: usize = u16::MAX as usize;
/// Default cap on connections open at once.
pub const DEFAULT_MAX_CLIENTS: usize = 64;

/// What the mux asks its owner to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuxAction {
    /// A new connection: start serving it.
    Open(i64),
    /// Bytes for an open connection (a whole frame or a part of one).
    Data(i64, Vec<u8>),
    /// The guest closed this connection.
    Close(i64),
    /// A connection over the cap: send it [`encode_close`] (its data is dropped).
    Refuse(i64),
}

/// One frame's header being read, or a frame's data being passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header { have: usize },
    Data { client: i64, left: usize, refused: bool },
}

/// The incremental demultiplexer and the table of open connections.
#[derive(Debug, Clone)]
pub struct Mux {
    state: State,
    header: [u8; HEADER_LEN],
    clients: BTreeSet<i64>,
    max_clients: usize,
    refused: u64,
}

impl Default for Mux {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CLIENTS)
    }
}

impl Mux {
    pub fn new(max_clients: usize) -> Self {
        Self {
            state: State::Header { have: 0 },
            header: [0; HEADER_LEN],
            clients: BTreeSet::new(),
            max_clients,
            refused: 0,
        }
    }

    pub fn max_clients(&self) -> usize {
        self.max_clients
    }

    /// Connections open now.
    pub fn open_clients(&self) -> impl Iterator<Item = i64> + '_ {
        self.clients.iter().copied()
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn is_open(&self, client: i64) -> bool {
        self.clients.contains(&client)
    }

    /// Frames refused because of the cap, since the start.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Parses `input` (any cut of the stream) and appends what to do.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<MuxAction>) {
        while !input.is_empty() {
            match self.state {
                State::Header { have } => {
                    let want = HEADER_LEN.saturating_sub(have);
                    let take = want.min(input.len());
                    let (head, rest) = input.split_at(take);
                    if let Some(slot) = self.header.get_mut(have..have.saturating_add(take)) {
                        slot.copy_from_slice(head);
                    }
                    input = rest;
                    let have = have.saturating_add(take);
                    if have < HEADER_LEN {
                        self.state = State::Header { have };
                    } else {
                        self.start_frame(out);
                    }
                }
                State::Data { client, left, refused } => {
                    let take = left.min(input.len());
                    let (data, rest) = input.split_at(take);
                    input = rest;
                    if !refused && !data.is_empty() {
                        // Consecutive pieces of one frame for one client are merged.
                        match out.last_mut() {
                            Some(MuxAction::Data(c, d)) if *c == client => d.extend_from_slice(data),
                            _ => out.push(MuxAction::Data(client, data.to_vec())),
                        }
                    }
                    let left = left.saturating_sub(take);
                    self.state = if left == 0 {
                        State::Header { have: 0 }
                    } else {
                        State::Data { client, left, refused }
                    };
                }
            }
        }
    }

    fn start_frame(&mut self, out: &mut Vec<MuxAction>) {
        let [c0, c1, c2, c3, c4, c5, c6, c7, s0, s1] = self.header;
        let client = i64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]);
        let size = usize::from(u16::from_le_bytes([s0, s1]));
        self.state = State::Header { have: 0 };
        if size == 0 {
            if self.clients.remove(&client) {
                out.push(MuxAction::Close(client));
            }
            return;
        }
        let refused = if self.clients.contains(&client) {
            false
        } else if self.clients.len() < self.max_clients {
            self.clients.insert(client);
            out.push(MuxAction::Open(client));
            false
        } else {
            self.refused = self.refused.saturating_add(1);
            out.push(MuxAction::Refuse(client));
            true
        };
        self.state = State::Data {
            client,
            left: size,
            refused,
        };
    }

    /// Our side closed `client` (its server connection ended): forget it.
    /// Returns whether it was open (then send [`encode_close`]).
    pub fn close_local(&mut self, client: i64) -> bool {
        self.clients.remove(&client)
    }

    /// Drops every connection and any partial frame (port opened again,
    /// channel reset). Returns the connections that were open.
    pub fn reset(&mut self) -> Vec<i64> {
        self.state = State::Header { have: 0 };
        std::mem::take(&mut self.clients).into_iter().collect()
    }
}

/// Appends `data` for `client` as frames of at most [`MAX_FRAME_DATA`] bytes
/// (nothing for empty data: an empty frame would close the connection).
pub fn encode_data(client: i64, data: &[u8], out: &mut Vec<u8>) {
    for chunk in data.chunks(MAX_FRAME_DATA) {
        out.extend_from_slice(&client.to_le_bytes());
        let size = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(chunk);
    }
}

/// The frame that closes `client`.
pub fn encode_close(client: i64) -> [u8; HEADER_LEN] {
    let [c0, c1, c2, c3, c4, c5, c6, c7] = client.to_le_bytes();
    [c0, c1, c2, c3, c4, c5, c6, c7, 0, 0]
}

#[cfg(test)]
#[path = "tests/webdav.rs"]
mod tests;
