"""Optional lip-sync backends that need model files an operator provides (nothing is downloaded).

Each backend is a sub-package that imports torch only inside its own modules, so ``import inference`` and
``import inference.backends`` stay cheap. ``inference.backends.wav2lip`` holds the Wav2Lip generator, its audio
front end, the SyncNet_color lip-sync expert and the checkpoint loader; ``inference.backends.wav2vec2`` gives
per-frame wav2vec2 features from a local transformers model directory.
"""
