"""Resolves a path given relative to a folder (a run's workspace, a skill's references) and
refuses one that ends outside it, through `..` or a symlink: the one containment check."""

from pathlib import Path


class PathOutsideRoot(ValueError):
    """The resolved path is not the root folder or below it."""


def path_inside(root: Path, relative: str | Path) -> Path:
    """The absolute, symlink-free path of `relative` under `root`; PathOutsideRoot when it
    resolves to a place outside `root` (the root itself counts as inside)."""
    resolved_root = root.resolve()
    resolved = (resolved_root / relative).resolve()
    if resolved != resolved_root and not resolved.is_relative_to(resolved_root):
        raise PathOutsideRoot(f"{str(relative)!r} leaves {resolved_root}.")
    return resolved


def file_inside(root: Path, relative: str | Path) -> Path | None:
    """The path of an existing regular file under `root` (as `path_inside` resolves it);
    None when it is outside `root`, missing, or not a file."""
    try:
        resolved = path_inside(root, relative)
    except PathOutsideRoot:
        return None
    return resolved if resolved.is_file() else None
