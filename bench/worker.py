"""``python -m bench.worker module:function '<json params>' <result.json>``: one measured workload."""

from __future__ import annotations

import importlib
import json
import logging
import sys


def main() -> None:
    target, params, result_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    logging.basicConfig(level=logging.WARNING)
    module, function = target.split(":")
    result = getattr(importlib.import_module(module), function)(params)
    with open(result_path, "w") as handle:
        json.dump(result, handle, default=str)


if __name__ == "__main__":
    main()
