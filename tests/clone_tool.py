#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# clone_tool.py - the clone ioctls with arguments of the test's choosing,
# hostile ones included (tests/mount_reflink.sh).
#   clone_tool.py SRC DST [--src-off N] [--len N] [--dst-off N] [--flags N]
#                 [--pad N] [--token N] [--dst-mode r|w|a]
# Prints "ok SHARED COPIED" or the errno name; exit 0 either way, 2 on
# misuse.
import argparse
import errno
import fcntl
import os
import struct

MAGIC = 0xDF
CLONE_SRC = (2 << 30) | (8 << 16) | (MAGIC << 8) | 10
FMT = "=QQQQIIQQ"
CLONE_RANGE = (3 << 30) | (struct.calcsize(FMT) << 16) | (MAGIC << 8) | 11


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--src-off", type=int, default=0)
    p.add_argument("--len", type=int, default=0)
    p.add_argument("--dst-off", type=int, default=0)
    p.add_argument("--flags", type=int, default=0)
    p.add_argument("--pad", type=int, default=0)
    p.add_argument("--token", type=int, default=None)
    p.add_argument("--dst-mode", choices="rwa", default="w")
    a = p.parse_args()
    try:
        sfd = os.open(a.src, os.O_RDONLY)
        mode = {"r": os.O_RDONLY, "w": os.O_WRONLY, "a": os.O_WRONLY | os.O_APPEND}
        dfd = os.open(a.dst, mode[a.dst_mode])
        if a.token is None:
            tok = struct.unpack("=Q", fcntl.ioctl(sfd, CLONE_SRC, b"\0" * 8))[0]
        else:
            tok = a.token
        req = struct.pack(FMT, tok, a.src_off, a.len, a.dst_off, a.flags, a.pad, 0, 0)
        out = fcntl.ioctl(dfd, CLONE_RANGE, req)
        f = struct.unpack(FMT, out)
        print("ok", f[6], f[7])
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))


if __name__ == "__main__":
    main()
