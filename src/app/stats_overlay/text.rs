//! What the stats panel says: [`LiveStats`] in words (translated), one
//! block per video stream and one line per channel.

use crate::client::live_stats::{ChannelRow, LiveStats, StreamRow};
use crate::i18n::{gettext, gettext_f};
use gtk::glib;

/// `1.2 Mbit/s`, `640 kbit/s`: a bitrate for people.
pub fn bitrate(bits_per_second: f64) -> String {
    if bits_per_second >= 1_000_000.0 {
        gettext_f(
            "{rate} Mbit/s",
            &[("rate", &format!("{:.1}", bits_per_second / 1_000_000.0))],
        )
    } else {
        gettext_f(
            "{rate} kbit/s",
            &[("rate", &format!("{:.0}", bits_per_second / 1000.0))],
        )
    }
}

/// Bytes per second as GLib writes sizes (`1.5 MB/s`).
fn bytes_per_second(rate: f64) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a rounded rate")]
    let bytes = rate.max(0.0).round() as u64;
    gettext_f("{size}/s", &[("size", glib::format_size(bytes).as_str())])
}

fn fps(v: f64) -> String {
    format!("{v:.1}")
}

/// The lines of one stream.
pub fn stream_lines(s: &StreamRow) -> Vec<String> {
    let decoder = match &s.decoder {
        Some(d) if s.hardware => gettext_f("{decoder} (hardware)", &[("decoder", d)]),
        Some(d) => gettext_f("{decoder} (software)", &[("decoder", d)]),
        None => gettext("no decoder yet"),
    };
    let delay = s.delay_ms.map_or_else(
        || gettext("no frame shown"),
        |d| gettext_f("{delay} ms behind the clock", &[("delay", &format!("{d:.0}"))]),
    );
    vec![
        gettext_f(
            "Stream {id} (display {channel}): {codec} via {decoder}",
            &[
                ("id", &s.id.to_string()),
                ("channel", &s.channel.to_string()),
                ("codec", &s.codec.to_uppercase()),
                ("decoder", &decoder),
            ],
        ),
        gettext_f(
            "  {width}×{height}, {received} fps received, {shown} shown, {dropped} dropped",
            &[
                ("width", &s.width.to_string()),
                ("height", &s.height.to_string()),
                ("received", &fps(s.fps_received)),
                ("shown", &fps(s.fps_shown)),
                ("dropped", &fps(s.fps_dropped)),
            ],
        ),
        gettext_f(
            "  {delay}, {bitrate}",
            &[("delay", &delay), ("bitrate", &bitrate(s.bitrate))],
        ),
    ]
}

/// One channel's line.
pub fn channel_line(c: &ChannelRow) -> String {
    gettext_f(
        "{channel} {id}: {in} in, {out} out",
        &[
            ("channel", &c.key.channel_type.to_string()),
            ("id", &c.key.id.to_string()),
            ("in", &bytes_per_second(c.bytes_in)),
            ("out", &bytes_per_second(c.bytes_out)),
        ],
    )
}

/// The whole panel.
pub fn panel_text(stats: &LiveStats) -> String {
    let mut lines = Vec::new();
    if stats.streams.is_empty() {
        lines.push(gettext("No video stream"));
    }
    for s in &stats.streams {
        lines.extend(stream_lines(s));
    }
    lines.push(gettext("Bandwidth per channel:"));
    lines.extend(stats.channels.iter().map(|c| format!("  {}", channel_line(c))));
    lines.join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::proto::{ChannelKey, ChannelType};

    fn row() -> StreamRow {
        StreamRow {
            channel: 0,
            id: 3,
            codec: "vp8",
            decoder: Some("vp8dec".into()),
            hardware: false,
            width: 640,
            height: 360,
            fps_received: 25.0,
            fps_shown: 24.5,
            fps_dropped: 0.5,
            delay_ms: Some(12.4),
            bitrate: 1_234_567.0,
            frames_shown: 100,
        }
    }

    #[test]
    fn a_stream_in_words() {
        assert_eq!(
            stream_lines(&row()),
            [
                "Stream 3 (display 0): VP8 via vp8dec (software)",
                "  640×360, 25.0 fps received, 24.5 shown, 0.5 dropped",
                "  12 ms behind the clock, 1.2 Mbit/s",
            ]
        );
        let hw = StreamRow {
            decoder: Some("vah264dec".into()),
            hardware: true,
            delay_ms: None,
            bitrate: 640_000.0,
            ..row()
        };
        let lines = stream_lines(&hw);
        assert!(lines[0].ends_with("via vah264dec (hardware)"), "{lines:?}");
        assert_eq!(lines[2], "  no frame shown, 640 kbit/s");
        let none = StreamRow { decoder: None, ..row() };
        assert!(stream_lines(&none)[0].ends_with("via no decoder yet"));
    }

    #[test]
    fn the_panel_lists_streams_then_channels() {
        let stats = LiveStats {
            streams: vec![row()],
            channels: vec![ChannelRow {
                key: ChannelKey {
                    channel_type: ChannelType::DISPLAY,
                    id: 0,
                },
                bytes_in: 1_500_000.0,
                bytes_out: 200.0,
            }],
        };
        let text = panel_text(&stats);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[3], "Bandwidth per channel:");
        assert_eq!(lines[4], "  display 0: 1.5\u{a0}MB/s in, 200 bytes/s out");
        assert!(panel_text(&LiveStats::default()).starts_with("No video stream\n"));
    }
}
