#!/bin/bash
# Init (PID 1) of the Sumac test guest, started by the initramfs on the overlay root (the host's root
# read-only + tmpfs). Brings up what a SPICE client talks to (Xorg on qxl, spice-vdagent,
# spice-webdavd, ALSA, a serial console), reports "ready" to the host through the control share, then
# runs the host's commands from that share. The host writes /sumac/ctl/config.sh before boot.
#
# Control share (/sumac/ctl, a writable 9p share; the host's side is the guest's run directory):
#   cmd/ID.sh   a request: a bash script the host renamed into place (atomic)
#   out/ID.out, out/ID.err   its stdout and stderr; out/ID.rc its exit status, written last (atomic)
#   log/        logs of the daemons started here; ready: written once everything is up
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=linux

log() {
    local up rest
    read -r up rest </proc/uptime
    echo "sumac-init [$up s] $*" >/dev/console
}

fail() {
    log "FAILED: $*"
    echo "$*" >/sumac/ctl/failed 2>/dev/null
    sync
    echo o >/proc/sysrq-trigger
    while :; do sleep 60; done
}

# 1. Kernel file systems (proc, sys and dev were moved here by the initramfs), the control share.
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
# devtmpfs has no /dev/fd (bash process substitution needs it) nor the std streams.
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
mkdir -p /sumac/ctl
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 guestctl /sumac/ctl || fail "mount the control share"
# shellcheck source=/dev/null
. /sumac/ctl/config.sh || fail "read /sumac/ctl/config.sh"
LOGS=/sumac/ctl/log
mkdir -p "$LOGS"
log "control share mounted"

# 2. The kernel's modules (unpacked on the host, never installed there); fresh /run and /tmp so
# that the host's runtime state does not leak in.
kver=$(uname -r)
mkdir -p "/lib/modules/$kver"
mount --bind "/sumac/lower$SUMAC_KDIR/lib/modules/$kver" "/lib/modules/$kver" || fail "bind the kernel modules"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mkdir -p /run/lock /run/user /tmp/.X11-unix /run/sumac
chmod 1777 /tmp/.X11-unix
hostname sumac-guest
busybox ip link set lo up

# 3. Logging (spice-vdagent and spice-vdagentd log only to syslog), the system bus and a session
# bus for the X session (without one, spice-vdagent spends seconds trying to autolaunch it).
busybox syslogd -O "$LOGS/syslog"
mkdir -p /run/dbus
dbus-daemon --system --fork || fail "dbus-daemon"
export DBUS_SESSION_BUS_ADDRESS=unix:path=/run/sumac/session-bus
dbus-daemon --session --fork --nopidfile --address="$DBUS_SESSION_BUS_ADDRESS" || log "session dbus-daemon failed"

# 4. udev, with a rule that applies the client's monitor configuration: with the qxl KMS driver QEMU
# takes the client's monitors config itself and the kernel sends a DRM change uevent; a desktop
# would apply the new preferred mode, here xrandr --auto does.
mkdir -p /run/udev/rules.d
cat >/run/sumac/resize.sh <<'EOF'
#!/bin/sh
# Run by udev on a DRM change event (guest resize from the SPICE client).
DISPLAY=:0 xrandr --auto >>/sumac/ctl/log/resize.log 2>&1
EOF
chmod 755 /run/sumac/resize.sh
echo 'SUBSYSTEM=="drm", ACTION=="change", RUN+="/run/sumac/resize.sh"' >/run/udev/rules.d/99-sumac-resize.rules
/lib/systemd/systemd-udevd --daemon >"$LOGS/udevd.log" 2>&1 || fail "systemd-udevd"
udevadm trigger --type=subsystems --action=add
udevadm trigger --type=devices --action=add
udevadm settle --timeout=120 || log "udevadm settle timed out"
log "udev settled"
# In case udev missed them.
for module in virtio_console qxl snd_hda_intel snd_hda_codec_generic uinput fuse evdev xhci_pci; do
    modprobe "$module" || log "modprobe $module failed"
done
mkdir -p /dev/virtio-ports
for port in /sys/class/virtio-ports/*; do
    [[ -r $port/name ]] || continue
    read -r name <"$port/name" || continue
    [[ -n $name && ! -e /dev/virtio-ports/$name ]] && ln -s "../${port##*/}" "/dev/virtio-ports/$name"
done

# 5. Xorg on the qxl device, blanking off, an xterm.
mkdir -p /run/sumac/xorg.conf.d
cat >/run/sumac/xorg.conf <<EOF
Section "ServerFlags"
    Option "BlankTime" "0"
    Option "StandbyTime" "0"
    Option "SuspendTime" "0"
    Option "OffTime" "0"
EndSection
Section "Device"
    Identifier "qxl"
    Driver "$SUMAC_XORG_DRIVER"
EndSection
EOF
Xorg :0 -config /run/sumac/xorg.conf -configdir /run/sumac/xorg.conf.d -nolisten tcp -ac -s 0 -dpms -noreset \
    -novtswitch -logfile "$LOGS/Xorg.0.log" vt1 >"$LOGS/Xorg.out" 2>&1 &
for ((i = 0; i < 600; i++)); do
    DISPLAY=:0 xset q >/dev/null 2>&1 && break
    sleep 0.2
done
DISPLAY=:0 xset q >/dev/null 2>&1 || fail "Xorg did not start (see $LOGS/Xorg.0.log)"
DISPLAY=:0 xset s off s noblank
DISPLAY=:0 xset -dpms 2>/dev/null # no DPMS extension on qxl: nothing to turn off
DISPLAY=:0 xterm -ut -geometry 80x24+20+20 -e bash --norc >"$LOGS/xterm.log" 2>&1 &
log "Xorg up"

# Sound: the mixer unmuted at a known volume (a client may send volume 0 / mute at connect).
if [[ $SUMAC_AUDIO == 1 ]]; then
    for ((i = 0; i < 100; i++)); do
        [[ -e /dev/snd/controlC0 ]] && break
        sleep 0.1
    done
    for control in Master PCM Front Headphone Speaker; do
        amixer -q -c 0 sset "$control" "$SUMAC_VOLUME%" unmute >/dev/null 2>&1
    done
    for control in Capture "Input Source"; do
        amixer -q -c 0 sset "$control" "$SUMAC_VOLUME%" cap >/dev/null 2>&1
    done
    amixer -c 0 scontents >"$LOGS/mixer.txt" 2>&1
    log "ALSA mixer set"
fi

# 6. The agent: the daemon (-X: no logind here), then the session agent in the X session.
if [[ $SUMAC_AGENT == 1 ]]; then
    mkdir -p /run/spice-vdagentd "$SUMAC_XFER_DIR"
    spice-vdagentd -x -X >"$LOGS/spice-vdagentd.log" 2>&1 &
    for ((i = 0; i < 300; i++)); do
        [[ -S /run/spice-vdagentd/spice-vdagent-sock ]] && break
        sleep 0.1
    done
    [[ -S /run/spice-vdagentd/spice-vdagent-sock ]] || fail "spice-vdagentd made no socket"
    DISPLAY=:0 spice-vdagent -x -f "$SUMAC_XFER_DIR" -o 0 >"$LOGS/spice-vdagent.log" 2>&1 &
    log "spice-vdagent started"
fi

# 7. WebDAV: spice-webdavd needs a running avahi-daemon (which needs the system bus).
if [[ $SUMAC_WEBDAV == 1 ]]; then
    mkdir -p /run/avahi-daemon
    avahi-daemon --daemonize --no-chroot --no-drop-root --no-rlimits || log "avahi-daemon failed"
    spice-webdavd -p 9843 >"$LOGS/spice-webdavd.log" 2>&1 &
    log "spice-webdavd started"
fi

# Smartcard: pcscd finds the usb-ccid reader through libccid.
if [[ $SUMAC_SMARTCARD == 1 ]]; then
    mkdir -p /run/pcscd
    pcscd --foreground >"$LOGS/pcscd.log" 2>&1 &
    log "pcscd started"
fi

# A shell on the second serial port (QEMU: spiceport org.qemu.console.serial.0). Interactive shells
# here skip the host user's rc files (--norc): they are not for a TCG guest.
if [[ $SUMAC_SERIAL == 1 ]]; then
    (
        while :; do
            stty -F /dev/ttyS1 115200 sane 2>/dev/null
            setsid -c -w bash --norc -i </dev/ttyS1 >/dev/ttyS1 2>&1
            sleep 1
        done
    ) >/dev/null 2>&1 &
    log "shell on ttyS1"
fi

# Readiness: each daemon up, the agent attached to the daemon.
ready_problem() {
    pgrep -x Xorg >/dev/null || {
        echo "Xorg is not running"
        return
    }
    if [[ $SUMAC_AGENT == 1 ]]; then
        pgrep -x spice-vdagentd >/dev/null || {
            echo "spice-vdagentd is not running"
            return
        }
        pgrep -x spice-vdagent >/dev/null || {
            echo "spice-vdagent is not running"
            return
        }
        # The session agent connects to the daemon's socket, then the daemon opens the virtio port.
        grep -q "opening vdagent virtio channel" "$LOGS/syslog" 2>/dev/null || {
            echo "spice-vdagentd has not opened the virtio port"
            return
        }
    fi
    if [[ $SUMAC_WEBDAV == 1 ]]; then
        pgrep -x spice-webdavd >/dev/null || {
            echo "spice-webdavd is not running"
            return
        }
        pgrep -x avahi-daemon >/dev/null || {
            echo "avahi-daemon is not running"
            return
        }
    fi
}
for ((i = 0; i < 300; i++)); do
    problem=$(ready_problem)
    [[ -z $problem ]] && break
    echo "$problem" >/sumac/ctl/waiting
    sleep 0.2
done
[[ -z $problem ]] || fail "not ready: $problem"
read -r up _ </proc/uptime
echo "uptime=$up" >/sumac/ctl/ready.tmp && mv /sumac/ctl/ready.tmp /sumac/ctl/ready
log "ready"

# 8. The command loop. Waiting is a read with a timeout on a FIFO nobody writes (no fork per poll: a
# `sleep` per poll cost a third of the TCG core); right after a request it polls faster for a while.
mkfifo /run/sumac/tick
exec 3<>/run/sumac/tick
declare -A seen=()
idle=0
cd /sumac/ctl || fail "cd /sumac/ctl"
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
        fi
        read -r limit 2>/dev/null <"cmd/$id.timeout" || limit=60
        (
            cd / || exit
            timeout -k 5 "$limit" bash "/sumac/ctl/$request" </dev/null >"/sumac/ctl/out/$id.out" 2>"/sumac/ctl/out/$id.err"
            echo $? >"/sumac/ctl/out/$id.rc.tmp"
            mv "/sumac/ctl/out/$id.rc.tmp" "/sumac/ctl/out/$id.rc"
        ) &
    done
    # Requests the host has collected no longer need remembering.
    if ((${#seen[@]} > 64)); then
        for id in "${!seen[@]}"; do
            [[ -e cmd/$id.sh ]] || unset "seen[$id]"
        done
    fi
    if ((found)); then idle=0; else idle=$((idle + 1)); fi
    if ((idle < 60)); then
        read -r -t 0.05 -u 3 _
    else
        read -r -t 0.2 -u 3 _
    fi
done
