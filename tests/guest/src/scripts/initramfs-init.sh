#!/bin/busybox sh
# /init of the Sumac test guest's initramfs (busybox-static, run by the kernel as PID 1).
# Mounts the host's root over virtio-9p read-only with a tmpfs overlay on top, the control share and
# every file system the guest needs (static busybox here is cheap; in the guest, every dynamically
# linked program is read over 9p and translated by TCG), then switches to it: the guest init script
# (a host file, path in `sumac.init=` on the kernel command line) takes over.
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

fail() {
    echo "sumac-initramfs: FAILED: $*"
    echo "$*" >/newroot/sumac/ctl/failed 2>/dev/null
    # No shell to fall back to: power off so that the host sees QEMU exit at once.
    echo o >/proc/sysrq-trigger
    while :; do sleep 60; done
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "sumac-initramfs: $(cut -d' ' -f1 /proc/uptime) s, loading the modules of the root filesystem"

# The modules are numbered in dependency order (modprobe --show-depends when the image was built).
for module in /modules/*.ko; do
    insmod "$module" || fail "insmod $module"
done

guest_init=
for word in $(cat /proc/cmdline); do
    case "$word" in
    sumac.init=*) guest_init=${word#sumac.init=} ;;
    esac
done
[ -n "$guest_init" ] || fail "no sumac.init= on the kernel command line"

mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower ||
    fail "mount the host root (9p tag hostroot)"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "tmpfs /rw"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "mount the overlay"
[ -e "/lower$guest_init" ] || fail "guest init $guest_init not found in the host root"

# The control share (no cache: the host writes requests into it) and the host's config for us.
mkdir -p /newroot/sumac/ctl /newroot/sumac/lower
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 guestctl /newroot/sumac/ctl || fail "mount the control share"
# shellcheck source=/dev/null
. /newroot/sumac/ctl/config.sh || fail "read config.sh"

# The kernel's modules (unpacked on the host, never installed there) where modprobe looks.
kver=$(uname -r)
mkdir -p "/newroot/lib/modules/$kver"
mount --bind "/lower$SUMAC_KDIR/lib/modules/$kver" "/newroot/lib/modules/$kver" || fail "bind the kernel modules"
# The read-only host root stays reachable.
mount --move /lower /newroot/sumac/lower || fail "move /lower"
for fs in dev proc sys; do
    mount --move "/$fs" "/newroot/$fs" || fail "move /$fs"
done

# Fresh /run and /tmp, so that the host's runtime state does not leak in; devpts, /dev/shm, and
# /dev/fd (devtmpfs has none; bash process substitution needs it) with the std streams.
cd /newroot || fail "cd /newroot"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs tmp
mkdir -p run/lock run/user run/sumac run/dbus run/udev/rules.d tmp/.X11-unix dev/pts dev/shm dev/virtio-ports
chmod 1777 tmp/.X11-unix
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs dev/shm
ln -sfn /proc/self/fd dev/fd
ln -sfn /proc/self/fd/0 dev/stdin
ln -sfn /proc/self/fd/1 dev/stdout
ln -sfn /proc/self/fd/2 dev/stderr
mkfifo run/sumac/tick
hostname sumac-guest
ip link set lo up

echo "sumac-initramfs: $(cut -d' ' -f1 /newroot/proc/uptime) s, switching to the overlay root, init $guest_init"
cd /
# Run from the read-only host root: the tmpfs on /tmp (or /run) may hide the cache's path.
exec switch_root /newroot /bin/bash "/sumac/lower$guest_init"
