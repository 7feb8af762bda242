#!/usr/bin/env bash
# `make demo`: train TopFormer-T on a tiny generated ADE20K-format set (on the GPU if there is
# one, else the CPU), evaluate it with tools/test.py, print the mIoU and write prediction
# overlays as PNG files.
#
# The config is the real configs/topformer/topformer_t_ade20k.py, made a short run on the tiny
# data by tools/train.py --data-root and --iters.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DATA=${DATA:-data/tiny}
WORK_DIR=${WORK_DIR:-work_dirs/demo}
ITERS=${ITERS:-300}
CONFIG=configs/topformer/topformer_t_ade20k.py
ADE=$DATA/ADEChallengeData2016

if [ ! -d "$ADE" ]; then
  echo "[demo] writing a tiny ADE20K-format dataset to $ADE"
  "$PYTHON" tools/dataset_converters/make_tiny_datasets.py "$DATA" --datasets ade20k \
    --num-train 48 --num-val 12
fi

# --data-root and --iters make the real config a short run on the tiny set (the warm-up, the
# schedule and the validation, checkpoint and log intervals scale to fit). What stays below makes
# it quick on a CPU: 128 px crops (pipeline indices follow mmseg::_base_/datasets/ade20k.py,
# train: 2 RandomResize, 3 RandomCrop, and the TopFormer test pipeline, 1 Resize), batch 8, a
# higher learning rate, and no ImageNet pre-training.
CPU_SIZE=(
  "train_dataloader.batch_size=8"
  "train_dataloader.dataset.pipeline.2.scale=(320,160)"
  "train_dataloader.dataset.pipeline.3.crop_size=(128,128)"
  "val_dataloader.dataset.pipeline.1.scale=(320,160)"
  "test_dataloader.dataset.pipeline.1.scale=(320,160)"
  "model.data_preprocessor.size=(128,128)"
  "model.backbone.init_cfg=None"
  "optim_wrapper.optimizer.lr=0.002"
)

mkdir -p "$(dirname "$WORK_DIR")"
start=$(date +%s)
DEVICE=$("$PYTHON" -c "import torch; print(f'the GPU {torch.cuda.get_device_name(0)}' if torch.cuda.is_available() else 'the CPU')")
echo "[demo] training TopFormer-T for $ITERS iterations on $DEVICE (work dir: $WORK_DIR)"
# The full log goes to $WORK_DIR.train.log; the screen gets MMEngine's progress lines (every
# tenth of the run: --iters scales the log interval) with its ETA and the loss.
progress() {
  grep --line-buffered -E "Iter\(train\) \[" \
    | sed -u -E 's/.*(Iter\(train\) \[ *[0-9]+\/[0-9]+\]).*(eta: [0-9:]+).*(  loss: [0-9.]+).*/[demo] \1  \2\3/' \
    || true
}
"$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" --data-root "$ADE" --iters "$ITERS" \
  --cfg-options "${CPU_SIZE[@]}" 2>&1 | tee "$WORK_DIR.train.log" | progress \
  || { tail -n 40 "$WORK_DIR.train.log"; echo "[demo] training failed, log: $WORK_DIR.train.log"; exit 1; }

echo "[demo] evaluating $WORK_DIR/iter_$ITERS.pth and drawing the predictions"
"$PYTHON" tools/test.py "$CONFIG" "$WORK_DIR/iter_$ITERS.pth" --work-dir "$WORK_DIR/test" \
  --show-dir "$WORK_DIR/overlays" --data-root "$ADE" --cfg-options "${CPU_SIZE[@]}" \
  > "$WORK_DIR.test.log" 2>&1 \
  || { tail -n 40 "$WORK_DIR.test.log"; echo "[demo] testing failed, log: $WORK_DIR.test.log"; exit 1; }
miou=$(grep -oE "mIoU: [0-9.]+" "$WORK_DIR.test.log" | tail -n 1)
overlays=$(find "$WORK_DIR/overlays" -name '*.png' | wc -l)
echo "[demo] $miou (averaged over the classes present in the tiny set; an untrained model predicts one class everywhere)"
echo "[demo] $overlays prediction overlays in $WORK_DIR/overlays/vis_data/vis_image/"
echo "[demo] done in $(( $(date +%s) - start )) s"
