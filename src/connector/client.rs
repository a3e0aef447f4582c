//! Client side of the link phase, as a state machine.
//!
//! ```text
//! start() -> LinkMess bytes
//! wants()=16  step(header)      -> nothing to send
//! wants()=N   step(reply body)  -> [AuthMechanism] + encrypted ticket
//! wants()=4   step(link result) -> Done(Linked)
//! ```

use super::LinkError;
use super::ticket::{check_password, encrypt_ticket};
use crate::proto::caps::{Caps, common};
use crate::proto::consts::{ChannelType, LinkErr};
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::frame::HeaderKind;
use crate::proto::link::{AuthMechanism, LinkHeader, LinkMess, LinkReply};

/// What the client asks for.
#[derive(Debug, Clone)]
pub struct LinkParams {
    pub connection_id: u32,
    pub channel_type: ChannelType,
    pub channel_id: u8,
    /// Channel-specific capabilities the client offers.
    pub channel_caps: Vec<u32>,
    /// Password bytes (without NUL); empty when the server has ticketing disabled.
    pub password: Vec<u8>,
    /// Offer the mini header (on by default; tests may turn it off).
    pub mini_header: bool,
}

/// Result of a successful link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub server_caps: Caps,
    pub client_caps: Caps,
    pub header: HeaderKind,
}

impl Linked {
    /// True if both sides announced this channel capability.
    pub fn both_have_channel_cap(&self, bit: u32) -> bool {
        self.server_caps.channel.has(bit) && self.client_caps.channel.has(bit)
    }
}

#[derive(Debug)]
enum State {
    Start,
    ReplyHeader,
    ReplyBody { size: usize },
    Result { linked: Linked },
    Done,
}

/// Output of one step.
#[derive(Debug, Default)]
pub struct StepOutput {
    /// Bytes to send to the server now.
    pub send: Vec<u8>,
    /// Set when the link is complete.
    pub done: Option<Linked>,
}

/// Client link state machine.
#[derive(Debug)]
pub struct ClientLink {
    params: LinkParams,
    caps: Caps,
    state: State,
}

impl ClientLink {
    /// Fails at once if the password cannot be carried by SPICE.
    pub fn new(params: LinkParams) -> Result<Self, LinkError> {
        check_password(&params.password)?;
        let mut common_bits = vec![common::PROTOCOL_AUTH_SELECTION, common::AUTH_SPICE];
        if params.mini_header {
            common_bits.push(common::MINI_HEADER);
        }
        let caps = Caps::new(&common_bits, &params.channel_caps);
        Ok(Self {
            params,
            caps,
            state: State::Start,
        })
    }

    /// The link message to send first.
    pub fn start(&mut self) -> Vec<u8> {
        self.state = State::ReplyHeader;
        LinkMess {
            connection_id: self.params.connection_id,
            channel_type: self.params.channel_type,
            channel_id: self.params.channel_id,
            caps: self.caps.clone(),
        }
        .encode_with_header()
    }

    /// How many bytes the next [`step`](Self::step) needs (0 when finished).
    pub fn wants(&self) -> usize {
        match &self.state {
            State::Start | State::Done => 0,
            State::ReplyHeader => LinkHeader::SIZE,
            State::ReplyBody { size } => *size,
            State::Result { .. } => 4,
        }
    }

    /// Feeds exactly `wants()` bytes.
    pub fn step(&mut self, input: &[u8]) -> Result<StepOutput, LinkError> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::ReplyHeader => {
                let h = LinkHeader::decode(&mut ReadCursor::new(input), 4)?;
                self.state = State::ReplyBody { size: h.size as usize };
                Ok(StepOutput::default())
            }
            State::ReplyBody { .. } => {
                let reply = LinkReply::decode_body(input)?;
                match reply.error {
                    LinkErr::Ok => {}
                    LinkErr::NeedSecured => return Err(LinkError::NeedSecured),
                    LinkErr::PermissionDenied => return Err(LinkError::PermissionDenied),
                    e => return Err(LinkError::Refused(e)),
                }
                let server = reply.caps;
                let auth_selection = server.common.has(common::PROTOCOL_AUTH_SELECTION);
                if auth_selection && !server.common.has(common::AUTH_SPICE) && server.common.has(common::AUTH_SASL) {
                    return Err(LinkError::SaslRequired);
                }
                let mut w = WriteCursor::new();
                if auth_selection {
                    AuthMechanism::SPICE.encode(&mut w);
                }
                let ticket = encrypt_ticket(&reply.pub_key, &self.params.password)?;
                w.write_slice(&ticket);
                let header = if self.params.mini_header && server.common.has(common::MINI_HEADER) {
                    HeaderKind::Mini
                } else {
                    HeaderKind::Full
                };
                self.state = State::Result {
                    linked: Linked {
                        server_caps: server,
                        client_caps: self.caps.clone(),
                        header,
                    },
                };
                Ok(StepOutput {
                    send: w.into_inner(),
                    done: None,
                })
            }
            State::Result { linked } => {
                let code = ReadCursor::new(input).read_u32("link result")?;
                match LinkErr::from_u32(code) {
                    LinkErr::Ok => Ok(StepOutput {
                        send: Vec::new(),
                        done: Some(linked),
                    }),
                    LinkErr::PermissionDenied => Err(LinkError::PermissionDenied),
                    LinkErr::NeedSecured => Err(LinkError::NeedSecured),
                    e => Err(LinkError::Refused(e)),
                }
            }
            State::Start | State::Done => Err(LinkError::WrongState),
        }
    }
}
