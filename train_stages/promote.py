"""`deoldify-like promote`: make a checkpoint of a run into the model file that `render` uses."""
from pathlib import Path

from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.model_file import copy_model_file

from .run_folder import RunFolder


def promote(
    run: str = None,  # run folder
    checkpoint: str = None,  # checkpoint name of the run (with or without .safetensors), e.g. gan-c1-i000040
    out: str = None,  # model file to write (exactly this path)
):
    "Write a checkpoint as a self-contained model file and record it in run.json."
    if not (run and checkpoint and out):
        raise DeoldifyLikeError("--run, --checkpoint and --out are required")
    rf = RunFolder(run)
    rf.load()
    src = rf.resolve_model(checkpoint, 'generator')
    out = Path(out)
    copy_model_file(src, out, info={'promoted_from': src.name, 'run': str(rf.path.resolve())})
    rf.record_promoted(src.name, out.resolve())
    print(f"promoted {src.name} -> {out}")
    return 0
