"""Reference cases of shapes the shared ones do not have, made by shared/reference/gen_golden.py
on the GPU machine (tests/native/cuda/gpu-parity.sh). Usage: more_cases.py OUT_DIR CASE…"""
import sys

import gen_golden

gen_golden.CASES["case_d"] = dict(
    # 4 heads of 20 channels, 4 groups, a 48-wide first text encoder, image 96, R = 24.
    seed=777,
    text_dim1=48,
    unet=dict(
        sample_size=12, in_channels=4, out_channels=4,
        down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        block_out_channels=[20, 40, 80], layers_per_block=2,
        transformer_layers_per_block=[1, 1, 2], attention_head_dim=[1, 2, 4],
        cross_attention_dim=112, norm_num_groups=4, use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=64 + 6 * 8,
    ),
    vae=dict(
        in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 16, 16, 16], layers_per_block=1, latent_channels=4,
        norm_num_groups=4, sample_size=96, scaling_factor=0.13025,
    ),
    image_size=96, feature_upsample_res=24, num_tokens=30, top_k=5,
    furthest_point_num_samples=12, sigma=1.5, n_images=3, aug_iters=3,
)

if __name__ == "__main__":
    for case in sys.argv[2:]:
        gen_golden.build_case(case, sys.argv[1])
