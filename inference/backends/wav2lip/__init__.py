"""Wav2Lip (Prajwal et al. 2020) for the engine: the generator, the SyncNet_color expert, their audio front end.

Follows ``shared/specs/wav2lip.md`` (the official repository at commit 5c90fa9) so the released checkpoints
(wav2lip.pth, wav2lip_gan.pth, lipsync_expert.pth) and operators' fine-tunes load unchanged.

Modules (each imports torch itself; this file imports nothing heavy):

- ``nets``: ``Wav2Lip`` and ``SyncNetColor`` ``nn.Module`` classes with the official state_dict keys.
- ``checkpoint``: ``load_wav2lip(path, device)`` / ``load_syncnet(path, device)``; every failure is
  ``ModelUnavailable`` with a log-only detail naming missing, unexpected and misshaped keys.
- ``audio``: ``melspectrogram(samples)`` (80, T) in [-4, 4] and ``mel_windows(mel, fps, n_frames)``.
- ``generator``: face boxes from tracker landmarks, 96x96 BGR batches, ``Wav2LipRunner`` (batched inference),
  and ``paste_prediction`` (feathered lower-face paste through ``composite.Compositor``).
- ``sync``: LSE-C, LSE-D and the AV offset from face crops and audio.
- ``loaded``: ``get_runner(path, device, fp16)``, the generator loaded once per worker process.
"""
