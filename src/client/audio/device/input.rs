//! The capture side of the sound device back-end: [`DeviceSource`], its
//! thread and the cpal input stream.

use super::*;

/// What the input thread and callback share with the source.
#[derive(Debug, Default)]
struct InShared {
    open: AtomicBool,
    overflow: AtomicU64,
}

enum InCmd {
    Start(rtrb::Producer<f32>, Arc<Mutex<Option<(u16, u32)>>>),
    Stop,
}

/// Captures from the default input device.
pub struct DeviceSource {
    cmd: Option<mpsc::Sender<InCmd>>,
    ring: Option<rtrb::Consumer<f32>>,
    /// The device's (channels, rate), known once it opened.
    device_format: Arc<Mutex<Option<(u16, u32)>>>,
    conv: Option<Converter>,
    want: Option<PcmFormat>,
    gain: Gain,
    frame: Vec<f32>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for DeviceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSource")
            .field("want", &self.want)
            .finish_non_exhaustive()
    }
}

impl DeviceSource {
    pub fn new() -> Option<Self> {
        let thread_shared = Arc::new(InShared::default());
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sumac-audio-in".into())
            .spawn(move || input_thread(&rx, &thread_shared))
            .map_err(|e| tracing::warn!(error = %e, "cannot start the audio input thread"))
            .ok()?;
        Some(Self {
            cmd: Some(tx),
            ring: None,
            device_format: Arc::new(Mutex::new(None)),
            conv: None,
            want: None,
            gain: Gain::default(),
            frame: Vec::new(),
            thread: Some(thread),
        })
    }
}

impl AudioSource for DeviceSource {
    fn start(&mut self, format: PcmFormat) -> bool {
        // One second of the device's audio at up to 8 channels, 48 kHz.
        let (producer, consumer) = rtrb::RingBuffer::new(48_000 * MAX_CHANNELS);
        self.ring = Some(consumer);
        self.want = Some(format);
        self.conv = None;
        self.device_format = Arc::new(Mutex::new(None));
        if let Some(tx) = &self.cmd {
            let _ = tx.send(InCmd::Start(producer, Arc::clone(&self.device_format)));
        }
        true
    }

    fn read(&mut self, max: usize, out: &mut Vec<i16>) {
        let (Some(want), Some(ring)) = (self.want, self.ring.as_mut()) else {
            return;
        };
        if self.conv.is_none() {
            let known = *self
                .device_format
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some((channels, rate)) = known else { return };
            self.conv = Some(Converter::new(
                usize::from(channels),
                rate,
                usize::from(want.channels),
                want.rate,
            ));
        }
        let Some(conv) = self.conv.as_mut() else { return };
        let out_ch = conv.out_channels();
        let frames = max / out_ch.max(1);
        self.frame.resize(frames * out_ch, 0.0);
        let n = conv.produce(&mut self.frame, |slot| match ring.read_chunk(slot.len()) {
            Ok(chunk) => {
                for (d, v) in slot.iter_mut().zip(chunk) {
                    *d = v;
                }
                true
            }
            Err(_) => false,
        });
        let start = out.len();
        out.extend(self.frame.iter().take(n * out_ch).map(|&v| to_i16(v)));
        let volume = self.gain.volume();
        apply_volume(
            out.get_mut(start..).unwrap_or_default(),
            out_ch,
            &volume,
            self.gain.mute.load(Ordering::Relaxed),
        );
    }

    fn stop(&mut self) {
        self.ring = None;
        self.want = None;
        self.conv = None;
        if let Some(tx) = &self.cmd {
            let _ = tx.send(InCmd::Stop);
        }
    }

    fn set_volume(&mut self, volume: &[u16]) {
        self.gain.set_volume(volume);
    }

    fn set_mute(&mut self, mute: bool) {
        self.gain.mute.store(mute, Ordering::Relaxed);
    }
}

impl Drop for DeviceSource {
    fn drop(&mut self) {
        self.cmd = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn input_thread(rx: &mpsc::Receiver<InCmd>, shared: &Arc<InShared>) {
    let mut stream: Option<cpal::Stream> = None;
    let mut once = Once::default();
    while let Ok(cmd) = rx.recv() {
        stream = None;
        shared.open.store(false, Ordering::Relaxed);
        if let InCmd::Start(ring, device_format) = cmd {
            match open_input(ring, shared, &device_format) {
                Ok(s) => {
                    stream = Some(s);
                    shared.open.store(true, Ordering::Relaxed);
                }
                Err(e) => once.warn("no audio input device", &e),
            }
        }
    }
    drop(stream);
}

fn open_input(
    ring: rtrb::Producer<f32>,
    shared: &Arc<InShared>,
    device_format: &Mutex<Option<(u16, u32)>>,
) -> Result<cpal::Stream, DeviceError> {
    let host = cpal::default_host();
    let device = host.default_input_device().ok_or(DeviceError::NoDevice)?;
    let default = device.default_input_config()?;
    let ranges: Vec<_> = device.supported_input_configs()?.collect();
    let (config, sample_format, _) = choose(ranges, default, PcmFormat::OPUS);
    tracing::info!(
        channels = config.channels,
        rate = config.sample_rate,
        ?sample_format,
        "audio input opened"
    );
    *device_format.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some((config.channels.min(MAX_CHANNELS as u16), config.sample_rate));
    let stream = match sample_format {
        SampleFormat::F32 => build_input::<f32>(&device, config, ring, shared)?,
        SampleFormat::I16 => build_input::<i16>(&device, config, ring, shared)?,
        _ => return Err(DeviceError::Format),
    };
    stream.play()?;
    Ok(stream)
}

fn build_input<T: SizedSample>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut ring: rtrb::Producer<f32>,
    shared: &Arc<InShared>,
) -> Result<cpal::Stream, DeviceError>
where
    f32: FromSample<T>,
{
    let cb_shared = Arc::clone(shared);
    let channels = usize::from(config.channels.max(1));
    let kept = channels.min(MAX_CHANNELS);
    let data = move |input: &[T], _: &cpal::InputCallbackInfo| {
        // Whole frames only, and only the channels the converter knows.
        let frames = input.len() / channels;
        let room = ring.slots() / kept;
        let n = frames.min(room);
        if n < frames {
            cb_shared
                .overflow
                .fetch_add(((frames - n) * kept) as u64, Ordering::Relaxed);
        }
        if let Ok(chunk) = ring.write_chunk_uninit(n * kept) {
            let samples = input
                .chunks_exact(channels)
                .take(n)
                .flat_map(|f| f.iter().take(kept).map(|&s| f32::from_sample(s)));
            chunk.fill_from_iter(samples);
        }
    };
    let mut reported = false;
    let error = move |e: cpal::Error| {
        if !reported {
            tracing::warn!(error = %e, "audio input error: capture stops until the next start");
            reported = true;
        }
    };
    Ok(device.build_input_stream::<T, _, _>(config, data, error, None)?)
}
