#!/bin/bash
# Init (PID 1) of the Sumac test guest, started by the initramfs on the overlay root (the host's root
# read-only + tmpfs; the initramfs mounted every file system). Brings up what a SPICE client talks to
# (Xorg on qxl, spice-vdagent, spice-webdavd, ALSA, pcscd, a serial console), reports "ready" to the
# host through the control share, then runs the host's commands from that share.
#
# Under TCG every process costs: its program and libraries are read over 9p and its code translated.
# So this script waits with `read -t` on a FIFO nobody writes (a `sleep` is a process), tests files
# and PIDs with builtins, and writes files with printf, not cat.
#
# Control share (/sumac/ctl, a writable 9p share; the host's side is the guest's run directory):
#   config.sh   the host's settings (SUMAC_*), written before boot
#   cmd/ID.sh   a request: a bash script the host renamed into place; cmd/ID.timeout its time limit
#   out/ID.out, out/ID.err   its stdout and stderr; out/ID.rc its exit status and a newline, last
#   log/        logs of the daemons started here; waiting: what readiness still waits for;
#   ready: written once everything is up; failed: why the init gave up (then it powers off)
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=linux
# GTK programs (spice-vdagent...) would start the accessibility bus: seconds under TCG, for nothing.
export NO_AT_BRIDGE=1
CTL=/sumac/ctl
LOGS=$CTL/log
# shellcheck source=/dev/null
. "$CTL/config.sh"
exec 3<>/run/sumac/tick

log() {
    local up rest
    read -r up rest </proc/uptime
    echo "sumac-init [$up s] $*" >/dev/console
}

pause() {
    read -r -t "$1" -u 3 _
}

fail() {
    log "FAILED: $*"
    echo "$*" >"$CTL/failed"
    sync
    echo o >/proc/sysrq-trigger
    while :; do pause 60; done
}

mkdir -p "$LOGS"
log "guest init"

# Logging (spice-vdagent and spice-vdagentd log only to syslog), the system bus and a session
# bus for the X session (without one, spice-vdagent spends seconds trying to autolaunch it).
busybox syslogd -O "$LOGS/syslog"
dbus-daemon --system --fork || fail "dbus-daemon"
export DBUS_SESSION_BUS_ADDRESS=unix:path=/run/sumac/session-bus
dbus-daemon --session --fork --nopidfile --address="$DBUS_SESSION_BUS_ADDRESS" || log "session dbus-daemon failed"

# The modules everything below needs, loaded before udev starts (udev replays their devices): then
# Xorg starts while udev works through the other devices (Xorg takes input devices as udev
# announces them). One vCPU, but much of the boot waits for 9p reads, so the overlap pays.
modprobe -a virtio_console qxl snd_hda_intel snd_hda_codec_generic uinput fuse evdev xhci_pci uhci_hcd ||
    log "modprobe failed"
log "modules loaded"

# udev, with a rule that applies the client's monitor configuration: with the qxl KMS driver QEMU
# takes the client's monitors config itself and the kernel sends a DRM change uevent; a desktop
# would apply the new preferred mode, here xrandr --auto does.
# (`xrandr --auto` alone leaves enabled outputs alone: each connected output gets --output --auto.)
printf '%s\n' '# Run by udev on a DRM change event (guest resize from the SPICE client): each connected' \
    '# output takes its preferred mode, the one the client asked for.' \
    'export DISPLAY=:0' \
    'xrandr | while read -r output state _; do' \
    '    [ "$state" = connected ] && xrandr --verbose --output "$output" --auto' \
    "done >>$LOGS/resize.log 2>&1" >/run/sumac/resize.sh
printf '%s\n' 'SUBSYSTEM=="drm", ACTION=="change", RUN+="/bin/sh /run/sumac/resize.sh"' \
    >/run/udev/rules.d/99-sumac-resize.rules
/lib/systemd/systemd-udevd --daemon >"$LOGS/udevd.log" 2>&1 || fail "systemd-udevd"
udevadm trigger --type=subsystems --action=add
udevadm trigger --type=devices --action=add

# Xorg on the qxl device, blanking and DPMS off.
printf '%s\n' 'Section "ServerFlags"' '    Option "BlankTime" "0"' '    Option "StandbyTime" "0"' \
    '    Option "SuspendTime" "0"' '    Option "OffTime" "0"' 'EndSection' \
    'Section "Device"' '    Identifier "qxl"' "    Driver \"$SUMAC_XORG_DRIVER\"" 'EndSection' >/run/sumac/xorg.conf
Xorg :0 -config /run/sumac/xorg.conf -nolisten tcp -ac -s 0 -dpms -noreset -novtswitch \
    -logfile "$LOGS/Xorg.0.log" vt1 >"$LOGS/Xorg.out" 2>&1 &
xorg_pid=$!

# The virtio ports appear once QEMU has told the guest about them; /dev/virtio-ports links in case
# udev has not made them yet.
wanted_ports=()
[[ $SUMAC_AGENT == 1 ]] && wanted_ports+=(com.redhat.spice.0)
[[ $SUMAC_WEBDAV == 1 ]] && wanted_ports+=(org.spice-space.webdav.0)
for ((i = 0; i < 300; i++)); do
    for port in /sys/class/virtio-ports/*; do
        [[ -r $port/name ]] || continue
        read -r name <"$port/name" || continue
        [[ -n $name && ! -e /dev/virtio-ports/$name ]] && ln -s "../${port##*/}" "/dev/virtio-ports/$name" 2>/dev/null
    done
    missing=
    for name in "${wanted_ports[@]}"; do
        [[ -e /dev/virtio-ports/$name ]] || missing+=" $name"
    done
    [[ -z $missing ]] && break
    pause 0.1
done
[[ -n $missing ]] && log "virtio ports missing:$missing"

# WebDAV (no X needed): spice-webdavd needs a running avahi-daemon (which needs the system bus).
if [[ $SUMAC_WEBDAV == 1 ]]; then
    mkdir -p /run/avahi-daemon
    avahi-daemon --daemonize --no-chroot --no-drop-root --no-rlimits || log "avahi-daemon failed"
    spice-webdavd -p 9843 >"$LOGS/spice-webdavd.log" 2>&1 &
    webdavd_pid=$!
    log "spice-webdavd started"
fi

# X clients may connect once the socket exists (the server answers when it is done starting).
for ((i = 0; i < 1200; i++)); do
    [[ -S /tmp/.X11-unix/X0 ]] && break
    kill -0 "$xorg_pid" 2>/dev/null || fail "Xorg exited (see $LOGS/Xorg.0.log)"
    pause 0.1
done
[[ -S /tmp/.X11-unix/X0 ]] || fail "Xorg made no socket (see $LOGS/Xorg.0.log)"
DISPLAY=:0 xterm -ut -geometry 80x24+20+20 -e bash --norc >"$LOGS/xterm.log" 2>&1 &
log "Xorg listening"

# The agent: the daemon (-X: no logind here), then the session agent in the X session.
if [[ $SUMAC_AGENT == 1 ]]; then
    mkdir -p /run/spice-vdagentd "$SUMAC_XFER_DIR"
    spice-vdagentd -x -X >"$LOGS/spice-vdagentd.log" 2>&1 &
    vdagentd_pid=$!
    for ((i = 0; i < 300; i++)); do
        [[ -S /run/spice-vdagentd/spice-vdagent-sock ]] && break
        pause 0.1
    done
    [[ -S /run/spice-vdagentd/spice-vdagent-sock ]] || fail "spice-vdagentd made no socket"
    DISPLAY=:0 spice-vdagent -x -f "$SUMAC_XFER_DIR" -o 0 >"$LOGS/spice-vdagent.log" 2>&1 &
    vdagent_pid=$!
    log "spice-vdagent started"
fi

# Sound: the mixer unmuted at a known volume (a client may send volume 0 / mute at connect);
# `sh /run/sumac/mixer.sh [PERCENT]` sets it again (the host's GuestGroup does after each case).
if [[ $SUMAC_AUDIO == 1 ]]; then
    printf '%s\n' \
        "# Sets card 0's playback and capture to PERCENT (default $SUMAC_VOLUME), unmuted;" \
        '# controls the codec lacks are skipped.' \
        "v=\${1:-$SUMAC_VOLUME}" \
        'printf "sset %s $v%% unmute\n" Master PCM Front Headphone Speaker | amixer -q -c 0 -s >/dev/null 2>&1' \
        'printf "sset Capture $v%% cap\n" | amixer -q -c 0 -s >/dev/null 2>&1' \
        "amixer -c 0 scontents >$LOGS/mixer.txt 2>&1" >/run/sumac/mixer.sh
    for ((i = 0; i < 100; i++)); do
        [[ -e /dev/snd/controlC0 ]] && break
        pause 0.1
    done
    sh /run/sumac/mixer.sh
    log "ALSA mixer set"
fi

# Smartcard: pcscd finds the usb-ccid reader through libccid.
if [[ $SUMAC_SMARTCARD == 1 ]]; then
    mkdir -p /run/pcscd
    pcscd --foreground >"$LOGS/pcscd.log" 2>&1 &
    pcscd_pid=$!
    log "pcscd started"
fi

# A shell on the second serial port (QEMU: spiceport org.qemu.console.serial.0). Interactive shells
# here skip the host user's rc files (--norc): they are not for a TCG guest.
if [[ $SUMAC_SERIAL == 1 ]]; then
    (
        while :; do
            stty -F /dev/ttyS1 115200 sane 2>/dev/null
            setsid -c -w bash --norc -i </dev/ttyS1 >/dev/ttyS1 2>&1
            read -r -t 1 -u 3 _
        done
    ) >/dev/null 2>&1 &
    log "shell on ttyS1"
fi

udevadm settle --timeout=120 || log "udevadm settle timed out"
log "udev settled"

# Readiness: each daemon alive, the agent attached (spice-vdagentd opens the virtio port when the
# session agent connects to it).
alive() {
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null
}
in_syslog() {
    local line
    while IFS= read -r line; do
        [[ $line == *"$1"* ]] && return 0
    done <"$LOGS/syslog"
    return 1
}
ready_problem() {
    alive "$xorg_pid" || {
        problem="Xorg is not running"
        return
    }
    if [[ $SUMAC_AGENT == 1 ]]; then
        alive "$vdagentd_pid" || {
            problem="spice-vdagentd is not running"
            return
        }
        alive "$vdagent_pid" || {
            problem="spice-vdagent is not running"
            return
        }
        in_syslog "opening vdagent virtio channel" || {
            problem="spice-vdagentd has not opened the virtio port (spice-vdagent not connected)"
            return
        }
    fi
    if [[ $SUMAC_WEBDAV == 1 ]]; then
        alive "$webdavd_pid" || {
            problem="spice-webdavd is not running"
            return
        }
        local avahi_pid=
        read -r avahi_pid 2>/dev/null </run/avahi-daemon/pid
        alive "$avahi_pid" || {
            problem="avahi-daemon is not running"
            return
        }
    fi
    if [[ $SUMAC_SMARTCARD == 1 ]]; then
        alive "$pcscd_pid" || {
            problem="pcscd is not running"
            return
        }
    fi
    problem=
}
for ((i = 0; i < 600; i++)); do
    ready_problem
    [[ -z $problem ]] && break
    echo "$problem" >"$CTL/waiting"
    pause 0.2
done
[[ -z $problem ]] || fail "not ready: $problem"
# The X server answers (one round trip).
DISPLAY=:0 xset q >/dev/null 2>&1 || fail "Xorg does not answer (see $LOGS/Xorg.0.log)"
read -r up _ </proc/uptime
echo "uptime=$up" >"$CTL/ready"
log "ready"

# The command loop: right after a request it polls every 50 ms for a while, then every 200 ms (the
# poll is a glob over the 9p directory: ~5 % of the TCG core at 200 ms).
declare -A seen=()
idle=0
cd "$CTL" || fail "cd $CTL"
while :; do
    found=0
    for request in cmd/*.sh; do
        [[ -e $request ]] || continue
        id=${request#cmd/}
        id=${id%.sh}
        [[ -n ${seen[$id]:-} ]] && continue
        seen[$id]=1
        found=1
        if [[ $id == poweroff ]]; then
            log "powering off"
            sync
            echo o >/proc/sysrq-trigger
            pause 30
        fi
        read -r limit 2>/dev/null <"cmd/$id.timeout" || limit=60
        (
            cd / || exit
            timeout -k 5 "$limit" bash "$CTL/$request" </dev/null >"$CTL/out/$id.out" 2>"$CTL/out/$id.err"
            # One write of "STATUS\n": the host takes the file as complete once it ends in a newline.
            echo $? >"$CTL/out/$id.rc"
        ) &
    done
    # Requests the host has collected no longer need remembering.
    if ((${#seen[@]} > 64)); then
        for id in "${!seen[@]}"; do
            [[ -e cmd/$id.sh ]] || unset "seen[$id]"
        done
    fi
    if ((found)); then idle=0; else idle=$((idle + 1)); fi
    if ((idle < 60)); then pause 0.05; else pause 0.2; fi
done
