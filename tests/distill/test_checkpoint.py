"""What becomes of a checkpoint already there when a run starts (src/distill/checkpoint.claim)."""

import torch
from safetensors.torch import save_file

from src.distill import checkpoint


def test_claim_keeps_only_a_checkpoint_that_can_resume_the_run(tmp_path):
    path, images = tmp_path / "run.safetensors", torch.zeros(2, 1, 4, 4)

    checkpoint.save(path, "this-run", 3, images, None)
    assert checkpoint.claim(path, "this-run", resume=True) is None and path.is_file()  # resumable: kept, silently
    assert checkpoint.claim(path, "this-run", resume=False) is None and not path.exists()  # no resume: removed

    checkpoint.save(path, "other-run", 3, images, None)
    note = checkpoint.claim(path, "this-run", resume=True)
    assert "params hash other-run, now this-run" in note and not path.exists()

    path.write_bytes(b"not a checkpoint")
    note = checkpoint.claim(path, "this-run", resume=True)
    assert note.startswith(f"{path}: unreadable checkpoint") and note.endswith("starting over") and not path.exists()

    save_file({"images": images, "momentum": images.clone()}, str(path),
              metadata={"iteration": "3", "key": "this-run", "torch_threads": "99"})
    note = checkpoint.claim(path, "this-run", resume=True)
    assert "written with 99 torch threads" in note and path.is_file()  # resumed, with the warning
    assert checkpoint.load(path, "this-run", images.shape)["iteration"] == 3

    assert checkpoint.claim(tmp_path / "none.safetensors", "this-run", resume=True) is None  # nothing there
