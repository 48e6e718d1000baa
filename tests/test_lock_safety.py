"""The writer lock in a folder others can write, on a full disk, and after writers killed with
``kill -9``: a planted lock path is never written through, a lock that cannot be taken cleanly is
one line and leaves nothing, and what a killed writer left is cleared by the next one. Real processes
where it is about processes."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from lsexplorer.core.store import writer_lock as wl
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.store.session import load_session, save_session
from lsexplorer.core.sweep.sweep import run_sweep
from lsexplorer.core.sweep.manifest import SweepError, plan_sweep
from reliability_support import ENV, cli, one_line_error, run_main, sha, small_session

NOBODY = 65534


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")))


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    session, _ = small_session()
    path = tmp_path_factory.mktemp("locks") / "small.h5"
    save_session(session, path)
    return path


@pytest.fixture
def copy(small, tmp_path) -> Path:
    path = tmp_path / "s.h5"
    shutil.copy(small, path)
    return path


def lock_of(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


# ------------------------------------------------------------------------------------ planted locks

def test_a_planted_lock_symlink_is_refused_and_nothing_is_written_through_it(copy, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    lock = lock_of(copy)
    lock.symlink_to(victim.name)
    before = sha(copy)
    r = cli("analyze", copy, "--runs", "0", "--symmetry", "-q")
    assert r.returncode == 2
    one_line_error(r.stderr, "is a symbolic link")
    assert victim.read_text() == "keep me" and lock.is_symlink() and os.readlink(lock) == victim.name
    assert sha(copy) == before


def _plant(kind: str, lock: Path, victim: Path) -> None:
    if kind == "dangling link":
        lock.symlink_to(victim.parent / "created-through-the-link.txt")
    elif kind == "hard link":
        os.link(victim, lock)
    elif kind == "fifo":
        os.mkfifo(lock)
    elif kind == "folder":
        lock.mkdir()
    elif kind == "another user's file":
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        lock.write_text("")
        os.chown(lock, NOBODY, NOBODY)


@pytest.mark.parametrize("kind, needle", [("dangling link", "is a symbolic link"), ("hard link", "is a hard link"),
                                          ("fifo", "is a FIFO"), ("folder", "is a folder"),
                                          ("another user's file", f"belongs to another user (uid {NOBODY})")])
def test_a_lock_path_that_is_not_our_own_plain_file_is_refused_and_left_alone(copy, tmp_path, kind, needle):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    lock = lock_of(copy)
    _plant(kind, lock, victim)
    planted = os.lstat(lock)
    before = sha(copy)
    code, _, err = run_main("analyze", copy, "--runs", "0", "--symmetry", "-q")
    assert code == 2
    one_line_error(err, needle)
    after = os.lstat(lock)
    assert (after.st_ino, after.st_mode, after.st_uid, after.st_size) == \
        (planted.st_ino, planted.st_mode, planted.st_uid, planted.st_size)
    assert victim.read_text() == "keep me" and not (tmp_path / "created-through-the-link.txt").exists()
    assert sha(copy) == before


def test_a_link_swapped_in_after_the_check_is_not_followed(tmp_path, monkeypatch):
    """The lstat check races with the folder's other writers; O_NOFOLLOW on the open is what holds."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "s.h5"
    lock_of(target).symlink_to(victim)
    monkeypatch.setattr(wl, "_unusable", lambda st: None)  # the link appears between the check and the open
    with pytest.raises(wl.LockFailed, match="is a symbolic link"):
        with wl.writer_lock(target):
            pass
    assert victim.read_text() == "keep me" and lock_of(target).is_symlink()


def test_a_planted_sweep_lock_symlink_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / ".sweep.json.lock").symlink_to(victim)
    plan = plan_sweep("toy", None, {"seeds": {"count": 2}}, [3], None, chunk=2)
    with pytest.raises(SweepError, match="is a symbolic link"):
        run_generator(run_sweep(plan, folder, client=None))
    assert victim.read_text() == "keep me" and (folder / ".sweep.json.lock").is_symlink()
    assert not (folder / "sweep.json").exists()


# ------------------------------------------------------------------------------------- full disks

@pytest.fixture
def full_tmpfs(tmp_path):
    """A 64 kB tmpfs filled to the last byte (root only), unmounted afterwards."""
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError, match="No space left"):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_train_and_analyze_onto_a_full_disk_are_one_line_and_leave_no_lock(small, full_tmpfs):
    for args in (["analyze", small, "--runs", "0", "--symmetry", "-q", "-o", full_tmpfs / "a.h5"],
                 ["train", "--preset", "toy", "--seeds", "1", "--epochs", "10", "-q", "-o", full_tmpfs / "t.h5"]):
        r = cli(*args)
        assert r.returncode == 2, r.stderr
        one_line_error(r.stderr, "No space left on device")
        assert sorted(p.name for p in full_tmpfs.iterdir()) == ["filler"]


@pytest.fixture
def failing_lock_writes(monkeypatch):
    """Make ``os.write`` onto any ``*.lock`` file fail with the given errno (other writes go through)."""
    real_write = os.write

    def install(code: int) -> None:
        def write(fd, data):
            if os.readlink(f"/proc/self/fd/{fd}").endswith(".lock"):
                raise OSError(code, os.strerror(code))
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell a lock file's descriptor")
    return install


@pytest.mark.parametrize("stale", [False, True], ids=["new-lock", "stale-lock"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EDQUOT], ids=errno.errorcode.get)
def test_a_lock_whose_pid_cannot_be_written_is_one_line_and_removed(copy, failing_lock_writes, code, stale):
    if stale:
        lock_of(copy).write_text("999999999")  # left by a writer killed with kill -9
    before = sha(copy)
    failing_lock_writes(code)
    rc, _, err = run_main("analyze", copy, "--runs", "0", "--symmetry", "-q")
    assert rc == 2
    one_line_error(err, f"cannot write the lock file {lock_of(copy)} ({os.strerror(code)})")
    assert sha(copy) == before and leftovers(copy.parent) == []


# ------------------------------------------------------------------------------ killed writers

HANG_MID_SAVE = textwrap.dedent("""
    import os, sys, time
    def fsync(fd):                      # the save's temporary is written: stop here until killed
        print("saving", flush=True)
        time.sleep(600)
    os.fsync = fsync
    from lsexplorer.cli.commands import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_the_next_writer_clears_what_a_writer_killed_mid_save_left(copy):
    before = sha(copy)
    p = subprocess.Popen([sys.executable, "-c", HANG_MID_SAVE, "analyze", str(copy), "--runs", "0", "--symmetry",
                          "-q"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert p.stdout.readline().strip() == "saving", "the writer ended before its save"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    left = leftovers(copy.parent)
    assert lock_of(copy).name in left and any(n.endswith(".tmp") for n in left), left  # what kill -9 leaves
    assert sha(copy) == before
    r = cli("analyze", copy, "--runs", "0", "--symmetry", "-q")
    assert r.returncode == 0, r.stderr
    assert leftovers(copy.parent) == []
    assert "teacher_match" in load_session(copy).analyses


def test_temporaries_are_cleared_only_when_they_are_this_files_own(tmp_path):
    target = tmp_path / "s.h5"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    stale = tmp_path / ".s.h5.0123abcd.tmp"
    stale.write_bytes(b"half a session")
    kept = [tmp_path / name for name in (".other.h5.0123abcd.tmp", ".s.h5.notmine.tmp", "s.h5.0123abcd.tmp",
                                         ".s.h5.0123abcd.tmp.keep")]
    for path in kept:
        path.write_text("")
    link = tmp_path / ".s.h5.feedface.tmp"
    link.symlink_to(victim)
    kept.append(link)
    if os.geteuid() == 0:
        foreign = tmp_path / ".s.h5.cafebabe.tmp"
        foreign.write_text("")
        os.chown(foreign, NOBODY, NOBODY)
        kept.append(foreign)
    with wl.writer_lock(target):
        assert not stale.exists()
        assert all(os.path.lexists(p) for p in kept) and victim.read_text() == "keep me"
        live = tmp_path / ".s.h5.89abcdef.tmp"  # a save of this process, under the lock it holds
        live.write_bytes(b"being written")
        with wl.writer_lock(target):  # reentrant: another holder in this process may be mid-save
            assert live.exists()
    assert not lock_of(target).exists()


def test_a_stale_lock_of_a_dead_writer_is_taken_over_and_removed(tmp_path):
    """A lock file whose lock can be taken is held by nobody, whatever pid it names."""
    target = tmp_path / "s.h5"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from lsexplorer.core.store.writer_lock import writer_lock
        with writer_lock(Path({str(target)!r})):
            print("held", flush=True)
            time.sleep(600)
    """)], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock_of(target).read_text() == str(holder.pid)
        with pytest.raises(wl.LockHeld, match=f"pid {holder.pid}"):
            with wl.writer_lock(target):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert lock_of(target).exists()  # kill -9 left it
    with wl.writer_lock(target):
        assert lock_of(target).read_text() == str(os.getpid())
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------ sweeps

class _IdleClient:
    """A Dask client stand-in whose tasks never finish."""

    class _Pending:
        status = "pending"

        def done(self):
            return False

    def submit(self, fn, config, seeds, key, retries):
        return self._Pending()

    def cancel(self, futures):
        pass


def test_a_sweep_clears_the_temporaries_killed_sweeps_left(tmp_path):
    plan = plan_sweep("toy", None, {"seeds": {"count": 4}}, [3], None, chunk=2)
    folder = tmp_path / "sweep"
    stop = threading.Event()
    stop.set()
    run_generator(run_sweep(plan, folder, _IdleClient(), stop=stop))  # a sweep that then was killed
    chunk_dir = folder / Path(plan.chunks[0].relpath).parent
    chunk_dir.mkdir(parents=True, exist_ok=True)
    stale = [folder / ".sweep.json.0123abcd.tmp", chunk_dir / f".{Path(plan.chunks[1].relpath).name}.0123abcd.tmp"]
    kept = [chunk_dir / ".notes.txt.0123abcd.tmp", folder / ".w9.h5.0123abcd.tmp"]  # not this sweep's files
    for path in stale + kept:
        path.write_bytes(b"partial")
    summary = run_generator(run_sweep(plan, folder, _IdleClient(), stop=stop))
    assert summary.stopped
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert not (folder / ".sweep.json.lock").exists()

