//! The session window's sound controls in the header bar: a volume button
//! (bound both ways to the session's `volume` and `mute`: it follows the
//! guest's mixer, and moving it changes the guest's mixer through the agent)
//! and a microphone indicator, shown while the guest records from the
//! microphone; clicking it refuses the microphone for this session.

use crate::gtk::Session;
use crate::i18n::gettext;
use gtk::prelude::*;

/// Adds the volume button and the microphone indicator to `header`.
pub fn attach(header: &gtk::HeaderBar, session: &Session) {
    let volume = gtk::ScaleButton::new(
        0.0,
        1.0,
        0.05,
        &[
            "audio-volume-muted-symbolic",
            "audio-volume-high-symbolic",
            "audio-volume-low-symbolic",
            "audio-volume-medium-symbolic",
        ],
    );
    volume.set_tooltip_text(Some(&gettext("Guest volume")));
    volume.set_widget_name("sumac-volume");
    // Muted shows as 0; moving the slider unmutes.
    session.bind_property("volume", &volume, "value").sync_create().build();
    {
        let session = session.downgrade();
        volume.connect_value_changed(move |_, v| {
            let Some(session) = session.upgrade() else { return };
            if (session.volume() - v).abs() > 0.001 {
                session.set_volume(v);
            }
            if session.mute() && v > 0.0 {
                session.set_mute(false);
            }
        });
    }
    {
        let volume = volume.downgrade();
        session.connect_mute_notify(move |s| {
            if let Some(b) = volume.upgrade() {
                b.set_value(if s.mute() { 0.0 } else { s.volume() });
            }
        });
    }
    header.pack_end(&volume);

    let mic = gtk::Button::builder()
        .icon_name("audio-input-microphone-symbolic")
        .tooltip_text(gettext(
            "The guest is recording from your microphone. Click to stop it.",
        ))
        .visible(session.microphone_active())
        .build();
    mic.add_css_class("destructive-action");
    mic.set_widget_name("sumac-microphone");
    session
        .bind_property("microphone-active", &mic, "visible")
        .sync_create()
        .build();
    {
        let session = session.downgrade();
        mic.connect_clicked(move |_| {
            if let Some(session) = session.upgrade() {
                session.set_microphone_allowed(false);
            }
        });
    }
    header.pack_end(&mic);
}
