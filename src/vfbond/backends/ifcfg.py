"""RHEL/CentOS network-scripts: write ifcfg files atomically, then bring the running bond to match.

Files are written only when their content changes (same plan: untouched, mtime included), each
by temp file + fsync + rename, and a replaced file is first copied to `<name>.vfbond-<time>.bak`
(network-scripts ignores `*.bak`). Other ifcfg files that would configure the bond or its VFs at
boot are moved aside the same way. The runtime is changed through the netlink backend, so no
`systemctl restart network` is needed; when that fails, the files are put back as they were.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from vfbond.backends import ifcfg_render
from vfbond.backends.base import Backend, BackendError, Progress
from vfbond.bond_model import BondPlan, Change
from vfbond.kernel.bond_state import BondState
from vfbond.shared.files import atomic_write, fsync_dir

KEEP_BACKUPS = 5  # per file


@dataclass
class FileChanges:
    """What one write did, so it can be undone."""

    written: list[str] = field(default_factory=list)  # file names (re)written
    created: list[str] = field(default_factory=list)  # of those, the ones that did not exist
    moved_aside: dict[str, str] = field(default_factory=dict)  # conflicting file -> its .bak name
    backups: dict[str, str] = field(default_factory=dict)  # replaced file -> its .bak copy

    def __bool__(self) -> bool:
        return bool(self.written or self.moved_aside)


class IfcfgBackend(Backend):
    """Persistent config in `directory` (ifcfg_dir), runtime through `runtime` (a NetlinkBackend)."""

    name = "ifcfg"

    def __init__(self, directory: str | Path, runtime: Backend) -> None:
        self.directory = Path(directory)
        self.runtime = runtime

    async def apply(self, plan: BondPlan, current: BondState | None, changes: list[Change],
                    progress: Progress) -> None:
        done = self.write(plan, progress)
        try:
            await self.runtime.apply(plan, current, changes, progress)
        except BaseException as exc:
            if done:
                progress(f"ifcfg: putting back the files as they were in {self.directory}")
                self.undo(done)
            if isinstance(exc, BackendError):
                raise BackendError(f"{exc} (ifcfg files in {self.directory} left as they were)") from exc
            raise

    async def close(self) -> None:
        await self.runtime.close()

    async def pending(self, plan: BondPlan) -> list[Change]:
        """Files that differ from the plan (missing, stale, or another file in the way); empty: none.

        The kernel diff cannot see these: a bond that already runs as planned still needs its files.
        """
        d = self.directory
        wanted = ifcfg_render.render(plan)
        changes = []
        for name, text in wanted.items():
            try:
                old = (d / name).read_text(encoding="utf-8")
            except OSError:
                old = None
            if old != text:
                changes.append(Change(f"file {name}", "absent" if old is None else "differs", "as planned"))
        if d.is_dir():
            for name in sorted(os.listdir(d)):
                if name not in wanted and ifcfg_render.is_ifcfg(name) and (d / name).is_file():
                    try:
                        values = ifcfg_render.parse((d / name).read_text(encoding="utf-8", errors="replace"))
                    except OSError:
                        continue
                    if why := ifcfg_render.conflicts(plan, name, values):
                        changes.append(Change(f"file {name}", why, "moved aside"))
        return changes

    def write(self, plan: BondPlan, progress: Progress) -> FileChanges:
        """Make the files match the plan; files that already do are not touched. Undo with `undo`."""
        d = self.directory
        if not d.is_dir():
            raise BackendError(f"ifcfg: {d} is not a directory. Fix: install network-scripts "
                               f"(initscripts) or set ifcfg_dir, or use backend: netlink")
        wanted = ifcfg_render.render(plan)
        done = FileChanges()
        try:
            for name in sorted(os.listdir(d)):
                if name in wanted or not ifcfg_render.is_ifcfg(name) or not (d / name).is_file():
                    continue
                try:
                    values = ifcfg_render.parse((d / name).read_text(encoding="utf-8", errors="replace"))
                except OSError:
                    continue
                why = ifcfg_render.conflicts(plan, name, values)
                if why:
                    aside = self._backup_name(name)
                    progress(f"ifcfg: moving {name} aside to {aside}: {why}")
                    os.replace(d / name, d / aside)
                    done.moved_aside[name] = aside
            for name, text in wanted.items():
                path = d / name
                try:
                    old = path.read_text(encoding="utf-8")
                except FileNotFoundError:
                    old = None
                if old == text:
                    continue
                if old is None:
                    progress(f"ifcfg: writing {path}")
                    done.created.append(name)
                else:
                    backup = self._backup_name(name)
                    progress(f"ifcfg: rewriting {path} (previous one kept as {backup})")
                    shutil.copy2(path, d / backup)
                    done.backups[name] = backup
                atomic_write(path, text)
                done.written.append(name)
            if done:
                fsync_dir(d)
        except OSError as exc:
            self.undo(done)
            raise BackendError(f"ifcfg: cannot write {exc.filename or d}: {exc.strerror or exc}; files left as "
                               f"they were. Fix: check {d} is writable by root and the disk is not full") from exc
        self._prune(done)
        return done

    def undo(self, done: FileChanges) -> None:
        """Put back the files `write` replaced, created or moved aside (best effort)."""
        d = self.directory
        for name in done.created:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(d / name)
        for name, backup in done.backups.items():
            try:
                shutil.copy2(d / backup, d / f".{name}.restore")
                os.replace(d / f".{name}.restore", d / name)
            except OSError:
                pass
        for name, aside in done.moved_aside.items():
            with contextlib.suppress(OSError):
                os.replace(d / aside, d / name)
        with contextlib.suppress(OSError):
            fsync_dir(d)

    def _backup_name(self, name: str) -> str:
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S.%f")
        candidate, n = f"{name}.vfbond-{stamp}.bak", 1
        while (self.directory / candidate).exists():
            n += 1
            candidate = f"{name}.vfbond-{stamp}-{n}.bak"
        return candidate

    def _prune(self, done: FileChanges) -> None:
        """Keep the newest KEEP_BACKUPS backups of each file written."""
        for name in done.backups:
            old = sorted(self.directory.glob(f"{name}.vfbond-*.bak"))  # the name holds the time
            for path in old[:-KEEP_BACKUPS]:
                with contextlib.suppress(OSError):
                    path.unlink()
