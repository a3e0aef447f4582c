use super::WarpTracker;
use gtk::prelude::*;
use gtk::{gdk, gio, glib, graphene};
use sumac_platform::keymap::KeycodeTable;
use sumac_platform::x11::{GrabEvent, GrabStatus, X11Error, X11Pointer, XWindow};

/// One display widget's X connection and grab.
pub(crate) struct X11Grab {
    pointer: X11Pointer,
    /// The toplevel window grabbed, while grabbed.
    window: Option<XWindow>,
    tracker: WarpTracker,
}

impl std::fmt::Debug for X11Grab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Grab")
            .field("window", &self.window)
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

/// The toplevel X window of `widget`, if GDK runs on X11 and it is realized.
fn toplevel_xid(widget: &gtk::Widget) -> Option<XWindow> {
    let surface = widget.native()?.surface()?;
    let xid = surface.downcast_ref::<gdk4_x11::X11Surface>()?.xid();
    XWindow::try_from(xid).ok()
}

/// Where the centre of `widget` is in its toplevel X window, in X pixels.
pub(crate) fn centre_in_toplevel(widget: &gtk::Widget) -> Option<(i32, i32)> {
    let native = widget.native()?;
    let (sx, sy) = native.surface_transform();
    let mid = graphene::Point::new(widget.width() as f32 / 2.0, widget.height() as f32 / 2.0);
    let p = widget.compute_point(native.upcast_ref::<gtk::Widget>(), &mid)?;
    let scale = f64::from(native.surface()?.scale_factor().max(1));
    let x = ((f64::from(p.x()) + sx) * scale).round();
    let y = ((f64::from(p.y()) + sy) * scale).round();
    // Window coordinates of a realized widget: far inside the i32 range.
    Some((x as i32, y as i32))
}

impl X11Grab {
    /// Opens our connection to the X server GDK uses; `None` when GDK is
    /// not on X11 (Wayland, ...) or the server cannot be reached.
    pub(crate) fn open(display: &gdk::Display) -> Option<Self> {
        display.downcast_ref::<gdk4_x11::X11Display>()?;
        let name = display.name();
        match X11Pointer::connect_to(name.as_str()) {
            Ok(pointer) => Some(Self {
                pointer,
                window: None,
                tracker: WarpTracker::default(),
            }),
            Err(e) => {
                tracing::warn!(display = %name, error = %e, "no X connection of our own: no pointer confinement");
                None
            }
        }
    }

    /// The server's keycode set (`None`: nothing known).
    pub(crate) fn keycode_table(&self) -> Result<Option<KeycodeTable>, X11Error> {
        self.pointer.keycode_table()
    }

    pub(crate) fn is_grabbed(&self) -> bool {
        self.window.is_some()
    }

    /// Tries to grab the pointer into `widget`'s toplevel.
    pub(crate) fn grab(&mut self, widget: &gtk::Widget) -> Result<GrabStatus, X11Error> {
        let Some(window) = toplevel_xid(widget) else {
            return Ok(GrabStatus::NotViewable);
        };
        // Events left from an earlier grab (after its ungrab) are stale.
        while let Ok(Some(_)) = self.pointer.poll_event() {}
        let status = self.pointer.grab(window)?;
        if status == GrabStatus::Success {
            self.window = Some(window);
            self.tracker.reset(None);
        }
        Ok(status)
    }

    /// Ends our grab (if any).
    pub(crate) fn ungrab(&mut self) {
        if self.window.take().is_some()
            && let Err(e) = self.pointer.ungrab()
        {
            tracing::warn!(error = %e, "X pointer ungrab failed");
        }
        self.tracker.reset(None);
    }

    /// The next event of the grab, already turned into a delta for
    /// motions: `Ok(None)` when no more are waiting.
    pub(crate) fn next(&mut self) -> Result<Option<GrabInput>, X11Error> {
        Ok(self.pointer.poll_event()?.map(|event| match event {
            GrabEvent::Motion { x, y, sequence } => {
                let (dx, dy) = self.tracker.motion(sequence, x, y);
                GrabInput::Motion(dx, dy)
            }
            GrabEvent::Button { button, pressed } => GrabInput::Button(button, pressed),
            GrabEvent::Ended => GrabInput::Ended,
        }))
    }

    /// Warps the pointer back to `widget`'s centre unless it is there or a
    /// warp is on its way.
    pub(crate) fn recentre(&mut self, widget: &gtk::Widget) -> Result<(), X11Error> {
        let (Some(window), Some(centre)) = (self.window, centre_in_toplevel(widget)) else {
            return Ok(());
        };
        if self.tracker.needs_warp(centre) {
            let sequence = self.pointer.warp_in_nowait(window, centre.0, centre.1)?;
            self.tracker.warped(sequence, centre);
        }
        Ok(())
    }

    /// Watches our connection for input on the main loop (through a
    /// `GSocket` on a duplicate of its descriptor; x11rb's socket is
    /// non-blocking already, which the GSocket also wants).
    pub(crate) fn watch(&self, mut f: impl FnMut() -> glib::ControlFlow + 'static) -> Result<glib::SourceId, String> {
        let fd = self.pointer.as_fd().try_clone_to_owned().map_err(|e| e.to_string())?;
        let socket = gio::Socket::from_fd(fd).map_err(|e| e.to_string())?;
        let source = gio::prelude::SocketExtManual::create_source(
            &socket,
            glib::IOCondition::IN | glib::IOCondition::ERR | glib::IOCondition::HUP,
            None::<&gio::Cancellable>,
            Some("sumac-x11-pointer-grab"),
            glib::Priority::DEFAULT,
            move |_, _| f(),
        );
        Ok(source.attach(None))
    }
}

/// One event of the X grab, for the input handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrabInput {
    /// The user moved the pointer by this many X pixels.
    Motion(i32, i32),
    /// X button number, pressed.
    Button(u8, bool),
    /// The X server ended the grab.
    Ended,
}
