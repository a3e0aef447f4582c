//! The session's USB manager: the device list, the usbredir channels, which
//! device each carries, and the policy that connects devices by itself.
//!
//! Lock order: the manager's state, then a slot's. Channel threads report
//! through [`UsbManager::device_news`] and [`UsbManager::channel_closed`]
//! without holding their slot's lock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::device::{DeviceNews, RedirDevice, VirtualDisk};
use super::policy::{HotplugSink, PhysicalInfo, UsbBackend, UsbPolicy};
use super::{
    UsbDeviceId, UsbDeviceInfo, UsbDeviceState, UsbDisk, UsbError, UsbEvent, UsbOptions, UsbSource, channel_caps,
};
use crate::client::events::SessionEvent;
use crate::proto::ChannelKey;
use crate::usbredir::file_store::FileStore;
use crate::usbredir::msc::BlockStore;

/// What the manager asks of a channel.
pub(crate) enum Command {
    Attach(UsbDeviceId, Box<dyn RedirDevice>),
    Detach,
}

#[derive(Default)]
struct SlotState {
    /// The device given to this channel (attached or on its way).
    device: Option<UsbDeviceId>,
    command: Option<Command>,
}

/// One usbredir channel as the manager sees it; the endpoint takes its commands.
pub(crate) struct ChannelSlot {
    pub(crate) key: ChannelKey,
    pub(crate) notify: Arc<tokio::sync::Notify>,
    state: Mutex<SlotState>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ChannelSlot {
    pub(crate) fn take_command(&self) -> Option<Command> {
        lock(&self.state).command.take()
    }
}

enum Opener {
    Disk(UsbDisk),
    Physical(PhysicalInfo),
}

struct Entry {
    info: UsbDeviceInfo,
    opener: Opener,
    /// Connect as soon as a channel is free (start-up disks, policy).
    wanted: bool,
    /// Drop from the list once released.
    remove_when_free: bool,
}

#[derive(Default)]
struct Inner {
    devices: BTreeMap<UsbDeviceId, Entry>,
    channels: BTreeMap<ChannelKey, Arc<ChannelSlot>>,
    next_id: u64,
    policy: UsbPolicy,
    backend_started: bool,
}

/// See the module documentation.
pub(crate) struct UsbManager {
    inner: Mutex<Inner>,
    events: mpsc::UnboundedSender<SessionEvent>,
    enabled: bool,
    backend: Option<Arc<dyn UsbBackend>>,
}

impl UsbManager {
    pub(crate) fn new(options: &UsbOptions, events: mpsc::UnboundedSender<SessionEvent>) -> Arc<Self> {
        let m = Arc::new(Self {
            inner: Mutex::new(Inner {
                policy: options.policy.clone(),
                ..Inner::default()
            }),
            events,
            enabled: options.enabled,
            backend: options.backend.clone(),
        });
        if m.enabled {
            for disk in &options.disks {
                if let Err(e) = m.add_disk(disk.clone(), true) {
                    tracing::warn!(path = %disk.path.display(), error = %e, "USB disk not added");
                    m.emit(UsbEvent::AutoConnectFailed {
                        id: UsbDeviceId(u64::MAX),
                        error: e.to_string(),
                    });
                }
            }
        }
        m
    }

    fn emit(&self, e: UsbEvent) {
        let _ = self.events.send(SessionEvent::Usb(e));
    }

    fn state(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    pub(crate) fn devices(&self) -> Vec<UsbDeviceInfo> {
        self.state().devices.values().map(|e| e.info.clone()).collect()
    }

    pub(crate) fn device(&self, id: UsbDeviceId) -> Option<UsbDeviceInfo> {
        self.state().devices.get(&id).map(|e| e.info.clone())
    }

    fn counts(inner: &Inner) -> (usize, usize) {
        let free = inner
            .channels
            .values()
            .filter(|s| lock(&s.state).device.is_none())
            .count();
        (free, inner.channels.len())
    }

    pub(crate) fn channel_counts(&self) -> (usize, usize) {
        Self::counts(&self.state())
    }

    fn emit_counts(&self, inner: &Inner) {
        let (free, total) = Self::counts(inner);
        self.emit(UsbEvent::Channels { free, total });
    }

    fn set_state(&self, inner: &mut Inner, id: UsbDeviceId, state: UsbDeviceState) {
        if let Some(e) = inner.devices.get_mut(&id)
            && e.info.state != state
        {
            e.info.state = state;
            self.emit(UsbEvent::Changed(e.info.clone()));
        }
    }

    fn insert(&self, inner: &mut Inner, mut info: UsbDeviceInfo, opener: Opener, wanted: bool) -> UsbDeviceId {
        inner.next_id += 1;
        let id = UsbDeviceId(inner.next_id);
        info.id = id;
        self.emit(UsbEvent::Added(info.clone()));
        inner.devices.insert(
            id,
            Entry {
                info,
                opener,
                wanted,
                remove_when_free: false,
            },
        );
        id
    }

    /// Adds a virtual disk; `wanted`: connect it when a channel is free.
    pub(crate) fn add_disk(&self, disk: UsbDisk, wanted: bool) -> Result<UsbDeviceId, UsbError> {
        if !self.enabled {
            return Err(UsbError::Disabled);
        }
        // Check now that it opens, so the user hears at once.
        open_disk(&disk)?;
        let name = disk
            .path
            .file_name()
            .map_or_else(|| disk.path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let info = UsbDeviceInfo {
            id: UsbDeviceId(0),
            name,
            vendor_id: crate::usbredir::msc::DEFAULT_VENDOR_ID,
            product_id: crate::usbredir::msc::DEFAULT_PRODUCT_ID,
            source: UsbSource::Disk {
                path: disk.path.clone(),
                read_only: disk.read_only,
            },
            state: UsbDeviceState::Idle,
        };
        let mut inner = self.state();
        let id = self.insert(&mut inner, info, Opener::Disk(disk), wanted);
        if wanted {
            self.pump(&mut inner);
        }
        Ok(id)
    }

    /// A usbredir channel exists (its factory built it).
    pub(crate) fn add_channel(self: &Arc<Self>, key: ChannelKey) -> Arc<ChannelSlot> {
        let slot = Arc::new(ChannelSlot {
            key,
            notify: Arc::new(tokio::sync::Notify::new()),
            state: Mutex::new(SlotState::default()),
        });
        let mut inner = self.state();
        inner.channels.insert(key, Arc::clone(&slot));
        self.emit_counts(&inner);
        let start_backend = !inner.backend_started && self.backend.is_some();
        inner.backend_started = true;
        self.pump(&mut inner);
        drop(inner);
        if start_backend {
            self.start_backend();
        }
        slot
    }

    /// Enumerates physical devices (redirect-on-connect) and starts hotplug.
    fn start_backend(self: &Arc<Self>) {
        let Some(backend) = self.backend.clone() else {
            return;
        };
        let present = backend.devices();
        {
            let mut inner = self.state();
            for d in present {
                let wanted = inner.policy.on_start(&d);
                self.insert(&mut inner, physical_info(&d), Opener::Physical(d), wanted);
            }
            self.pump(&mut inner);
        }
        backend.watch(Arc::new(Sink(Arc::downgrade(self))) as Arc<dyn HotplugSink>);
    }

    pub(crate) fn hotplug_added(&self, d: PhysicalInfo) {
        let mut inner = self.state();
        let known = inner.devices.values().any(|e| {
            matches!(&e.info.source, UsbSource::Physical { bus, address } if *bus == d.bus && *address == d.address)
        });
        if known {
            return;
        }
        let wanted = self.enabled && inner.policy.on_hotplug(&d);
        let id = self.insert(&mut inner, physical_info(&d), Opener::Physical(d), wanted);
        let (free, total) = Self::counts(&inner);
        if wanted && free == 0 && total > 0 {
            // As spice-gtk: a plugged device that cannot go now is not kept waiting.
            if let Some(e) = inner.devices.get_mut(&id) {
                e.wanted = false;
            }
            let error = UsbError::NoFreeChannel { total }.to_string();
            self.set_state(&mut inner, id, UsbDeviceState::Failed { error: error.clone() });
            self.emit(UsbEvent::AutoConnectFailed { id, error });
        }
        self.pump(&mut inner);
    }

    pub(crate) fn hotplug_removed(&self, bus: u8, address: u8) {
        let mut inner = self.state();
        let Some(id) = inner.devices.iter().find_map(|(id, e)| {
            matches!(&e.info.source, UsbSource::Physical { bus: b, address: a } if *b == bus && *a == address)
                .then_some(*id)
        }) else {
            return;
        };
        self.remove_locked(&mut inner, id);
    }

    /// Connects every wanted idle device while channels are free.
    fn pump(&self, inner: &mut Inner) {
        let wanted: Vec<UsbDeviceId> = inner
            .devices
            .iter()
            .filter(|(_, e)| e.wanted && e.info.state.channel().is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in wanted {
            if Self::counts(inner).0 == 0 {
                break;
            }
            if let Some(e) = inner.devices.get_mut(&id) {
                e.wanted = false;
            }
            if let Err(e) = self.connect_locked(inner, id) {
                let error = e.to_string();
                tracing::warn!(%id, %error, "USB auto-connect failed");
                self.set_state(inner, id, UsbDeviceState::Failed { error: error.clone() });
                self.emit(UsbEvent::AutoConnectFailed { id, error });
            }
        }
    }

    pub(crate) fn connect(&self, id: UsbDeviceId) -> Result<(), UsbError> {
        if !self.enabled {
            return Err(UsbError::Disabled);
        }
        let mut inner = self.state();
        let r = self.connect_locked(&mut inner, id);
        if let Err(e) = &r
            && !matches!(e, UsbError::UnknownDevice(_) | UsbError::AlreadyConnected)
        {
            self.set_state(&mut inner, id, UsbDeviceState::Failed { error: e.to_string() });
        }
        r
    }

    fn connect_locked(&self, inner: &mut Inner, id: UsbDeviceId) -> Result<(), UsbError> {
        let entry = inner.devices.get(&id).ok_or(UsbError::UnknownDevice(id))?;
        if entry.info.state.channel().is_some() {
            return Err(UsbError::AlreadyConnected);
        }
        let total = inner.channels.len();
        let slot = inner
            .channels
            .values()
            .find(|s| lock(&s.state).device.is_none())
            .cloned()
            .ok_or(UsbError::NoFreeChannel { total })?;
        let device: Box<dyn RedirDevice> = match &entry.opener {
            Opener::Disk(disk) => Box::new(VirtualDisk::new(open_disk(disk)?, channel_caps())),
            Opener::Physical(info) => {
                let backend = self.backend.as_ref().ok_or(UsbError::UnknownDevice(id))?;
                backend.open(info, channel_caps(), Arc::clone(&slot.notify))?
            }
        };
        {
            let mut st = lock(&slot.state);
            st.device = Some(id);
            st.command = Some(Command::Attach(id, device));
        }
        slot.notify.notify_one();
        tracing::info!(%id, channel = %slot.key, "USB device given to a channel");
        self.set_state(inner, id, UsbDeviceState::Connecting { channel: slot.key });
        self.emit_counts(inner);
        Ok(())
    }

    pub(crate) fn disconnect(&self, id: UsbDeviceId) -> Result<(), UsbError> {
        let mut inner = self.state();
        self.disconnect_locked(&mut inner, id)
    }

    fn disconnect_locked(&self, inner: &mut Inner, id: UsbDeviceId) -> Result<(), UsbError> {
        let entry = inner.devices.get_mut(&id).ok_or(UsbError::UnknownDevice(id))?;
        entry.wanted = false;
        let Some(channel) = entry.info.state.channel() else {
            return Ok(());
        };
        if let Some(slot) = inner.channels.get(&channel) {
            let mut st = lock(&slot.state);
            match st.command.take() {
                // Not taken by the channel yet: never attached.
                Some(Command::Attach(..)) => {
                    st.device = None;
                    drop(st);
                    self.set_state(inner, id, UsbDeviceState::Idle);
                    self.emit_counts(inner);
                    self.finish_removal(inner, id);
                    return Ok(());
                }
                _ => st.command = Some(Command::Detach),
            }
            drop(st);
            slot.notify.notify_one();
        }
        self.set_state(inner, id, UsbDeviceState::Disconnecting { channel });
        Ok(())
    }

    pub(crate) fn remove(&self, id: UsbDeviceId) -> Result<(), UsbError> {
        let mut inner = self.state();
        if !inner.devices.contains_key(&id) {
            return Err(UsbError::UnknownDevice(id));
        }
        self.remove_locked(&mut inner, id);
        Ok(())
    }

    fn remove_locked(&self, inner: &mut Inner, id: UsbDeviceId) {
        if let Some(e) = inner.devices.get_mut(&id) {
            e.remove_when_free = true;
        }
        let _ = self.disconnect_locked(inner, id);
        self.finish_removal(inner, id);
    }

    fn finish_removal(&self, inner: &mut Inner, id: UsbDeviceId) {
        let done = inner
            .devices
            .get(&id)
            .is_some_and(|e| e.remove_when_free && e.info.state.channel().is_none());
        if done {
            inner.devices.remove(&id);
            self.emit(UsbEvent::Removed(id));
        }
    }

    pub(crate) fn set_auto_connect(&self, on: bool) {
        self.state().policy.auto_connect = on;
    }

    pub(crate) fn auto_connect(&self) -> bool {
        self.state().policy.auto_connect
    }

    /// A channel's device reports (from the channel's thread).
    pub(crate) fn device_news(&self, key: ChannelKey, id: UsbDeviceId, news: DeviceNews) {
        let mut inner = self.state();
        match news {
            DeviceNews::Connected => {
                let disconnecting = inner
                    .devices
                    .get(&id)
                    .is_some_and(|e| matches!(e.info.state, UsbDeviceState::Disconnecting { .. }));
                if !disconnecting {
                    self.set_state(&mut inner, id, UsbDeviceState::Connected { channel: key });
                }
            }
            DeviceNews::Released { error } => {
                if let Some(slot) = inner.channels.get(&key) {
                    let mut st = lock(&slot.state);
                    if st.device == Some(id) {
                        st.device = None;
                        if matches!(st.command, Some(Command::Detach)) {
                            st.command = None;
                        }
                    }
                }
                let state = match error {
                    Some(error) => UsbDeviceState::Failed { error },
                    None => UsbDeviceState::Idle,
                };
                self.set_state(&mut inner, id, state);
                self.finish_removal(&mut inner, id);
                self.emit_counts(&inner);
                self.pump(&mut inner);
            }
        }
    }

    /// A usbredir channel ended; its device (if any) was dropped by the endpoint.
    pub(crate) fn channel_closed(&self, key: ChannelKey) {
        let mut inner = self.state();
        let Some(slot) = inner.channels.remove(&key) else {
            return;
        };
        let id = lock(&slot.state).device.take();
        if let Some(id) = id {
            let state = if inner.devices.get(&id).is_some_and(|e| e.remove_when_free)
                || matches!(
                    inner.devices.get(&id).map(|e| &e.info.state),
                    Some(UsbDeviceState::Disconnecting { .. })
                ) {
                UsbDeviceState::Idle
            } else {
                UsbDeviceState::Failed {
                    error: "the USB redirection channel closed".into(),
                }
            };
            self.set_state(&mut inner, id, state);
            self.finish_removal(&mut inner, id);
        }
        self.emit_counts(&inner);
    }
}

fn physical_info(d: &PhysicalInfo) -> UsbDeviceInfo {
    UsbDeviceInfo {
        id: UsbDeviceId(0),
        name: d.name.clone(),
        vendor_id: d.view.vendor,
        product_id: d.view.product,
        source: UsbSource::Physical {
            bus: d.bus,
            address: d.address,
        },
        state: UsbDeviceState::Idle,
    }
}

fn open_disk(disk: &UsbDisk) -> Result<FileStore, UsbError> {
    let store = FileStore::open(&disk.path, disk.read_only).map_err(|source| UsbError::Image {
        path: disk.path.clone(),
        source,
    })?;
    if store.block_count() == 0 {
        return Err(UsbError::EmptyImage {
            path: disk.path.clone(),
        });
    }
    Ok(store)
}

/// Hotplug events into a manager that may be gone.
struct Sink(std::sync::Weak<UsbManager>);

impl HotplugSink for Sink {
    fn added(&self, info: PhysicalInfo) {
        if let Some(m) = self.0.upgrade() {
            m.hotplug_added(info);
        }
    }

    fn removed(&self, bus: u8, address: u8) {
        if let Some(m) = self.0.upgrade() {
            m.hotplug_removed(bus, address);
        }
    }
}
