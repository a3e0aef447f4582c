//! What the user reads when a connection fails: a title ("Connection
//! refused", "Wrong password", "Untrusted certificate"…), one human
//! sentence, and the technical detail (the error's own text) for the
//! expander of the [error page](super::error_page). Translated; no
//! command-line advice.

use crate::client::ClientError;
use crate::client::proxy::ProxyError;
use crate::connector::LinkError;
use crate::i18n::{gettext, gettext_f};

/// A failure as the error page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub title: String,
    /// One sentence for people.
    pub sentence: String,
    /// The technical text (behind the expander).
    pub detail: String,
    /// The server wants a (another) password: the page asks for it.
    pub ask_password: bool,
    /// The proxy wants a user name and password (407): the page asks for them.
    pub ask_proxy: bool,
}

impl Problem {
    fn new(title: String, sentence: String, detail: String) -> Self {
        Self {
            title,
            sentence,
            detail,
            ask_password: false,
            ask_proxy: false,
        }
    }

    /// The user cancelled the connection attempt.
    pub fn cancelled() -> Self {
        Self::new(
            gettext("Connection Cancelled"),
            gettext("The connection attempt was stopped."),
            String::new(),
        )
    }

    /// One channel of a running session ended with an error (the session
    /// goes on without it): which part stopped, and Reconnect to bring it back.
    pub fn channel_failed(channel: &str, error: &str) -> Self {
        Self::new(
            gettext("Part of the Session Stopped"),
            gettext_f(
                "The {channel} connection to the virtual machine ended; reconnect to restore it.",
                &[("channel", channel)],
            ),
            error.to_owned(),
        )
    }

    /// A failure known only by its text (the session did not start).
    pub fn from_text(text: &str) -> Self {
        Self::new(
            gettext("Connection Failed"),
            gettext("The connection could not be started."),
            text.to_owned(),
        )
    }

    /// Describes `error`; `password_given` tells "wrong password" from
    /// "password required".
    pub fn describe(error: &ClientError, password_given: bool) -> Self {
        let detail = error.to_string();
        let (title, sentence) = match error {
            ClientError::Link {
                source: LinkError::PermissionDenied,
                ..
            } => {
                let mut p = if password_given {
                    Self::new(
                        gettext("Wrong Password"),
                        gettext("The server refused the password. Type it again."),
                        detail,
                    )
                } else {
                    Self::new(
                        gettext("Password Required"),
                        gettext("This virtual machine is protected by a password."),
                        detail,
                    )
                };
                p.ask_password = true;
                return p;
            }
            ClientError::Link {
                source: LinkError::PasswordTooLong { .. },
                ..
            } => {
                let mut p = Self::new(
                    gettext("Password Too Long"),
                    gettext("SPICE passwords have at most 60 characters."),
                    detail,
                );
                p.ask_password = true;
                return p;
            }
            ClientError::Link {
                source: LinkError::SaslRequired,
                ..
            } => (
                gettext("Unsupported Sign-In"),
                gettext("The server asks for a kind of authentication Sumac does not support."),
            ),
            ClientError::Link { .. } | ClientError::NeedSecuredLoop { .. } => (
                gettext("Connection Refused"),
                gettext("The server refused the connection."),
            ),
            ClientError::Connect { source, endpoint, .. } => match source.kind() {
                std::io::ErrorKind::ConnectionRefused => (
                    gettext("Connection Refused"),
                    gettext_f(
                        "Nothing answers at {address}. Is the virtual machine running?",
                        &[("address", endpoint)],
                    ),
                ),
                _ if is_name_error(source) => (
                    gettext("Unknown Host"),
                    gettext_f("The name {address} could not be found.", &[("address", endpoint)]),
                ),
                _ => (
                    gettext("Cannot Connect"),
                    gettext_f("The server at {address} cannot be reached.", &[("address", endpoint)]),
                ),
            },
            ClientError::Proxy {
                source: ProxyError::AuthRequired { sent_credentials, .. },
                ..
            } => {
                let mut p = if *sent_credentials {
                    Self::new(
                        gettext("Wrong Proxy Credentials"),
                        gettext("The proxy refused the user name and password. Type them again."),
                        detail,
                    )
                } else {
                    Self::new(
                        gettext("Proxy Sign-In Required"),
                        gettext("The proxy asks for a user name and a password."),
                        detail,
                    )
                };
                p.ask_proxy = true;
                return p;
            }
            ClientError::Proxy { .. } => (
                gettext("Proxy Error"),
                gettext("The proxy could not connect to the server."),
            ),
            ClientError::ConnectTimeout { endpoint, .. } => (
                gettext("Connection Timed Out"),
                gettext_f("The server at {address} did not answer.", &[("address", endpoint)]),
            ),
            ClientError::LinkTimeout { endpoint, secs, .. } => (
                gettext("No Answer From the Server"),
                gettext_f(
                    "{address} accepted the connection but said nothing for {seconds} seconds. It may not be a SPICE server.",
                    &[("address", endpoint), ("seconds", &secs.to_string())],
                ),
            ),
            ClientError::NoResponse { .. } | ClientError::Timeout { .. } => (
                gettext("No Answer From the Server"),
                gettext("The server stopped answering."),
            ),
            ClientError::Tls { .. } | ClientError::TlsSetup(_) => (
                gettext("Untrusted Certificate"),
                gettext("The server's identity could not be verified, so the connection was not made."),
            ),
            ClientError::NeedSecuredNoTls { .. } => (
                gettext("Secure Connection Required"),
                gettext("The server accepts only encrypted connections, and no secure port is known."),
            ),
            ClientError::Config(_) => (
                gettext("Invalid Address"),
                gettext("The connection settings are not valid."),
            ),
            ClientError::UnexpectedEof { .. } | ClientError::Io { .. } | ClientError::ServerDisconnected { .. } => (
                gettext("Disconnected"),
                gettext("The connection to the server was lost."),
            ),
            ClientError::Protocol { .. } | ClientError::Machine { .. } | ClientError::OverBudget { .. } => (
                gettext("Protocol Error"),
                gettext("The server sent data Sumac could not understand."),
            ),
            _ => (
                gettext("Connection Failed"),
                gettext("The connection to the server failed."),
            ),
        };
        Self::new(title, sentence, detail)
    }
}

/// Whether a connect error is a failed name lookup (the resolver's text:
/// the standard library gives no kind for it).
fn is_name_error(e: &std::io::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    ["lookup", "name or service", "no address", "not known"]
        .iter()
        .any(|s| text.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ChannelKey, ChannelType};

    fn main_channel() -> ChannelKey {
        ChannelKey {
            channel_type: ChannelType::MAIN,
            id: 0,
        }
    }

    #[test]
    fn passwords() {
        let denied = ClientError::Link {
            channel: main_channel(),
            source: LinkError::PermissionDenied,
        };
        let p = Problem::describe(&denied, false);
        assert_eq!(p.title, "Password Required");
        assert!(p.ask_password);
        let p = Problem::describe(&denied, true);
        assert_eq!(p.title, "Wrong Password");
        assert!(p.ask_password);
        assert!(p.detail.contains("permission denied"), "{}", p.detail);
    }

    #[test]
    fn proxy_credentials() {
        let auth = |sent_credentials| ClientError::Proxy {
            channel: main_channel(),
            source: ProxyError::AuthRequired {
                proxy: "p:3128".into(),
                sent_credentials,
            },
        };
        let p = Problem::describe(&auth(false), false);
        assert_eq!(p.title, "Proxy Sign-In Required");
        assert!(p.ask_proxy && !p.ask_password);
        let p = Problem::describe(&auth(true), true);
        assert_eq!(p.title, "Wrong Proxy Credentials");
        assert!(p.ask_proxy && !p.ask_password);
        assert!(p.detail.contains("407"), "{}", p.detail);
    }

    #[test]
    fn refused_timeouts_and_certificates() {
        let refused = ClientError::Connect {
            channel: main_channel(),
            endpoint: "127.0.0.1:1".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        let p = Problem::describe(&refused, false);
        assert_eq!(p.title, "Connection Refused");
        assert!(p.sentence.contains("127.0.0.1:1"), "{}", p.sentence);
        assert!(!p.ask_password);
        let lookup = ClientError::Connect {
            channel: main_channel(),
            endpoint: "nowhere.invalid:5900".into(),
            source: std::io::Error::other("failed to lookup address information: Name or service not known"),
        };
        assert_eq!(Problem::describe(&lookup, false).title, "Unknown Host");
        let silent = ClientError::LinkTimeout {
            channel: main_channel(),
            endpoint: "h:5900".into(),
            secs: 10,
        };
        let p = Problem::describe(&silent, false);
        assert_eq!(p.title, "No Answer From the Server");
        assert!(p.sentence.contains("10 seconds"), "{}", p.sentence);
        let tls = ClientError::Tls {
            channel: main_channel(),
            endpoint: "h:5901".into(),
            reason: "invalid peer certificate: UnknownIssuer".into(),
        };
        let p = Problem::describe(&tls, false);
        assert_eq!(p.title, "Untrusted Certificate");
        assert!(p.detail.contains("UnknownIssuer"));
        // No command-line advice in what people read first.
        let secured = ClientError::NeedSecuredNoTls {
            channel: main_channel(),
        };
        let p = Problem::describe(&secured, false);
        assert!(!p.sentence.contains("spice+tls") && !p.sentence.contains("tls-port"));
    }
}
