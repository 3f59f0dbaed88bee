"""A reel on the command line: its disk-backed proxy luma and its shots, set on a RenderJob.

``prepare(job, project)`` opens (or builds, in one decode that also finds the cuts) the
source's LumaStore in the project's cache folder (or the user's, without a project) and sets
``job.luma_store`` and ``job.shots``, so the render propagates shot by shot and holds only a
few chunks of luma in memory, however long the source.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from app.core.lumastore import LumaStore, project_cache_dir, user_cache_dir
from app.core.media import open_media


def cache_root_for(project=None) -> Path:
    if project is not None and getattr(project, "path", None):
        return project_cache_dir(project.path)
    return user_cache_dir()


def prepare(job, project=None, shots: bool = True, progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None):
    """``job`` with its luma store and (unless ``shots`` is False) its shots: the project's own
    list when it has one, else the detected cuts. Returns the job (changed in place)."""
    with open_media(job.input) as src:
        store = LumaStore.open(src, cache_root_for(project), job.proxy_height, progress, should_stop)
    if store is None:
        return job
    job.luma_store = store
    if shots:
        own = list(getattr(project, "shots", None) or [])
        job.shots = own or list(store.shots)
    return job


def grey_lines(grey) -> list[str]:
    """What the CLI says about the shots a render left grey."""
    return [f"shot at frames {a}..{b}: no key or hint in it, left grey" for a, b in grey]
