#!/usr/bin/env bash
# Build the mmhybrid development environment in $VENV (default .venv), from scratch or incrementally.
#
# Every step is idempotent: re-running it skips what is already installed, and the mmcv wheel
# (a ~17 min compile on 2 cores) is built once per machine and cached in $MMHYBRID_WHEEL_CACHE.
# See README "Installation" for why each pin exists.
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
WHEEL_CACHE=${MMHYBRID_WHEEL_CACHE:-$HOME/.cache/mmhybrid/wheels}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-0.28.0}
MMCV_VERSION=2.1.0

log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[install] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found; set PYTHON=/path/to/python3.11 (3.9-3.11 are tested)."
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

has() { "$PY" - "$@" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
name, want = sys.argv[1], sys.argv[2]
try:
    sys.exit(0 if version(name) == want else 1)
except PackageNotFoundError:
    sys.exit(1)
PYEOF
}

# setuptools<80: mmcv's setup.py and openmim import pkg_resources (gone in setuptools 82).
log "build tools"
"${PIP[@]}" "pip>=23" "setuptools>=69,<80" wheel ninja "numpy<2"

# torch and torchvision must be a matching pair. `===` (exact string match) keeps pip from picking
# a local `torch-X+cpu` file, which would leave torchvision's compiled ops unloadable.
if ! has torch "$TORCH_VERSION" || ! has torchvision "$TORCHVISION_VERSION"; then
  log "torch===$TORCH_VERSION torchvision===$TORCHVISION_VERSION"
  "${PIP[@]}" "torch===$TORCH_VERSION" "torchvision===$TORCHVISION_VERSION"
fi

# mmcv 2.1.0 is the only mmcv accepted by mmdet 3.3.0, mmseg 1.2.2 and mmpretrain 1.2.0 together.
# No wheel exists for recent torch, so build it (with compiled ops) once and cache the wheel.
if ! has mmcv "$MMCV_VERSION"; then
  mkdir -p "$WHEEL_CACHE"
  tv=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
  wheel_dir="$WHEEL_CACHE/torch$tv"
  if ! ls "$wheel_dir"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with ops against torch $tv (about 17 min on 2 cores; once per machine)"
    mkdir -p "$wheel_dir"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} FORCE_CUDA=${FORCE_CUDA:-0} \
      "$PY" -m pip wheel -q --no-deps --no-build-isolation --no-binary mmcv \
      "mmcv==$MMCV_VERSION" -w "$wheel_dir" || die "mmcv build failed (see the compiler output above)"
  fi
  log "installing cached mmcv wheel from $wheel_dir"
  "${PIP[@]}" "$wheel_dir"/mmcv-"$MMCV_VERSION"-*.whl
fi

log "OpenMMLab libraries"
"${PIP[@]}" "mmengine==0.10.7" "mmdet==3.3.0" "mmsegmentation==1.2.2" "mmpretrain==1.2.0" \
  ftfy regex timm "setuptools<80" "numpy<2"

log "test and tool dependencies"
# ruff: the same pin as requirements/tests.txt and .pre-commit-config.yaml (`make lint`).
"${PIP[@]}" pytest pytest-timeout pytest-xdist pytest-reverse onnx onnxruntime matplotlib "ruff==0.17.6" "numpy<2"
# Extra "viz": the task libraries' analyze_logs.py plots with seaborn, and
# vis_backends=[dict(type='TensorboardVisBackend')] needs tensorboard.
"${PIP[@]}" -r requirements/viz.txt "numpy<2"
# openmim's declared dependencies would pull opendatalab -> openxlab, which pins setuptools 60
# and requests 2.28, and upgrade pip. mim only shells out to opendatalab's `odl` for dataset
# downloads, so install mim without it.
if ! has openmim 0.3.9; then
  "${PIP[@]}" --no-deps "openmim==0.3.9"
  "${PIP[@]}" Click colorama model-index pandas requests rich tabulate "numpy<2"
fi

log "mmhybrid (editable)"
"${PIP[@]}" --no-build-isolation -e .

log "checking the installation"
"$PY" - <<'PYEOF'
import importlib, sys
failed = []
for mod in ['torch', 'torchvision.ops', 'mmcv.ops', 'mmengine', 'mmdet.models', 'mmseg.models',
            'mmpretrain.models', 'mmhybrid', 'mmhybrid.models']:
    try:
        importlib.import_module(mod)
    except Exception as exc:  # noqa: BLE001 - report every failure, then exit non-zero
        failed.append(f'{mod}: {type(exc).__name__}: {exc}')
try:
    import torch, torchvision, mmcv.ops
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
    scores = torch.tensor([0.9, 0.8])
    torchvision.ops.nms(boxes, scores, 0.5)
    mmcv.ops.nms(boxes, scores, 0.5)
    mmcv.ops.roi_align(torch.rand(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]), (2, 2))
except Exception as exc:  # noqa: BLE001
    failed.append(f'compiled ops (nms / roi_align): {type(exc).__name__}: {exc}')
if failed:
    print('[install] the environment is broken:\n  ' + '\n  '.join(failed), file=sys.stderr)
    sys.exit(1)
import mmcv, mmdet, mmseg, mmpretrain, mmengine, mmhybrid
print(f'[install] OK: torch {torch.__version__}, torchvision {torchvision.__version__}, '
      f'mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}, mmhybrid {mmhybrid.__version__}')
PYEOF
