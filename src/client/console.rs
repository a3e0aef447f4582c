//! Text consoles over port channels (QEMU's serial consoles
//! `org.qemu.console.serial.N`, its human monitor `org.qemu.monitor.hmp.N`),
//! without a terminal emulator: [`ConsoleFilter`] turns the byte stream
//! into plain text edits (carriage return, backspace, cursor left/right and
//! erase-line kept as cursor edits, enough for line editors such as QEMU's
//! readline; every other escape sequence dropped), and [`key_bytes`] the
//! keys typed into what a terminal would send. Sans-IO; the GTK console window shows the result.

/// Most bytes of an unfinished escape sequence kept before it is dropped.
const MAX_ESCAPE: usize = 64;

/// What kind of console a port is (the embedder names it in its language).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsolePort {
    /// `org.qemu.console.serial.N`: a serial console, number N.
    Serial(String),
    /// `org.qemu.monitor.hmp.N`: QEMU's human monitor.
    Monitor(String),
    /// Another `org.qemu.console.*` port (the rest of its name).
    Other(String),
}

/// The console behind port `name`, or `None` when the port is not a console
/// (QMP, the WebDAV port, unknown ports).
pub fn console_port(name: &str) -> Option<ConsolePort> {
    if let Some(n) = name.strip_prefix("org.qemu.console.serial.") {
        return Some(ConsolePort::Serial(n.to_owned()));
    }
    if let Some(n) = name.strip_prefix("org.qemu.monitor.hmp.") {
        return Some(ConsolePort::Monitor(n.to_owned()));
    }
    name.strip_prefix("org.qemu.console.")
        .map(|rest| ConsolePort::Other(rest.to_owned()))
}

/// One edit of the console's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleEdit {
    /// Text to show at the end (no control characters, no new lines).
    Text(String),
    /// A new line.
    Newline,
    /// The cursor goes back to the start of the line (text then overwrites it).
    CarriageReturn,
    /// The cursor moves left (`BS`, `CSI n D`), never past the line's start.
    Left(u16),
    /// The cursor moves right (`CSI n C`).
    Right(u16),
    /// The line is erased from the cursor to its end (`CSI K`), or whole (`CSI 2 K`).
    EraseLine { whole: bool },
    /// The terminal bell.
    Bell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Ground,
    /// After ESC.
    Escape,
    /// In a CSI sequence (ESC `[`), until its final byte.
    Csi,
    /// In an OSC/DCS string (ESC `]`, ESC `P`...), until BEL or ESC `\`.
    String,
    /// ESC seen inside a string.
    StringEscape,
}

/// Bytes → [`ConsoleEdit`]s. UTF-8 split across reads is kept until complete.
/// Text overwrites from the cursor, as on a terminal.
#[derive(Debug, Default)]
pub struct ConsoleFilter {
    state: State,
    escape_len: usize,
    /// The parameter bytes of the CSI sequence under way.
    params: Vec<u8>,
    /// An incomplete UTF-8 sequence from the last read.
    partial: Vec<u8>,
    /// The last byte was CR (CR LF is one new line).
    after_cr: bool,
}

impl ConsoleFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The edits `bytes` make.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<ConsoleEdit> {
        let mut edits = Vec::new();
        let mut text: Vec<u8> = std::mem::take(&mut self.partial);
        for &b in bytes {
            match self.state {
                State::Ground => self.ground(b, &mut text, &mut edits),
                State::Escape => {
                    self.state = match b {
                        b'[' => {
                            self.params.clear();
                            State::Csi
                        }
                        b']' | b'P' | b'X' | b'^' | b'_' => State::String,
                        // Intermediate bytes (ESC ( B...): one more byte follows.
                        0x20..=0x2f => State::Escape,
                        _ => State::Ground,
                    };
                    self.count_escape();
                }
                State::Csi => {
                    if (0x40..=0x7e).contains(&b) {
                        self.state = State::Ground;
                        self.csi(b, &mut edits);
                    } else {
                        self.params.push(b);
                        self.count_escape();
                    }
                }
                State::String => match b {
                    0x07 => self.state = State::Ground,
                    0x1b => self.state = State::StringEscape,
                    _ => self.count_escape(),
                },
                State::StringEscape => {
                    self.state = if b == b'\\' { State::Ground } else { State::String };
                }
            }
        }
        // Keep an incomplete UTF-8 tail for the next read.
        let valid = match std::str::from_utf8(&text) {
            Ok(_) => text.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => text.len(),
        };
        self.partial = text.split_off(valid);
        flush(&mut text, &mut edits);
        edits
    }

    fn ground(&mut self, b: u8, text: &mut Vec<u8>, edits: &mut Vec<ConsoleEdit>) {
        let after_cr = std::mem::take(&mut self.after_cr);
        match b {
            0x1b => {
                flush(text, edits);
                self.state = State::Escape;
                self.escape_len = 0;
            }
            b'\n' => {
                flush(text, edits);
                if after_cr && edits.last() == Some(&ConsoleEdit::CarriageReturn) {
                    edits.pop();
                }
                edits.push(ConsoleEdit::Newline);
            }
            b'\r' => {
                flush(text, edits);
                edits.push(ConsoleEdit::CarriageReturn);
                self.after_cr = true;
            }
            0x08 => {
                flush(text, edits);
                edits.push(ConsoleEdit::Left(1));
            }
            0x07 => {
                flush(text, edits);
                edits.push(ConsoleEdit::Bell);
            }
            b'\t' => text.extend_from_slice(b"    "),
            0x00..=0x1f | 0x7f => {}
            _ => text.push(b),
        }
    }

    /// A CSI sequence ended with `last`: the cursor moves and erasures; the
    /// rest (colours, scrolling regions...) is dropped.
    fn csi(&mut self, last: u8, edits: &mut Vec<ConsoleEdit>) {
        let first = std::str::from_utf8(&self.params)
            .ok()
            .and_then(|p| p.split(';').next())
            .and_then(|n| n.parse::<u16>().ok());
        match last {
            b'D' => edits.push(ConsoleEdit::Left(first.unwrap_or(1).max(1))),
            b'C' => edits.push(ConsoleEdit::Right(first.unwrap_or(1).max(1))),
            b'K' => edits.push(ConsoleEdit::EraseLine {
                whole: first == Some(2),
            }),
            _ => {}
        }
    }

    fn count_escape(&mut self) {
        self.escape_len += 1;
        if self.escape_len > MAX_ESCAPE {
            self.state = State::Ground;
        }
    }
}

fn flush(text: &mut Vec<u8>, edits: &mut Vec<ConsoleEdit>) {
    if text.is_empty() {
        return;
    }
    let s = String::from_utf8_lossy(text).into_owned();
    text.clear();
    if let Some(ConsoleEdit::Text(t)) = edits.last_mut() {
        t.push_str(&s);
    } else {
        edits.push(ConsoleEdit::Text(s));
    }
}

/// A key typed into a console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleKey {
    Char(char),
    Enter,
    Backspace,
    Tab,
    Escape,
    Up,
    Down,
    Right,
    Left,
    Home,
    End,
    Delete,
}

/// The bytes a VT100-like terminal sends for `key`; with `ctrl`, a letter
/// becomes its control character (Ctrl+C = 0x03).
pub fn key_bytes(key: ConsoleKey, ctrl: bool) -> Vec<u8> {
    match key {
        ConsoleKey::Char(c) if ctrl && c.is_ascii_alphabetic() => {
            vec![(c.to_ascii_uppercase() as u8) & 0x1f]
        }
        ConsoleKey::Char(c) => c.to_string().into_bytes(),
        ConsoleKey::Enter => b"\r".to_vec(),
        ConsoleKey::Backspace => vec![0x7f],
        ConsoleKey::Tab => b"\t".to_vec(),
        ConsoleKey::Escape => vec![0x1b],
        ConsoleKey::Up => b"\x1b[A".to_vec(),
        ConsoleKey::Down => b"\x1b[B".to_vec(),
        ConsoleKey::Right => b"\x1b[C".to_vec(),
        ConsoleKey::Left => b"\x1b[D".to_vec(),
        ConsoleKey::Home => b"\x1b[H".to_vec(),
        ConsoleKey::End => b"\x1b[F".to_vec(),
        ConsoleKey::Delete => b"\x1b[3~".to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::ConsoleEdit::*;
    use super::*;

    fn text(s: &str) -> ConsoleEdit {
        Text(s.into())
    }

    #[test]
    fn escapes_are_dropped_and_controls_become_edits() {
        let mut f = ConsoleFilter::new();
        // QEMU's HMP: a colour-free banner, the prompt, readline's erase-to-end-of-line.
        assert_eq!(
            f.feed(b"QEMU 7.2.0 monitor\r\n(qemu) \x1b[K\x1b]0;title\x07in\x1b(Bfo\x08\x08 \x08\x07"),
            vec![
                text("QEMU 7.2.0 monitor"),
                Newline,
                text("(qemu) "),
                EraseLine { whole: false },
                text("info"),
                Left(1),
                Left(1),
                text(" "),
                Left(1),
                Bell
            ]
        );
        // QEMU's readline redraws the line: cursor back, the new text, erase the rest.
        assert_eq!(
            f.feed(b"\x1b[D\x1b[12Dinfo\x1b[2K\x1b[31m"),
            vec![Left(1), Left(12), text("info"), EraseLine { whole: true }]
        );
        assert_eq!(f.feed(b"a\rb"), vec![text("a"), CarriageReturn, text("b")]);
        // CR LF split over two reads is one new line.
        assert_eq!(f.feed(b"x\r"), vec![text("x"), CarriageReturn]);
        assert_eq!(f.feed(b"\ny"), vec![Newline, text("y")]);
    }

    #[test]
    fn sequences_and_utf8_split_across_reads() {
        let mut f = ConsoleFilter::new();
        assert_eq!(f.feed(b"\x1b[1;3"), vec![]);
        assert_eq!(f.feed(b"1mred \xc3"), vec![text("red ")]);
        assert_eq!(f.feed(b"\xa9t\xff"), vec![text("ét\u{fffd}")]);
        // An escape that never ends is dropped after a bound.
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b'1', 200));
        long.extend_from_slice(b"ok");
        let edits = f.feed(&long);
        assert!(matches!(edits.last(), Some(Text(t)) if t.ends_with("ok")), "{edits:?}");
    }

    #[test]
    fn keys_and_labels() {
        assert_eq!(key_bytes(ConsoleKey::Char('c'), true), [0x03]);
        assert_eq!(key_bytes(ConsoleKey::Char('é'), false), "é".as_bytes());
        assert_eq!(key_bytes(ConsoleKey::Enter, false), b"\r");
        assert_eq!(key_bytes(ConsoleKey::Up, false), b"\x1b[A");
        assert_eq!(
            console_port("org.qemu.console.serial.0"),
            Some(ConsolePort::Serial("0".into()))
        );
        assert_eq!(
            console_port("org.qemu.monitor.hmp.0"),
            Some(ConsolePort::Monitor("0".into()))
        );
        assert_eq!(console_port("org.qemu.monitor.qmp.0"), None);
        assert_eq!(console_port("org.spice-space.webdav.0"), None);
    }
}
