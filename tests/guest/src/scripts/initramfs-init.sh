#!/bin/busybox sh
# /init of the Sumac test guest's initramfs (busybox-static, run by the kernel as PID 1).
# Mounts the host's root over virtio-9p read-only, puts a tmpfs overlay on top and switches to it;
# the guest init script (a host file, path in `sumac.init=` on the kernel command line) takes over.
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

fail() {
    echo "sumac-initramfs: FAILED: $*"
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
[ -e "/newroot$guest_init" ] || fail "guest init $guest_init not found in the host root"

# The read-only host root stays reachable (the guest init bind-mounts the kernel's modules from it).
mkdir -p /newroot/sumac/lower
mount --move /lower /newroot/sumac/lower || fail "move /lower"
for fs in dev proc sys; do
    mount --move "/$fs" "/newroot/$fs" || fail "move /$fs"
done
echo "sumac-initramfs: switching to the overlay root, init $guest_init"
exec switch_root /newroot /bin/bash "$guest_init"
