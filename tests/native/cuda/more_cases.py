"""Reference cases of shapes the shared ones do not have, made by shared/reference/gen_golden.py
on the GPU machine (tests/native/cuda/gpu-parity.sh). Usage: more_cases.py OUT_DIR CASE…"""
import sys

import gen_golden

# case_c at other shapes: 4 heads of 20 channels, 4 groups, a 48-wide first text encoder,
# image 96, R = 24.
_c = gen_golden.CASES["case_c"]
gen_golden.CASES["case_d"] = dict(
    _c,
    seed=777,
    text_dim1=48,
    unet=dict(
        _c["unet"], sample_size=12, block_out_channels=[20, 40, 80],
        transformer_layers_per_block=[1, 1, 2], attention_head_dim=[1, 2, 4],
        cross_attention_dim=112, norm_num_groups=4, projection_class_embeddings_input_dim=64 + 6 * 8,
    ),
    vae=dict(_c["vae"], sample_size=96),
    image_size=96, feature_upsample_res=24, num_tokens=30, top_k=5,
    furthest_point_num_samples=12, sigma=1.5,
)

if __name__ == "__main__":
    for case in sys.argv[2:]:
        gen_golden.build_case(case, sys.argv[1])
