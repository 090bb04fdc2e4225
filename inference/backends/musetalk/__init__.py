"""MuseTalk 1.5 (TMElyralab, 2025) for the engine: a 256x256 face from one UNet step in a Stable Diffusion VAE's
latent space, conditioned on Whisper-tiny features, blended back with a BiSeNet "jaw" mask.

Follows ``shared/specs/musetalk.md`` (the official v1.5 ``scripts/inference.py``) so the released files load from
the official ``models/`` layout unchanged and give the official numbers. Nothing is downloaded.

Modules (each imports torch itself; importing this package imports nothing heavy):

- ``files``: the file layout and strict loaders (``ModelUnavailable`` for anything missing or broken).
- ``model``: ``MuseTalk`` with ``load``, ``audio_features``, ``generate`` and ``blend`` (spec §0).
- ``audio``: Whisper segments, per-frame windows, the positional encoding.
- ``blend``: the jaw mask and Pillow's exact masked paste.
- ``bisenet``: the face parser network.
- ``render``: face boxes from FaceMesh landmarks, the per-template cache and the engine's render loop.
- ``loaded``: ``get_model(dir, device, fp16, batch)``, loaded once per worker process.
- ``backend``: ``MuseTalkBackend``, the engine interface (one line in ``inference.backends.REGISTRY``).
- ``synthetic``: generated weights in the official layout (tests, the bench, checking an install's wiring).
"""


def __getattr__(name):
    if name == "MuseTalk":
        from .model import MuseTalk

        return MuseTalk
    raise AttributeError(name)
