#!/usr/bin/env bash
# The MuseTalk CUDA paths in one short run on a GPU machine (about 3-5 minutes on one data-centre GPU; each step
# has its own time limit, 7 min 45 s in all). Prepared on a machine without a GPU: not run yet.
#
#     bash bench/gpu_check.sh            # PY=.venv/bin/python OUT=var/bench/gpu by default
#
# Needs a CUDA build of torch in $PY's environment. Uses generated weights with the REAL widths (the speed of the
# released model; the values do not matter for speed), written once under $OUT.
#  1. bench/musetalk_speed.py --device cuda --config real: generate and encode frames/s and peak GPU memory for
#     fp32 and fp16 autocast at batch 1, 8 and 32; the jaw mask, the paste and Whisper per frame/second.
#  2. The engine end to end through its CLI on CUDA, fp32 and then fp16 (--musetalk-batch 32), 5 s of speech on a
#     real face: the report must say device cuda and carry GPU memory.
#  3. A real out-of-memory: the process is capped to a sliver of the GPU so that a batch of 32 does not fit;
#     decode_step must halve its way down to a batch that fits and give the same faces as batch 1 (2 levels).
# Everything it prints is also under $OUT (JSON); copy the figures into docs/benchmarks.md (MuseTalk section).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-var/bench/gpu}
MEDIA=${MEDIA:-../shared/media}
mkdir -p "$OUT"

"$PY" -c "import torch, sys; torch.cuda.is_available() or sys.exit('no CUDA device for torch ' + torch.__version__); \
print(torch.__version__, torch.cuda.get_device_name())"

echo "== 1. stage speed, real widths, fp32 and fp16, batch 1/8/32"
timeout 180 "$PY" bench/musetalk_speed.py --device cuda --config real --batches 1,8,32 --frames 32 \
    --out "$OUT/musetalk_speed_cuda.json"

echo "== 2. the engine on CUDA through the CLI, fp32 and fp16"
MODELS="$OUT/models_real"
WRITE="import sys; from inference.backends.musetalk import synthetic as s; s.write_models(sys.argv[1], reduced=False)"
[ -f "$MODELS/musetalkV15/unet.pth" ] || timeout 45 "$PY" -c "$WRITE" "$MODELS"
for precision in fp32 fp16; do
    flag=$([ "$precision" = fp16 ] && echo --fp16 || true)
    timeout 90 "$PY" -m inference generate --video "$MEDIA/video/woman_glasses_524sq_25fps.mp4" \
        --audio "$MEDIA/audio/speech_44k_stereo_5s.wav" --length-policy pingpong --out "$OUT/cli_$precision.mp4" \
        --backend musetalk --musetalk-dir "$MODELS" --musetalk-batch 32 --device cuda $flag --quiet \
        > "$OUT/cli_$precision.json"
    "$PY" - "$OUT/cli_$precision.json" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
r = json.loads(text[text.index("{"):])
assert r["device"].startswith("cuda") and r["backend"] == "musetalk" and r["gpu_memory"], r
print({k: r[k] for k in ("frames_out", "seconds", "gpu_memory")})
EOF
done

echo "== 3. a batch that does not fit is halved (real out-of-memory)"
timeout 60 "$PY" - "$MODELS" "$OUT/oom.json" <<'EOF'
import json, sys
import numpy as np
import torch
from inference.backends.musetalk import MuseTalk

model = MuseTalk.load(sys.argv[1], "cuda")
rng = np.random.default_rng(0)
crops = rng.integers(0, 256, (32, 256, 256, 3), dtype=np.uint8)
feats = torch.from_numpy(rng.normal(0, 1, (32, 50, 384)).astype(np.float32))
model.batch_size = 1
latents = model.latents(crops)
one = model.decode_step(latents, feats)
torch.cuda.synchronize()
used = torch.cuda.memory_allocated()
torch.cuda.reset_peak_memory_stats()
model.decode_step(latents[:1], feats[:1])
per_sample = torch.cuda.max_memory_allocated() - used
# Room for about 6 samples' activations on top of the weights: 32 does not fit, 4 does.
torch.cuda.empty_cache()
fraction = (used + 6 * per_sample) / torch.cuda.get_device_properties(0).total_memory
torch.cuda.set_per_process_memory_fraction(fraction)
model.batch_size = 32
faces = model.decode_step(latents, feats)
diff = int(np.abs(faces.astype(int) - one.astype(int)).max())
result = {"batch_asked": 32, "batch_that_fitted": model.batch_size, "max_level_difference_vs_batch_1": diff,
          "memory_fraction": round(fraction, 4)}
print(result)
json.dump(result, open(sys.argv[2], "w"))
assert model.batch_size < 32 and diff <= 2, result
EOF
echo "gpu_check: all CUDA paths ran; figures under $OUT"
