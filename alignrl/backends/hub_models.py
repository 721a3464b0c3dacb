"""Base models named by a Hugging Face id: models/{model} becomes their directory (no pretraining)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["HubModelError", "fetch_model"]


class HubModelError(RuntimeError):
    """A hub model could not be made available; the message names the model, the id and the fix."""


def fetch_model(name: str, cfg: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Any]:
    """Link a local copy (``local_path``) into ``out_dir``, or download ``hub_id`` there."""
    out = Path(out_dir)
    local = cfg.get("local_path")
    if local:
        src = Path(local)
        if not (src / "config.json").is_file():
            raise HubModelError(
                f"model '{name}': local_path {src} is not a Hugging Face model directory (no config.json)"
            )
        out.mkdir(parents=True, exist_ok=True)
        for entry in src.iterdir():  # links, not copies: the weights of a 7B model are ~15 GB
            (out / entry.name).symlink_to(entry.resolve())
        return {"model": name, "source": str(src)}
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(repo_id=cfg["hub_id"], revision=cfg.get("revision"), local_dir=str(out))
    except Exception as exc:  # offline, gated repo, missing id: the fix is the same
        raise HubModelError(
            f"model '{name}' (hub id '{cfg['hub_id']}') could not be downloaded: {type(exc).__name__}: {exc}. "
            f"Pre-download it where the hub is reachable (huggingface-cli download {cfg['hub_id']} --local-dir DIR; "
            "gated models such as meta-llama need `huggingface-cli login` and an accepted licence) and set "
            f"models.{name}.local_path to DIR"
        ) from exc
    return {"model": name, "source": cfg["hub_id"], "path": path}
