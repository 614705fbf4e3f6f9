"""Re-save a bundle's weights as a sharded transformers checkpoint (model-0000N-of-0000M.safetensors
+ model.safetensors.index.json), so the C++ loader is tested on shards written by transformers.

Usage: python3 golden/exporter/reshard.py golden/data/e2b_tiny golden/data/e2b_tiny_sharded 200KB
The output directory gets config.json and the shards; golden.h5 is not copied (tests pair the
shards with the source bundle's golden.h5).
"""
import shutil
import sys

import torch
from transformers import Gemma4ForCausalLM


def main() -> None:
    src, dst, shard = sys.argv[1], sys.argv[2], sys.argv[3]
    torch.set_default_dtype(torch.float64)
    model = Gemma4ForCausalLM.from_pretrained(src, dtype=torch.float64)
    model.save_pretrained(dst, safe_serialization=True, max_shard_size=shard)
    shutil.copy(f"{src}/config.json", f"{dst}/config.json")


if __name__ == "__main__":
    main()
