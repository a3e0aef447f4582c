//! The agent machine's outgoing side: effects turned into AGENT_DATA chunks
//! under the token flow, events for the embedder, counters published.

use super::*;

impl Agent {
    /// Sends the messages, tells the readers, emits the events.
    pub(super) fn apply(&mut self, fx: Effects, counted: bool, out: &mut Outputs) {
        let Effects {
            msgs,
            events,
            grants,
            finished,
            stats,
        } = fx;
        for m in &msgs {
            self.queue(m, counted);
        }
        for (id, n) in grants {
            self.shared.grant(id, n);
        }
        for id in finished {
            self.shared.finish_reader(id);
        }
        self.stats.add(&stats);
        for e in events {
            out.event(SessionEvent::Agent(e));
        }
    }

    /// Encodes one message under the negotiated caps and queues its chunks.
    pub(super) fn queue(&mut self, msg: &AgentMessage, counted: bool) {
        if !self.connected {
            return;
        }
        let caps = self.nego.both();
        let chunks = match msg {
            // Clipboard data may be 100 MB: cut it without copying it whole first.
            AgentMessage::Clipboard(c) => {
                let head = AgentMessage::Clipboard(Clipboard {
                    selection: c.selection,
                    clip_type: c.clip_type,
                    data: Vec::new(),
                })
                .encode_body(caps);
                match head.map(|h| {
                    let size = u32::try_from(h.len().saturating_add(c.data.len()));
                    (h, size)
                }) {
                    Ok((head, Ok(size))) => {
                        let mut w = WriteCursor::with_capacity(crate::proto::vdagent::HEADER_SIZE);
                        AgentHeader {
                            protocol: PROTOCOL,
                            msg_type: msg_type::CLIPBOARD,
                            opaque: 0,
                            size,
                        }
                        .encode(&mut w);
                        Ok(chunk_parts(&[w.as_slice(), &head, &c.data]))
                    }
                    Ok((_, Err(_))) => Err("clipboard data larger than 4 GiB".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
            other => other
                .to_bytes(caps)
                .map(|b| chunk_parts(&[&b]))
                .map_err(|e| e.to_string()),
        };
        match chunks {
            Ok(chunks) => {
                self.stats.messages_sent += 1;
                self.push_chunks(chunks, counted);
            }
            Err(e) => {
                tracing::warn!(msg_type = msg.msg_type(), "agent message not sent: {e}");
                self.stats.encode_errors += 1;
            }
        }
    }

    pub(super) fn push_chunks(&mut self, chunks: Vec<Vec<u8>>, counted: bool) {
        if counted {
            self.shared.add_queued(chunks.iter().map(Vec::len).sum());
        }
        self.chunks
            .extend(chunks.into_iter().map(|body| Chunk { body, counted }));
    }

    /// Cuts more file data while few chunks wait, then sends what the tokens allow.
    pub(super) fn pump_and_flush(&mut self, now: Instant, out: &mut Outputs) {
        loop {
            self.flush(out);
            if !self.connected || self.chunks.len() >= FILE_HIGH_WATER || !self.transfers.has_data() {
                break;
            }
            let mut fx = Effects::default();
            if self.transfers.pump(1, now, &mut fx) == 0 {
                break;
            }
            self.apply(fx, false, out);
        }
    }

    pub(super) fn flush(&mut self, out: &mut Outputs) {
        while self.tokens > 0 {
            let Some(chunk) = self.chunks.pop_front() else {
                break;
            };
            self.tokens -= 1;
            if chunk.counted {
                self.shared.sent(chunk.body.len());
            }
            self.stats.chunks_sent += 1;
            out.send(&MainClient::AgentData(chunk.body));
        }
    }

    pub(super) fn publish(&self) {
        self.shared.set_stats(self.stats);
    }
}
