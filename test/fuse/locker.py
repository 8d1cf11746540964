"""Lock helper for locks.test.ts: one process, one lock action, on a file of a jfs mount.

  locker.py hold PATH fcntl|flock   take an exclusive lock (blocking), print "held PID", keep it
                                    until a line arrives on stdin (or until killed)
  locker.py try PATH fcntl|flock    print "granted" or "EAGAIN" (non-blocking exclusive lock)
  locker.py wait PATH fcntl|flock   print "waiting", take it blocking, print "granted"
  locker.py queue PATH fcntl|flock  as wait, then keep the lock until a line arrives on stdin
  locker.py alarm PATH              F_SETLKW interrupted by SIGALRM after 1 s: "interrupted"
  locker.py getlk PATH              F_GETLK for a whole-file write lock: "TYPE PID" (TYPE w/r/u)
"""
import fcntl
import os
import signal
import struct
import sys

action, path = sys.argv[1], sys.argv[2]
kind = sys.argv[3] if len(sys.argv) > 3 else "fcntl"
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


def lock(blocking):
    flags = 0 if blocking else (fcntl.LOCK_NB)
    if kind == "flock":
        fcntl.flock(fd, fcntl.LOCK_EX | flags)
    else:
        fcntl.lockf(fd, fcntl.LOCK_EX | flags)


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


if action == "hold":
    lock(True)
    say(f"held {os.getpid()}")
    sys.stdin.readline()
elif action == "try":
    try:
        lock(False)
        say("granted")
    except BlockingIOError:
        say("EAGAIN")
elif action == "wait" or action == "queue":
    say("waiting")
    lock(True)
    say("granted")
    if action == "queue":
        sys.stdin.readline()
elif action == "alarm":

    def on_alarm(_signum, _frame):
        raise TimeoutError()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(1)
    say("waiting")
    try:
        lock(True)
        say("granted")
    except TimeoutError:
        say("interrupted")
elif action == "getlk":
    # struct flock on x86-64 and arm64: short l_type, l_whence; off_t l_start, l_len; pid_t l_pid
    query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    reply = fcntl.fcntl(fd, fcntl.F_GETLK, query)
    ltype, _, _, _, pid = struct.unpack("hhqqi4x", reply)
    name = {fcntl.F_WRLCK: "w", fcntl.F_RDLCK: "r", fcntl.F_UNLCK: "u"}[ltype]
    say(f"{name} {pid}")
else:
    sys.exit(f"unknown action {action}")
