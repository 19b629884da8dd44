#!/bin/sh
# Reproduces the embedded default (Sources/LatticeTraining/Resources/EmbeddedDefault) from
# nothing: every stage trains on procedural shapes generated on the fly (no download).
# Usage: Recipes/embedded-default/train.sh [WORK_DIR]   (default: .build/embedded-default)
# Stages 4 and 5-7 may run side by side; the times in README.md are for this order on 2 cores.
set -eu
cd "$(dirname "$0")/../.."
WORK=${1:-.build/embedded-default}
swift build -c release --product lattice
L=.build/release/lattice
mkdir -p "$WORK"
# 1. Sparse-structure VAE on 32³ occupancy (Dice + KL), 1200 steps of 4 shapes.
$L train Recipes/embedded-default/ss_vae.json --out "$WORK/ss_vae"
# 2. The conditioning photo bank: 4 front views (EmbeddedDefault.conditionCamera) of each
#    training shape, preprocessed as the pipeline does (alpha crop, Lanczos to 112²).
$L train-default photos --out "$WORK/photos.safetensors" --count 4000 --views 4
# 3. The small image encoder, pre-trained to predict each shape's 16³ occupancy from one photo:
#    first through one Linear on the flattened tokens, then through 3D queries that
#    cross-attend to the tokens as the structure flow does (--head query), which is what makes
#    its tokens usable by the flow.
$L train-default image-encoder --photos "$WORK/photos.safetensors" --head linear \
    --out "$WORK/image_encoder_linear" --steps "${ENCODER_STEPS:-1500}" --batch 32
$L train-default image-encoder --photos "$WORK/photos.safetensors" --head query \
    --out "$WORK/image_encoder_query1" --steps 1200 --batch 32 \
    --init-from "$WORK/image_encoder_linear"
$L train-default image-encoder --photos "$WORK/photos.safetensors" --head query \
    --out "$WORK/image_encoder" --steps 4000 --batch 32 --init-from "$WORK/image_encoder_query1"
# 4. Sparse-structure flow on the VAE's latents, conditioned on the frozen encoder's tokens:
#    first on the linear-head encoder's, then continued on the final encoder's.
$L train-default ss-flow --ss-vae "$WORK/ss_vae" --photos "$WORK/photos.safetensors" \
    --image-encoder "$WORK/image_encoder_linear" --out "$WORK/ss_flow_linear" --count 4000 \
    --steps "${SS_FLOW_STEPS:-2000}" --batch 8 ${SS_FLOW_INIT:+--init-from "$SS_FLOW_INIT"}
$L train-default ss-flow --ss-vae "$WORK/ss_vae" --photos "$WORK/photos.safetensors" \
    --image-encoder "$WORK/image_encoder" --out "$WORK/ss_flow" --count 4000 \
    --steps 2500 --batch 8 --lr 5e-4 --init-from "$WORK/ss_flow_linear"
$L train-default score-structure --ss-vae "$WORK/ss_vae" --image-encoder "$WORK/image_encoder" \
    --ss-flow "$WORK/ss_flow"
# 5. SLat encoder + mesh decoder (TSDF, FlexiCubes regularisers, colour).
$L train-default slat-vae --out "$WORK/slat_vae" --count 400 --steps "${SLAT_VAE_STEPS:-200}" \
    --batch 2
# 6. Gaussian decoder on the frozen encoder (rendered L1 + SSIM + regularisers).
$L train-default gs-decoder --slat-vae "$WORK/slat_vae" --out "$WORK/gs_decoder" --count 400 \
    --steps "${GS_STEPS:-300}" --batch 2
# 7. SLat flow on the frozen encoder's normalised latents, conditioned by the image encoder
#    (first on the linear-head encoder's tokens, then fine-tuned on the final encoder's).
$L train-default slat-flow --slat-vae "$WORK/slat_vae" --image-encoder "$WORK/image_encoder_linear" \
    --photos "$WORK/photos.safetensors" --out "$WORK/slat_flow_linear" --count 400 \
    --steps "${SLAT_FLOW_STEPS:-300}" --batch 4 ${SLAT_FLOW_INIT:+--init-from "$SLAT_FLOW_INIT"}
$L train-default slat-flow --slat-vae "$WORK/slat_vae" --image-encoder "$WORK/image_encoder" \
    --photos "$WORK/photos.safetensors" --out "$WORK/slat_flow" --count 400 --steps 200 \
    --batch 4 --init-from "$WORK/slat_flow_linear"
# 8. The layered-depth prior (front and back depth of each pixel of the conditioning crop, and
#    the camera), its ViT started from the image encoder's; then continued with the depth-
#    gradient term; then with the refinement U-Net, on photos rendered on demand; then reading
#    where the crop lies in the photo. (The shipped prior's ViT had first been fine-tuned 2,000
#    steps through an earlier per-token head; see the recipe README.)
$L train-default layered-depth --photos "$WORK/photos.safetensors" --out "$WORK/layered_depth1" \
    --steps 4000 --batch 32 --lr 1e-3 --refine-channels 0 \
    --init-encoder "$(ls "$WORK"/image_encoder/ckpts/image_encoder_step*.safetensors | tail -1)"
$L train-default layered-depth --photos "$WORK/photos.safetensors" --out "$WORK/layered_depth2" \
    --steps 4000 --batch 32 --lr 5e-4 --gradient-weight 2 --refine-channels 0 \
    --init-from "$WORK/layered_depth1"
$L train-default layered-depth --online 200000 --out "$WORK/layered_depth3" --steps 2800 \
    --batch 32 --lr 5e-4 --gradient-weight 2 --refine-channels 32 \
    --init-from "$WORK/layered_depth2"
$L train-default layered-depth --online 200000 --out "$WORK/layered_depth4" --steps 1800 \
    --batch 32 --lr 3e-4 --gradient-weight 2 --init-from "$WORK/layered_depth3"
#    Then with the crop planes (the crop's place in the photo; their weights start at zero).
$L train-default layered-depth --online 200000 --crop-input --out "$WORK/layered_depth5" \
    --steps 2400 --batch 32 --lr 5e-4 --gradient-weight 2 --init-from "$WORK/layered_depth4"
$L train-default layered-depth --online 200000 --crop-input --out "$WORK/layered_depth6" \
    --steps 2400 --batch 32 --lr 3e-4 --gradient-weight 2 --init-from "$WORK/layered_depth5"
#    And 2800 steps more on other online shapes (seed 74).
$L train-default layered-depth --online 200000 --crop-input --seed 74 --out "$WORK/layered_depth7" \
    --steps 2800 --batch 32 --lr 3e-4 --gradient-weight 2 --init-from "$WORK/layered_depth6"
#    Then with two inside intervals per ray (first exit and last entry start as the back and
#    front maps), 2800 steps on other shapes again (seed 75).
$L train-default layered-depth --online 200000 --crop-input --intervals 2 --seed 75 \
    --out "$WORK/layered_depth" --steps 2800 --batch 32 --lr 3e-4 --gradient-weight 2 \
    --init-from "$WORK/layered_depth7"
# 9. The model folder, and the demo's examples (held-out shapes).
OUT=Sources/LatticeTraining/Resources/EmbeddedDefault
$L train-default package --ss-vae "$WORK/ss_vae" --ss-flow "$WORK/ss_flow" \
    --slat-vae "$WORK/slat_vae" --gs-decoder "$WORK/gs_decoder" --slat-flow "$WORK/slat_flow" \
    --image-encoder "$WORK/image_encoder" --layered-depth "$WORK/layered_depth" \
    --out "$OUT"
$L train-default examples --out "$OUT" --count 6
