//! Server side of the link phase (used by Sumac's test server).
//!
//! ```text
//! wants()=16  step(header)            -> LinkMessReceived(mess): caller calls accept() or reject()
//! accept(caps, password)              -> LinkReply bytes
//! wants()=4   step(auth mechanism)    (only if both sides have AUTH_SELECTION)
//! wants()=128 step(ticket)            -> link result bytes, Done / AuthFailed
//! ```

use super::LinkError;
use super::ticket::decrypt_ticket;
use crate::proto::caps::{Caps, common};
use crate::proto::consts::{LinkErr, SPICE_TICKET_BYTES, SPICE_TICKET_PUBKEY_BYTES};
use crate::proto::cursor::ReadCursor;
use crate::proto::frame::HeaderKind;
use crate::proto::link::{AuthMechanism, LinkHeader, LinkMess, LinkReply};
use rsa::RsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;

/// What one step produced.
#[derive(Debug)]
pub enum AcceptEvent {
    /// Nothing yet; read `wants()` more bytes.
    Continue,
    /// The client's link message: decide with [`ServerLink::accept`] or [`ServerLink::reject`].
    LinkMess(LinkMess),
    /// Send these bytes; the link is complete.
    Done {
        send: Vec<u8>,
        header: HeaderKind,
        client: LinkMess,
    },
    /// Send these bytes (a PERMISSION_DENIED result) and close.
    AuthFailed { send: Vec<u8> },
}

#[derive(Debug)]
enum State {
    Header,
    Body { size: usize },
    Deciding { mess: LinkMess },
    AuthMech { mess: LinkMess, header: HeaderKind },
    Ticket { mess: LinkMess, header: HeaderKind },
    Done,
}

/// Server link state machine.
pub struct ServerLink {
    key: RsaPrivateKey,
    pub_der: [u8; SPICE_TICKET_PUBKEY_BYTES],
    password: Option<Vec<u8>>,
    server_caps: Caps,
    state: State,
}

impl std::fmt::Debug for ServerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLink")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ServerLink {
    /// `key` must be an RSA-1024 key (generate it once per server: it is slow).
    pub fn new(key: RsaPrivateKey) -> Result<Self, LinkError> {
        let der = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| LinkError::BadServerKey(e.to_string()))?;
        let pub_der: [u8; SPICE_TICKET_PUBKEY_BYTES] = der
            .as_bytes()
            .try_into()
            .map_err(|_| LinkError::BadServerKey("key is not RSA-1024".into()))?;
        Ok(Self {
            key,
            pub_der,
            password: None,
            server_caps: Caps::default(),
            state: State::Header,
        })
    }

    pub fn wants(&self) -> usize {
        match &self.state {
            State::Header => LinkHeader::SIZE,
            State::Body { size } => *size,
            State::AuthMech { .. } => AuthMechanism::SIZE,
            State::Ticket { .. } => SPICE_TICKET_BYTES,
            State::Deciding { .. } | State::Done => 0,
        }
    }

    pub fn step(&mut self, input: &[u8]) -> Result<AcceptEvent, LinkError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Header => {
                let h = LinkHeader::decode(&mut ReadCursor::new(input), LinkMess::CAPS_OFFSET)?;
                self.state = State::Body { size: h.size as usize };
                Ok(AcceptEvent::Continue)
            }
            State::Body { .. } => {
                let mess = LinkMess::decode_body(input)?;
                self.state = State::Deciding { mess: mess.clone() };
                Ok(AcceptEvent::LinkMess(mess))
            }
            State::AuthMech { mess, header } => {
                let mech = AuthMechanism::decode(&mut ReadCursor::new(input))?;
                if mech != AuthMechanism::SPICE {
                    return Ok(AcceptEvent::AuthFailed {
                        send: LinkErr::PermissionDenied.to_u32().to_le_bytes().to_vec(),
                    });
                }
                self.state = State::Ticket { mess, header };
                Ok(AcceptEvent::Continue)
            }
            State::Ticket { mess, header } => {
                let ok = match &self.password {
                    None => true,
                    Some(pw) => decrypt_ticket(&self.key, input).is_some_and(|got| &got == pw),
                };
                if ok {
                    Ok(AcceptEvent::Done {
                        send: LinkErr::Ok.to_u32().to_le_bytes().to_vec(),
                        header,
                        client: mess,
                    })
                } else {
                    Ok(AcceptEvent::AuthFailed {
                        send: LinkErr::PermissionDenied.to_u32().to_le_bytes().to_vec(),
                    })
                }
            }
            State::Deciding { .. } | State::Done => Err(LinkError::WrongState),
        }
    }

    /// Accepts the link with these server capabilities; `password` None disables ticketing.
    /// Returns the reply to send.
    pub fn accept(&mut self, server_caps: Caps, password: Option<Vec<u8>>) -> Result<Vec<u8>, LinkError> {
        let State::Deciding { mess } = std::mem::replace(&mut self.state, State::Done) else {
            return Err(LinkError::WrongState);
        };
        self.server_caps = server_caps;
        self.password = password;
        let header = if mess.caps.common.has(common::MINI_HEADER) && self.server_caps.common.has(common::MINI_HEADER) {
            HeaderKind::Mini
        } else {
            HeaderKind::Full
        };
        let selection = mess.caps.common.has(common::PROTOCOL_AUTH_SELECTION)
            && self.server_caps.common.has(common::PROTOCOL_AUTH_SELECTION);
        self.state = if selection {
            State::AuthMech { mess, header }
        } else {
            State::Ticket { mess, header }
        };
        Ok(LinkReply {
            error: LinkErr::Ok,
            pub_key: self.pub_der,
            caps: self.server_caps.clone(),
        }
        .encode_with_header())
    }

    /// Refuses the link (e.g. NEED_SECURED); returns the reply to send before closing.
    pub fn reject(&mut self, error: LinkErr) -> Vec<u8> {
        self.state = State::Done;
        LinkReply {
            error,
            pub_key: self.pub_der,
            caps: Caps::default(),
        }
        .encode_with_header()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::client::{ClientLink, LinkParams};
    use crate::proto::consts::ChannelType;

    fn key() -> RsaPrivateKey {
        RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap()
    }

    fn params(pw: &[u8]) -> LinkParams {
        LinkParams {
            connection_id: 0,
            channel_type: ChannelType::MAIN,
            channel_id: 0,
            channel_caps: vec![1, 2],
            password: pw.to_vec(),
            mini_header: true,
        }
    }

    /// Runs both machines against each other in memory.
    fn run(client_pw: &[u8], server_pw: Option<&[u8]>, reject: Option<LinkErr>) -> Result<(), LinkError> {
        let mut c = ClientLink::new(params(client_pw))?;
        let mut s = ServerLink::new(key())?;
        let mut to_server = c.start();
        let mut to_client: Vec<u8> = Vec::new();
        let server_caps = Caps::new(&[0, 1, 3], &[1]);
        loop {
            // server consumes
            while s.wants() > 0 && to_server.len() >= s.wants() {
                let n = s.wants();
                let chunk: Vec<u8> = to_server.drain(..n).collect();
                match s.step(&chunk)? {
                    AcceptEvent::Continue => {}
                    AcceptEvent::LinkMess(m) => {
                        assert_eq!(m.channel_type, ChannelType::MAIN);
                        match reject {
                            Some(e) => to_client.extend(s.reject(e)),
                            None => to_client.extend(s.accept(server_caps.clone(), server_pw.map(<[u8]>::to_vec))?),
                        }
                    }
                    AcceptEvent::Done { send, header, .. } => {
                        assert_eq!(header, HeaderKind::Mini);
                        to_client.extend(send)
                    }
                    AcceptEvent::AuthFailed { send } => to_client.extend(send),
                }
            }
            if c.wants() == 0 || to_client.len() < c.wants() {
                return Err(LinkError::WrongState);
            }
            let n = c.wants();
            let chunk: Vec<u8> = to_client.drain(..n).collect();
            let out = c.step(&chunk)?;
            to_server.extend(out.send);
            if let Some(linked) = out.done {
                assert_eq!(linked.header, HeaderKind::Mini);
                assert!(linked.server_caps.channel.has(1));
                return Ok(());
            }
        }
    }

    #[test]
    fn link_without_password() {
        run(b"", None, None).unwrap();
    }

    #[test]
    fn link_with_password() {
        run(b"s3cret", Some(b"s3cret"), None).unwrap();
    }

    #[test]
    fn wrong_password() {
        assert!(matches!(
            run(b"nope", Some(b"s3cret"), None),
            Err(LinkError::PermissionDenied)
        ));
    }

    #[test]
    fn need_secured() {
        assert!(matches!(
            run(b"", None, Some(LinkErr::NeedSecured)),
            Err(LinkError::NeedSecured)
        ));
    }

    #[test]
    fn sasl_only_server() {
        let mut c = ClientLink::new(params(b"")).unwrap();
        let _ = c.start();
        let reply = LinkReply {
            error: LinkErr::Ok,
            pub_key: [0; SPICE_TICKET_PUBKEY_BYTES],
            caps: Caps::new(&[common::PROTOCOL_AUTH_SELECTION, common::AUTH_SASL], &[]),
        }
        .encode_with_header();
        c.step(&reply[..16]).unwrap();
        assert!(matches!(c.step(&reply[16..]), Err(LinkError::SaslRequired)));
    }
}
