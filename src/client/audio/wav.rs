//! A playback sink that writes a WAV file (16-bit PCM), for headless tools
//! (`sumac-cli stats --audio-wav FILE`) and tests; and a small WAV reader.
//!
//! The file holds every sample the playback channel decoded, in the format
//! of the first START; the header's sizes are patched at each STOP and when
//! the sink is dropped. It has no device delay: the multimedia clock is not
//! corrected by it.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::channel::audio::{AudioBackend, AudioSink, AudioSource, PcmFormat};

/// A back-end whose sink writes `path` and which has no source.
#[derive(Debug, Clone)]
pub struct WavBackend {
    path: PathBuf,
}

impl WavBackend {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl AudioBackend for WavBackend {
    fn open_sink(&self) -> Option<Box<dyn AudioSink>> {
        Some(Box::new(WavSink::new(&self.path)))
    }

    fn open_source(&self) -> Option<Box<dyn AudioSource>> {
        None
    }
}

/// Writes what is played into a WAV file (created at the first START).
#[derive(Debug)]
pub struct WavSink {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    format: Option<PcmFormat>,
    samples: u64,
    failed: bool,
}

const HEADER_LEN: u64 = 44;

impl WavSink {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            file: None,
            format: None,
            samples: 0,
            failed: false,
        }
    }

    fn fail(&mut self, what: &str, e: &std::io::Error) {
        if !self.failed {
            tracing::warn!(path = %self.path.display(), error = %e, "{what}: WAV output stops");
        }
        self.failed = true;
        self.file = None;
    }

    /// Writes the header with the sizes known so far.
    fn write_header(&mut self) {
        let (Some(f), Some(file)) = (self.format, self.file.as_mut()) else {
            return;
        };
        let data = self.samples.saturating_mul(2).min(u64::from(u32::MAX) - HEADER_LEN);
        let r = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&header(f, data)))
            .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()))
            .and_then(|()| file.flush());
        if let Err(e) = r {
            self.fail("cannot write the WAV header", &e);
        }
    }
}

/// The 44-byte RIFF/WAVE header of 16-bit PCM with `data_bytes` of samples.
pub fn header(f: PcmFormat, data_bytes: u64) -> [u8; 44] {
    let channels = u16::from(f.channels.max(1));
    let block = channels * 2;
    let data = u32::try_from(data_bytes).unwrap_or(u32::MAX);
    let mut h = [0u8; 44];
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(dst) = h.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    };
    put(0, b"RIFF");
    put(4, &data.saturating_add(36).to_le_bytes());
    put(8, b"WAVEfmt ");
    put(16, &16u32.to_le_bytes());
    put(20, &1u16.to_le_bytes());
    put(22, &channels.to_le_bytes());
    put(24, &f.rate.to_le_bytes());
    put(28, &f.rate.saturating_mul(u32::from(block)).to_le_bytes());
    put(32, &block.to_le_bytes());
    put(34, &16u16.to_le_bytes());
    put(36, b"data");
    put(40, &data.to_le_bytes());
    h
}

impl AudioSink for WavSink {
    fn start(&mut self, format: PcmFormat) {
        if self.failed {
            return;
        }
        match self.format {
            Some(f) if f != format => {
                tracing::warn!(first = ?f, now = ?format, "playback format changed; the WAV keeps the first one");
            }
            Some(_) => {}
            None => match File::create(&self.path) {
                Ok(file) => {
                    self.file = Some(BufWriter::new(file));
                    self.format = Some(format);
                    self.write_header();
                }
                Err(e) => self.fail("cannot create the WAV file", &e),
            },
        }
    }

    fn play(&mut self, samples: &[i16]) {
        let Some(file) = self.file.as_mut() else { return };
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        if let Err(e) = file.write_all(&bytes) {
            self.fail("cannot write the WAV file", &e);
            return;
        }
        self.samples = self.samples.saturating_add(samples.len() as u64);
    }

    fn stop(&mut self) {
        self.write_header();
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        self.write_header();
    }
}

/// A WAV file's 16-bit PCM samples (interleaved) and format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    pub format: PcmFormat,
    pub samples: Vec<i16>,
}

/// Reads a 16-bit PCM WAV file (the chunks this module and `parec` write).
pub fn read_wav(bytes: &[u8]) -> Result<Wav, &'static str> {
    let get = |at: usize, n: usize| bytes.get(at..at.checked_add(n)?);
    if get(0, 4) != Some(b"RIFF") || get(8, 4) != Some(b"WAVE") {
        return Err("not a RIFF/WAVE file");
    }
    let u16_at = |at| get(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at| get(at, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let mut at = 12usize;
    let mut format = None;
    while let (Some(id), Some(len)) = (get(at, 4), u32_at(at + 4)) {
        let body = at + 8;
        let len = usize::try_from(len).map_err(|_| "chunk too large")?;
        match id {
            b"fmt " => {
                let tag = u16_at(body).ok_or("short fmt")?;
                let channels = u16_at(body + 2).ok_or("short fmt")?;
                let rate = u32_at(body + 4).ok_or("short fmt")?;
                let bits = u16_at(body + 14).ok_or("short fmt")?;
                if tag != 1 || bits != 16 {
                    return Err("not 16-bit PCM");
                }
                format = Some(PcmFormat {
                    channels: u8::try_from(channels).map_err(|_| "too many channels")?,
                    rate,
                });
            }
            b"data" => {
                let format = format.ok_or("data before fmt")?;
                // Streaming writers (parec) may leave the size unknown: take what is there.
                let end = body.saturating_add(len).min(bytes.len());
                let data = bytes.get(body..end).ok_or("short data")?;
                let samples = data.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                return Ok(Wav { format, samples });
            }
            _ => {}
        }
        at = body.saturating_add(len).saturating_add(len & 1);
    }
    Err("no data chunk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_played_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        {
            let mut sink = WavSink::new(&path);
            sink.play(&[9, 9]); // before START: nowhere
            sink.start(PcmFormat::OPUS);
            sink.play(&[1, -1, 2, -2]);
            sink.stop();
            sink.start(PcmFormat::OPUS);
            sink.play(&[3, -3]);
        }
        let wav = read_wav(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(wav.format, PcmFormat::OPUS);
        assert_eq!(wav.samples, vec![1, -1, 2, -2, 3, -3]);
        assert_eq!(read_wav(b"RIFF\0\0\0\0WAVE"), Err("no data chunk"));
        assert!(read_wav(b"nope").is_err());
    }
}
